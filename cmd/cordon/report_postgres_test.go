package main

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/engine/state/statetest"
)

// pgTestURL returns CORDON_PG_DSN with a fresh schema as its search_path
// (dropped when the test ends), skipping the test without it except in CI.
func pgTestURL(t *testing.T) (*url.URL, string) {
	t.Helper()
	dsn := os.Getenv("CORDON_PG_DSN")
	if dsn == "" {
		if os.Getenv("CORDON_CI") == "1" {
			t.Fatal("CORDON_PG_DSN is not set: CI must run the PostgreSQL tests")
		}
		t.Skip("set CORDON_PG_DSN=postgres://… to run the PostgreSQL tests")
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("CORDON_PG_DSN must be a postgres:// URL here: %v", err)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := "cordon_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		admin.Close(context.Background())
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u, schema
}

// cordon report -state takes a postgres:// URL as it takes a SQLite file,
// and keeps its password out of every message.
func TestReportStatePostgres(t *testing.T) {
	u, schema := pgTestURL(t)
	ctx := context.Background()
	st, err := state.OpenPostgres(ctx, u.String(), state.PostgresOptions{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	statetest.PutIncident(t, st, statetest.Incident("inc-pg", "i-0abc"))
	ap := statetest.BeginApply(t, st, "plan-pg", state.KindApply)
	statetest.Record(t, st, statetest.Action(ap, "inc-pg", "isolate", "i-0abc"), state.ResultApplied)
	st.Close()

	code, out, errOut := cordon(t, "report", "-state", u.String(), "-format", "json", "inc-pg")
	if code != 0 || !strings.Contains(out, `"verdict": "malicious"`) || !strings.Contains(out, "i-0abc") {
		t.Fatalf("report -state URL: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = cordon(t, "report", "-state", strings.Replace(u.String(), "postgres://", "postgresql://", 1), "inc-nope")
	if code != 1 || !strings.Contains(errOut, "No such incident") {
		t.Errorf("report of a missing incident: exit %d\n%s", code, errOut)
	}

	const secret = "n0t-the-Real-pa55word"
	for _, tc := range []struct {
		name string
		url  func() string
		want string
	}{
		{"wrong password", func() string {
			w := *u
			w.User = url.UserPassword(u.User.Username(), secret)
			return w.String()
		}, "password authentication failed"},
		{"no cordon state there", func() string {
			e := *u
			q := e.Query()
			q.Set("search_path", schema+"_none")
			e.RawQuery = q.Encode()
			e.User = url.UserPassword(u.User.Username(), passwordOf(u))
			return e.String()
		}, "cordon state"},
		{"not a URL", func() string { return "postgres://cordon:" + secret + "@127.0.0.1:port/db" }, "not a PostgreSQL connection string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cordon(t, "report", "-state", tc.url(), "inc-pg")
			if code != 1 || out != "" || !strings.Contains(errOut, "Cannot open state") || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
			}
			if strings.Contains(errOut, secret) {
				t.Errorf("the password shows:\n%s", errOut)
			}
		})
	}
}

func passwordOf(u *url.URL) string {
	p, _ := u.User.Password()
	return p
}
