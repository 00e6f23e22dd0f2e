package actions

import (
	"errors"
	"strings"
	"testing"
)

func TestIDKinds(t *testing.T) {
	tests := []struct {
		kind IDKind
		ok   []string
		bad  []string
	}{
		{SecurityGroupID, []string{"sg-0123abcd", "sg-0123456789abcdef0"},
			[]string{"sg-0isolation", "sg-zzz", "sg-", "sg-0123456789ABCDEF0", "sg-0123abc", "sg-0123456789abcdef", "sg-0123456789abcdef01", "vpc-0123abcd", " sg-0123abcd", "sg-0123abcd\n", ""}},
		{VPCID, []string{"vpc-0a9b8c7d6e5f43210", "vpc-1234abcd"}, []string{"vpc-prod", "sg-0123abcd", "vpc-1234abc"}},
		{SubnetID, []string{"subnet-0a1b2c3d4e5f60718"}, []string{"subnet-1", "subnet_0a1b2c3d"}},
		{InstanceID, []string{"i-0a1b2c3d4e5f67890", "i-12345678"}, []string{"i-web1", "i-0a1b2c3d4e5f6789"}},
		{ImageID, []string{"ami-0c2b8ca1dad447f8a"}, []string{"ami-latest"}},
		{SnapshotID, []string{"snap-0123456789abcdef0"}, []string{"snap-x"}},
		{VolumeID, []string{"vol-0a1a2a3a4a5a6a7a8"}, []string{"vol-root"}},
		{AccountID, []string{"123456789012"}, []string{"12345678901", "1234567890123", "12345678901a"}},
		{IAMName, []string{"alice", "ci-deploy", "a+b=c,d.e@f_g-h"}, []string{"", "a b", "a/b", strings.Repeat("a", 129)}},
		{IAMRoleName, []string{"cordon-responder"}, []string{strings.Repeat("r", 65)}},
		{InstanceProfileARN, []string{"arn:aws:iam::123456789012:instance-profile/quarantine", "arn:aws:iam::123456789012:instance-profile/ops/quarantine",
			"arn:aws-us-gov:iam::123456789012:instance-profile/q"},
			[]string{"arn:aws:iam::123456789012:role/quarantine", "arn:aws:iam::1234:instance-profile/q", "quarantine", "arn:aws:iam::123456789012:instance-profile/"}},
		{RoleARN, []string{"arn:aws:iam::123456789012:role/cordon-responder", "arn:aws-cn:iam::123456789012:role/path/to/r"},
			[]string{"arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:role/"}},
		{UserARN, []string{"arn:aws:iam::123456789012:user/alice"}, []string{"arn:aws:iam::123456789012:role/alice"}},
		{KMSKey, []string{"1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab", "alias/cordon-evidence",
			"arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:kms:us-west-2:123456789012:alias/cordon"},
			[]string{"cordon", "key/abc", "arn:aws:kms:us-west-2:123456789012:key/not-a-uuid", "alias/"}},
		{S3Bucket, []string{"cordon-evidence", "my.bucket.name", "abc"},
			[]string{"ab", "Cordon", "-cordon", "cordon-", "my..bucket", "my.-bucket", "192.168.1.1", "xn--bucket", "bucket-s3alias", "bucket_name"}},
		{SQSQueueURL, []string{"https://sqs.us-west-2.amazonaws.com/123456789012/cordon-findings", "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q.fifo",
			"https://us-east-1.queue.amazonaws.com/123456789012/q"},
			[]string{"http://sqs.us-west-2.amazonaws.com/123456789012/q", "https://sqs.us-west-2.amazonaws.com/q", "arn:aws:sqs:us-west-2:123456789012:q"}},
	}
	for _, tc := range tests {
		t.Run(tc.kind.Noun, func(t *testing.T) {
			if !tc.kind.Match(tc.kind.Example) {
				t.Errorf("its own example %q does not match", tc.kind.Example)
			}
			for _, s := range tc.ok {
				if err := CheckID("attr", tc.kind, s); err != nil {
					t.Errorf("%q refused: %v", s, err)
				}
			}
			for _, s := range tc.bad {
				err := CheckID("attr", tc.kind, s)
				var ae *AttributeError
				if !errors.As(err, &ae) || ae.Attribute != "attr" || !strings.Contains(ae.Detail, tc.kind.Example) {
					t.Errorf("%q: %v; want an AttributeError on attr showing an example", s, err)
				}
			}
		})
	}
}

// Every id a validator accepts is one AWS would take: the shapes never
// admit white space, upper case in EC2 ids, or control characters, and
// checking never panics.
func FuzzCheckID(f *testing.F) {
	for _, s := range []string{"sg-0123abcd", "sg-0isolation", "arn:aws:iam::123456789012:instance-profile/a/b", "alias/x", "my..bucket", ""} {
		f.Add(s)
	}
	kinds := []IDKind{SecurityGroupID, VPCID, InstanceID, InstanceProfileARN, RoleARN, KMSKey, S3Bucket, SQSQueueURL, IAMName}
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range kinds {
			err := CheckID("a", k, s)
			if err == nil && strings.ContainsAny(s, " \t\r\n\x00") {
				t.Errorf("%s accepted %q", k.Noun, s)
			}
			if err == nil && strings.HasSuffix(k.Noun, " ID") && k.Noun != "AWS account ID" && strings.ToLower(s) != s {
				t.Errorf("%s accepted upper case %q", k.Noun, s)
			}
		}
	})
}
