package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/ui"
)

// `cordon state verify [INCIDENT]`: the chain of custody (docs/custody.md)
// recomputed from state, each incident's custody log hashed again and
// checked against its evidence, and the first entry that does not match
// named.

// stateVerifyDocument is `cordon state verify -json`.
type stateVerifyDocument struct {
	FormatVersion string `json:"format_version"`
	// Verified is whether every incident's chain verified.
	Verified  bool                  `json:"verified"`
	Incidents []custodyVerification `json:"incidents"`
}

// custodyVerification is one incident's chain of custody, verified.
type custodyVerification struct {
	IncidentID string `json:"incident_id"`
	// Entries counts the log's entries; Head is the last one's hash.
	Entries  int    `json:"entries"`
	Head     string `json:"head"`
	Verified bool   `json:"verified"`
	// Break is the first entry that does not match, when one does not.
	Break *state.CustodyBreak `json:"break,omitempty"`
	// Log is the custody log as stored, every hashed field as it is
	// hashed: what an auditor recomputes the chain from.
	Log []state.CustodyEntry `json:"log"`
}

func runStateVerify(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("state verify [INCIDENT] [-head HASH] [-config DIR | -state PATH] [-json]", "state verify [INCIDENT] [options]")
	m.configFlags(fs)
	// An auditor verifies a copy of the state as readily as the live one.
	m.stateFlag(fs)
	fs.BoolVar(&m.jsonOut, "json", false, "print as JSON, with each incident's custody log")
	m.outputFlags(fs)
	head := fs.String("head", "", "also check that the log still holds this chain head (a report's `HASH`), so no entry at its end was removed; needs INCIDENT")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	switch {
	case len(pos) > 1:
		fmt.Fprintf(m.stderr, "cordon state verify: unexpected argument %q: give one INCIDENT, or none to verify every incident\n", pos[1])
		fs.Usage()
		return 1
	case *head != "" && len(pos) == 0:
		fmt.Fprintln(m.stderr, "cordon state verify: -head needs the INCIDENT whose chain head it is")
		fs.Usage()
		return 1
	case *head != "" && !isHash(*head):
		fmt.Fprintf(m.stderr, "cordon state verify: -head %q is not a chain head: 64 lower-case hex digits\n", ui.Safe(*head))
		return 1
	}
	_, st, code := m.openState(ctx)
	if st == nil {
		return code
	}
	defer st.Close()

	var ids []string
	if len(pos) == 1 {
		ids = pos
	} else {
		list, err := st.Incidents(ctx, state.IncidentFilter{})
		if err != nil {
			return m.fail("Cannot read state", err)
		}
		for _, s := range list {
			ids = append(ids, s.ID)
		}
	}
	doc := stateVerifyDocument{FormatVersion: "1.0", Verified: true, Incidents: []custodyVerification{}}
	for _, id := range ids {
		entries, evidence, err := state.ReadCustody(ctx, st, id)
		if errors.Is(err, state.ErrNotFound) {
			return m.fail("No such incident", fmt.Errorf("incident %s is not in the state (cordon state list shows those that are)", id))
		}
		if err != nil {
			return m.fail("Cannot read state", err)
		}
		v := custodyVerification{IncidentID: id, Entries: len(entries), Head: state.CustodyHead(entries), Log: entries}
		v.Break = state.VerifyCustody(entries, evidence)
		if v.Break == nil && *head != "" {
			v.Break = state.VerifyCustodyHead(id, entries, *head)
		}
		if v.Log == nil {
			v.Log = []state.CustodyEntry{}
		}
		v.Verified = v.Break == nil
		doc.Verified = doc.Verified && v.Verified
		doc.Incidents = append(doc.Incidents, v)
	}
	if m.jsonOut {
		if err := m.writeJSON(doc); err != nil {
			return m.fail("Cannot write the result", err)
		}
	} else {
		writeStateVerify(m.stdout, &doc, *head)
	}
	if !doc.Verified {
		return 1
	}
	return 0
}

// writeStateVerify prints the verification for a person: each incident
// with its chain head and result, then where each broken chain breaks.
// Values from state go through ui.Safe: whoever could change the log
// could also plant terminal escapes in it.
func writeStateVerify(w io.Writer, doc *stateVerifyDocument, head string) {
	if len(doc.Incidents) == 0 {
		fmt.Fprintln(w, "No incidents recorded.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INCIDENT\tENTRIES\tCHAIN HEAD\tCUSTODY")
	broken := 0
	for _, v := range doc.Incidents {
		result := "verified"
		if !v.Verified {
			result = "BROKEN"
			broken++
		}
		h := v.Head
		if h == "" {
			h = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", ui.Safe(v.IncidentID), v.Entries, ui.Safe(h), result)
	}
	tw.Flush()
	for _, v := range doc.Incidents {
		if b := v.Break; b != nil {
			where := fmt.Sprintf("entry %d (%s %s)", b.Seq, b.Kind, b.Name)
			if b.Seq == 0 {
				where = fmt.Sprintf("evidence record %d (%s %s)", b.EvidenceID, b.Kind, b.Name)
			}
			fmt.Fprintf(w, "\nIncident %s: the chain of custody breaks at %s: %s: %s.\n",
				ui.Safe(v.IncidentID), ui.Safe(where), b.Problem, ui.Safe(b.Detail))
		}
	}
	n := len(doc.Incidents)
	switch {
	case n == 1 && broken == 1:
		fmt.Fprintln(w, "\nThe chain of custody is broken.")
	case broken > 0:
		fmt.Fprintf(w, "\nThe chains of custody of %d of %d incidents are broken.\n", broken, n)
	case head != "":
		fmt.Fprintf(w, "\nThe chain of custody verifies, and holds the chain head %s.\n", head)
	case n == 1:
		fmt.Fprintln(w, "\nThe chain of custody verifies.")
	default:
		fmt.Fprintf(w, "\nAll %d incidents' chains of custody verify.\n", n)
	}
}

// isHash reports whether s is a SHA-256 as the log writes it: 64
// lower-case hex digits.
func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
