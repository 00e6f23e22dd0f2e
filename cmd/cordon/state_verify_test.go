package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/engine/state"
)

// verifyDoc runs `cordon state verify [args] -json` and decodes it.
func verifyDoc(t *testing.T, wantCode int, args ...string) stateVerifyDocument {
	t.Helper()
	code, out, errOut := cordon(t, append([]string{"state", "verify", "-json"}, args...)...)
	var doc stateVerifyDocument
	if err := json.Unmarshal([]byte(out), &doc); code != wantCode || err != nil || doc.FormatVersion != "1.0" {
		t.Fatalf("state verify -json %v: exit %d (want %d) %v\n%s\n%s", args, code, wantCode, err, out, errOut)
	}
	return doc
}

// tamper runs SQL on the state database behind cordon's back, its
// append-only triggers dropped first, as an attacker with the file would.
func tamper(t *testing.T, dbPath string, queries ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range append([]string{
		`DROP TRIGGER IF EXISTS custody_no_update`, `DROP TRIGGER IF EXISTS custody_no_delete`,
		`DROP TRIGGER IF EXISTS evidence_no_update`, `DROP TRIGGER IF EXISTS evidence_no_delete`,
	}, queries...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestStateVerify(t *testing.T) {
	dir := reportConfig(t)
	dbPath := filepath.Join(dir, ".cordon", "state.db")
	if code, out, errOut := cordon(t, "state", "verify", "-config", dir); code != 0 || !strings.Contains(out, "No incidents recorded.") {
		t.Fatalf("verify of an empty state: exit %d\n%s\n%s", code, out, errOut)
	}
	id := appliedIncident(t, dir)

	// The applied incident's facts, screenshot and snapshots are chained.
	doc := verifyDoc(t, 0, "-config", dir)
	if !doc.Verified || len(doc.Incidents) != 1 {
		t.Fatalf("verify: %+v", doc)
	}
	v := doc.Incidents[0]
	kinds := map[string]int{}
	for i, e := range v.Log {
		kinds[e.Kind]++
		if e.Hash != state.CustodyHash(&v.Log[i]) || e.Seq != int64(i+1) {
			t.Errorf("entry %d from the JSON does not hash as printed: %+v", i+1, e)
		}
	}
	if v.IncidentID != id || !v.Verified || v.Break != nil || v.Entries != len(v.Log) || v.Head != state.CustodyHead(v.Log) ||
		kinds["facts"] != 2 || kinds["screenshot"] != 1 || kinds["snapshot"] != 2 {
		t.Fatalf("incident %s: %+v (kinds %v)", id, v, kinds)
	}
	code, out, errOut := cordon(t, "state", "verify", id, "-config", dir)
	if code != 0 || !strings.Contains(out, v.Head) || !strings.Contains(out, "verified") || !strings.Contains(out, "The chain of custody verifies.") {
		t.Fatalf("verify %s: exit %d\n%s\n%s", id, code, out, errOut)
	}

	// A report written to a file joins the chain with its digest, after
	// the head it carries.
	file := filepath.Join(t.TempDir(), "incident.md")
	code, _, errOut = cordon(t, "report", "-config", dir, "-out", file, id)
	if code != 0 || !strings.Contains(errOut, "custody entry "+itoa(len(v.Log)+1)) {
		t.Fatalf("report -out: exit %d\n%s", code, errOut)
	}
	written, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(written), "Chain head `"+v.Head+"`") {
		t.Errorf("the report does not carry the chain head %s", v.Head)
	}
	sum := sha256.Sum256(written)
	after := verifyDoc(t, 0, id, "-config", dir, "-head", v.Head).Incidents[0]
	last := after.Log[len(after.Log)-1]
	var meta struct{ Format, Path, ChainHead string }
	json.Unmarshal([]byte(last.Meta), &meta)
	if after.Entries != v.Entries+1 || last.Kind != state.CustodyReport || last.Name != "incident.md" || last.PrevHash != v.Head ||
		last.SHA256 != hex.EncodeToString(sum[:]) || last.Size != int64(len(written)) || meta.Format != "md" || meta.Path != file {
		t.Errorf("report entry %+v (meta %+v)", last, meta)
	}

	// A head no longer in the log: entries were removed from its end.
	doc = verifyDoc(t, 1, id, "-config", dir, "-head", strings.Repeat("0", 64))
	if b := doc.Incidents[0].Break; doc.Verified || b == nil || b.Problem != state.CustodyHeadMissing {
		t.Errorf("verify -head of another chain: %+v", doc.Incidents[0])
	}

	// Tampering behind cordon's back: the first entry that no longer
	// matches is named, the command exits 1.
	tamper(t, dbPath, `UPDATE custody SET name = 'describe-2' WHERE seq = 2`)
	code, out, _ = cordon(t, "state", "verify", "-config", dir)
	if code != 1 || !strings.Contains(out, "BROKEN") || !strings.Contains(out, "Incident "+id+": the chain of custody breaks at entry 2 (facts describe-2): edited:") ||
		!strings.Contains(out, "The chain of custody is broken.") {
		t.Errorf("verify after an entry was edited: exit %d\n%s", code, out)
	}
	doc = verifyDoc(t, 1, "-config", dir)
	if b := doc.Incidents[0].Break; doc.Verified || b == nil || b.Seq != 2 || b.Problem != state.CustodyEdited || b.IncidentID != id {
		t.Errorf("verify -json after an entry was edited: %+v", doc.Incidents[0])
	}
	// A copy of the state, verified where it was copied to (-state), tells
	// the same.
	cp := filepath.Join(t.TempDir(), "copy.db")
	data, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	doc = verifyDoc(t, 1, "-state", cp)
	if b := doc.Incidents[0].Break; doc.Verified || b == nil || b.Seq != 2 || b.Problem != state.CustodyEdited {
		t.Errorf("verify -state of a copy: %+v", doc.Incidents[0])
	}

	// What a terminal would run is shown escaped.
	tamper(t, dbPath, "UPDATE custody SET name = 'x\x1b[2J\x1b[32mOK' WHERE seq = 2")
	if code, out, _ := cordon(t, "state", "verify", "-config", dir); code != 1 || strings.Contains(out, "\x1b") {
		t.Errorf("verify shows a raw escape: exit %d\n%q", code, out)
	}
}

func TestStateVerifyErrors(t *testing.T) {
	dir := reportConfig(t)
	hash := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown incident", []string{"inc-nope"}, "No such incident"},
		{"two incidents", []string{"inc-1", "inc-2"}, `unexpected argument "inc-2"`},
		{"head without incident", []string{"-head", hash}, "-head needs the INCIDENT"},
		{"malformed head", []string{"inc-1", "-head", "ABC"}, "is not a chain head"},
		{"unknown flag", []string{"-heads", hash}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cordon(t, append([]string{"state", "verify", "-config", dir}, tc.args...)...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
			}
		})
	}
	if code, _, errOut := cordon(t, "state"); code != 1 || !strings.Contains(errOut, "verify [INCIDENT]") {
		t.Errorf("state usage: exit %d\n%s", code, errOut)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
