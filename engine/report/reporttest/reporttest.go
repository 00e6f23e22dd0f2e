// Package reporttest loads recorded incidents for the tests of the report
// and of `cordon report`: each is a directory holding the detector's raw
// finding, the facts its collectors gathered, the actions cordon took and
// the evidence it kept, which Load turns into what state would return (the
// custody log included) and Record writes into a real state store.
//
// A fixture directory holds:
//
//	incident.json  the incident: id, status, matches, verdicts, times,
//	               collector_types, applies, actions, evidence
//	finding.json   the detector's finding, parsed by schema.Parse
//	facts.json     the facts, keyed by collector name (optional)
//	*.png …        evidence files the incident's evidence names (optional)
//
// Digests are computed here the way the engine and the store compute them
// (the facts and each collector's facts as encoding/json writes them), so
// a fixture is edited as plain JSON.
package reporttest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/schema"
)

// Fixture is a recorded incident.
type Fixture struct {
	Detail *state.IncidentDetail
	// Evidence is the incident's evidence with its data, as
	// Store.Evidence returns it.
	Evidence []state.Evidence
	// CollectorTypes maps collector names to types, as the configuration
	// that collected the facts had them.
	CollectorTypes map[string]string
	// Custody is the incident's custody log, as Store.Custody returns it:
	// an entry for each evidence record, in order, chained as a store
	// chains them.
	Custody []state.CustodyEntry
}

// incidentFile is incident.json.
type incidentFile struct {
	ID             string               `json:"id"`
	Status         string               `json:"status"`
	Matches        []plan.Match         `json:"matches"`
	Verdicts       []plan.Verdict       `json:"verdicts"`
	CreatedAt      time.Time            `json:"created_at"`
	UpdatedAt      time.Time            `json:"updated_at"`
	CollectorTypes map[string]string    `json:"collector_types"`
	Applies        []state.ApplyRecord  `json:"applies"`
	Actions        []state.ActionRecord `json:"actions"`
	Evidence       []evidenceFile       `json:"evidence"`
}

// evidenceFile is an evidence record; File names its data in the fixture
// directory.
type evidenceFile struct {
	Kind      string          `json:"kind"`
	Name      string          `json:"name"`
	File      string          `json:"file,omitempty"`
	SHA256    string          `json:"sha256,omitempty"`
	Meta      json.RawMessage `json:"meta,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

// Load reads the fixture in dir.
func Load(dir string) (*Fixture, error) {
	var inc incidentFile
	if err := readJSON(filepath.Join(dir, "incident.json"), &inc); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "finding.json"))
	if err != nil {
		return nil, err
	}
	findings, err := schema.Parse(filepath.Join(dir, "finding.json"), raw)
	if err != nil {
		return nil, err
	}
	if len(findings) != 1 {
		return nil, fmt.Errorf("%s: %d findings, want 1", filepath.Join(dir, "finding.json"), len(findings))
	}
	f := findings[0]
	findingData, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}

	// Facts as the engine records them: encoding/json of map[string]any,
	// keys sorted.
	var facts map[string]any
	factsPath := filepath.Join(dir, "facts.json")
	if _, err := os.Stat(factsPath); err == nil {
		if err := readJSON(factsPath, &facts); err != nil {
			return nil, err
		}
	}
	fx := &Fixture{CollectorTypes: inc.CollectorTypes}
	d := &state.IncidentDetail{
		Incident: state.Incident{
			ID: inc.ID, Matches: inc.Matches, Verdicts: inc.Verdicts, FindingData: findingData,
			Finding: plan.FindingSummary{
				ID: f.ID, Source: f.Source, Type: f.Type, Severity: f.Severity, Account: f.Account, Region: f.Region,
				Resource: plan.ResourceRef{Type: f.Resource.Type, ID: f.Resource.ID},
			},
			CreatedAt: inc.CreatedAt, UpdatedAt: inc.UpdatedAt,
		},
		Status:  state.IncidentStatus(inc.Status),
		Applies: inc.Applies,
		Actions: inc.Actions,
	}
	var id int64
	add := func(ev state.Evidence) {
		id++
		ev.ID, ev.IncidentID = id, inc.ID
		if ev.Data != nil {
			ev.SHA256, ev.Size = sha256Hex(ev.Data), int64(len(ev.Data))
		}
		fx.Evidence = append(fx.Evidence, ev)
		ev.Data = nil
		d.Evidence = append(d.Evidence, ev)
	}
	if facts != nil {
		d.Incident.Facts, err = json.Marshal(facts)
		if err != nil {
			return nil, err
		}
		d.Incident.FactsSHA256 = sha256Hex(d.Incident.Facts)
		names := make([]string, 0, len(facts))
		for n := range facts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			b, err := json.Marshal(facts[n])
			if err != nil {
				return nil, err
			}
			meta, _ := json.Marshal(map[string]any{"collector": n})
			add(state.Evidence{Kind: "facts", Name: n, Data: b, Meta: meta, CreatedAt: inc.CreatedAt})
		}
	}
	for _, e := range inc.Evidence {
		ev := state.Evidence{Kind: e.Kind, Name: e.Name, SHA256: e.SHA256, Meta: e.Meta, CreatedAt: e.CreatedAt}
		if e.File != "" {
			if ev.Data, err = os.ReadFile(filepath.Join(dir, e.File)); err != nil {
				return nil, err
			}
		}
		add(ev)
	}
	entries := make([]state.CustodyEntry, 0, len(fx.Evidence))
	for i := range fx.Evidence {
		ev := fx.Evidence[i]
		ev.CreatedAt = ev.CreatedAt.UTC().Truncate(time.Microsecond)
		entries = append(entries, state.EvidenceCustody(&ev))
	}
	fx.Custody = state.ChainCustody(entries)
	fx.Detail = d
	return fx, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Record writes the fixture into st as the engine would have: the
// incident, each apply with its actions (ids are the store's; revert_of is
// mapped), and the evidence.
func (fx *Fixture) Record(ctx context.Context, st state.Store) error {
	d := fx.Detail
	inc := d.Incident
	inc.FactsSHA256 = ""
	if err := st.PutIncident(ctx, inc); err != nil {
		return err
	}
	ids := map[int64]int64{} // fixture action id → store action id
	for _, ap := range d.Applies {
		applyID, err := st.BeginApply(ctx, state.ApplyStart{PlanID: ap.PlanID, Kind: ap.Kind, ConfigDigest: ap.ConfigDigest,
			CordonVersion: ap.CordonVersion, Owner: ap.Owner, StartedAt: ap.StartedAt})
		if err != nil {
			return err
		}
		for _, a := range d.Actions {
			if a.ApplyID != ap.ID {
				continue
			}
			id, err := st.ActionStarted(ctx, state.ActionStart{ApplyID: applyID, IncidentID: inc.ID, Address: a.Address,
				Action: a.Action, Type: a.Type, Phase: a.Phase, Target: a.Target, Reversible: a.Reversible,
				RevertOf: ids[a.RevertOf], Before: a.Before, Config: a.Config, Planned: a.Planned, StartedAt: a.StartedAt})
			if err != nil {
				return fmt.Errorf("action %d: %w", a.ID, err)
			}
			ids[a.ID] = id
			if a.Result == state.ResultStarted {
				continue
			}
			out := state.Outcome{Result: a.Result, After: a.After, Error: a.Error}
			if a.FinishedAt != nil {
				out.FinishedAt = *a.FinishedAt
			}
			if err := st.ActionFinished(ctx, id, out); err != nil {
				return fmt.Errorf("action %d: %w", a.ID, err)
			}
		}
		if err := st.FinishApply(ctx, applyID, ap.Status, ap.Summary); err != nil {
			return err
		}
	}
	for _, ev := range fx.Evidence {
		ev.ID = 0
		if ev.Data != nil {
			ev.SHA256 = ""
		}
		if err := st.PutEvidence(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
