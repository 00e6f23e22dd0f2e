package schema

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	findingsDir = "../testdata/findings"
	goldenDir   = "../testdata/golden/normalized"
)

// fixtureFiles lists the sample findings files (JSON and NDJSON).
func fixtureFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.json", "*.ndjson"} {
		m, err := filepath.Glob(filepath.Join(findingsDir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no sample findings in " + findingsDir)
	}
	return files
}

// goldenFinding is a Finding as the golden files show it: without raw,
// which is the input again and is checked on its own (TestRawIsTheInput).
type goldenFinding struct {
	*Finding
	Raw json.RawMessage `json:"raw,omitempty"`
}

// TestGolden parses every sample file and compares the normalized findings
// (or the error) with testdata/golden/normalized/<file>.json (or .err).
func TestGolden(t *testing.T) {
	for _, file := range fixtureFiles(t) {
		base := filepath.Base(file)
		t.Run(base, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := Parse(base, data)
			var got []byte
			stem := filepath.Join(goldenDir, strings.TrimSuffix(base, filepath.Ext(base)))
			golden, stale := stem+".json", stem+".err"
			if err != nil {
				got = []byte(err.Error() + "\n")
				golden, stale = stale, golden
			} else {
				view := make([]goldenFinding, len(fs))
				for i, f := range fs {
					view[i] = goldenFinding{Finding: f}
				}
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if err := enc.Encode(view); err != nil {
					t.Fatal(err)
				}
				got = buf.Bytes()
			}
			if *update {
				os.Remove(stale) // a golden of the other kind, if any
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("normalized %s differs from %s (run with -update to accept):\n%s", base, golden, got)
			}
		})
	}
}
