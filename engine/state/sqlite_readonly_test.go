package state

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/plan"
)

func TestOpenSQLiteReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, ".cordon", "state.db")

	// No state yet: an error saying so, and nothing created.
	if _, err := OpenSQLiteReadOnly(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing state: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("opening a missing state read-only created its directory")
	}

	st, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	applyID, err := st.BeginApply(ctx, ApplyStart{PlanID: "plan-1", Kind: KindApply, Owner: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutIncident(ctx, Incident{ID: "inc-1", Finding: plan.FindingSummary{ID: "f"}}); err != nil {
		t.Fatal(err)
	}
	for i, phase := range []string{"contain", "disrupt", "notify"} {
		target := actions.Target{Type: "aws_instance", ID: "i-" + phase, Account: "1", Region: "r"}
		if _, err := st.ActionStarted(ctx, ActionStart{ApplyID: applyID, IncidentID: "inc-1", Address: plan.Address("a", target.ID),
			Action: "a", Type: "aws_ec2_stop", Phase: phase, Target: target, Rules: []string{"r1"}, StartedAt: now.Add(-time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	ro, err := OpenSQLiteReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for rule, want := range map[string]int{"r1": 2, "r2": 0, "": 2} {
		if n, err := ro.CountActions(ctx, now.Add(-time.Hour), rule); err != nil || n != want {
			t.Errorf("rule %q: %d %v, want %d", rule, n, err, want)
		}
	}
	// It cannot write, whatever it is asked.
	if _, err := ro.s.r.ExecContext(ctx, "DELETE FROM actions"); err == nil {
		t.Error("the read-only state deleted actions")
	}
}

func TestOpenSQLiteReadOnlyRefuses(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA application_id = 42; CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenSQLiteReadOnly(foreign); !errors.Is(err, ErrNotStateDatabase) {
		t.Errorf("foreign database: %v", err)
	}

	newer := filepath.Join(dir, "newer.db")
	st, err := OpenSQLite(newer)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err = sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 'now')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenSQLiteReadOnly(newer); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("newer schema: %v", err)
	}

	if err := os.Mkdir(filepath.Join(dir, "dir.db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSQLiteReadOnly(filepath.Join(dir, "dir.db")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
}

// A state from before actions recorded their rules counts nothing against
// any rule.
func TestOpenSQLiteReadOnlyOldSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	rawAt(t, path, sqliteMigrations[:1]).Close()
	ro, err := OpenSQLiteReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if n, err := ro.CountActions(context.Background(), time.Now().Add(-time.Hour), "r1"); n != 0 || err != nil {
		t.Errorf("%d %v", n, err)
	}
}
