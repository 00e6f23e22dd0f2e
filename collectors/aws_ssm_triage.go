package collectors

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/collectors/triage"
	"github.com/cordonhq/cordon/internal/wait"
	"github.com/cordonhq/cordon/schema"
)

// ssmTriage runs the read-only triage script (package triage) on the
// instance by SSM Run Command and parses what it prints into facts. It
// polls the command until it ends or the block's timeout passes, and then
// cancels it: nothing of cordon's keeps running on the host after the
// collector returned.
type ssmTriage struct {
	// maxOutput bounds the bytes of records parsed (after decompression).
	maxOutput int
	// pollFirst and pollMax are the first and the longest wait between
	// two GetCommandInvocation calls.
	pollFirst, pollMax time.Duration
}

const (
	// ssmOutputChars is how much output GetCommandInvocation returns: the
	// first 24,000 characters. Output that long was cut.
	ssmOutputChars = 24000
	// triageDefaultTimeout is the block's timeout unless it sets one; the
	// script bounds each of its steps to 30 seconds, and the whole of it
	// to scriptBudget.
	triageDefaultTimeout = 3 * time.Minute
	// triageCancelWait bounds the CancelCommand sent after the timeout.
	triageCancelWait = 10 * time.Second
)

// scriptBudget is how long the script may collect on a host given the
// command's execution timeout: a fifth of it, and at least a poll and
// five seconds, are left for the script to print what it has, for the
// output to reach SSM and for the next poll to see it, so that a slow or
// hostile host still gives facts rather than a timeout. (The script's own
// bounds per file and per step hold within it.)
func scriptBudget(execTimeout, poll time.Duration) time.Duration {
	reserve := min(max(execTimeout/5, poll+5*time.Second), execTimeout/2)
	return execTimeout - reserve
}

func init() {
	Register(&Definition{
		Type:           "aws_ssm_triage",
		Summary:        "A read-only triage script run by SSM Run Command: processes, connections, logins, cron, changed files",
		ResourceTypes:  []string{schema.ResourceInstance},
		DefaultTimeout: triageDefaultTimeout,
		FactsSchema:    "aws_ssm_triage",
		Attributes: hcldec.ObjectSpec{
			"max_output_bytes": &hcldec.AttrSpec{Name: "max_output_bytes", Type: cty.Number},
		},
		New: func(cfg cty.Value) (Collector, error) {
			n, err := boundedIntAttr(cfg, "max_output_bytes", triage.MaxOutputBytes, triage.MaxOutputBytes)
			if err != nil {
				return nil, err
			}
			return &ssmTriage{maxOutput: n, pollFirst: 500 * time.Millisecond, pollMax: 5 * time.Second}, nil
		},
	})
}

// Permissions are the calls Collect makes.
func (*ssmTriage) Permissions() []string {
	return []string{"ssm:SendCommand", "ssm:GetCommandInvocation", "ssm:CancelCommand"}
}

func (c *ssmTriage) Collect(ctx context.Context, req *Request) (map[string]any, error) {
	t, err := ec2TargetOf("aws_ssm_triage", req)
	if err != nil {
		return nil, err
	}
	client := req.AWS.SSM(t.account, t.region)

	// The script runs for at most the time left, so that SSM stops it too
	// if the cancellation below never arrives.
	execTimeout := int(triageDefaultTimeout / time.Second)
	if deadline, ok := ctx.Deadline(); ok {
		execTimeout = max(1, int(time.Until(deadline)/time.Second))
	}
	comment := "cordon triage"
	if req.IncidentID != "" {
		comment += " " + req.IncidentID
	}
	sent, err := client.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName: aws.String("AWS-RunShellScript"),
		InstanceIds:  []string{t.id},
		Comment:      aws.String(truncateRunes(comment, 100)),
		Parameters: map[string][]string{
			"commands":         triage.Commands(scriptBudget(time.Duration(execTimeout)*time.Second, c.pollMax)),
			"executionTimeout": {strconv.Itoa(execTimeout)},
		},
		// How long SSM tries to deliver it to an agent that is offline.
		TimeoutSeconds: aws.Int32(int32(max(30, min(execTimeout, 2592000)))),
	})
	if err != nil {
		switch ec2ErrorCode(err) {
		case "InvalidInstanceId":
			return nil, fmt.Errorf("instance %s is not managed by SSM%s (no SSM agent registered and online, or the instance is not running), so it cannot be triaged: %w", t.id, t.where(), err)
		case "UnsupportedPlatformType":
			return nil, fmt.Errorf("instance %s cannot run the triage script (a Linux shell script): %w", t.id, err)
		}
		return nil, fmt.Errorf("sending the triage command to %s: %w", t.id, err)
	}
	id := aws.ToString(sent.Command.CommandId)

	inv, err := c.wait(ctx, client, id, t.id)
	if err != nil {
		if ctx.Err() != nil {
			cancelCommand(ctx, client, id, t.id)
			return nil, fmt.Errorf("triage command %s on %s did not finish within the collector's timeout (cancelled): %w", id, t.id, ctx.Err())
		}
		return nil, fmt.Errorf("waiting for triage command %s on %s: %w", id, t.id, err)
	}

	stdout := aws.ToString(inv.StandardOutputContent)
	cut := utf8.RuneCountInString(stdout) >= ssmOutputChars
	facts, perr := triage.ParseLimit([]byte(stdout), c.maxOutput)
	switch inv.Status {
	case ssmtypes.CommandInvocationStatusSuccess:
	case ssmtypes.CommandInvocationStatusFailed, ssmtypes.CommandInvocationStatusTimedOut:
		// A script stopped part way still printed its most valuable
		// records first: those are facts, marked truncated.
		if perr == nil && (len(facts.Processes) > 0 || facts.Hostname != "") {
			facts.Truncated = true
			break
		}
		return nil, fmt.Errorf("triage command %s on %s: %s (exit code %d)%s", id, t.id, statusText(inv), inv.ResponseCode, stderrText(inv))
	default:
		return nil, fmt.Errorf("triage command %s on %s ended %s", id, t.id, statusText(inv))
	}
	if perr != nil && strings.TrimSpace(stdout) == "" {
		return nil, fmt.Errorf("triage command %s on %s succeeded but printed nothing%s", id, t.id, stderrText(inv))
	}
	if perr != nil {
		return nil, fmt.Errorf("output of triage command %s on %s: %w (it starts %q)%s", id, t.id, perr, truncateRunes(stdout, 80), stderrText(inv))
	}
	facts.Truncated = facts.Truncated || cut
	return facts.Map(), nil
}

// wait polls the invocation until it ends, with growing pauses. Right
// after SendCommand, SSM answers InvocationDoesNotExist for a while; that
// and throttling the SDK gave up on are retried until ctx ends.
func (c *ssmTriage) wait(ctx context.Context, client *ssm.Client, commandID, instanceID string) (*ssm.GetCommandInvocationOutput, error) {
	pause := c.pollFirst
	for {
		if err := wait.Sleep(ctx, pause); err != nil {
			return nil, err
		}
		pause = min(pause*3/2, c.pollMax)
		out, err := client.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{
			CommandId: aws.String(commandID), InstanceId: aws.String(instanceID),
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if transientSSMError(err) {
				continue
			}
			return nil, err
		}
		switch out.Status {
		case ssmtypes.CommandInvocationStatusPending, ssmtypes.CommandInvocationStatusInProgress,
			ssmtypes.CommandInvocationStatusDelayed, ssmtypes.CommandInvocationStatusCancelling:
			continue
		}
		return out, nil
	}
}

// transientSSMError tells errors worth another poll: the invocation not
// visible yet, throttling, and SSM's own failures.
func transientSSMError(err error) bool {
	switch ec2ErrorCode(err) {
	case "InvocationDoesNotExist", "ThrottlingException", "Throttling", "TooManyUpdates", "InternalServerError":
		return true
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return true
	}
	return false
}

// cancelCommand asks SSM to stop the command, best effort: the collector
// fails with its timeout whatever the answer.
func cancelCommand(ctx context.Context, client *ssm.Client, commandID, instanceID string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), triageCancelWait)
	defer cancel()
	_, _ = client.CancelCommand(cctx, &ssm.CancelCommandInput{CommandId: aws.String(commandID), InstanceIds: []string{instanceID}})
}

// statusText is an invocation's status and its details when they say
// more ("TimedOut (ExecutionTimedOut)").
func statusText(inv *ssm.GetCommandInvocationOutput) string {
	s := string(inv.Status)
	if d := aws.ToString(inv.StatusDetails); d != "" && d != s {
		s += " (" + d + ")"
	}
	return s
}

// stderrText is the start of the command's stderr, for an error message.
func stderrText(inv *ssm.GetCommandInvocationOutput) string {
	s := strings.TrimSpace(aws.ToString(inv.StandardErrorContent))
	if s == "" {
		return ""
	}
	return fmt.Sprintf("; stderr: %q", truncateRunes(strings.ToValidUTF8(s, "\uFFFD"), 200))
}

// truncateRunes keeps the first n characters of s.
func truncateRunes(s string, n int) string {
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}
