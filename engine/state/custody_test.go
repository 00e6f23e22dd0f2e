package state

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The hash is what docs/custody.md tells an auditor to compute: these
// values were computed with its shell recipe (printf, wc -c, sha256sum),
// not with this code.
func TestCustodyHashKnownAnswers(t *testing.T) {
	first := CustodyEntry{
		IncidentID: "inc-1", Seq: 1, Kind: "facts", Name: "describe",
		SHA256: "9b2e4e5b5fb8e6c3f0b8f0f2f0a9b3e2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6", Size: 19, InState: true,
		Meta: `{"state":"running"}`, At: time.Date(2025, 3, 1, 12, 0, 0, 1234567, time.UTC), // hashed to the µs
	}
	const firstHash = "c05f6947a3e9fc9f5bf606c4e2eacc6ba8441d78f7cb7e8b2ba06a0da2e9e874"
	second := CustodyEntry{
		IncidentID: "inc-1", Seq: 2, Kind: "report", Name: "report.md",
		At:       time.Date(2025, 3, 1, 13, 1, 0, 0, time.FixedZone("CET", 3600)), // 12:01 UTC
		PrevHash: firstHash,
	}
	for _, tc := range []struct {
		e    CustodyEntry
		want string
	}{
		{first, firstHash},
		{second, "39f06891982761d7ea68512a241878a8445d2a7e246e5abefb4729c77dc2f0b4"},
	} {
		if got := CustodyHash(&tc.e); got != tc.want {
			t.Errorf("CustodyHash(entry %d) = %s, want %s", tc.e.Seq, got, tc.want)
		}
	}
	chained := ChainCustody([]CustodyEntry{
		{IncidentID: first.IncidentID, Kind: first.Kind, Name: first.Name, SHA256: first.SHA256, Size: first.Size,
			InState: true, Meta: first.Meta, At: first.At},
		{IncidentID: "inc-1", Kind: "report", Name: "report.md", At: second.At},
	})
	if chained[0].Hash != firstHash || chained[1].PrevHash != firstHash || chained[1].Seq != 2 || CustodyHead(chained) != CustodyHash(&second) {
		t.Errorf("ChainCustody = %+v", chained)
	}
	if CustodyHead(nil) != "" {
		t.Error("an empty log has a head")
	}
}

// Every field is hashed: changing any one changes the hash.
func TestCustodyHashCoversEveryField(t *testing.T) {
	base := CustodyEntry{IncidentID: "inc-1", Seq: 3, Kind: "screenshot", Name: "a.png", SHA256: strings.Repeat("a", 64),
		Size: 10, InState: true, Meta: `{"x":1}`, At: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), PrevHash: strings.Repeat("b", 64)}
	h := CustodyHash(&base)
	for name, change := range map[string]func(*CustodyEntry){
		"incident":  func(e *CustodyEntry) { e.IncidentID = "inc-2" },
		"seq":       func(e *CustodyEntry) { e.Seq = 4 },
		"kind":      func(e *CustodyEntry) { e.Kind = "facts" },
		"name":      func(e *CustodyEntry) { e.Name = "b.png" },
		"sha256":    func(e *CustodyEntry) { e.SHA256 = strings.Repeat("c", 64) },
		"size":      func(e *CustodyEntry) { e.Size = 11 },
		"in state":  func(e *CustodyEntry) { e.InState = false },
		"meta":      func(e *CustodyEntry) { e.Meta = `{"x": 1}` },
		"time":      func(e *CustodyEntry) { e.At = e.At.Add(time.Microsecond) },
		"prev hash": func(e *CustodyEntry) { e.PrevHash = strings.Repeat("d", 64) },
	} {
		e := base
		change(&e)
		if CustodyHash(&e) == h {
			t.Errorf("changing the %s leaves the hash as it was", name)
		}
	}
	// What is not hashed: the hash itself, the evidence link, and time
	// below the microsecond or in another zone.
	e := base
	e.Hash, e.EvidenceID, e.At = "x", 7, e.At.Add(999*time.Nanosecond).In(time.FixedZone("X", -7200))
	if CustodyHash(&e) != h {
		t.Error("the hash depends on what it does not cover")
	}
}

// VerifyCustody on logs built in memory: the store-backed tests in
// statetest tamper through SQL; these reach the cases SQL constraints
// keep a database from holding.
func TestVerifyCustody(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	data := []byte(`{"state":"running"}`)
	evidence := []Evidence{
		{ID: 10, IncidentID: "inc-1", Kind: "facts", Name: "describe", SHA256: sha256Hex(data), Size: int64(len(data)), Data: data, CreatedAt: at},
		{ID: 11, IncidentID: "inc-1", Kind: "snapshot", Name: "snap-1", Meta: json.RawMessage(`{"volume_id":"vol-1"}`), CreatedAt: at},
		{ID: 12, IncidentID: "inc-1", Kind: "facts", Name: "empty", SHA256: sha256Hex(nil), Data: []byte{}, CreatedAt: at},
	}
	var log []CustodyEntry
	for i := range evidence {
		log = append(log, EvidenceCustody(&evidence[i]))
	}
	log = append(log, CustodyEntry{IncidentID: "inc-1", Kind: CustodyReport, Name: "r.md", At: at})
	log = ChainCustody(log)
	if b := VerifyCustody(log, evidence); b != nil {
		t.Fatalf("a sound log: %v", b)
	}
	if b := VerifyCustody(nil, nil); b != nil {
		t.Fatalf("an empty log: %v", b)
	}

	for _, tc := range []struct {
		name    string
		change  func(log []CustodyEntry, ev []Evidence) ([]CustodyEntry, []Evidence)
		problem CustodyProblem
		seq     int64
	}{
		{"duplicate number", func(l []CustodyEntry, ev []Evidence) ([]CustodyEntry, []Evidence) {
			dup := l[1]
			return append(l[:2:2], append([]CustodyEntry{dup}, l[2:]...)...), ev
		}, CustodyReordered, 2},
		{"first entry links to another", func(l []CustodyEntry, ev []Evidence) ([]CustodyEntry, []Evidence) {
			return l[1:], ev
		}, CustodyDeleted, 2},
		{"a later entry claims to be first", func(l []CustodyEntry, ev []Evidence) ([]CustodyEntry, []Evidence) {
			l[2].PrevHash = ""
			l[2].Hash = CustodyHash(&l[2])
			return l, ev
		}, CustodyReordered, 3},
		{"evidence moved to another incident", func(l []CustodyEntry, ev []Evidence) ([]CustodyEntry, []Evidence) {
			ev[0].IncidentID = "inc-2"
			return l, ev
		}, CustodyEvidenceChanged, 1},
		{"evidence resized", func(l []CustodyEntry, ev []Evidence) ([]CustodyEntry, []Evidence) {
			ev[0].Size++
			return l, ev
		}, CustodyEvidenceChanged, 1},
		{"data given to evidence kept elsewhere", func(l []CustodyEntry, ev []Evidence) ([]CustodyEntry, []Evidence) {
			ev[1].Data = []byte("x")
			return l, ev
		}, CustodyEvidenceChanged, 2},
		{"empty data changed", func(l []CustodyEntry, ev []Evidence) ([]CustodyEntry, []Evidence) {
			ev[2].Data = []byte("x")
			return l, ev
		}, CustodyEvidenceChanged, 3},
		{"evidence deleted", func(l []CustodyEntry, ev []Evidence) ([]CustodyEntry, []Evidence) {
			return l, ev[:2]
		}, CustodyEvidenceMissing, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := append([]CustodyEntry(nil), log...)
			ev := append([]Evidence(nil), evidence...)
			l, ev = tc.change(l, ev)
			b := VerifyCustody(l, ev)
			if b == nil || b.Problem != tc.problem || b.Seq != tc.seq {
				t.Fatalf("break = %+v, want %s at %d", b, tc.problem, tc.seq)
			}
		})
	}

	// Empty data read back as nil (a zero-length BLOB) is still the
	// empty artefact.
	ev := append([]Evidence(nil), evidence...)
	ev[2].Data = nil
	if b := VerifyCustody(log, ev); b != nil {
		t.Errorf("empty data read back as nil: %v", b)
	}

	if b := VerifyCustodyHead("inc-1", log, strings.Repeat("0", 64)); b == nil || b.Problem != CustodyHeadMissing || b.Seq != 4 {
		t.Errorf("a head not in the log: %+v", b)
	}
	if b := VerifyCustodyHead("inc-1", nil, log[0].Hash); b == nil || b.Seq != 0 || !strings.Contains(b.Detail, "empty") {
		t.Errorf("a head of an emptied log: %+v", b)
	}
}

// FuzzCustodyEncoding checks that the encoding is unambiguous: two entries
// that differ in their fields never have the same hash input, whatever
// bytes the fields hold (a separator inside a name, digits after a
// length).
func FuzzCustodyEncoding(f *testing.F) {
	f.Add("inc-1", "facts", "describe", `{"a":1}`, "inc-1", "facts", "describe", `{"a":1}`, int64(1), int64(2))
	f.Add("inc-1", "facts", "a,5:b", "", "inc-1", "facts,5:a", "b", "", int64(1), int64(1))
	f.Add("1:", "", "", "", "", "1:", "", "", int64(10), int64(1))
	f.Fuzz(func(t *testing.T, inc1, kind1, name1, meta1, inc2, kind2, name2, meta2 string, seq1, seq2 int64) {
		a := CustodyEntry{IncidentID: inc1, Kind: kind1, Name: name1, Meta: meta1, Seq: seq1}
		b := CustodyEntry{IncidentID: inc2, Kind: kind2, Name: name2, Meta: meta2, Seq: seq2}
		if bytes.Equal(custodyInput(&a), custodyInput(&b)) != (a == b) {
			t.Errorf("entries %+v and %+v: inputs equal %v", a, b, a == b)
		}
		if CustodyHash(&a) != hashOf(custodyInput(&a)) {
			t.Error("CustodyHash does not hash the input as encoded here")
		}
	})
}

// custodyInput is the hash's input, spelled out from the documented
// encoding independently of CustodyHash.
func custodyInput(e *CustodyEntry) []byte {
	var b []byte
	ns := func(s string) { b = append(append(append(append(b, strconv.Itoa(len(s))...), ':'), s...), ',') }
	in := "0"
	if e.InState {
		in = "1"
	}
	for _, s := range []string{CustodyVersion, e.IncidentID, strconv.FormatInt(e.Seq, 10), e.Kind, e.Name, e.SHA256,
		strconv.FormatInt(e.Size, 10), in, e.Meta, e.At.UTC().Truncate(time.Microsecond).Format(CustodyTimeLayout), e.PrevHash} {
		ns(s)
	}
	return b
}

func hashOf(b []byte) string { return sha256Hex(b) }

func TestCustodyEntryJSON(t *testing.T) {
	e := ChainCustody([]CustodyEntry{{IncidentID: "inc-1", Kind: "facts", Name: "x", Meta: `{ "b": "<&>" }`,
		At: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), EvidenceID: 3}})[0]
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"at":"2025-03-01T12:00:00.000000Z"`, `"meta":"{ \"b\": \"\u003c\u0026\u003e\" }"`, `"evidence_id":3`, `"prev_hash":""`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	var back CustodyEntry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != e && !(back.At.Equal(e.At) && back.Hash == e.Hash && back.Meta == e.Meta) {
		t.Errorf("round trip: %+v, want %+v", back, e)
	}
	if err := json.Unmarshal([]byte(`{"seq":1,"at":"yesterday"}`), &back); err == nil || !strings.Contains(err.Error(), `"yesterday"`) {
		t.Errorf("a malformed time: %v", err)
	}
}
