package plan

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cordonhq/cordon/collectors"
	"github.com/cordonhq/cordon/schema"
)

func richPlanFile(t *testing.T) *File {
	t.Helper()
	f := samplePlanFile(t)
	f.Incidents["inc-0123456789abcdef"] = &IncidentData{
		Finding: &schema.Finding{
			ID: "f-1", Source: "aws.guardduty", Type: "Backdoor:EC2/C&CActivity.B!DNS",
			Resource: schema.Resource{Type: "aws_instance", ID: "i-0a1b2c3d4e5f67890"},
			// HTML characters are escaped by json.Marshal: the compacted
			// form must give the same bytes.
			Raw: json.RawMessage(`{"id":"f-1","title":"<script>&</script>","n":1.50}`),
		},
		File:      "findings/<one>.json",
		Facts:     map[string]map[string]any{"describe": {"state": "running", "tags": map[string]any{"b": "2", "a": []any{"x", 1.5, nil}}}},
		Resources: []schema.Resource{{Type: "aws_instance", ID: "i-0a1b2c3d4e5f67890"}},
		Artefacts: []collectors.Artefact{{Kind: "screenshot", Name: "console.png"}},
	}
	f.Incidents["inc-empty"] = &IncidentData{}
	return f
}

// A plan whose incident data was compacted encodes to the very bytes of
// one whose data was not: same id, same signature, same content.
func TestCompactedDataEncodesTheSame(t *testing.T) {
	plain, err := Seal(richPlanFile(t), testKey)
	if err != nil {
		t.Fatal(err)
	}
	f := richPlanFile(t)
	for id, d := range f.Incidents {
		if err := d.Compact(); err != nil {
			t.Fatal(err)
		}
		if !d.Compacted() || d.Finding != nil || d.Facts != nil || d.File != "" || d.Resources != nil || d.Artefacts != nil {
			t.Fatalf("%s: compacted data keeps its fields: %+v", id, d)
		}
		if err := d.Compact(); err != nil { // a second time does nothing
			t.Fatal(err)
		}
	}
	compacted, err := Seal(f, testKey)
	if err != nil {
		t.Fatal(err)
	}
	a, b := decompress(t, plain), decompress(t, compacted)
	if !bytes.Equal(a, b) {
		t.Fatalf("compacted plan differs:\n%s\nwant\n%s", b, a)
	}
	// And a plan file read back holds the data as fields again.
	back, err := Decode(compacted)
	if err != nil {
		t.Fatal(err)
	}
	d := back.Incidents["inc-0123456789abcdef"]
	if d.Compacted() || d.Finding == nil || d.Finding.Type != "Backdoor:EC2/C&CActivity.B!DNS" || d.Facts["describe"]["state"] != "running" {
		t.Errorf("decoded data = %+v", d)
	}
}

// json.Marshal of compacted data (what a caller other than the plan
// writer would use) gives the same document too.
func TestCompactedDataMarshalsTheSame(t *testing.T) {
	d := richPlanFile(t).Incidents["inc-0123456789abcdef"]
	want, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Compact(); err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("json.Marshal of compacted data:\n%s\nwant\n%s", got, want)
	}
	var nilData *IncidentData
	if b, err := json.Marshal(map[string]*IncidentData{"x": nilData}); err != nil || string(b) != `{"x":null}` {
		t.Errorf("nil data marshals to %s, %v", b, err)
	}
}

func decompress(t *testing.T, data []byte) []byte {
	t.Helper()
	return []byte(gunzipped(t, data))
}
