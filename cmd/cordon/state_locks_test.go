package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/demo"
)

// locksOf runs `cordon state locks -json`.
func locksOf(t *testing.T, dir string) []state.LockInfo {
	t.Helper()
	code, out, errOut := cordon(t, "state", "locks", "-config", dir, "-json")
	var doc struct {
		FormatVersion string           `json:"format_version"`
		Locks         []state.LockInfo `json:"locks"`
	}
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || doc.FormatVersion != "1.0" || doc.Locks == nil {
		t.Fatalf("state locks -json: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
	return doc.Locks
}

// lockEventsOf runs `cordon state locks -history -json`.
func lockEventsOf(t *testing.T, dir string) []state.LockEvent {
	t.Helper()
	code, out, errOut := cordon(t, "state", "locks", "-config", dir, "-history", "-json")
	var doc struct {
		LockEvents []state.LockEvent `json:"lock_events"`
	}
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || doc.LockEvents == nil {
		t.Fatalf("state locks -history -json: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
	return doc.LockEvents
}

// runWithStdin runs the CLI in-process with stdin a file: /dev/null is no
// terminal.
func runWithStdin(t *testing.T, stdin *os.File, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, stdin, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestStateLocksAndUnlock(t *testing.T) {
	ctx := context.Background()
	dir, _ := emulatedConfig(t)
	dbPath := filepath.Join(dir, ".cordon", "state.db")

	if code, out, _ := cordon(t, "state", "locks", "-config", dir); code != 0 || !strings.Contains(out, "No state locks are held.") {
		t.Fatalf("state locks on a new state: exit %d\n%s", code, out)
	}
	if got := locksOf(t, dir); len(got) != 0 {
		t.Fatalf("locks = %+v", got)
	}
	if code, out, _ := cordon(t, "state", "locks", "-config", dir, "-history"); code != 0 || !strings.Contains(out, "No lock was forced or taken over.") {
		t.Fatalf("state locks -history on a new state: exit %d\n%s", code, out)
	}

	// Alice's apply runs here (this test process holds her lock), and
	// bob's crashed on another host, leaving his lock.
	st, err := state.OpenSQLite(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	aliceKey := state.TargetLockKey(actions.Target{Type: "aws_instance", ID: "i-0a1b2c3d4e5f67890", Account: demo.ProdAccount, Region: demo.Region})
	releaseAlice, err := st.Lock(ctx, []string{aliceKey}, "alice@ops-1 (cordon apply)", 0)
	if err != nil {
		t.Fatal(err)
	}
	bobKey := "target/123456789012/us-west-2/aws_instance/i-0b2c3d4e5f6a78901"
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO locks (lock_key, token, owner, pid, host, boot_id, proc_start, acquired_at)
        VALUES (?, 'bobs-token', 'bob@ip-10-0-0-7 (cordon apply)', 4242, 'ip-10-0-0-7', 'b00t', '12345', '2025-03-01T12:00:00.000000000Z')`, bobKey)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	locks := locksOf(t, dir)
	if len(locks) != 2 || locks[0].Key != aliceKey || locks[1].Key != bobKey {
		t.Fatalf("locks = %+v, want alice's and bob's", locks)
	}
	alice, bob := locks[0], locks[1]
	host, _ := os.Hostname()
	if alice.Liveness != state.LivenessAlive || alice.PID != os.Getpid() || alice.Host != host ||
		bob.Liveness != state.LivenessUnknown || bob.PID != 4242 || bob.Host != "ip-10-0-0-7" || bob.ID == "" {
		t.Errorf("locks = %+v", locks)
	}
	code, out, _ := cordon(t, "state", "locks", "-config", dir)
	for _, want := range []string{
		"LOCK", "HOLDER IS",
		alice.ID + "  " + aliceKey, "alice@ops-1 (cordon apply)", strconv.Itoa(os.Getpid()), "alive",
		bob.ID + "  " + bobKey, "bob@ip-10-0-0-7 (cordon apply)", "4242", "ip-10-0-0-7", "2025-03-01T12:00:00Z", "unknown (another host)",
		"cordon state unlock LOCK",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("state locks: exit %d, lacks %q:\n%s", code, want, out)
		}
	}

	// Without a terminal and without -force, unlock fails and removes
	// nothing.
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	code, out, errOut := runWithStdin(t, devNull, "state", "unlock", "-config", dir, bob.ID)
	if code != 1 || !strings.Contains(errOut, "standard input is not a terminal") || !strings.Contains(errOut, "-force") {
		t.Errorf("unlock without a terminal: exit %d\n%s\n%s", code, out, errOut)
	}
	// It named the holder before it gave up.
	for _, want := range []string{"Lock " + bob.ID, "key       " + bobKey, "holder    bob@ip-10-0-0-7 (cordon apply)",
		"process   pid 4242 on ip-10-0-0-7", "acquired  2025-03-01T12:00:00Z", "holder is unknown: it ran on another host"} {
		if !strings.Contains(out, want) {
			t.Errorf("unlock output lacks %q:\n%s", want, out)
		}
	}
	// Anything but "yes" cancels.
	code, out, _ = cordonStdin(t, "y\n", "state", "unlock", "-config", dir, bob.ID)
	if code != 1 || !strings.Contains(out, "Do you really want to force-unlock?") ||
		!strings.Contains(out, "Only 'yes' will be accepted to confirm.") || !strings.Contains(out, "Unlock cancelled.") {
		t.Errorf("unlock answered y: exit %d\n%s", code, out)
	}
	if got := locksOf(t, dir); len(got) != 2 {
		t.Fatalf("locks after refused unlocks = %+v, want both", got)
	}

	// "yes" removes exactly bob's lock, and the forcing is recorded.
	code, out, errOut = cordonStdin(t, "yes\n", "state", "unlock", "-config", dir, bob.ID)
	if code != 0 || !strings.Contains(out, "Lock "+bob.ID+" removed: "+bobKey+" is unlocked.") {
		t.Fatalf("unlock answered yes: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := locksOf(t, dir); len(got) != 1 || got[0].ID != alice.ID {
		t.Fatalf("locks after unlocking bob's = %+v, want alice's only", got)
	}
	forcer := userAtHost()
	events := lockEventsOf(t, dir)
	if len(events) != 1 || events[0].Kind != state.LockForced || events[0].By != forcer || events[0].Lock.ID != bob.ID ||
		events[0].Lock.Owner != "bob@ip-10-0-0-7 (cordon apply)" || events[0].Lock.Liveness != state.LivenessUnknown {
		t.Errorf("lock events = %+v, want %s forcing bob's lock", events, forcer)
	}
	code, out, _ = cordon(t, "state", "locks", "-config", dir, "-history")
	if code != 0 || !strings.Contains(out, "forced") || !strings.Contains(out, bob.ID) || !strings.Contains(out, forcer+" (pid ") {
		t.Errorf("state locks -history: exit %d\n%s", code, out)
	}

	// -force asks nothing, even of a live holder (named as such), which
	// learns of it at release.
	code, out, errOut = runWithStdin(t, devNull, "state", "unlock", "-config", dir, "-force", alice.ID)
	if code != 0 || strings.Contains(out, "Do you really") || !strings.Contains(out, "holder is alive") {
		t.Fatalf("unlock -force: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := locksOf(t, dir); len(got) != 0 {
		t.Errorf("locks after unlock -force = %+v", got)
	}
	if err := releaseAlice(); err == nil || !strings.Contains(err.Error(), "no longer held") {
		t.Errorf("alice's release after the unlock: %v", err)
	}
	if got := lockEventsOf(t, dir); len(got) != 2 || got[1].Lock.ID != alice.ID || got[1].Lock.Liveness != state.LivenessAlive {
		t.Errorf("lock events = %+v, want alice's forcing second", got)
	}
}

func TestStateUnlockErrors(t *testing.T) {
	ctx := context.Background()
	dir, _ := emulatedConfig(t)
	code, _, errOut := cordon(t, "state", "unlock", "-config", dir, "-force", "0123456789ab")
	if code != 1 || !strings.Contains(errOut, "No such lock") || !strings.Contains(errOut, `no state lock has id "0123456789ab": no lock is held`) {
		t.Errorf("unlock of an unknown id on an empty state: exit %d\n%s", code, errOut)
	}

	st, err := state.OpenSQLite(filepath.Join(dir, ".cordon", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key := state.TargetLockKey(actions.Target{Type: "aws_instance", ID: "i-0a1b2c3d4e5f67890", Account: demo.ProdAccount, Region: demo.Region})
	release, err := st.Lock(ctx, []string{key}, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	id := locksOf(t, dir)[0].ID

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown id", []string{"-force", "0123456789ab"}, `no state lock has id "0123456789ab" (it may have been released); cordon state locks lists the 1 held`},
		{"a key for an id", []string{"-force", key}, `"` + key + `" is the key of lock ` + id + "; give its id: cordon state unlock " + id},
		{"no id", nil, "expected exactly one LOCK_ID"},
		{"two ids", []string{id, id}, "expected exactly one LOCK_ID"},
		{"unknown flag", []string{"-yes", id}, "flag provided but not defined: -yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cordon(t, append([]string{"state", "unlock", "-config", dir}, tc.args...)...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want 1 with %q\n%s\n%s", code, tc.want, out, errOut)
			}
		})
	}
	if got := locksOf(t, dir); len(got) != 1 || got[0].ID != id {
		t.Errorf("locks after failed unlocks = %+v", got)
	}
	if code, _, errOut := cordon(t, "state", "locks", "-config", dir, "extra"); code != 1 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("state locks extra: exit %d\n%s", code, errOut)
	}
	// Help asked for goes to stdout, as Terraform's.
	if code, out, _ := cordon(t, "state", "-help"); code != 0 || !strings.Contains(out, "unlock [-force] LOCK_ID") || !strings.Contains(out, "list -pending") {
		t.Errorf("state -help: exit %d\n%s", code, out)
	}
}

// TestKilledPID1ApplyIsTakenOver is the container case for real: `cordon
// apply` runs as pid 1 of its own PID namespace (as a container's
// entrypoint does) under this host's name, and is killed mid-apply. Run
// again the same way, it is pid 1 again: judged by pid and host name, its
// dead predecessor would look alive and keep the target's lock forever.
// Judged also by start time, the lock is taken over and the apply resumed.
func TestKilledPID1ApplyIsTakenOver(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1)")
	}
	pid1 := []string{"--pid", "--fork", "--mount-proc", "--kill-child"}
	if out, err := exec.Command(unshare, append(pid1, "true")...).CombinedOutput(); err != nil {
		t.Skipf("cannot make a PID namespace here (needs root or user namespaces): %v %s", err, out)
	}
	bin := buildCordon(t)
	dir, emu := emulatedConfig(t)
	planFile := filepath.Join(t.TempDir(), "web1.plan")
	if code, _, errOut := cordon(t, "plan", "-config", dir, "-finding", web1Finding, "-out", planFile); code != 0 {
		t.Fatalf("plan: %s", errOut)
	}
	emu.Faults().Latency("ec2:ModifyNetworkInterfaceAttribute", time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, append(pid1, bin, "apply", "-config", dir, "-no-color", planFile)...)
	cmd.Env = os.Environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), `action.isolate["i-0a1b2c3d4e5f67890"]: Applying`) {
			break
		}
	}
	time.Sleep(500 * time.Millisecond) // the isolation call reaches the emulator, which holds it
	// unshare's child is cordon, pid 1 in its namespace; --kill-child
	// kills it with SIGKILL when unshare dies.
	children, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/task/" + strconv.Itoa(cmd.Process.Pid) + "/children")
	if err != nil || len(strings.Fields(string(children))) != 1 {
		t.Fatalf("unshare's child: %q %v", children, err)
	}
	child := strings.Fields(string(children))[0]
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat("/proc/" + child); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed apply (pid %s here) is still there", child)
		}
	}

	host, _ := os.Hostname()
	locks := locksOf(t, dir)
	if len(locks) != 1 || locks[0].PID != 1 || locks[0].Host != host || locks[0].ProcessStart == "" {
		t.Fatalf("locks the killed apply left = %+v, want one of pid 1 on %s with its start time", locks, host)
	}

	// pid 1 again, on the same host: the apply takes the lock over and
	// finishes the response.
	emu.Faults().Clear()
	again := exec.CommandContext(ctx, unshare, append(pid1, bin, "apply", "-config", dir, "-no-color", planFile)...)
	again.Env = os.Environ()
	out, err := again.CombinedOutput()
	if err != nil {
		t.Fatalf("the second apply, as pid 1 again: %v\n%s", err, out)
	}
	for _, want := range []string{
		`action.protect["i-0a1b2c3d4e5f67890"]: Already done`,
		`action.isolate["i-0a1b2c3d4e5f67890"]: Apply complete`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("second apply output lacks %q:\n%s", want, out)
		}
	}
	if got := locksOf(t, dir); len(got) != 0 {
		t.Errorf("locks after the second apply = %+v", got)
	}
	events := lockEventsOf(t, dir)
	if len(events) != 1 || events[0].Kind != state.LockTakenOver || events[0].Lock.PID != 1 || events[0].ByPID != 1 ||
		events[0].Lock.ProcessStart == "" || events[0].Lock.Liveness != state.LivenessDead {
		t.Errorf("lock events = %+v, want pid 1's takeover of dead pid 1's lock", events)
	}
	if code, out, _ := cordon(t, "state", "recover", "-config", dir); code != 0 || !strings.Contains(out, "Nothing to recover") {
		t.Errorf("state recover: exit %d\n%s", code, out)
	}
}

// `cordon state recover` leaves alone an action whose target's lock is
// held by an apply it cannot judge (one on another host), and says which
// lock and how to free it; once unlocked, recovery finishes the action.
func TestStateRecoverNamesTheHeldLock(t *testing.T) {
	ctx := context.Background()
	dir, _ := emulatedConfig(t)
	dbPath := filepath.Join(dir, ".cordon", "state.db")
	st, err := state.OpenSQLite(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	target := actions.Target{Type: "aws_instance", ID: "i-0a1b2c3d4e5f67890", Account: demo.ProdAccount, Region: demo.Region}
	inc := state.Incident{ID: "inc-1", Finding: plan.FindingSummary{ID: "f-1", Source: "guardduty", Type: "Backdoor:EC2/X", Severity: "high",
		Account: target.Account, Region: target.Region, Resource: plan.ResourceRef{Type: target.Type, ID: target.ID}}}
	if err := st.PutIncident(ctx, inc); err != nil {
		t.Fatal(err)
	}
	ap, err := st.BeginApply(ctx, state.ApplyStart{PlanID: "plan-1", Kind: state.KindApply, Owner: "bob@ip-10-0-0-7 (cordon apply)"})
	if err != nil {
		t.Fatal(err)
	}
	// The notification was being sent when bob's host went away.
	if _, err := st.ActionStarted(ctx, state.ActionStart{ApplyID: ap, IncidentID: "inc-1", Address: plan.Address("notify", target.ID),
		Action: "notify", Type: "webhook", Phase: "notify", Target: target}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO locks (lock_key, token, owner, pid, host, boot_id, proc_start, acquired_at)
        VALUES (?, 'bobs-token', 'bob@ip-10-0-0-7 (cordon apply)', 4242, 'ip-10-0-0-7', 'b00t', '12345', '2025-03-01T12:00:00.000000000Z')`,
		state.TargetLockKey(target))
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	id := locksOf(t, dir)[0].ID

	code, out, errOut := cordon(t, "state", "recover", "-config", dir)
	want := "in flight: the target's lock " + id + " is held by bob@ip-10-0-0-7 (cordon apply) (pid 4242 on ip-10-0-0-7, on another host, which cordon cannot check); left alone. If that apply is gone, run `cordon state unlock " + id + "`, then recover again"
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("recover with the lock held: exit %d, want %q\n%s\n%s", code, want, out, errOut)
	}
	if code, out, errOut := cordon(t, "state", "unlock", "-config", dir, "-force", id); code != 0 {
		t.Fatalf("unlock: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = cordon(t, "state", "recover", "-config", dir)
	// Its delivery is unknown: it is sent again, not counted as sent.
	if code != 0 || !strings.Contains(out, `action.notify["i-0a1b2c3d4e5f67890"] (incident inc-1): interrupted`) {
		t.Errorf("recover after the unlock: exit %d\n%s\n%s", code, out, errOut)
	}
}
