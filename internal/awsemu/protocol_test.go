package awsemu

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// Requests the SDK would not send, checked on the wire: status, error
// shape and code.
func TestWireErrors(t *testing.T) {
	e := newEnv(t)
	ssmTarget := map[string]string{"X-Amz-Target": "AmazonSSM.DescribeInstanceInformation", "Content-Type": "application/x-amz-json-1.1"}
	noSig := map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=" + aliceKey + "/20250301/us-east-1/ec2/aws4_request"}
	cases := []struct {
		name          string
		method, path  string
		service, key  string
		header        map[string]string
		body          string
		status        int
		contains      []string
		errorTypeHead string
	}{
		{"ec2 without credentials", "POST", "/", "", "", nil, "Action=DescribeInstances&Version=2016-11-15", 401,
			[]string{"<Response><Errors><Error><Code>MissingAuthenticationToken</Code>", "<RequestID>"}, ""},
		{"iam without credentials", "POST", "/", "", "", nil, "Action=GetUser&Version=2010-05-08", 403,
			[]string{"<ErrorResponse", "<Type>Sender</Type><Code>MissingAuthenticationToken</Code>", "<RequestId>"}, ""},
		{"ssm without credentials", "POST", "/", "", "", ssmTarget, "{}", 400,
			[]string{`"__type":"MissingAuthenticationTokenException"`}, "MissingAuthenticationTokenException"},
		{"signature missing", "POST", "/", "", "", noSig, "Action=DescribeInstances&Version=2016-11-15", 403,
			[]string{"<Code>IncompleteSignature</Code>"}, ""},
		{"unknown action", "POST", "/", "ec2", aliceKey, nil, "Action=RunInstances&Version=2016-11-15", 400,
			[]string{"<Code>InvalidAction</Code>"}, ""},
		{"wrong version", "POST", "/", "iam", aliceKey, nil, "Action=GetUser&Version=2006-03-01", 400,
			[]string{"<Code>NoSuchVersion</Code>"}, ""},
		{"no action", "POST", "/", "ec2", aliceKey, nil, "Version=2016-11-15", 400,
			[]string{"<Code>MissingAction</Code>"}, ""},
		{"unknown service", "POST", "/", "lambda", aliceKey, nil, "Action=ListFunctions", 400,
			[]string{"<Code>UnknownService</Code>"}, ""},
		{"stop without instances", "POST", "/", "ec2", aliceKey, nil, "Action=StopInstances&Version=2016-11-15", 400,
			[]string{"<Code>MissingParameter</Code>", "InstanceId"}, ""},
		{"tags without tags", "POST", "/", "ec2", aliceKey, nil, "Action=CreateTags&Version=2016-11-15&ResourceId.1=" + web1, 400,
			[]string{"<Code>MissingParameter</Code>"}, ""},
		{"disassociate without id", "POST", "/", "ec2", aliceKey, nil, "Action=DisassociateIamInstanceProfile&Version=2016-11-15", 400,
			[]string{"<Code>MissingParameter</Code>"}, ""},
		{"ssm unknown operation", "POST", "/", "ssm", aliceKey, map[string]string{"X-Amz-Target": "AmazonSSM.DeleteEverything"}, "{}", 400,
			[]string{`"__type":"UnknownOperationException"`}, "UnknownOperationException"},
		{"ssm malformed body", "POST", "/", "ssm", aliceKey, ssmTarget, "{nope", 400,
			[]string{`"__type":"SerializationException"`}, "SerializationException"},
		{"guardduty unknown path", "DELETE", "/detector/x", "guardduty", aliceKey, nil, "", 404,
			[]string{`"__type":"UnknownOperationException"`}, "UnknownOperationException"},
		{"query-string credentials", "POST", "/?X-Amz-Credential=" + aliceKey + "%2F20250301%2Fus-east-1%2Fec2%2Faws4_request", "", "", nil,
			"Action=DescribeInstances&Version=2016-11-15&InstanceId.1=" + web1, 200, []string{"<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>", web1}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.raw(tc.method, tc.path, tc.service, tc.key, tc.header, tc.body)
			if status != tc.status || !containsAll(body, tc.contains...) {
				t.Errorf("got %d %s\nwant %d with %q", status, body, tc.status, tc.contains)
			}
			if tc.errorTypeHead != "" {
				var v map[string]string
				if err := json.Unmarshal([]byte(body), &v); err != nil || v["message"] == "" {
					t.Errorf("JSON error body %s: %v", body, err)
				}
			}
		})
	}
	calls := e.emu.Calls()
	if len(calls) != len(cases) {
		t.Errorf("recorded %d calls for %d requests", len(calls), len(cases))
	}
}

func TestUnknownCredentialsPerProtocol(t *testing.T) {
	e := newEnv(t)
	stranger := e.config("us-east-1", "AKIAEMUSTRANGER00001", "", 1)
	_, err := ec2.NewFromConfig(stranger).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantCode(t, err, "AuthFailure")
	_, err = iam.NewFromConfig(stranger).GetUser(ctx, &iam.GetUserInput{})
	wantCode(t, err, "InvalidClientTokenId")
	_, err = ssm.NewFromConfig(stranger).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	wantCode(t, err, "UnrecognizedClientException")
	_, err = cloudtrail.NewFromConfig(stranger).LookupEvents(ctx, &cloudtrail.LookupEventsInput{})
	wantCode(t, err, "UnrecognizedClientException")
	_, err = guardduty.NewFromConfig(stranger).ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	wantCode(t, err, "UnrecognizedClientException")
	// The inactive key of the seed does not authenticate either.
	_, err = ec2.NewFromConfig(e.config("us-east-1", "AKIAEMUMALLORY000002", "", 1)).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantCode(t, err, "AuthFailure")
}

func TestRegionsAreSeparate(t *testing.T) {
	e := newEnv(t)
	west := ec2.NewFromConfig(e.config("us-west-2", aliceKey, "", 1))
	out, err := west.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantOK(t, err)
	if ids := instanceIDs(out); len(ids) != 1 || ids[0] != "i-0b1b2c3d4e5f60101" {
		t.Errorf("us-west-2 instances %v", ids)
	}
	in := out.Reservations[0].Instances[0]
	if *in.PrivateDnsName != "ip-172-31-16-10.us-west-2.compute.internal" || in.Architecture != "arm64" {
		t.Errorf("generated details %s %s", *in.PrivateDnsName, in.Architecture)
	}
	// A region the seed never mentions is empty, not an error.
	empty := ec2.NewFromConfig(e.config("eu-west-1", aliceKey, "", 1))
	out, err = empty.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantOK(t, err)
	if len(out.Reservations) != 0 {
		t.Errorf("eu-west-1 has %d reservations", len(out.Reservations))
	}
	_, err = empty.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{web1}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	calls := e.emu.Calls()
	if last := calls[len(calls)-1]; last.Region != "eu-west-1" || last.Account != prodAccount || last.Principal != "arn:aws:iam::111122223333:user/alice" || last.AccessKeyID != aliceKey {
		t.Errorf("last call %+v", last)
	}
	_ = aws.String
}
