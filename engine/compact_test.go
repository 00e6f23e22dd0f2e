package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cordonhq/cordon/engine/plan"
)

// A plan made with CompactData (cordon plan -out) writes the same file as
// one made keeping the data as values, for every kind of finding the
// starter handles, and keeps all of it compacted.
func TestCompactDataWritesTheSamePlan(t *testing.T) {
	ctx := context.Background()
	e, diags := Load(ctx, Options{Dir: "../policies"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	facts, err := e.ReadFactsFile("../policies/testdata/facts/ec2_cryptominer.json")
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob("../policies/testdata/findings/*.json")
	if err != nil || len(paths) < 20 {
		t.Fatalf("findings: %v, %v", paths, err)
	}
	var ndjson []byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ndjson = append(append(ndjson, bytes.TrimSpace(b)...), '\n')
	}
	planned := func(compact bool) (*Result, []byte) {
		ff, err := SplitFindings("findings.ndjson", ndjson)
		if err != nil {
			t.Fatal(err)
		}
		res, diags := e.Plan(ctx, []*FindingsFile{ff}, PlanOptions{Facts: facts, KeepData: true, CompactData: compact})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		body, err := plan.Encode(res.File(e, "2026-12-07T00:00:00Z"))
		if err != nil {
			t.Fatal(err)
		}
		return res, body
	}
	plainRes, plain := planned(false)
	compactRes, compacted := planned(true)
	if len(plainRes.Data) < 10 || len(compactRes.Data) != len(plainRes.Data) {
		t.Fatalf("%d incidents with data, compacted %d", len(plainRes.Data), len(compactRes.Data))
	}
	for id, d := range compactRes.Data {
		if !d.Compacted() {
			t.Errorf("incident %s: data not compacted", id)
		}
		if plainRes.Data[id].Compacted() {
			t.Errorf("incident %s: data compacted without CompactData", id)
		}
	}
	if !bytes.Equal(plain, compacted) {
		a, _ := plan.Decode(plain)
		b, _ := plan.Decode(compacted)
		t.Fatalf("plan files differ: ids %s and %s", a.ID, b.ID)
	}
}
