package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/demo"
)

// buildCordon builds the cordon binary once per test run.
func buildCordon(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the cordon binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "cordon")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestCrashMidApply kills a real `cordon apply` process with SIGKILL while
// an action is in flight (the emulator holds the isolation call with
// injected latency), then checks that `cordon state recover` leaves state
// consistent with the emulator and that applying the plan again finishes
// the response without repeating the steps already done.
func TestCrashMidApply(t *testing.T) {
	bin := buildCordon(t)
	dir, emu := emulatedConfig(t)
	planFile := filepath.Join(t.TempDir(), "web1.plan")
	if code, _, errOut := cordon(t, "plan", "-config", dir, "-finding", web1Finding, "-out", planFile); code != 0 {
		t.Fatalf("plan: %s", errOut)
	}
	emu.Faults().Latency("ec2:ModifyNetworkInterfaceAttribute", time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "apply", "-config", dir, "-no-color", planFile)
	cmd.Env = os.Environ() // the AWS and CORDON_VAR_ variables emulatedConfig set
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until isolation has started: protect and tag are done, the
	// isolation call is held by the emulator.
	lines := bufio.NewScanner(stdout)
	var seen []string
	for lines.Scan() {
		seen = append(seen, lines.Text())
		if strings.HasPrefix(lines.Text(), `action.isolate["i-0a1b2c3d4e5f67890"]: Applying`) {
			break
		}
	}
	// The start of the action is committed to state before its call; give
	// the call time to reach the emulator, which holds it.
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	t.Logf("apply output before the kill:\n%s", strings.Join(seen, "\n"))

	st, err := state.OpenSQLite(filepath.Join(dir, ".cordon", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	started, err := st.StartedActions(context.Background())
	st.Close()
	if err != nil || len(started) != 1 || started[0].Action != "isolate" {
		t.Fatalf("after the crash, started actions: %v %+v", err, started)
	}

	emu.Faults().Clear()
	code, out, errOut := cordon(t, "state", "recover", "-config", dir)
	if code != 0 || !strings.Contains(out, `action.isolate["i-0a1b2c3d4e5f67890"]`) || !strings.Contains(out, "interrupted") {
		t.Fatalf("recover: exit %d\n%s\n%s", code, out, errOut)
	}
	// Consistent with the emulator: the held call never changed the
	// groups, and state says the isolation was not made.
	r := emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region]
	if g := r.NetworkInterfaces["eni-0d4c3b2a190817263"].Groups; len(g) != 1 || g[0] != "sg-0123456789abcdef0" {
		t.Errorf("groups after the crash: %v", g)
	}
	if code, out, _ = cordon(t, "state", "recover", "-config", dir); code != 0 || !strings.Contains(out, "Nothing to recover") {
		t.Errorf("second recover: %s", out)
	}

	before := len(emu.Calls())
	code, out, errOut = cordon(t, "apply", "-config", dir, "-no-color", planFile)
	if code != 0 {
		t.Fatalf("re-apply: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		`action.protect["i-0a1b2c3d4e5f67890"]: Already done`,
		`action.tag["i-0a1b2c3d4e5f67890"]: Already done`,
		`action.isolate["i-0a1b2c3d4e5f67890"]: Apply complete`,
		`action.stop["i-0a1b2c3d4e5f67890"]: Apply complete`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("re-apply output lacks %q:\n%s", want, out)
		}
	}
	for _, c := range emu.Calls()[before:] {
		if c.Action() == "ec2:ModifyInstanceAttribute" || (c.Action() == "ec2:CreateTags" && strings.Contains(strings.Join(c.ResourceIDs, ","), "i-0a1b2c3d4e5f67890")) {
			t.Errorf("the re-apply repeated a completed step: %s %v", c.Action(), c.ResourceIDs)
		}
	}
	r = emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region]
	if r.Instances["i-0a1b2c3d4e5f67890"].State != "stopped" || r.NetworkInterfaces["eni-0d4c3b2a190817263"].Groups[0] != demo.IsolationGroupID {
		t.Errorf("the resumed apply did not finish the response")
	}
	// And the plan is now applied for good.
	if code, _, errOut = cordon(t, "apply", "-config", dir, planFile); code != 1 || !strings.Contains(errOut, "already applied") {
		t.Errorf("third apply: exit %d %s", code, errOut)
	}
}
