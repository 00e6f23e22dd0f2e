package awsemu

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

func ssmClient(e *env) *ssm.Client { return ssm.NewFromConfig(e.prod()) }

func send(t *testing.T, c *ssm.Client, ids ...string) string {
	t.Helper()
	out, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: ids,
		Parameters: map[string][]string{"commands": {"cordon-triage"}}, TimeoutSeconds: aws.Int32(60), Comment: aws.String("cordon triage")})
	wantOK(t, err)
	if out.Command.Status != ssmtypes.CommandStatusPending || out.Command.TargetCount != int32(len(ids)) || out.Command.RequestedDateTime == nil {
		t.Errorf("command %+v", out.Command)
	}
	return *out.Command.CommandId
}

// poll calls GetCommandInvocation n times and returns what each saw.
func poll(t *testing.T, c *ssm.Client, id, instance string, n int) ([]string, *ssm.GetCommandInvocationOutput) {
	t.Helper()
	var seen []string
	var last *ssm.GetCommandInvocationOutput
	for range n {
		out, err := c.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(id), InstanceId: aws.String(instance)})
		if err != nil {
			seen = append(seen, errorCode(err))
			continue
		}
		seen = append(seen, string(out.Status))
		last = out
	}
	return seen, last
}

func TestDescribeInstanceInformation(t *testing.T) {
	e := newEnv(t)
	c := ssmClient(e)
	out, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	wantOK(t, err)
	if len(out.InstanceInformationList) != 2 {
		t.Fatalf("%d managed instances, want web-1 and web-2", len(out.InstanceInformationList))
	}
	info := out.InstanceInformationList[0]
	if *info.InstanceId != web1 || info.PingStatus != ssmtypes.PingStatusOnline || info.PlatformType != ssmtypes.PlatformTypeLinux || *info.IPAddress != "10.0.1.10" || info.LastPingDateTime == nil {
		t.Errorf("info %+v", info)
	}
	out, err = c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{batch1, web2}}}})
	wantOK(t, err)
	if len(out.InstanceInformationList) != 1 || *out.InstanceInformationList[0].InstanceId != web2 {
		t.Errorf("filtered %+v", out.InstanceInformationList)
	}
	_, err = c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{InstanceInformationFilterList: []ssmtypes.InstanceInformationFilter{{Key: ssmtypes.InstanceInformationFilterKeyInstanceIds, ValueSet: []string{batch1}}}})
	wantCode(t, err, "InvalidInstanceId")
	_, err = c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("Colour"), Values: []string{"red"}}}})
	wantCode(t, err, "InvalidFilterKey")
	_, err = c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(2)})
	wantCode(t, err, "ValidationException")

	// Pagination over a larger fleet.
	big := newEnvSeed(t, bigFleet(12))
	p := ssm.NewDescribeInstanceInformationPaginator(ssmClient(big), &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(5)})
	n, pages := 0, 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		wantOK(t, err)
		n, pages = n+len(page.InstanceInformationList), pages+1
	}
	if n != 12 || pages != 3 {
		t.Errorf("paged %d instances in %d pages", n, pages)
	}
}

func TestRunCommandLifecycle(t *testing.T) {
	e := newEnv(t)
	c := ssmClient(e)
	e.emu.SetCommandResult(web2, CommandResult{Stdout: "partial", Stderr: "boom", ExitCode: 3, Polls: 2})

	id := send(t, c, web1, web2)
	// As in SSM: no invocation at first, then in progress, then done.
	seen, out := poll(t, c, id, web1, 4)
	if strings.Join(seen, ",") != "InvocationDoesNotExist,InProgress,Success,Success" {
		t.Errorf("web-1 saw %v", seen)
	}
	if *out.StandardOutputContent != "hostname: web-1\nkernel: 6.1.119-129.201.amzn2023.x86_64\n" || out.ResponseCode != 0 || *out.PluginName != "aws:runShellScript" ||
		*out.ExecutionStartDateTime == "" || *out.ExecutionEndDateTime == "" || *out.StatusDetails != "Success" {
		t.Errorf("web-1 result %+v", out)
	}
	seen, out = poll(t, c, id, web2, 4)
	if strings.Join(seen, ",") != "InvocationDoesNotExist,InProgress,InProgress,Failed" {
		t.Errorf("web-2 saw %v", seen)
	}
	if out.ResponseCode != 3 || *out.StandardErrorContent != "boom" || *out.StandardOutputContent != "partial" {
		t.Errorf("web-2 result %+v", out)
	}
	_, err := c.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(id), InstanceId: aws.String(batch1)})
	wantCode(t, err, "InvocationDoesNotExist")
	_, err = c.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String("00000000-0000-4000-8000-000000000000"), InstanceId: aws.String(web1)})
	wantCode(t, err, "InvocationDoesNotExist")
	_, err = c.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String("short"), InstanceId: aws.String(web1)})
	wantCode(t, err, "ValidationException")
}

func TestRunCommandOutputIsTruncatedLikeSSM(t *testing.T) {
	e := newEnv(t)
	c := ssmClient(e)
	e.emu.SetCommandOutput(web1, strings.Repeat("é", 30000), 0)
	id := send(t, c, web1)
	_, out := poll(t, c, id, web1, 3)
	if n := utf8.RuneCountInString(*out.StandardOutputContent); n != 24000 {
		t.Errorf("stdout has %d characters, want 24000", n)
	}
}

func TestRunCommandThatNeverFinishesTimesOut(t *testing.T) {
	e := newEnv(t)
	c := ssmClient(e)
	e.emu.SetCommandResult(web1, CommandResult{Polls: -1})
	out, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{web1},
		Parameters: map[string][]string{"commands": {"sleep infinity"}, "executionTimeout": {"600"}}})
	wantOK(t, err)
	id := *out.Command.CommandId
	seen, _ := poll(t, c, id, web1, 5)
	if strings.Join(seen, ",") != "InvocationDoesNotExist,InProgress,InProgress,InProgress,InProgress" {
		t.Errorf("saw %v", seen)
	}
	e.emu.SetClock(func() time.Time { return testNow.Add(11 * time.Minute) })
	_, res := poll(t, c, id, web1, 1)
	if res.Status != ssmtypes.CommandInvocationStatusTimedOut || *res.StatusDetails != "ExecutionTimedOut" {
		t.Errorf("after the execution timeout: %s %s", res.Status, *res.StatusDetails)
	}
}

func TestCancelCommand(t *testing.T) {
	e := newEnv(t)
	c := ssmClient(e)
	e.emu.SetCommandResult(web1, CommandResult{Polls: -1})
	id := send(t, c, web1, web2)
	// web-2 finishes first; cancelling leaves its result.
	seen, _ := poll(t, c, id, web2, 3)
	if strings.Join(seen, ",") != "InvocationDoesNotExist,InProgress,Success" {
		t.Fatalf("web-2 saw %v", seen)
	}
	_, err := c.CancelCommand(ctx, &ssm.CancelCommandInput{CommandId: aws.String(id)})
	wantOK(t, err)
	seen, res := poll(t, c, id, web1, 2)
	if strings.Join(seen, ",") != "Cancelled,Cancelled" || *res.StatusDetails != "Cancelled" || res.ResponseCode != -1 {
		t.Errorf("web-1 after cancelling saw %v, %+v", seen, res)
	}
	if seen, _ := poll(t, c, id, web2, 1); seen[0] != "Success" {
		t.Errorf("web-2 after cancelling saw %v", seen)
	}
	if snap := e.emu.Snapshot(); snap.Accounts[prodAccount].Regions["us-east-1"].Commands[id].Invocations[web1].Status != "Cancelled" {
		t.Error("the state does not record the cancellation")
	}
	_, err = c.CancelCommand(ctx, &ssm.CancelCommandInput{CommandId: aws.String("00000000-0000-4000-8000-000000000000")})
	wantCode(t, err, "InvalidCommandId")
	_, err = c.CancelCommand(ctx, &ssm.CancelCommandInput{CommandId: aws.String(id), InstanceIds: []string{batch1}})
	wantCode(t, err, "InvalidInstanceId")
	_, err = c.CancelCommand(ctx, &ssm.CancelCommandInput{CommandId: aws.String("short")})
	wantCode(t, err, "ValidationException")
}

func TestSendCommandErrors(t *testing.T) {
	e := newEnv(t)
	c := ssmClient(e)
	cmds := map[string][]string{"commands": {"id"}}
	cases := []struct {
		name string
		in   ssm.SendCommandInput
		code string
	}{
		{"unmanaged instance", ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{batch1}, Parameters: cmds}, "InvalidInstanceId"},
		{"unknown instance", ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{"i-0fffffffffffffff0"}, Parameters: cmds}, "InvalidInstanceId"},
		{"unknown document", ssm.SendCommandInput{DocumentName: aws.String("AWS-Nope"), InstanceIds: []string{web1}, Parameters: cmds}, "InvalidDocument"},
		{"no commands", ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{web1}}, "InvalidParameters"},
		{"unknown parameter", ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{web1}, Parameters: map[string][]string{"commands": {"id"}, "colour": {"red"}}}, "InvalidParameters"},
		{"wrong platform", ssm.SendCommandInput{DocumentName: aws.String("AWS-RunPowerShellScript"), InstanceIds: []string{web1}, Parameters: cmds}, "UnsupportedPlatformType"},
		{"no targets", ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), Parameters: cmds}, "ValidationException"},
		{"timeout too short", ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{web1}, Parameters: cmds, TimeoutSeconds: aws.Int32(5)}, "ValidationException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SendCommand(ctx, &tc.in)
			wantCode(t, err, tc.code)
		})
	}
}
