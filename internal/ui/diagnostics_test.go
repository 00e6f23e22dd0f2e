package ui

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// A diagnostic can quote a finding: its text is escaped when rendered for
// people and kept exactly in JSON.
func TestWriteDiagnosticsEscapesFindingText(t *testing.T) {
	summary := "Invalid finding \x1b]8;;https://attacker.example/\x07here\x1b]8;;\x07"
	detail := "type \"Backdoor\u202e\"\r\nmore\n\x1b[2J"
	diags := hcl.Diagnostics{ErrorDiag(summary, detail)}

	var text bytes.Buffer
	if err := WriteDiagnostics(&text, nil, diags, true); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for _, want := range []string{`Invalid finding \x1b]8;;https://attacker.example/\x07here\x1b]8;;\x07`, "type \"Backdoor\\u202e\"\nmore\n\\x1b[2J"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendering lacks %q:\n%q", want, out)
		}
	}
	if !strings.Contains(out, "\x1b[31mError\x1b[0m") {
		t.Errorf("the severity lost its colour: %q", out)
	}
	for _, bad := range []string{"\x1b]", "\x1b[2J", "\u202e", "\r", "\x07"} {
		if strings.Contains(out, bad) {
			t.Errorf("rendering holds %q: %q", bad, out)
		}
	}

	var js bytes.Buffer
	if err := WriteJSONDiagnostics(&js, diags); err != nil {
		t.Fatal(err)
	}
	var doc struct{ Diagnostics []JSONDiagnostic }
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if d := doc.Diagnostics[0]; d.Summary != summary || d.Detail != detail {
		t.Errorf("JSON changed the text: %+v", d)
	}
	if diags[0].Summary != summary || diags[0].Detail != detail {
		t.Error("WriteDiagnostics changed the caller's diagnostics")
	}
}
