//go:build unix

package state

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// A store closed mid-apply (the process stopping between ActionStarted and
// ActionFinished) leaves the action recorded as started, the apply as
// running, and the incident as applying.
func TestCloseMidApplyLeavesActionStarted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	putIncident(t, s, testIncident("inc-1", "i-1"))
	ap := beginApply(t, s, "plan-1", KindApply)
	done := record(t, s, testAction(ap, "inc-1", "tag", "i-1"), ResultApplied)
	started := startAction(t, s, testAction(ap, "inc-1", "isolate", "i-1"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.StartedActions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != started || got[0].PlanID != "plan-1" {
		t.Fatalf("started actions = %+v, want action %d", got, started)
	}
	doneActions, err := s.DoneActions(ctx, "plan-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(doneActions) != 1 || doneActions[ActionKey{"inc-1", `action.tag["i-1"]`}].ID != done {
		t.Errorf("done actions = %+v", doneActions)
	}
	d, err := s.Incident(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusApplying {
		t.Errorf("status = %s, want applying", d.Status)
	}
}

// crashEnv names the database a child process writes to before it kills
// itself (TestCrashHelper).
const crashEnv = "CORDON_STATE_CRASH_DB"

// TestCrashHelper is the child of TestCrashMidApply: it starts an apply,
// takes the target's lock, records an action as started, and dies by
// SIGKILL, with no chance to close the database or release the lock.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestCrashMidApply")
	}
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	putIncident(t, s, testIncident("inc-1", "i-1"))
	if _, err := s.Lock(ctx, []string{TargetLockKey(target("i-1"))}, "child", 0); err != nil {
		t.Fatal(err)
	}
	ap := beginApply(t, s, "plan-crash", KindApply)
	record(t, s, testAction(ap, "inc-1", "tag", "i-1"), ResultApplied)
	startAction(t, s, testAction(ap, "inc-1", "isolate", "i-1"))
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // never reached
}

// A process killed between ActionStarted and ActionFinished leaves state
// from which the next process recovers: the action is started, the lock
// is stale and taken over, and the apply resumes.
func TestCrashMidApply(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	child := cmd.ProcessState.Pid()

	ctx := context.Background()
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	started, err := s.StartedActions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != 1 || started[0].Action != "isolate" || started[0].PlanID != "plan-crash" {
		t.Fatalf("started actions = %+v", started)
	}
	running, err := s.RunningApplies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(running) != 1 || running[0].PID != child {
		t.Fatalf("running applies = %+v, want the child's (pid %d)", running, child)
	}

	// The dead child's lock is stale: recovery takes it at once.
	release, err := s.Lock(ctx, []string{TargetLockKey(target("i-1"))}, "recover", 0)
	if err != nil {
		t.Fatalf("taking over the dead child's lock: %v", err)
	}
	defer release()

	start := ApplyStart{PlanID: "plan-crash", Kind: KindApply, Owner: "alice"}
	_, err = s.BeginApply(ctx, start)
	wantErr(t, err, ErrApplyInterrupted)
	start.Resume = true
	id, err := s.BeginApply(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	if id != running[0].ID {
		t.Fatalf("resumed apply %d, want %d", id, running[0].ID)
	}
	// The resumed apply finds the change made, and finishes.
	finishAction(t, s, started[0].ID, Outcome{Result: ResultRecovered, After: json.RawMessage(`{"security_groups":["sg-iso"]}`)})
	done, err := s.DoneActions(ctx, "plan-crash")
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 2 {
		t.Errorf("done actions = %+v, want tag and isolate", done)
	}
	finishApply(t, s, id, ApplyApplied)
	_, err = s.BeginApply(ctx, start)
	wantErr(t, err, ErrAlreadyApplied)

	applied, err := s.AppliedActions(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 2 {
		t.Errorf("applied actions = %+v, want tag and the recovered isolate", applied)
	}
}
