package engine_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/state"
)

// The snapshots an aws_ec2_snapshot action takes are evidence: each is
// recorded with its ids and joins the incident's chain of custody, once,
// however often a plan finds it taken.
func TestApplyRecordsSnapshotsInTheChainOfCustody(t *testing.T) {
	ctx := context.Background()
	ae := newApplyEnv(t)
	res, err := ae.apply(ae.plan(web1Findings))
	if err != nil || res.Failed() {
		t.Fatal(err, res.Summary)
	}
	inc := res.Actions[0].Incident
	var taken []string // the emulator's snapshots of the incident
	for id, s := range ae.region().Snapshots {
		if s.Tags[actions.IncidentTagKey] == inc {
			taken = append(taken, id)
		}
	}
	slices.Sort(taken)
	if len(taken) != 2 {
		t.Fatalf("%d snapshots of %s, want web-1's two volumes'", len(taken), inc)
	}

	check := func() {
		t.Helper()
		entries, evidence, err := state.ReadCustody(ctx, ae.store, inc)
		if err != nil {
			t.Fatal(err)
		}
		if b := state.VerifyCustody(entries, evidence); b != nil {
			t.Fatalf("the chain of custody does not verify: %v", b)
		}
		var snaps []string
		for _, e := range entries {
			if e.Kind != "snapshot" {
				continue
			}
			snaps = append(snaps, e.Name)
			var meta map[string]string
			if err := json.Unmarshal([]byte(e.Meta), &meta); err != nil {
				t.Fatalf("snapshot %s: meta %q: %v", e.Name, e.Meta, err)
			}
			if meta["snapshot_id"] != e.Name || !strings.HasPrefix(meta["volume_id"], "vol-") || meta["instance_id"] != web1 ||
				meta["action"] != `action.snapshot["`+web1+`"]` || meta["account"] == "" || e.SHA256 != "" || e.InState || e.EvidenceID == 0 {
				t.Errorf("snapshot entry %+v", e)
			}
		}
		slices.Sort(snaps)
		if !slices.Equal(snaps, taken) {
			t.Errorf("custody log records snapshots %v, want %v", snaps, taken)
		}
	}
	check()

	// The finding again: a new plan finds the snapshots taken, and
	// records nothing new of them.
	res, err = ae.apply(ae.plan(web1Findings))
	if err != nil || res.Failed() {
		t.Fatal(err, res.Summary)
	}
	if got := resultsByAddress(res, web1)["snapshot"]; got != state.ResultNoChange {
		t.Fatalf("second snapshot: %s", got)
	}
	check()
}
