package report

import (
	"fmt"
	"time"

	"github.com/cordonhq/cordon/engine/state"
)

// Custody is the incident's chain of custody (docs/custody.md): every entry of its
// custody log, oldest first, and the chain head, the hash of the last
// entry, which covers every entry before it. A head copied from a report
// is checked later with `cordon state verify INCIDENT -head HASH`.
type Custody struct {
	Entries []CustodyEntry `json:"entries"`
	// Head is empty when the log is empty (or was not read).
	Head string `json:"head"`
	// Verified tells whether the log and the evidence verified when the
	// report was built (state.VerifyCustody); absent when the report was
	// built without its log.
	Verified *bool `json:"verified,omitempty"`
	// Break is where the log first fails to verify.
	Break *state.CustodyBreak `json:"break,omitempty"`
}

// CustodyEntry is one entry of the custody log, as the report shows it.
type CustodyEntry struct {
	Seq  int64  `json:"seq"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	// SHA256 and Size are the artefact's; SHA256 is empty when there is
	// no digest to take (a snapshot).
	SHA256   string    `json:"sha256,omitempty"`
	Size     int64     `json:"size"`
	At       time.Time `json:"at"`
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
}

// AddCustody adds an incident's custody log (Store.Custody) to the report,
// verified against all its evidence read with its data (Store.Evidence);
// a log that does not verify is also noted.
func (r *Report) AddCustody(entries []state.CustodyEntry, evidence []state.Evidence) {
	c := Custody{Entries: make([]CustodyEntry, 0, len(entries)), Head: state.CustodyHead(entries)}
	for _, e := range entries {
		c.Entries = append(c.Entries, CustodyEntry{Seq: e.Seq, Kind: clean(e.Kind, 100), Name: clean(e.Name, maxTitle),
			SHA256: clean(e.SHA256, 64), Size: e.Size, At: e.At.UTC(), PrevHash: clean(e.PrevHash, 64), Hash: clean(e.Hash, 64)})
	}
	b := state.VerifyCustody(entries, evidence)
	ok := b == nil
	c.Verified = &ok
	if b != nil {
		cb := *b
		cb.Kind, cb.Name, cb.Detail = clean(cb.Kind, 100), clean(cb.Name, maxTitle), clean(cb.Detail, maxDetail)
		c.Break = &cb
		where := fmt.Sprintf("at entry %d (%s %s)", cb.Seq, cb.Kind, cb.Name)
		if cb.Seq == 0 {
			where = fmt.Sprintf("at evidence record %d (%s %s)", cb.EvidenceID, cb.Kind, cb.Name)
		}
		r.note(fmt.Sprintf("The chain of custody is broken %s: %s: %s.", where, cb.Problem, cb.Detail))
	}
	r.Custody = c
}
