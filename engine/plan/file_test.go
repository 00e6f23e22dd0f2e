package plan

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testKey signs the test plans.
var testKey = bytes.Repeat([]byte{0x5a}, 32)

// samplePlanFile is a small plan file with one incident and its data.
func samplePlanFile(t testing.TB) *File {
	t.Helper()
	return &File{
		Format: fileFormat, FormatVersion: fileFormatVersion,
		CordonVersion: "test", CreatedAt: "2025-03-14T04:05:12Z", ConfigDigest: "sha256:00",
		Plan: &Plan{FormatVersion: "1.0", Incidents: []*Incident{{
			ID:      "inc-0123456789abcdef",
			Actions: []*Action{{Address: `action.isolate["i-0a1b2c3d4e5f67890"]`}},
		}}},
		Incidents: map[string]*IncidentData{"inc-0123456789abcdef": {File: "finding.json"}},
	}
}

func gz(t testing.TB, body string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "incident.plan")
	if err := Write(path, samplePlanFile(t), testKey); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("plan file mode %v, want 0600", info.Mode().Perm())
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.ID == "" || f.Plan.Incidents[0].Actions[0].Address != `action.isolate["i-0a1b2c3d4e5f67890"]` {
		t.Errorf("read back %+v", f)
	}
	if id, _ := ID(f); id != f.ID {
		t.Errorf("ID of the file read back is %s, recorded %s", id, f.ID)
	}
}

func TestDecodeRejects(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.plan")
	if err := Write(good, samplePlanFile(t), testKey); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(data)
	flipped[len(flipped)-6] ^= 0xff // the CRC-32 of the gzip trailer

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a cordon plan file"},
		{"plan JSON, not a plan file", []byte(`{"format_version":"1.0","incidents":[]}`), "not a cordon plan file"},
		{"truncated", data[:len(data)/2], "truncated"},
		{"corrupt checksum", flipped, "corrupt"},
		{"foreign gzip", gz(t, `{"hello":"world"}`), "not a cordon plan file"},
		{"gzip of text", gz(t, "just text"), "not a cordon plan file"},
		{"future version", gz(t, `{"format":"cordon-plan","format_version":2}`), "format version 2 is not supported"},
		{"no plan", gz(t, `{"format":"cordon-plan","format_version":1}`), "holds no plan"},
		{"wrong types", gz(t, `{"format":"cordon-plan","format_version":1,"plan":{"incidents":"x"}}`), "corrupt"},
		{"null incident", gz(t, `{"format":"cordon-plan","format_version":1,"plan":{"incidents":[null]}}`), "null incident"},
		{"null action", gz(t, `{"format":"cordon-plan","format_version":1,"plan":{"incidents":[{"id":"inc-1","actions":[null]}]},"incident_data":{"inc-1":{}}}`), "null action"},
		{"actions without their data", gz(t, `{"format":"cordon-plan","format_version":1,"plan":{"incidents":[{"id":"inc-1","actions":[{"address":"action.a[\"x\"]"}]}]}}`),
			"no data for incident inc-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Decode(tc.data)
			if err == nil {
				t.Fatalf("decoded %+v, want an error containing %q", f, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}

	// Read names the file.
	bad := filepath.Join(dir, "bad.plan")
	if err := os.WriteFile(bad, data[:10], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Read of a truncated file: %v, want the error to name %s", err, bad)
	}
	if _, err := Read(filepath.Join(dir, "missing.plan")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read of a missing file: %v", err)
	}
}

// FuzzDecode feeds Decode arbitrary bytes, raw and gzip-compressed: it must
// never panic, and whatever it accepts is a plan whose every incident with
// actions has its data.
func FuzzDecode(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.plan")
	if err := Write(path, samplePlanFile(f), testKey); err != nil {
		f.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)-3])
	f.Add(gz(f, `{"format":"cordon-plan","format_version":1,"plan":{"incidents":[]}}`))
	f.Add([]byte(`{"format":"cordon-plan"}`))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, gz(t, string(data))} {
			p, err := Decode(in)
			if err != nil {
				if p != nil {
					t.Fatalf("Decode returned a file and an error %v", err)
				}
				continue
			}
			if p.Plan == nil {
				t.Fatal("Decode accepted a file without a plan")
			}
			for _, inc := range p.Plan.Incidents {
				if inc != nil && len(inc.Actions) > 0 && p.Incidents[inc.ID] == nil {
					t.Fatalf("Decode accepted incident %s with actions and no data", inc.ID)
				}
			}
		}
	})
}
