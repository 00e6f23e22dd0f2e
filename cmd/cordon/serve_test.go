package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// The daemon's lifecycle is tested with the real binary: processes killed
// with SIGKILL, stopped with SIGTERM, reloaded with SIGHUP, against the
// emulator over HTTP.

const serveToken = "serve-test-token-42"

// daemon is a running `cordon serve` process.
type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string

	mu    sync.Mutex
	lines []string
	exit  chan error
}

var listenRx = regexp.MustCompile(`msg="cordon serve started" listen=(\S+)`)

// startDaemon starts `cordon serve` on dir and waits until it listens.
func startDaemon(t *testing.T, bin, dir string, extra ...string) *daemon {
	t.Helper()
	args := append([]string{"serve", "-config", dir, "-listen", "127.0.0.1:0", "-shutdown-timeout", "2s"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "CORDON_API_TOKEN="+serveToken)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, cmd: cmd, exit: make(chan error, 1)}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.lines = append(d.lines, line)
			d.mu.Unlock()
			if m := listenRx.FindStringSubmatch(line); m != nil {
				listening <- m[1]
			}
		}
		d.exit <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	select {
	case addr := <-listening:
		d.base = "http://" + addr
	case err := <-d.exit:
		t.Fatalf("cordon serve exited at start: %v\n%s", err, d.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("cordon serve did not start\n%s", d.log())
	}
	return d
}

func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.lines, "\n")
}

// waitLog waits for a log line containing s.
func (d *daemon) waitLog(s string) {
	d.t.Helper()
	waitUntil(d.t, "log line "+s, func() bool { return strings.Contains(d.log(), s) }, d.log)
}

func waitUntil(t *testing.T, what string, cond func() bool, logs func() string) {
	t.Helper()
	waitUntilFor(t, 30*time.Second, what, cond, logs)
}

func waitUntilFor(t *testing.T, timeout time.Duration, what string, cond func() bool, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s\n%s", what, logs())
}

func (d *daemon) signal(sig syscall.Signal) {
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (d *daemon) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.exit:
		return d.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		d.t.Fatalf("cordon serve did not exit within %s\n%s", timeout, d.log())
	}
	return -1
}

func (d *daemon) post(body []byte) (int, string) {
	d.t.Helper()
	req, _ := http.NewRequest("POST", d.base+"/v1/findings", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+serveToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (d *daemon) get(path string) (int, string) {
	d.t.Helper()
	req, _ := http.NewRequest("GET", d.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+serveToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func web1State(emu *awsemu.Emulator) (string, []string) {
	r := emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region]
	return r.Instances["i-0a1b2c3d4e5f67890"].State, r.NetworkInterfaces["eni-0d4c3b2a190817263"].Groups
}

func successfulCalls(emu *awsemu.Emulator, action string) int {
	n := 0
	for _, c := range emu.Calls() {
		if c.Action() == action && c.Status == 200 {
			n++
		}
	}
	return n
}

// TestServeCrashMidApply kills a daemon with SIGKILL while its apply's
// isolation call is in flight. Started again, it finishes the response:
// nothing completed is repeated, nothing is left for recovery, and the
// finding is one incident.
func TestServeCrashMidApply(t *testing.T) {
	bin := buildCordon(t)
	dir, emu := emulatedConfig(t)
	emu.Faults().Latency("ec2:ModifyNetworkInterfaceAttribute", time.Minute)
	d := startDaemon(t, bin, dir)
	body, err := os.ReadFile(web1Finding)
	if err != nil {
		t.Fatal(err)
	}
	if code, out := d.post(body); code != 202 {
		t.Fatalf("POST: %d %s", code, out)
	}
	d.waitLog(`action.isolate[\"i-0a1b2c3d4e5f67890\"]: Applying`)
	time.Sleep(300 * time.Millisecond) // the call reaches the emulator, which holds it
	d.signal(syscall.SIGKILL)
	d.wait(10 * time.Second)
	tags := successfulCalls(emu, "ec2:CreateTags")
	protects := successfulCalls(emu, "ec2:ModifyInstanceAttribute")

	emu.Faults().Clear()
	d2 := startDaemon(t, bin, dir)
	waitUntil(t, "web-1 stopped after the restart", func() bool { s, _ := web1State(emu); return s == "stopped" }, d2.log)
	if s, g := web1State(emu); s != "stopped" || len(g) != 1 || g[0] != demo.IsolationGroupID {
		t.Fatalf("web-1 after the restart: %s %v", s, g)
	}
	waitUntil(t, "the plan applied", func() bool { return strings.Contains(d2.log(), `msg="plan applied"`) }, d2.log)
	if n := successfulCalls(emu, "ec2:ModifyInstanceAttribute"); n != protects {
		t.Errorf("termination protection repeated: %d calls, was %d", n, protects)
	}
	if n := successfulCalls(emu, "ec2:CreateTags"); n != tags {
		t.Errorf("tagging repeated: %d calls, was %d", n, tags)
	}
	if n := successfulCalls(emu, "ec2:ModifyNetworkInterfaceAttribute"); n != 1 {
		t.Errorf("isolation made %d times, want 1", n)
	}
	d2.signal(syscall.SIGTERM)
	if code := d2.wait(10 * time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d", code)
	}

	code, out, _ := cordon(t, "state", "recover", "-config", dir)
	if code != 0 || !strings.Contains(out, "Nothing to recover") {
		t.Errorf("state recover after the restart: %d %s", code, out)
	}
	code, out, _ = cordon(t, "state", "list", "-config", dir, "-json")
	var list struct {
		Incidents []state.IncidentSummary `json:"incidents"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Incidents) != 1 || list.Incidents[0].Status != state.StatusResponded {
		t.Errorf("state list: %d %s", code, out)
	}
}

// SIGTERM mid-investigation: exit 0 within the timeout; the delivery is
// processed after the restart.
func TestServeSIGTERMDrainsAndResumes(t *testing.T) {
	bin := buildCordon(t)
	dir, emu := emulatedConfig(t)
	emu.Faults().Latency("ec2:StopInstances", time.Minute)
	d := startDaemon(t, bin, dir)
	body, _ := os.ReadFile(web1Finding)
	if code, out := d.post(body); code != 202 {
		t.Fatalf("POST: %d %s", code, out)
	}
	d.waitLog(`action.stop[\"i-0a1b2c3d4e5f67890\"]: Applying`)
	start := time.Now()
	d.signal(syscall.SIGTERM)
	if code := d.wait(15 * time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.log())
	}
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("the drain took %s with -shutdown-timeout 2s", took)
	}
	if s, _ := web1State(emu); s == "stopped" {
		t.Fatal("the held stop was made")
	}
	emu.Faults().Clear()
	d2 := startDaemon(t, bin, dir)
	waitUntil(t, "web-1 stopped after the restart", func() bool { s, _ := web1State(emu); return s == "stopped" }, d2.log)
	if n := successfulCalls(emu, "ec2:ModifyNetworkInterfaceAttribute"); n != 1 {
		t.Errorf("isolation made %d times, want 1", n)
	}
}

// SIGHUP with a Rego syntax error keeps the old policies; fixed, the new
// ones serve; both show in /metrics. A non-loopback listen without a token
// is refused.
func TestServeSIGHUPReload(t *testing.T) {
	bin := buildCordon(t)
	dir, _ := emulatedConfig(t)
	d := startDaemon(t, bin, dir)
	verdict := filepath.Join(dir, "policies", "verdict.rego")
	good, _ := os.ReadFile(verdict)
	os.WriteFile(verdict, []byte("package cordon.verdict\nverdict := \n"), 0o644)
	d.signal(syscall.SIGHUP)
	d.waitLog(`msg="reload failed: keeping the running configuration"`)
	if code, out := d.get("/readyz"); code != 200 {
		t.Errorf("readyz after a failed reload: %d %s", code, out)
	}
	os.WriteFile(verdict, good, 0o644)
	d.signal(syscall.SIGHUP)
	d.waitLog(`msg="configuration reloaded"`)
	_, metrics := d.get("/metrics")
	for _, want := range []string{`cordon_policy_reloads_total{result="error"} 1`, `cordon_policy_reloads_total{result="ok"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	d.signal(syscall.SIGTERM)
	d.wait(10 * time.Second)

	cmd := exec.Command(bin, "serve", "-config", dir, "-listen", "0.0.0.0:0")
	cmd.Env = append(os.Environ(), "CORDON_API_TOKEN=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "without a token") {
		t.Errorf("non-loopback listen without a token: %v\n%s", err, out)
	}
}

// A plan held for manual approval is applied after `cordon approve` (a
// separate process writing the state the daemon reads).
func TestServeApproveFromTheCLI(t *testing.T) {
	bin := buildCordon(t)
	dir, emu := emulatedConfig(t)
	hcl, _ := os.ReadFile(filepath.Join(dir, "cordon.hcl"))
	manual := strings.Replace(string(hcl), "rule \"respond\" {", "rule \"respond\" {\n  approval = \"manual\"", 1)
	os.WriteFile(filepath.Join(dir, "cordon.hcl"), []byte(manual), 0o644)
	d := startDaemon(t, bin, dir)
	body, _ := os.ReadFile(web1Finding)
	d.post(body)
	d.waitLog(`msg="plan held for approval"`)
	code, out, errOut := cordon(t, "state", "list", "-config", dir, "-pending")
	m := regexp.MustCompile(`(plan-[0-9a-f]+)`).FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(out, "requires manual approval") {
		t.Fatalf("state list -pending: %d %s %s", code, out, errOut)
	}
	if s, _ := web1State(emu); s == "stopped" {
		t.Fatal("stopped before approval")
	}
	code, out, errOut = cordon(t, "approve", m[1], "-config", dir, "-approver", "alice")
	if code != 0 || !strings.Contains(out, "approved by alice") {
		t.Fatalf("approve: %d %s %s", code, out, errOut)
	}
	waitUntil(t, "web-1 stopped after approval", func() bool { s, _ := web1State(emu); return s == "stopped" }, d.log)
	code, _, errOut = cordon(t, "reject", m[1], "-config", dir)
	if code != 1 || !strings.Contains(errOut, "not pending") {
		t.Errorf("reject after approval: %d %s", code, errOut)
	}
	code, out, _ = cordon(t, "state", "show", "-config", dir, incidentOf(t, dir))
	if code != 0 || !strings.Contains(out, "approved by alice") {
		t.Errorf("state show lacks the approval:\n%s", out)
	}
	d.signal(syscall.SIGTERM)
	d.wait(10 * time.Second)
}

func incidentOf(t *testing.T, dir string) string {
	t.Helper()
	st, err := state.OpenSQLite(filepath.Join(dir, ".cordon", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.Incidents(context.Background(), state.IncidentFilter{})
	if err != nil || len(list) == 0 {
		t.Fatalf("incidents: %v %d", err, len(list))
	}
	return list[0].ID
}

// cordon demo -serve: the daemon reads the queue, contains web-1 with no
// command typed, and holds the credential plan until it is approved.
func TestDemoServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	code, out, errOut := cordon(t, "demo", "-serve", "-no-color", "-state-dir", dir)
	if code != 0 {
		t.Fatalf("demo -serve: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"source=sqs.guardduty_events",
		"security groups [sg-0123456789abcdef0] -> [sg-0e1f2a3b4c5d6e7f8]",
		"state running -> stopped",
		"requires manual approval",
		"Nothing has changed in AWS: the plan waits.",
		"access key AKIAXQ4G7NF2CIDEPLOY Active -> Inactive",
		"malicious  responded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	// The state it kept holds both incidents, responded, and the approval.
	st, err := state.OpenSQLite(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.Incidents(context.Background(), state.IncidentFilter{})
	if err != nil || len(list) != 2 {
		t.Fatalf("incidents %v %v", list, err)
	}
	for _, inc := range list {
		if inc.Status != state.StatusResponded {
			t.Errorf("%s: %s", inc.ID, inc.Status)
		}
	}
	plans, _ := st.Plans(context.Background(), state.PlanFilter{Status: []state.PlanStatus{state.PlanApplied}})
	approved := 0
	for _, p := range plans {
		if p.DecidedBy == "alice" {
			approved++
		}
	}
	if len(plans) != 2 || approved != 1 {
		t.Errorf("applied plans %+v, want 2, one approved by alice", plans)
	}
}
