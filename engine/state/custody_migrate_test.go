package state

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

// legacyEvidence is evidence an older cordon recorded, before the custody
// log: two incidents' records interleaved, with data and without, times
// to the nanosecond as SQLite kept them.
var legacyEvidence = []string{
	`INSERT INTO evidence (incident_id, kind, name, sha256, size, data, meta, created_at) VALUES
        ('inc-1', 'facts', 'describe', '` + sha256Hex([]byte(`{"state":"running"}`)) + `', 19, CAST('{"state":"running"}' AS BLOB),
         '{"collector":"describe"}', '2025-03-01T12:00:00.123456789Z')`,
	`INSERT INTO evidence (incident_id, kind, name, sha256, size, data, meta, created_at) VALUES
        ('inc-2', 'facts', 'describe', '` + sha256Hex([]byte(`{}`)) + `', 2, CAST('{}' AS BLOB), NULL, '2025-03-01T12:00:01.000000000Z')`,
	`INSERT INTO evidence (incident_id, kind, name, sha256, size, data, meta, created_at) VALUES
        ('inc-1', 'snapshot', 'snap-1', '', 0, NULL, '{"volume_id": "vol-1"}', '2025-03-01T12:00:02.000000000Z')`,
}

// A version 3 database's evidence is chained when it is upgraded: each
// incident's records in the order they were recorded, once, in the
// migration's transaction; evidence recorded after continues the chain.
func TestMigrateChainsEvidenceFromVersion3(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db := rawAt(t, path, sqliteMigrations[:3])
	for _, id := range []string{"inc-1", "inc-2"} {
		if _, err := db.Exec(`INSERT INTO incidents (id, finding_id, finding_source, finding_type, severity, account, region,
            resource_type, resource_id, matches, verdicts, facts_sha256, created_at, updated_at)
            VALUES (?, 'f', 'guardduty', 'Backdoor:EC2/X', 'high', '123456789012', 'us-west-2',
            'aws_instance', 'i-1', '[]', '[]', '', '2025-03-01T12:00:00.000000000Z', '2025-03-01T12:00:00.000000000Z')`, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range legacyEvidence {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("upgrading: %v", err)
	}
	if got := appliedVersions(t, s); !slices.Equal(got, versions(len(sqliteMigrations))) {
		t.Errorf("versions applied = %v", got)
	}
	check := func(incident string, want ...string) []CustodyEntry {
		t.Helper()
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
			t.Errorf("%s's log = %v, want %v", incident, names, want)
		}
		if b := VerifyCustody(entries, evidence); b != nil {
			t.Errorf("%s's upgraded log does not verify: %v", incident, b)
		}
		return entries
	}
	inc1 := check("inc-1", "describe", "snap-1")
	check("inc-2", "describe")
	if e := inc1[0]; e.EvidenceID != 1 || !e.InState || e.Meta != `{"collector":"describe"}` ||
		custodyTimeText(e.At) != "2025-03-01T12:00:00.123456Z" || e.PrevHash != "" {
		t.Errorf("first entry = %+v", e)
	}
	if e := inc1[1]; e.EvidenceID != 3 || e.InState || e.Meta != `{"volume_id": "vol-1"}` || e.PrevHash != inc1[0].Hash {
		t.Errorf("second entry = %+v", e)
	}
	putEvidence := func() {
		if err := s.PutEvidence(ctx, Evidence{IncidentID: "inc-1", Kind: "screenshot", Name: "console.png", Data: []byte("png")}); err != nil {
			t.Fatal(err)
		}
	}
	putEvidence()
	check("inc-1", "describe", "snap-1", "console.png")
	s.Close()

	// Opening again chains nothing twice.
	s, err = OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check("inc-1", "describe", "snap-1", "console.png")
	check("inc-2", "describe")
}

// A chaining that fails leaves the database at version 3, evidence and
// all, for a later cordon to upgrade.
func TestMigrateChainingFailureRollsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := rawAt(t, path, sqliteMigrations[:3])
	if _, err := db.Exec(`INSERT INTO incidents (id, finding_id, finding_source, finding_type, severity, account, region,
            resource_type, resource_id, matches, verdicts, facts_sha256, created_at, updated_at)
            VALUES ('inc-1', 'f', 'guardduty', 'Backdoor:EC2/X', 'high', '123456789012', 'us-west-2',
            'aws_instance', 'i-1', '[]', '[]', '', '2025-03-01T12:00:00.000000000Z', '2025-03-01T12:00:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO evidence (incident_id, kind, name, sha256, size, created_at)
        VALUES ('inc-1', 'facts', 'x', '', 0, 'yesterday')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := OpenSQLite(path)
	wantErr(t, err, "migrating schema to version 4")
	wantErr(t, err, `malformed time "yesterday"`)

	db = rawAt(t, path, sqliteMigrations[:3])
	var v, tables int
	if err := db.QueryRow(`SELECT max(version), (SELECT count(*) FROM sqlite_schema WHERE name = 'custody') FROM schema_migrations`).Scan(&v, &tables); err != nil {
		t.Fatal(err)
	}
	if v != 3 || tables != 0 {
		t.Errorf("after a failed upgrade: version %d, %d custody tables", v, tables)
	}
}
