package state

import (
	"context"
	"crypto/rand"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A PostgreSQL schema at version 1 with evidence is upgraded as SQLite's
// version 3 is: its evidence chained in evidence id order, per incident,
// in the migration's transaction, once.
func TestPostgresMigrateChainsEvidenceFromVersion1(t *testing.T) {
	dsn := os.Getenv("CORDON_PG_DSN")
	if dsn == "" {
		if os.Getenv("CORDON_CI") == "1" {
			t.Fatal("CORDON_PG_DSN is not set: CI must run the PostgreSQL tests")
		}
		t.Skip("set CORDON_PG_DSN=postgres://… to run the PostgreSQL tests")
	}
	ctx := context.Background()
	schema := "cordon_test_" + strings.ToLower(rand.Text()[:12])
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
		pool.Close()
	})
	if _, err := migratePostgres(ctx, pool, schema, postgresMigrations[:1], false); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO incidents (id, finding_id, finding_source, finding_type, severity, account, region, resource_type,
            resource_id, matches, verdicts, facts_sha256, created_at, updated_at)
            VALUES ('inc-1', 'f', 'guardduty', 't', 'high', 'a', 'r', 'aws_instance', 'i-1', '[]', '[]', '', now(), now()),
                   ('inc-2', 'f', 'guardduty', 't', 'high', 'a', 'r', 'aws_instance', 'i-2', '[]', '[]', '', now(), now())`,
		`INSERT INTO evidence (incident_id, kind, name, sha256, size, data, meta, created_at) VALUES
            ('inc-1', 'facts', 'describe', '` + sha256Hex([]byte(`{"state":"running"}`)) + `', 19, convert_to('{"state":"running"}', 'UTF8'),
             '{"collector": "describe"}', '2025-03-01T12:00:00.123456Z'),
            ('inc-2', 'facts', 'describe', '` + sha256Hex([]byte(`{}`)) + `', 2, convert_to('{}', 'UTF8'), NULL, '2025-03-01T12:00:01Z'),
            ('inc-1', 'snapshot', 'snap-1', '', 0, NULL, '{"volume_id":"vol-1"}', '2025-03-01T12:00:02Z')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	for round := range 2 { // the second open migrates, and chains, nothing
		s, err := OpenPostgres(ctx, dsn, PostgresOptions{Schema: schema})
		if err != nil {
			t.Fatalf("upgrading: %v", err)
		}
		for incident, want := range map[string][]string{"inc-1": {"describe", "snap-1"}, "inc-2": {"describe"}} {
			entries, err := s.Custody(ctx, incident)
			if err != nil {
				t.Fatal(err)
			}
			evidence, err := s.Evidence(ctx, incident)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name)
			}
			if !slices.Equal(names, want) {
				t.Errorf("round %d: %s's log = %v, want %v", round, incident, names, want)
			}
			if b := VerifyCustody(entries, evidence); b != nil {
				t.Errorf("round %d: %s's upgraded log does not verify: %v", round, incident, b)
			}
			if incident == "inc-1" && len(entries) == 2 {
				if e := entries[0]; e.Meta != `{"collector": "describe"}` || !e.InState || custodyTimeText(e.At) != "2025-03-01T12:00:00.123456Z" {
					t.Errorf("first entry = %+v", e)
				}
			}
		}
		s.Close()
	}
	var versions int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil || versions != len(postgresMigrations) {
		t.Errorf("%d migrations recorded (%v), want %d", versions, err, len(postgresMigrations))
	}
}
