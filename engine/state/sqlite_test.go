package state

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestOpenConfiguresDatabase(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for _, tc := range []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.w, "journal_mode", "wal"},
		{s.w, "synchronous", "2"}, // FULL
		{s.w, "foreign_keys", "1"},
		{s.w, "busy_timeout", "10000"},
		{s.w, "application_id", "1668248164"},
		{s.r, "query_only", "1"},
		{s.r, "busy_timeout", "10000"},
		{s.r, "journal_mode", "wal"},
	} {
		var got string
		if err := tc.db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
	// The read pool cannot write.
	if _, err := s.r.ExecContext(ctx, `DELETE FROM locks`); err == nil {
		t.Error("a read connection wrote to the database")
	}
}

func TestOpenReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	for i := range 3 {
		s, err := OpenSQLite(path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		putIncident(t, s, testIncident("inc-"+string(rune('a'+i)), "i-1"))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Incidents(context.Background(), IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("after reopening, %d incidents, want 3", len(got))
	}
	var versions int
	if err := s.w.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != len(sqliteMigrations) {
		t.Errorf("schema_migrations has %d rows, want %d", versions, len(sqliteMigrations))
	}
}

// A path with characters that mean something in a URI is a path.
func TestOpenPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?x=1#frag%20")
	path := filepath.Join(dir, "state.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	putIncident(t, s, testIncident("inc-1", "i-1"))
	s.Close()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("database not at %s: %v", path, err)
	}
}

func TestOpenBadPaths(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup prepares dir and returns the path to open.
		setup func(t *testing.T, dir string) string
		want  any
		// unchanged: the file must be byte for byte as setup left it.
		unchanged bool
	}{
		{
			name:  "empty path",
			setup: func(t *testing.T, dir string) string { return "" },
			want:  "path is empty",
		},
		{
			name: "parent is a file",
			setup: func(t *testing.T, dir string) string {
				writeFile(t, filepath.Join(dir, "file"), "x")
				return filepath.Join(dir, "file", "state.db")
			},
			want: "not a directory",
		},
		{
			name: "path is a directory",
			setup: func(t *testing.T, dir string) string {
				return dir
			},
			want: "not a regular file",
		},
		{
			name: "unwritable directory",
			setup: func(t *testing.T, dir string) string {
				if os.Geteuid() == 0 {
					t.Skip("root writes to any directory")
				}
				ro := filepath.Join(dir, "ro")
				if err := os.Mkdir(ro, 0o500); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(ro, "state.db")
			},
			want: "permission denied",
		},
		{
			name: "text file",
			setup: func(t *testing.T, dir string) string {
				return writeFile(t, filepath.Join(dir, "state.db"), strings.Repeat("not a database\n", 400))
			},
			want:      ErrNotStateDatabase,
			unchanged: true,
		},
		{
			name: "database of another application",
			setup: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "other.db")
				rawSQL(t, path, `CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)`)
				return path
			},
			want: ErrNotStateDatabase,
		},
		{
			name: "database with another application id",
			setup: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "other.db")
				rawSQL(t, path, `PRAGMA application_id = 42`)
				return path
			},
			want: "application_id 0x2a",
		},
		{
			name: "newer schema",
			setup: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "state.db")
				s, err := OpenSQLite(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.execRaw(t, `INSERT INTO schema_migrations VALUES (99, 'from the future', '2099-01-01T00:00:00.000000000Z')`); err != nil {
					t.Fatal(err)
				}
				s.Close()
				return path
			},
			want: ErrSchemaTooNew,
		},
		{
			name: "corrupt schema page",
			setup: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "state.db")
				s, err := OpenSQLite(path)
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				// Keep the 100-byte header; garble the rest of page 1,
				// where the schema's b-tree starts.
				for i := 100; i < 4096 && i < len(data); i++ {
					data[i] = 0xa5
				}
				return writeFile(t, path, string(data))
			},
			want: "corrupt",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.setup(t, t.TempDir())
			var before []byte
			if tc.unchanged {
				before, _ = os.ReadFile(path)
			}
			s, err := OpenSQLite(path)
			if err == nil {
				s.Close()
			}
			wantErr(t, err, tc.want)
			if path != "" && !strings.Contains(err.Error(), "path is empty") && !strings.Contains(err.Error(), path) &&
				!strings.Contains(err.Error(), filepath.Base(path)) {
				t.Errorf("error %q does not name the file", err)
			}
			if tc.unchanged {
				after, _ := os.ReadFile(path)
				if !bytes.Equal(before, after) {
					t.Error("a failed open changed the file")
				}
			}
		})
	}
}

// TestSchemaGolden keeps the schema reviewable: a change to it shows as a
// diff of testdata/schema.golden (go test -update rewrites it).
func TestSchemaGolden(t *testing.T) {
	s := openTest(t)
	got, err := schemaDump(context.Background(), s.w)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "schema.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("schema differs from %s (run go test -update after a deliberate change):\n%s", golden, got)
	}
}

// schemaDump returns the schema as SQL text in a stable order.
func schemaDump(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, `SELECT sql FROM sqlite_schema
        WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY type, name`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return "", err
		}
		b.WriteString(s)
		b.WriteString(";\n\n")
	}
	return b.String(), rows.Err()
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rawSQL runs statements on a SQLite database outside the store.
func rawSQL(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
