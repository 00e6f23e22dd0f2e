package engine_test

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/state"
)

// postgresEngine loads a configuration whose state is PostgreSQL, its dsn
// read from CORDON_PG_DSN as the configuration reads it, here dsn.
func postgresEngine(t *testing.T, dsn string) *engine.Engine {
	t.Helper()
	fsys := fstest.MapFS{
		"cordon.hcl": &fstest.MapFile{Data: []byte(`
cordon {
  state {
    backend = "postgres"
    dsn     = env("CORDON_PG_DSN")
  }
}

scope "any" {}

action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = "sg-0e1f2a3b4c5d6e7f8"
}

rule "r" {
  scopes  = [scope.any]
  actions = [action.isolate]
}
`)},
		"policies/verdict.rego":  &fstest.MapFile{Data: []byte("package cordon.verdict\n\nverdict := \"benign\"\n")},
		"policies/response.rego": &fstest.MapFile{Data: []byte("package cordon.response\n\nactions := set()\n")},
	}
	getenv := func(name string) (string, bool) {
		if name == "CORDON_PG_DSN" {
			return dsn, true
		}
		return "", false
	}
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "cfg", FS: fsys, Getenv: getenv})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return e
}

func TestOpenStatePostgresWithoutDSN(t *testing.T) {
	e := postgresEngine(t, "")
	_, err := e.OpenState()
	if err == nil || !strings.Contains(err.Error(), "CORDON_PG_DSN") {
		t.Fatalf("OpenState with no dsn = %v, want an error naming CORDON_PG_DSN", err)
	}
	if _, err := e.PlanKeys(); err != nil {
		t.Fatal(err)
	}
	// Planning needs no state: nothing was counted.
	if c, err := e.OpenStateReadOnly(); c != nil || err != nil {
		t.Errorf("OpenStateReadOnly with no dsn = %v, %v; want nothing", c, err)
	}
}

// The postgres backend opens on the configuration's dsn; a reader opens
// no state that is not there; the plan key lives in the database.
func TestOpenStatePostgres(t *testing.T) {
	base := os.Getenv("CORDON_PG_DSN")
	if base == "" {
		if os.Getenv("CORDON_CI") == "1" {
			t.Fatal("CORDON_PG_DSN is not set: CI must run the PostgreSQL tests")
		}
		t.Skip("set CORDON_PG_DSN=postgres://… to run the PostgreSQL tests")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	schema := "cordon_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema) // a runtime parameter of the session
	u.RawQuery = q.Encode()
	e := postgresEngine(t, u.String())

	// No state yet: nothing to count, no plan key to check with, and
	// neither creates one.
	if c, err := e.OpenStateReadOnly(); c != nil || err != nil {
		t.Fatalf("OpenStateReadOnly of an empty schema = %v, %v; want nothing", c, err)
	}
	keys, err := e.PlanKeys()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.PlanKey(ctx, false); err == nil || !strings.Contains(err.Error(), state.ErrNoPlanKey.Error()) {
		t.Fatalf("plan key of an empty schema: %v, want ErrNoPlanKey", err)
	}

	st, err := e.OpenState()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ps, ok := st.(*state.PostgresStore)
	if !ok || ps.Schema() != schema {
		t.Fatalf("OpenState = %T in schema %v, want a PostgresStore in %s", st, ps, schema)
	}
	if strings.Contains(ps.String(), u.User.String()+"@") && strings.Contains(u.User.String(), ":") {
		t.Errorf("String() = %q shows the password", ps.String())
	}
	c, err := e.OpenStateReadOnly()
	if err != nil || c == nil {
		t.Fatalf("OpenStateReadOnly = %v, %v", c, err)
	}
	defer c.Close()
	if n, err := c.CountActions(ctx, time.Now().Add(-time.Hour), "r"); err != nil || n != 0 {
		t.Errorf("counted %d, %v", n, err)
	}
	created, err := keys.PlanKey(ctx, true)
	if err != nil || len(created) != state.PlanKeySize {
		t.Fatalf("creating the plan key: %x, %v", created, err)
	}
	again, err := keys.PlanKey(ctx, false)
	if err != nil || string(again) != string(created) {
		t.Errorf("plan key read again = %x, %v; want %x", again, err, created)
	}
}
