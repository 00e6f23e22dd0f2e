package awsemu

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// respond runs, for one instance, what cordon's engine does for a target:
// tag, snapshot, isolate, triage, stop.
func respond(t testing.TB, cfg aws.Config, id string) error {
	c := ec2.NewFromConfig(cfg)
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return err
	}
	in := out.Reservations[0].Instances[0]
	if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("cordon:incident"), Value: aws.String("inc-" + id)}}}); err != nil {
		return err
	}
	if _, err := c.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{InstanceSpecification: &types.InstanceSpecification{InstanceId: aws.String(id)}, CopyTagsFromSource: types.CopyTagsFromSourceVolume}); err != nil {
		return err
	}
	for _, eni := range in.NetworkInterfaces {
		if _, err := c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: eni.NetworkInterfaceId, Groups: []string{"sg-0c1b2c3d4e5f60022"}}); err != nil {
			return err
		}
	}
	s := ssm.NewFromConfig(cfg)
	cmd, err := s.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{id}, Parameters: map[string][]string{"commands": {"triage"}}})
	if err != nil {
		return err
	}
	for i := 0; ; i++ {
		inv, err := s.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: cmd.Command.CommandId, InstanceId: aws.String(id)})
		if err == nil && inv.Status == "Success" {
			break
		}
		if i > 5 {
			return fmt.Errorf("command never finished: %v", err)
		}
	}
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
	return err
}

func concurrencyFleet(n int) *Seed {
	seed := bigFleet(n)
	r := seed.Accounts[0].Regions["us-east-1"]
	r.SecurityGroups = append(r.SecurityGroups, SeedSecurityGroup{ID: "sg-0c1b2c3d4e5f60022", Name: "isolation", VPC: "vpc-0c1b2c3d4e5f60001", Ingress: []SeedRule{}, Egress: []SeedRule{}})
	seed.Accounts[0].Regions["us-east-1"] = r
	return seed
}

func TestConcurrentResponses(t *testing.T) {
	const n = 24
	e := newEnvSeed(t, concurrencyFleet(n))
	cfg := e.prod()
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("i-0c%015x", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, id := range ids {
		wg.Go(func() {
			if err := respond(t, cfg, id); err != nil {
				errs <- fmt.Errorf("%s: %w", id, err)
			}
		})
	}
	// Readers of the control API race with the requests.
	wg.Go(func() {
		for range 50 {
			e.emu.Snapshot()
			e.emu.Calls()
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	st := e.emu.Snapshot().Accounts[prodAccount].Regions["us-east-1"]
	var snaps []string
	for _, id := range ids {
		in := st.Instances[id]
		if in.State != "stopped" || in.Tags["cordon:incident"] != "inc-"+id || st.NetworkInterfaces[in.NetworkInterfaces[0]].Groups[0] != "sg-0c1b2c3d4e5f60022" {
			t.Errorf("%s: state %s tags %v", id, in.State, in.Tags)
		}
	}
	for sid := range st.Snapshots {
		snaps = append(snaps, sid)
	}
	if len(snaps) != n {
		t.Fatalf("%d snapshots, want %d", len(snaps), n)
	}

	// The ids do not depend on the order the concurrent requests arrived in.
	seq := newEnvSeed(t, concurrencyFleet(n))
	for _, id := range ids {
		wantOK(t, respond(t, seq.prod(), id))
	}
	var seqSnaps []string
	for sid := range seq.emu.Snapshot().Accounts[prodAccount].Regions["us-east-1"].Snapshots {
		seqSnaps = append(seqSnaps, sid)
	}
	sort.Strings(snaps)
	sort.Strings(seqSnaps)
	if strings.Join(snaps, ",") != strings.Join(seqSnaps, ",") {
		t.Error("concurrent and sequential runs made different snapshot ids")
	}
}

// BenchmarkServeDescribeInstances measures the emulator alone, without
// the SDK or a network: one DescribeInstances of one instance.
func BenchmarkServeDescribeInstances(b *testing.B) {
	e := New(bigFleet(100))
	body := url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "InstanceId.1": {"i-0c000000000000031"}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+aliceKey+"/20250301/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00")
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Body.String())
		}
	}
}

// BenchmarkSDKModifyNetworkInterface measures a write through the real SDK
// client over HTTP, as the action tests run it.
func BenchmarkSDKModifyNetworkInterface(b *testing.B) {
	e := newEnvSeed(b, concurrencyFleet(100))
	c := ec2.NewFromConfig(e.prod())
	in := &ec2.ModifyNetworkInterfaceAttributeInput{Groups: []string{"sg-0c1b2c3d4e5f60022"}}
	out, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(5)})
	if err != nil {
		b.Fatal(err)
	}
	in.NetworkInterfaceId = out.NetworkInterfaces[0].NetworkInterfaceId
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ModifyNetworkInterfaceAttribute(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
