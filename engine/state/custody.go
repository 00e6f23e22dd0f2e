package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// The chain of custody (docs/custody.md). Every piece of
// evidence an incident has (facts, screenshots, snapshots, memory images)
// and every custody event that is not an evidence record (a report written,
// a snapshot copied to a forensic account) is an entry in the incident's
// custody log: entries are numbered 1, 2, … per incident, and each entry's
// hash covers the entry and the hash of the entry before it. Changing,
// removing or reordering an entry, or the evidence an entry records, breaks
// the chain from that entry on, which VerifyCustody finds; removing the last
// entries is found by comparing with a chain head recorded elsewhere (a
// report carries its incident's head), which VerifyCustodyHead does.
//
// The log is append-only in the database, like evidence: triggers refuse to
// change or delete entries. An entry recording an evidence record is
// inserted in the transaction that inserts the record (PutEvidence), so
// there is no evidence without its entry, nor an entry without its evidence.
//
// The hash (version 1) is the lower-case hex SHA-256 of the concatenation
// of these netstrings, in this order, where netstring(s) is the decimal
// byte length of s, a colon, the bytes of s and a comma ("5:hello,"):
//
//	netstring("cordon-custody-v1")
//	netstring(incident id)
//	netstring(seq, decimal, no leading zeros)
//	netstring(kind)
//	netstring(name)
//	netstring(sha256: 64 lower-case hex digits, or empty)
//	netstring(size, decimal)
//	netstring(in_state: "1" when the artefact's bytes are kept in state, else "0")
//	netstring(meta: the JSON text exactly as stored, or empty when none)
//	netstring(time: UTC, "2006-01-02T15:04:05.000000Z", microseconds)
//	netstring(previous entry's hash, or empty for entry 1)
//
// Every field is length-prefixed, so no two different entries have the
// same input whatever bytes their fields hold. docs/custody.md shows how to
// recompute a chain with sha256sum and a short script.

// CustodyVersion names the hash's encoding; it is the first field hashed.
const CustodyVersion = "cordon-custody-v1"

// CustodyTimeLayout is how an entry's time is hashed and stored: UTC with
// exactly six fractional digits. Times are kept to the microsecond, what
// PostgreSQL's timestamptz holds, so both backends hash the same text.
const CustodyTimeLayout = "2006-01-02T15:04:05.000000Z"

// Custody entry kinds cordon records. Evidence records chain under their
// own kind ("facts", "screenshot", "snapshot", …); these are the kinds of
// custody events besides.
const (
	// CustodyReport: a report written to a file, with the file's digest.
	CustodyReport = "report"
	// CustodySnapshotCopy: a snapshot copied into the forensic account.
	CustodySnapshotCopy = "snapshot_copy"
)

// CustodyEntry is one entry of an incident's custody log.
type CustodyEntry struct {
	IncidentID string
	// Seq numbers the incident's entries from 1, without gaps.
	Seq int64
	// Kind is what the entry records: an evidence record's kind ("facts",
	// "screenshot", "snapshot", "memory_image", …) or a custody event's
	// ("report", "snapshot_copy").
	Kind string
	Name string
	// SHA256 is the artefact's hex SHA-256, empty when there is none to
	// take (an EBS snapshot is described by Meta). Size is its size in
	// bytes.
	SHA256 string
	Size   int64
	// InState says the artefact's bytes are kept in state (the evidence
	// record's data), where VerifyCustody hashes them again.
	InState bool
	// Meta is the JSON describing the artefact, exactly as stored (its
	// evidence record's meta); empty when there is none.
	Meta string
	// At is when it was recorded, to the microsecond.
	At time.Time
	// PrevHash is the hash of entry Seq-1, empty for entry 1.
	PrevHash string
	// Hash covers every field above (see the encoding at the top of this
	// file).
	Hash string
	// EvidenceID is the evidence record the entry records; 0 for a custody
	// event that is not an evidence record. It links the two and is not
	// hashed: the entry's digest and fields bind the record's content.
	EvidenceID int64
}

// custodyJSON is CustodyEntry's JSON form: the hashed fields exactly as
// hashed (the time as hashed text, the meta as the string it is), so the
// chain can be recomputed from the JSON alone.
type custodyJSON struct {
	IncidentID string `json:"incident_id"`
	Seq        int64  `json:"seq"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	SHA256     string `json:"sha256"`
	Size       int64  `json:"size"`
	InState    bool   `json:"in_state"`
	Meta       string `json:"meta"`
	At         string `json:"at"`
	PrevHash   string `json:"prev_hash"`
	Hash       string `json:"hash"`
	EvidenceID int64  `json:"evidence_id,omitempty"`
}

// MarshalJSON writes the entry with its time and meta as the hash reads
// them.
func (e CustodyEntry) MarshalJSON() ([]byte, error) {
	return json.Marshal(custodyJSON{
		IncidentID: e.IncidentID, Seq: e.Seq, Kind: e.Kind, Name: e.Name, SHA256: e.SHA256, Size: e.Size,
		InState: e.InState, Meta: e.Meta, At: custodyTimeText(e.At), PrevHash: e.PrevHash, Hash: e.Hash,
		EvidenceID: e.EvidenceID,
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *CustodyEntry) UnmarshalJSON(b []byte) error {
	var j custodyJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	at, err := time.Parse(time.RFC3339Nano, j.At)
	if err != nil {
		return fmt.Errorf("custody entry %d: time %q: %w", j.Seq, j.At, err)
	}
	*e = CustodyEntry{
		IncidentID: j.IncidentID, Seq: j.Seq, Kind: j.Kind, Name: j.Name, SHA256: j.SHA256, Size: j.Size,
		InState: j.InState, Meta: j.Meta, At: at, PrevHash: j.PrevHash, Hash: j.Hash, EvidenceID: j.EvidenceID,
	}
	return nil
}

// custodyTime is t as the log keeps it: UTC, to the microsecond.
func custodyTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func custodyTimeText(t time.Time) string { return custodyTime(t).Format(CustodyTimeLayout) }

// CustodyHash computes an entry's hash from its fields (Hash and
// EvidenceID are not read).
func CustodyHash(e *CustodyEntry) string {
	h := sha256.New()
	var num [20]byte
	field := func(s string) {
		h.Write(strconv.AppendInt(num[:0], int64(len(s)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(s))
		h.Write([]byte{','})
	}
	inState := "0"
	if e.InState {
		inState = "1"
	}
	field(CustodyVersion)
	field(e.IncidentID)
	field(strconv.FormatInt(e.Seq, 10))
	field(e.Kind)
	field(e.Name)
	field(e.SHA256)
	field(strconv.FormatInt(e.Size, 10))
	field(inState)
	field(e.Meta)
	field(custodyTimeText(e.At))
	field(e.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}

// CustodyHead is the chain's head: the hash of its last entry, empty for
// an empty chain.
func CustodyHead(entries []CustodyEntry) string {
	if len(entries) == 0 {
		return ""
	}
	return entries[len(entries)-1].Hash
}

// link makes e the entry after the one numbered prevSeq with hash prevHash
// (0 and "" for the first) and computes its hash.
func (e *CustodyEntry) link(prevSeq int64, prevHash string) {
	e.Seq, e.PrevHash = prevSeq+1, prevHash
	e.At = custodyTime(e.At)
	e.Hash = CustodyHash(e)
}

// ChainCustody numbers entries 1, 2, … in order and links and hashes them,
// as a store appends them to an empty log: for fixtures and exports.
func ChainCustody(entries []CustodyEntry) []CustodyEntry {
	out := make([]CustodyEntry, len(entries))
	var prev string
	for i, e := range entries {
		e.link(int64(i), prev)
		out[i], prev = e, e.Hash
	}
	return out
}

// EvidenceCustody is the custody entry that records evidence record ev,
// before it is numbered and linked.
func EvidenceCustody(ev *Evidence) CustodyEntry {
	return CustodyEntry{
		IncidentID: ev.IncidentID, Kind: ev.Kind, Name: ev.Name, SHA256: ev.SHA256, Size: ev.Size,
		InState: ev.Data != nil, Meta: string(ev.Meta), At: custodyTime(ev.CreatedAt), EvidenceID: ev.ID,
	}
}

// prepare checks a custody event given to AppendCustody and sets its time.
// The fields become hash input and are shown as text, so they must be
// valid UTF-8.
func (e *CustodyEntry) prepare() error {
	switch {
	case e.IncidentID == "":
		return fmt.Errorf("custody entry %s: incident id is empty", e.Name)
	case e.Kind == "" || e.Name == "":
		return fmt.Errorf("custody entry of incident %s: kind and name are required", e.IncidentID)
	case e.EvidenceID != 0 || e.InState:
		return fmt.Errorf("custody entry %s/%s: an evidence record is chained by PutEvidence, not AppendCustody", e.Kind, e.Name)
	}
	return e.check()
}

// check validates the fields an entry is hashed from.
func (e *CustodyEntry) check() error {
	for _, f := range []struct{ name, value string }{{"incident id", e.IncidentID}, {"kind", e.Kind}, {"name", e.Name}, {"meta", e.Meta}} {
		if !utf8.ValidString(f.value) {
			return fmt.Errorf("custody entry %q/%q: %s is not valid UTF-8", e.Kind, e.Name, f.name)
		}
	}
	if e.SHA256 != "" && !isSHA256Hex(e.SHA256) {
		return fmt.Errorf("custody entry %s/%s: sha256 %q is not 64 lower-case hex digits", e.Kind, e.Name, e.SHA256)
	}
	if e.Size < 0 {
		return fmt.Errorf("custody entry %s/%s: negative size", e.Kind, e.Name)
	}
	if e.Meta != "" && !json.Valid([]byte(e.Meta)) {
		return fmt.Errorf("custody entry %s/%s: meta: not valid JSON", e.Kind, e.Name)
	}
	e.At = custodyTime(orNow(e.At))
	if y := e.At.Year(); y < 1970 || y > 9999 {
		return fmt.Errorf("custody entry %s/%s: time %s is out of range", e.Kind, e.Name, e.At)
	}
	return nil
}

// CustodyProblem says how a chain is broken.
type CustodyProblem string

// Custody problems, as VerifyCustody names them.
const (
	// CustodyEdited: the entry's hash does not match its content.
	CustodyEdited CustodyProblem = "edited"
	// CustodyDeleted: entries before this one are missing (a gap in the
	// numbering, or an entry renumbered after its predecessors were
	// removed).
	CustodyDeleted CustodyProblem = "deleted"
	// CustodyReordered: the entry is intact but not where it was appended:
	// its hash or previous hash places it elsewhere in the chain.
	CustodyReordered CustodyProblem = "reordered"
	// CustodyUnlinked: the entry is intact, but its previous hash names no
	// entry of the chain: the entry before it was removed or rewritten.
	CustodyUnlinked CustodyProblem = "unlinked"
	// CustodyEvidenceChanged: the evidence record the entry records no
	// longer matches it: its data hashes to another digest, was removed,
	// or its kind, name, digest, size or meta changed.
	CustodyEvidenceChanged CustodyProblem = "evidence_changed"
	// CustodyEvidenceMissing: the evidence record the entry records is gone.
	CustodyEvidenceMissing CustodyProblem = "evidence_missing"
	// CustodyUnchained: an evidence record that no entry records (one
	// inserted around the store).
	CustodyUnchained CustodyProblem = "unchained_evidence"
	// CustodyHeadMissing: a chain head recorded elsewhere (a report's) is
	// not in the chain: entries at its end were removed, or rewritten.
	CustodyHeadMissing CustodyProblem = "head_missing"
)

// CustodyBreak is where an incident's chain of custody first fails to
// verify.
type CustodyBreak struct {
	IncidentID string `json:"incident_id"`
	// Seq, Kind and Name are the entry that breaks the chain, as stored;
	// Seq is 0 for an evidence record no entry records.
	Seq  int64  `json:"seq"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	// EvidenceID is the evidence record concerned, if any.
	EvidenceID int64          `json:"evidence_id,omitempty"`
	Problem    CustodyProblem `json:"problem"`
	// Detail says what is wrong.
	Detail string `json:"detail"`
}

func (b *CustodyBreak) Error() string {
	if b.Seq == 0 {
		return fmt.Sprintf("custody of incident %s: evidence %d (%s %s): %s: %s", b.IncidentID, b.EvidenceID, b.Kind, b.Name, b.Problem, b.Detail)
	}
	return fmt.Sprintf("custody of incident %s: entry %d (%s %s): %s: %s", b.IncidentID, b.Seq, b.Kind, b.Name, b.Problem, b.Detail)
}

// VerifyCustody checks an incident's custody log (entries as Reader.Custody
// returns them, by sequence number) against its evidence (with its data, as
// Reader.Evidence returns it), and returns where it first breaks, or nil
// when it verifies: each entry's hash is recomputed, its number and its
// previous hash must follow the entry before it, the evidence record it
// records must still hold what it recorded (the data hashing to its
// digest), and every evidence record must be recorded by an entry.
//
// Removing the last entries leaves a chain that verifies on its own: check
// the head a report carries with VerifyCustodyHead.
func VerifyCustody(entries []CustodyEntry, evidence []Evidence) *CustodyBreak {
	byHash := make(map[string]int, len(entries))
	for i := range entries {
		if _, dup := byHash[entries[i].Hash]; !dup {
			byHash[entries[i].Hash] = i
		}
	}
	byID := make(map[int64]*Evidence, len(evidence))
	for i := range evidence {
		byID[evidence[i].ID] = &evidence[i]
	}
	recorded := make(map[int64]bool, len(entries))
	var maxSeq int64
	for i := range entries {
		maxSeq = max(maxSeq, entries[i].Seq)
	}
	prevHash := ""
	for i := range entries {
		e := &entries[i]
		want := int64(i + 1)
		fail := func(p CustodyProblem, format string, args ...any) *CustodyBreak {
			return &CustodyBreak{IncidentID: e.IncidentID, Seq: e.Seq, Kind: e.Kind, Name: e.Name,
				EvidenceID: e.EvidenceID, Problem: p, Detail: fmt.Sprintf(format, args...)}
		}
		if CustodyHash(e) != e.Hash {
			// Intact content hashed at another number was moved there.
			for s := int64(1); s <= max(maxSeq, int64(len(entries)))+1; s++ {
				if s == e.Seq {
					continue
				}
				moved := *e
				moved.Seq = s
				if CustodyHash(&moved) != e.Hash {
					continue
				}
				if _, ok := byHash[e.PrevHash]; ok || (e.PrevHash == "" && s == 1) {
					return fail(CustodyReordered, "the entry was appended as entry %d and now stands at %d", s, e.Seq)
				}
				return fail(CustodyDeleted, "the entry was appended as entry %d and renumbered %d, and the entry before it is gone: entries were removed and the rest renumbered", s, e.Seq)
			}
			return fail(CustodyEdited, "its hash does not match its content: it was changed after it was appended")
		}
		switch {
		case e.Seq > want:
			if e.Seq == want+1 {
				return fail(CustodyDeleted, "entry %d is missing: the log goes from entry %d to %d", want, want-1, e.Seq)
			}
			return fail(CustodyDeleted, "entries %d to %d are missing: the log goes from entry %d to %d", want, e.Seq-1, want-1, e.Seq)
		case e.Seq < want:
			return fail(CustodyReordered, "a second entry numbered %d", e.Seq)
		case e.PrevHash != prevHash:
			if j, ok := byHash[e.PrevHash]; ok {
				return fail(CustodyReordered, "its previous hash is entry %d's, not entry %d's: entries were moved", entries[j].Seq, want-1)
			}
			if e.PrevHash == "" {
				return fail(CustodyReordered, "it was appended as the first entry of the log")
			}
			return fail(CustodyUnlinked, "its previous hash %s names no entry of the log: the entry before it was removed or rewritten", short(e.PrevHash))
		}
		prevHash = e.Hash
		if e.EvidenceID == 0 {
			continue
		}
		recorded[e.EvidenceID] = true
		ev := byID[e.EvidenceID]
		if ev == nil {
			return fail(CustodyEvidenceMissing, "evidence record %d is gone", e.EvidenceID)
		}
		switch {
		case ev.IncidentID != e.IncidentID:
			return fail(CustodyEvidenceChanged, "evidence record %d now belongs to incident %s", ev.ID, ev.IncidentID)
		case ev.Kind != e.Kind || ev.Name != e.Name:
			return fail(CustodyEvidenceChanged, "evidence record %d is now %s %s", ev.ID, ev.Kind, ev.Name)
		case ev.SHA256 != e.SHA256:
			return fail(CustodyEvidenceChanged, "evidence record %d now has sha256 %s; the entry recorded %s", ev.ID, orNone(ev.SHA256), orNone(e.SHA256))
		case ev.Size != e.Size:
			return fail(CustodyEvidenceChanged, "evidence record %d now has size %d; the entry recorded %d", ev.ID, ev.Size, e.Size)
		case string(ev.Meta) != e.Meta:
			return fail(CustodyEvidenceChanged, "evidence record %d's meta changed", ev.ID)
		case e.InState && ev.Data == nil && e.Size > 0:
			return fail(CustodyEvidenceChanged, "evidence record %d's data (%d bytes) was removed", ev.ID, e.Size)
		case e.InState && sha256Hex(ev.Data) != e.SHA256:
			return fail(CustodyEvidenceChanged, "evidence record %d's data hashes to %s; the entry recorded %s", ev.ID, sha256Hex(ev.Data), e.SHA256)
		case e.InState && int64(len(ev.Data)) != e.Size:
			return fail(CustodyEvidenceChanged, "evidence record %d's data is %d bytes; the entry recorded %d", ev.ID, len(ev.Data), e.Size)
		case !e.InState && ev.Data != nil:
			return fail(CustodyEvidenceChanged, "evidence record %d has data the entry did not record", ev.ID)
		}
	}
	for i := range evidence {
		ev := &evidence[i]
		if !recorded[ev.ID] {
			return &CustodyBreak{IncidentID: ev.IncidentID, Kind: ev.Kind, Name: ev.Name, EvidenceID: ev.ID,
				Problem: CustodyUnchained, Detail: fmt.Sprintf("evidence record %d is recorded by no custody entry: it was added around the store", ev.ID)}
		}
	}
	return nil
}

// VerifyCustodyHead checks that head, a chain head recorded elsewhere (a
// report's), is the hash of an entry of the chain: the chain may have grown
// since, but no entry up to the head was removed or rewritten. entries
// must verify (VerifyCustody) for this to mean anything. A nil return
// means the head is in the chain.
func VerifyCustodyHead(incidentID string, entries []CustodyEntry, head string) *CustodyBreak {
	for i := range entries {
		if entries[i].Hash == head {
			return nil
		}
	}
	b := &CustodyBreak{IncidentID: incidentID, Problem: CustodyHeadMissing,
		Detail: fmt.Sprintf("chain head %s is not in the log: entries at its end were removed or rewritten", short(head))}
	if n := len(entries); n > 0 {
		last := &entries[n-1]
		b.Seq, b.Kind, b.Name = last.Seq, last.Kind, last.Name
		b.Detail += fmt.Sprintf(" (the log now ends at entry %d)", last.Seq)
	} else {
		b.Detail += " (the log is empty)"
	}
	return b
}

func short(hash string) string {
	if len(hash) > 16 {
		return hash[:16] + "…"
	}
	return hash
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// ReadCustody reads an incident's custody log and its evidence with its
// data, as they stood at one moment, for VerifyCustody. They are two
// reads, and evidence recorded after the log was read would look
// unchained, so the log is read again after the evidence: the store
// commits each record with its entry, so the records the second read's
// new entries record are the ones recorded in between, and are left out.
// Should the second read not extend the first (the log changed under
// the reads), they are made again, a few times.
func ReadCustody(ctx context.Context, r Reader, incidentID string) ([]CustodyEntry, []Evidence, error) {
	entries, err := r.Custody(ctx, incidentID)
	if err != nil {
		return nil, nil, err
	}
	for range 5 {
		evidence, err := r.Evidence(ctx, incidentID)
		if err != nil {
			return nil, nil, err
		}
		again, err := r.Custody(ctx, incidentID)
		if err != nil {
			return nil, nil, err
		}
		n := len(entries)
		if len(again) < n || (n > 0 && again[n-1].Hash != entries[n-1].Hash) {
			entries = again
			continue
		}
		later := map[int64]bool{}
		for _, e := range again[n:] {
			if e.EvidenceID != 0 {
				later[e.EvidenceID] = true
			}
		}
		kept := evidence[:0]
		for _, ev := range evidence {
			if !later[ev.ID] {
				kept = append(kept, ev)
			}
		}
		return entries, kept, nil
	}
	return nil, nil, fmt.Errorf("incident %s: its custody log changed each time it was read; try again", incidentID)
}

// prepareCustody checks evidence, fills in its digest, size and time, and
// returns the custody entry that records it, to be numbered and linked
// when it is appended (with the record's id).
func (ev *Evidence) prepareCustody() (CustodyEntry, error) {
	if err := ev.prepare(); err != nil {
		return CustodyEntry{}, err
	}
	ev.CreatedAt = custodyTime(orNow(ev.CreatedAt))
	e := EvidenceCustody(ev)
	if err := e.check(); err != nil {
		return CustodyEntry{}, err
	}
	return e, nil
}
