//go:build unix

package statetest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/cordonhq/cordon/engine/state"
)

// CrashChild is what the backend's crash helper runs in the child
// process, on a store it opened: it starts an apply, takes the target's
// lock, records an action as started, and dies by SIGKILL, with no chance
// to close the store or release the lock.
func CrashChild(t *testing.T, s state.Store) {
	ctx := context.Background()
	PutIncident(t, s, Incident("inc-1", "i-1"))
	if _, err := s.Lock(ctx, []string{state.TargetLockKey(Target("i-1"))}, "child", 0); err != nil {
		t.Fatal(err)
	}
	ap := BeginApply(t, s, "plan-crash", state.KindApply)
	Record(t, s, Action(ap, "inc-1", "tag", "i-1"), state.ResultApplied)
	StartAction(t, s, Action(ap, "inc-1", "isolate", "i-1"))
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // never reached
}

// A process killed between ActionStarted and ActionFinished leaves state
// from which the next process recovers: the action is started, the lock
// is the dead process's and taken over, and the apply resumes.
func testCrashMidApply(t *testing.T, b Backend) {
	if b.CrashHelper == "" {
		t.Skip("the backend has no crash helper")
	}
	st := b.New(t)
	cmd := exec.Command(os.Args[0], "-test.run=^"+b.CrashHelper+"$")
	cmd.Env = append(os.Environ(), st.Env()...)
	out, err := cmd.CombinedOutput()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	child := cmd.ProcessState.Pid()

	ctx := context.Background()
	s := st.Open(t)
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

	// The dead child's lock is stale and taken over (a backend may take
	// a moment to notice the child is gone).
	release, err := s.Lock(ctx, []string{state.TargetLockKey(Target("i-1"))}, "recover", 30*time.Second)
	if err != nil {
		t.Fatalf("taking over the dead child's lock: %v", err)
	}
	defer release()
	ev, err := s.LockEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 1 || ev[0].Kind != state.LockTakenOver || ev[0].Lock.Owner != "child" || ev[0].Lock.PID != child ||
		ev[0].Lock.Liveness != state.LivenessDead || ev[0].By != "recover" {
		t.Errorf("lock events = %+v, want recover's takeover of the child's lock", ev)
	}

	start := state.ApplyStart{PlanID: "plan-crash", Kind: state.KindApply, Owner: "alice"}
	_, err = s.BeginApply(ctx, start)
	WantErr(t, err, state.ErrApplyInterrupted)
	start.Resume = true
	id, err := s.BeginApply(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	if id != running[0].ID {
		t.Fatalf("resumed apply %d, want %d", id, running[0].ID)
	}
	// The resumed apply finds the change made, and finishes.
	FinishAction(t, s, started[0].ID, state.Outcome{Result: state.ResultRecovered, After: json.RawMessage(`{"security_groups":["sg-iso"]}`)})
	done, err := s.DoneActions(ctx, "plan-crash")
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 2 {
		t.Errorf("done actions = %+v, want tag and isolate", done)
	}
	FinishApply(t, s, id, state.ApplyApplied)
	_, err = s.BeginApply(ctx, start)
	WantErr(t, err, state.ErrAlreadyApplied)

	applied, err := s.AppliedActions(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 2 {
		t.Errorf("applied actions = %+v, want tag and the recovered isolate", applied)
	}
}
