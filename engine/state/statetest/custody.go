package statetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cordonhq/cordon/engine/state"
)

// custodyEvidence is an incident's evidence of every sort: facts and a
// screenshot kept in state, a snapshot described by its ids, a memory
// image kept in a bucket with its digest. Times have nanoseconds, which
// the log keeps to the microsecond.
func custodyEvidence(incident string) []state.Evidence {
	at := T0.Add(1234567 * time.Nanosecond)
	return []state.Evidence{
		{IncidentID: incident, Kind: "facts", Name: "describe", Data: []byte(`{"state":"running"}`),
			Meta: json.RawMessage(`{"collector": "describe"}`), CreatedAt: at},
		{IncidentID: incident, Kind: "screenshot", Name: "console.png", Data: []byte("\x89PNG\r\n\x1a\nnot really"),
			Meta: json.RawMessage(`{"instance_id":"i-1","content_type":"image/png"}`), CreatedAt: at.Add(time.Second)},
		{IncidentID: incident, Kind: "snapshot", Name: "snap-0a1", Meta: json.RawMessage(`{"snapshot_id":"snap-0a1","volume_id":"vol-0b2"}`),
			CreatedAt: at.Add(2 * time.Second)},
		{IncidentID: incident, Kind: "memory_image", Name: "i-1.lime", SHA256: sha256Hex([]byte("memory")), Size: 8 << 30,
			Meta: json.RawMessage(`{"bucket":"evidence","key":"inc/i-1.lime"}`), CreatedAt: at.Add(3 * time.Second)},
	}
}

// reportEntry is a report written, the custody event `cordon report -out`
// appends.
func reportEntry(incident string) state.CustodyEntry {
	return state.CustodyEntry{IncidentID: incident, Kind: state.CustodyReport, Name: "report.html",
		SHA256: sha256Hex([]byte("<html>")), Size: 6, Meta: `{"format":"html"}`, At: T0.Add(time.Minute)}
}

// putEvidence records evs.
func putEvidence(t testing.TB, s state.Store, evs ...state.Evidence) {
	t.Helper()
	for _, ev := range evs {
		if err := s.PutEvidence(context.Background(), ev); err != nil {
			t.Fatalf("PutEvidence(%s %s): %v", ev.Kind, ev.Name, err)
		}
	}
}

// custodyOf reads an incident's custody log and evidence.
func custodyOf(t testing.TB, s state.Store, incident string) ([]state.CustodyEntry, []state.Evidence) {
	t.Helper()
	ctx := context.Background()
	entries, err := s.Custody(ctx, incident)
	if err != nil {
		t.Fatalf("Custody(%s): %v", incident, err)
	}
	evidence, err := s.Evidence(ctx, incident)
	if err != nil {
		t.Fatalf("Evidence(%s): %v", incident, err)
	}
	return entries, evidence
}

// Each evidence record and custody event is an entry of its incident's
// log, numbered from 1, linked to the entry before it and hashed as
// CustodyHash computes; recording an item again appends nothing; the log
// verifies.
func testCustodyLog(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	PutIncident(t, s, Incident("inc-1", "i-1"))
	PutIncident(t, s, Incident("inc-2", "i-2"))
	PutIncident(t, s, Incident("inc-3", "i-3"))
	evs := custodyEvidence("inc-1")
	putEvidence(t, s, evs[0], evs[1])
	putEvidence(t, s, custodyEvidence("inc-2")[0]) // another incident's log, between
	putEvidence(t, s, evs[2], evs[3])
	putEvidence(t, s, evs[0], evs[3]) // again: nothing new
	appended, err := s.AppendCustody(ctx, reportEntry("inc-1"))
	if err != nil {
		t.Fatal(err)
	}

	entries, evidence := custodyOf(t, s, "inc-1")
	if len(entries) != 5 || len(evidence) != 4 {
		t.Fatalf("%d entries for %d evidence records, want 5 for 4: %+v", len(entries), len(evidence), entries)
	}
	prev := ""
	for i, e := range entries {
		if e.IncidentID != "inc-1" || e.Seq != int64(i+1) || e.PrevHash != prev || e.Hash != state.CustodyHash(&e) || len(e.Hash) != 64 {
			t.Errorf("entry %d = %+v (previous hash %s)", i+1, e, prev)
		}
		prev = e.Hash
		if i == 4 {
			break
		}
		ev, rec := evs[i], evidence[i]
		want := state.CustodyEntry{Kind: ev.Kind, Name: ev.Name, SHA256: rec.SHA256, Size: rec.Size, InState: ev.Data != nil,
			Meta: string(ev.Meta), At: ev.CreatedAt.Truncate(time.Microsecond), EvidenceID: rec.ID}
		if e.Kind != want.Kind || e.Name != want.Name || e.SHA256 != want.SHA256 || e.Size != want.Size || e.InState != want.InState ||
			e.Meta != want.Meta || !e.At.Equal(want.At) || e.EvidenceID != want.EvidenceID {
			t.Errorf("entry %d = %+v, want it to record %+v", i+1, e, want)
		}
		if !rec.CreatedAt.Equal(e.At) {
			t.Errorf("evidence %d recorded at %s, its entry at %s", rec.ID, rec.CreatedAt, e.At)
		}
	}
	if r := entries[4]; r.Kind != state.CustodyReport || r.EvidenceID != 0 || r.InState || r.Meta != `{"format":"html"}` ||
		r.Hash != appended.Hash || r.Seq != appended.Seq || r.PrevHash != appended.PrevHash || !r.At.Equal(appended.At) {
		t.Errorf("report entry read back %+v, appended %+v", r, appended)
	}
	if b := state.VerifyCustody(entries, evidence); b != nil {
		t.Errorf("an untouched log does not verify: %v", b)
	}
	if b := state.VerifyCustodyHead("inc-1", entries, entries[2].Hash); b != nil {
		t.Errorf("an earlier head is not found: %v", b)
	}
	if got := state.CustodyHead(entries); got != appended.Hash {
		t.Errorf("head = %s, want the report's entry %s", got, appended.Hash)
	}
	// The JSON form round-trips, hash inputs exact.
	b, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	var back []state.CustodyEntry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for i := range back {
		if back[i].Hash != state.CustodyHash(&back[i]) || back[i].Meta != entries[i].Meta {
			t.Errorf("entry %d from JSON %s does not hash as stored", i+1, b)
		}
	}

	// Each incident has its own log.
	other, otherEvidence := custodyOf(t, s, "inc-2")
	if len(other) != 1 || other[0].Seq != 1 || other[0].PrevHash != "" || state.VerifyCustody(other, otherEvidence) != nil {
		t.Errorf("inc-2's log = %+v", other)
	}
	if none, _ := custodyOf(t, s, "inc-3"); len(none) != 0 {
		t.Errorf("inc-3 has no evidence but %d entries", len(none))
	}
	_, err = s.Custody(ctx, "inc-nope")
	WantErr(t, err, state.ErrNotFound)
}

// Custody events are checked before anything is appended.
func testAppendCustodyErrors(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	PutIncident(t, s, Incident("inc-1", "i-1"))
	putEvidence(t, s, custodyEvidence("inc-1")[0])
	for _, tc := range []struct {
		name   string
		modify func(*state.CustodyEntry)
		want   any
	}{
		{"no incident", func(e *state.CustodyEntry) { e.IncidentID = "" }, "incident id is empty"},
		{"unknown incident", func(e *state.CustodyEntry) { e.IncidentID = "inc-nope" }, state.ErrNotFound},
		{"no kind", func(e *state.CustodyEntry) { e.Kind = "" }, "kind and name are required"},
		{"no name", func(e *state.CustodyEntry) { e.Name = "" }, "kind and name are required"},
		{"malformed digest", func(e *state.CustodyEntry) { e.SHA256 = strings.ToUpper(e.SHA256) }, "not 64 lower-case hex"},
		{"negative size", func(e *state.CustodyEntry) { e.Size = -1 }, "negative size"},
		{"meta not JSON", func(e *state.CustodyEntry) { e.Meta = `{"format":` }, "meta: not valid JSON"},
		{"name not UTF-8", func(e *state.CustodyEntry) { e.Name = "report\xff.html" }, "name is not valid UTF-8"},
		{"an evidence record", func(e *state.CustodyEntry) { e.EvidenceID = 1 }, "chained by PutEvidence"},
		{"data in state", func(e *state.CustodyEntry) { e.InState = true }, "chained by PutEvidence"},
		{"time out of range", func(e *state.CustodyEntry) { e.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := reportEntry("inc-1")
			tc.modify(&e)
			_, err := s.AppendCustody(ctx, e)
			WantErr(t, err, tc.want)
			if entries, _ := custodyOf(t, s, "inc-1"); len(entries) != 1 {
				t.Errorf("a refused entry was appended: %+v", entries)
			}
		})
	}
	// Evidence whose name would be hashed as invalid UTF-8 is refused with
	// it.
	bad := custodyEvidence("inc-1")[1]
	bad.Name = "console\xfe.png"
	WantErr(t, s.PutEvidence(ctx, bad), "name is not valid UTF-8")
	if entries, evidence := custodyOf(t, s, "inc-1"); len(entries) != 1 || len(evidence) != 1 {
		t.Errorf("refused evidence left %d entries, %d records", len(entries), len(evidence))
	}
	// A zero time is the time of appending.
	e := reportEntry("inc-1")
	e.At = time.Time{}
	before := time.Now().Add(-time.Second)
	got, err := s.AppendCustody(ctx, e)
	if err != nil || got.At.Before(before) || got.At.After(time.Now().Add(time.Second)) || got.Seq != 2 {
		t.Errorf("AppendCustody without a time = %+v, %v", got, err)
	}
}

// The log cannot be changed or shortened through the database: triggers
// refuse, as they do for evidence.
func testCustodyIsAppendOnly(t *testing.T, b Backend) {
	st := b.New(t)
	s := st.Open(t)
	PutIncident(t, s, Incident("inc-1", "i-1"))
	putEvidence(t, s, custodyEvidence("inc-1")...)
	for _, q := range []string{
		`UPDATE custody SET name = 'other' WHERE seq = 2`,
		`UPDATE custody SET hash = prev_hash`,
		`DELETE FROM custody WHERE seq = 4`,
		`DELETE FROM custody`,
	} {
		if err := st.Exec(t, q); err == nil || !strings.Contains(err.Error(), "the custody log is append-only") {
			t.Errorf("%s: %v, want refused as append-only", q, err)
		}
	}
	entries, evidence := custodyOf(t, s, "inc-1")
	if len(entries) != 4 || state.VerifyCustody(entries, evidence) != nil {
		t.Errorf("after refused changes: %d entries, %v", len(entries), state.VerifyCustody(entries, evidence))
	}
}

// An attacker with access to the database drops the append-only triggers
// and changes the log or the evidence behind the store's back: verifying
// names the first entry that no longer matches, and how.
func testCustodyTampering(t *testing.T, b Backend) {
	const (
		entry = `incident_id = 'inc-1' AND seq = `
		// evidenceOf is the id of the evidence record entry N records.
		evidenceOf = `(SELECT evidence_id FROM custody WHERE incident_id = 'inc-1' AND seq = `
	)
	forged := []byte(`{"state":"stopped"}`)
	for _, tc := range []struct {
		name    string
		tamper  []string
		args    func(before []state.CustodyEntry) []any // of the last statement
		problem state.CustodyProblem
		seq     int64
		// headOnly: the log still verifies on its own; only the head
		// recorded before (a report's) shows what changed.
		headOnly bool
	}{
		{name: "untouched"},
		{name: "entry edited", tamper: []string{`UPDATE custody SET name = 'other.png' WHERE ` + entry + `2`},
			problem: state.CustodyEdited, seq: 2},
		{name: "entry's digest edited", tamper: []string{`UPDATE custody SET sha256 = $1 WHERE ` + entry + `1`},
			args: fixed(sha256Hex(forged)), problem: state.CustodyEdited, seq: 1},
		{name: "entry's meta edited", tamper: []string{`UPDATE custody SET meta = '{"collector":"other"}' WHERE ` + entry + `1`},
			problem: state.CustodyEdited, seq: 1},
		{name: "entry's hash replaced", tamper: []string{`UPDATE custody SET hash = $1 WHERE ` + entry + `3`},
			args: fixed(strings.Repeat("ab", 32)), problem: state.CustodyEdited, seq: 3},
		{name: "entry and evidence rewritten, the entry's hash recomputed", tamper: []string{
			`UPDATE evidence SET name = 'other.png' WHERE id = ` + evidenceOf + `2)`,
			`UPDATE custody SET name = 'other.png', hash = $1 WHERE ` + entry + `2`,
		},
			args: func(before []state.CustodyEntry) []any {
				e := before[1]
				e.Name = "other.png"
				return []any{state.CustodyHash(&e)}
			}, problem: state.CustodyUnlinked, seq: 3},
		{name: "entry deleted", tamper: []string{`DELETE FROM custody WHERE ` + entry + `2`},
			problem: state.CustodyDeleted, seq: 3},
		{name: "entries deleted", tamper: []string{`DELETE FROM custody WHERE incident_id = 'inc-1' AND seq IN (2, 3)`},
			problem: state.CustodyDeleted, seq: 4},
		{name: "entry deleted and the rest renumbered", tamper: []string{
			`DELETE FROM custody WHERE ` + entry + `2`,
			`UPDATE custody SET seq = 2 WHERE ` + entry + `3`,
			`UPDATE custody SET seq = 3 WHERE ` + entry + `4`,
			`UPDATE custody SET seq = 4 WHERE ` + entry + `5`,
		}, problem: state.CustodyDeleted, seq: 2},
		{name: "entries reordered", tamper: []string{
			`UPDATE custody SET seq = 100 WHERE ` + entry + `2`,
			`UPDATE custody SET seq = 2 WHERE ` + entry + `3`,
			`UPDATE custody SET seq = 3 WHERE ` + entry + `100`,
		}, problem: state.CustodyReordered, seq: 2},
		{name: "last entry deleted", tamper: []string{`DELETE FROM custody WHERE ` + entry + `5`}, headOnly: true,
			problem: state.CustodyHeadMissing, seq: 4},
		{name: "entry moved to another incident", tamper: []string{`UPDATE custody SET incident_id = 'inc-2' WHERE ` + entry + `5`},
			headOnly: true, problem: state.CustodyHeadMissing, seq: 4},
		{name: "evidence data changed", tamper: []string{`UPDATE evidence SET data = $1 WHERE id = ` + evidenceOf + `1)`},
			args: fixed(forged), problem: state.CustodyEvidenceChanged, seq: 1},
		{name: "evidence data and digest rewritten", tamper: []string{`UPDATE evidence SET data = $1, sha256 = $2 WHERE id = ` + evidenceOf + `1)`},
			args: fixed(forged, sha256Hex(forged)), problem: state.CustodyEvidenceChanged, seq: 1},
		{name: "evidence data removed", tamper: []string{`UPDATE evidence SET data = NULL WHERE id = ` + evidenceOf + `2)`},
			problem: state.CustodyEvidenceChanged, seq: 2},
		{name: "evidence renamed", tamper: []string{`UPDATE evidence SET name = 'snap-0ff' WHERE id = ` + evidenceOf + `3)`},
			problem: state.CustodyEvidenceChanged, seq: 3},
		{name: "evidence meta changed", tamper: []string{`UPDATE evidence SET meta = '{"bucket":"elsewhere"}' WHERE id = ` + evidenceOf + `4)`},
			problem: state.CustodyEvidenceChanged, seq: 4},
		{name: "evidence deleted", tamper: []string{`DELETE FROM evidence WHERE id = ` + evidenceOf + `3)`},
			problem: state.CustodyEvidenceMissing, seq: 3},
		{name: "evidence added around the store", tamper: []string{`INSERT INTO evidence (incident_id, kind, name, sha256, size, data, created_at)
            VALUES ('inc-1', 'facts', 'forged', $1, $2, $3, '2025-03-01T12:00:00.000000000Z')`},
			args: fixed(sha256Hex(forged), len(forged), forged), problem: state.CustodyUnchained},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := b.New(t)
			s := st.Open(t)
			PutIncident(t, s, Incident("inc-1", "i-1"))
			PutIncident(t, s, Incident("inc-2", "i-2"))
			putEvidence(t, s, custodyEvidence("inc-1")...)
			if _, err := s.AppendCustody(ctx, reportEntry("inc-1")); err != nil {
				t.Fatal(err)
			}
			before, _ := custodyOf(t, s, "inc-1")
			head := state.CustodyHead(before)

			st.DropAppendOnly(t, "custody")
			st.DropAppendOnly(t, "evidence")
			for i, q := range tc.tamper {
				var args []any
				if i == len(tc.tamper)-1 && tc.args != nil {
					args = tc.args(before)
				}
				if err := st.Exec(t, q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}

			entries, evidence := custodyOf(t, s, "inc-1")
			got := state.VerifyCustody(entries, evidence)
			if got == nil {
				got = state.VerifyCustodyHead("inc-1", entries, head)
			} else if tc.headOnly {
				t.Errorf("the log does not verify on its own: %v", got)
			}
			if tc.problem == "" {
				if got != nil {
					t.Fatalf("untouched log: %v", got)
				}
				return
			}
			if got == nil {
				t.Fatalf("the tampering went unnoticed:\n%+v", entries)
			}
			if got.Problem != tc.problem || got.Seq != tc.seq || got.IncidentID != "inc-1" || got.Detail == "" {
				t.Errorf("break = %+v, want %s at entry %d", got, tc.problem, tc.seq)
			}
			if tc.seq > 0 && (got.Kind == "" || got.Name == "") {
				t.Errorf("break %+v does not name the entry", got)
			}
			if !strings.Contains(got.Error(), "inc-1") || !strings.Contains(got.Error(), string(tc.problem)) {
				t.Errorf("error text %q", got.Error())
			}
		})
	}
}

// fixed is the arguments of a tampering statement that do not depend on
// the log.
func fixed(args ...any) func([]state.CustodyEntry) []any {
	return func([]state.CustodyEntry) []any { return args }
}

// Many goroutines of two stores (two processes, or two replicas) record
// evidence of one incident at once: the log is one chain, numbered
// without a gap or a fork, with one entry per record, and it verifies.
func testConcurrentCustody(t *testing.T, b Backend) {
	const (
		writers = 4 // per store
		items   = 8 // per writer
	)
	ctx := context.Background()
	a, c := twoStores(t, b)
	PutIncident(t, a, Incident("inc-1", "i-1"))
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers+1)
	// A reader verifies the log as it grows: what ReadCustody reads
	// always verifies.
	done := make(chan struct{})
	var reading sync.WaitGroup
	reads := 0
	reading.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			entries, evidence, err := state.ReadCustody(ctx, c, "inc-1")
			if err != nil {
				errs <- err
				return
			}
			if b := state.VerifyCustody(entries, evidence); b != nil {
				errs <- fmt.Errorf("read while written (%d entries): %w", len(entries), b)
				return
			}
			reads++
		}
	})
	for si, s := range []state.Store{a, c} {
		for w := range writers {
			wg.Go(func() {
				for n := range items {
					ev := state.Evidence{IncidentID: "inc-1", Kind: "facts", Name: fmt.Sprintf("c%d-%d-%d", si, w, n),
						Data: []byte(fmt.Sprintf(`{"n":%d}`, n))}
					// Every item twice, the second time by the other store:
					// one record and one entry all the same.
					if err := s.PutEvidence(ctx, ev); err != nil {
						errs <- err
						return
					}
					other := c
					if s == c {
						other = a
					}
					if err := other.PutEvidence(ctx, ev); err != nil {
						errs <- err
						return
					}
					if n%4 == 0 {
						if _, err := s.AppendCustody(ctx, reportEntry("inc-1")); err != nil {
							errs <- err
							return
						}
					}
				}
			})
		}
	}
	wg.Wait()
	close(done)
	reading.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if reads == 0 {
		t.Error("the reader read nothing")
	}
	entries, evidence := custodyOf(t, c, "inc-1")
	reports := 2 * writers * (items / 4)
	if len(evidence) != 2*writers*items || len(entries) != len(evidence)+reports {
		t.Fatalf("%d evidence records and %d entries, want %d and %d", len(evidence), len(entries), 2*writers*items, 2*writers*items+reports)
	}
	if b := state.VerifyCustody(entries, evidence); b != nil {
		t.Errorf("the log written concurrently does not verify: %v", b)
	}
}
