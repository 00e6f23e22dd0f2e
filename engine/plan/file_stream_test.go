package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cordonhq/cordon/schema"
)

// The streamed encoding is byte for byte what json.Marshal gives, so a
// plan's id and signature do not depend on how it was written.
func TestWriteCanonicalMatchesMarshal(t *testing.T) {
	several := samplePlanFile(t)
	several.Variables = map[string]json.RawMessage{"b": json.RawMessage(`"<2>"`), "a": json.RawMessage(`1`)}
	several.Plan.Unmatched = []*Unmatched{{FindingID: "f-<&>", Reason: "no rule matched"}}
	several.Plan.Incidents = append(several.Plan.Incidents, &Incident{ID: "inc-b", Actions: []*Action{}})
	several.Incidents["inc-b"] = &IncidentData{File: "x & y <z>.json", Finding: &schema.Finding{ID: "f\u2028", Raw: json.RawMessage(`{"k":"<v>"}`)}}
	several.Incidents["inc-a"] = &IncidentData{File: "a.json"}
	for name, f := range map[string]*File{
		"one incident":        samplePlanFile(t),
		"several, with HTML":  several,
		"nil lists and maps":  {Plan: &Plan{FormatVersion: "1.0"}},
		"no plan, no data":    {},
		"empty lists and map": {Plan: &Plan{Incidents: []*Incident{}, Unmatched: []*Unmatched{}}, Incidents: map[string]*IncidentData{}},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := canonical(f)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := writeCanonical(&got, f, "", ""); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("streamed:\n%s\nmarshalled:\n%s", got.Bytes(), want)
			}
			var signed bytes.Buffer
			if err := writeCanonical(&signed, f, "plan-0011223344556677", "mac0"); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(signed.Bytes(), splice(want, "plan-0011223344556677", "mac0")) {
				t.Fatalf("signed stream differs from the spliced body")
			}
		})
	}
}

// Encoding in memory (Encode, Seal) and writing a file (Write) give the
// same id, signature and content: the daemon's stored plans and saved
// plan files are the same document.
func TestEncodeMatchesWrite(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	for _, k := range [][]byte{nil, key} {
		f := samplePlanFile(t)
		var data []byte
		var err error
		if k == nil {
			data, err = Encode(f)
		} else {
			data, err = Seal(f, k)
		}
		if err != nil {
			t.Fatal(err)
		}
		inMemory, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "p")
		g := samplePlanFile(t)
		if err := Write(path, g, k); err != nil {
			t.Fatal(err)
		}
		written, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fromFile, err := Decode(written)
		if err != nil {
			t.Fatal(err)
		}
		if f.ID != g.ID || f.MAC != g.MAC || inMemory.ID != f.ID || fromFile.ID != g.ID || inMemory.MAC != fromFile.MAC {
			t.Errorf("key %v: Encode id %s mac %q, Write id %s mac %q", k != nil, f.ID, f.MAC, g.ID, g.MAC)
		}
		a, _ := json.Marshal(inMemory)
		b, _ := json.Marshal(fromFile)
		if !bytes.Equal(a, b) {
			t.Errorf("key %v: the decoded documents differ", k != nil)
		}
	}
}
