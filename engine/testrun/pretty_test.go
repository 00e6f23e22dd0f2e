package testrun

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cordonhq/cordon/internal/ui"
)

// hostileScenario is a scenario on a finding whose author planted
// terminal escapes, a carriage return, an OSC 8 hyperlink, bidi controls,
// a line separator and a forged plan line in its type, title and resource
// id; a policy quotes them in its reasons and prints them, and the
// scenario expects something else, so its failure shows them all.
const hostileScenario = `
run "hostile" {
  finding = "findings/hostile.json"
  facts   = "facts/miner.json"

  expect {
    verdict = "benign"
    actions = ["action.isolate[\"i-0a1b2c3d4e5f67890\"]"]
  }
}
`

const hostilePolicy = `package fixture.verdict

reasons contains sprintf("finding %s titled %s", [input.finding.type, input.finding.title]) if {
	print("title:", input.finding.title)
}
`

var hostileFields = map[string]string{
	"type":  "CryptoCurrency:EC2/X\x1b[2J\x1b[H\rmalicious\b\b\b",
	"title": "\x1b]8;;https://attacker.example/\x07approve\x1b]8;;\x07 gnp.\u202eexe\u2028x\n  # action.stop[\"i-0fake\"] (aws_ec2_stop, disrupt)",
	"id":    "i-0a1b\u2066\u200b\u009b2J\n--- PASS: run \"hostile\"",
}

var colourCode = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func TestPrettyHostileFinding(t *testing.T) {
	fsys := fixture(t, "empty").(fstest.MapFS)
	var finding map[string]any
	if err := json.Unmarshal(fsys["findings/ec2_miner.json"].Data, &finding); err != nil {
		t.Fatal(err)
	}
	finding["type"], finding["title"] = hostileFields["type"], hostileFields["title"]
	finding["resource"].(map[string]any)["instanceDetails"].(map[string]any)["instanceId"] = hostileFields["id"]
	data, err := json.Marshal(finding)
	if err != nil {
		t.Fatal(err)
	}
	fsys["findings/hostile.json"] = &fstest.MapFile{Data: data}
	fsys["policies/hostile_reasons.rego"] = &fstest.MapFile{Data: []byte(hostilePolicy)}
	fsys["tests/hostile.test.hcl"] = &fstest.MapFile{Data: []byte(hostileScenario)}
	rep, err := Run(context.Background(), Options{Dir: "empty", FS: fsys, Getenv: noEnv, Run: "hostile"})
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Counts(); c.Failed != 1 {
		t.Fatalf("the hostile scenario did not fail: %+v", c)
	}
	for _, opts := range []PrettyOptions{{}, {Verbose: true}, {Color: true}, {Color: true, Verbose: true}} {
		var buf bytes.Buffer
		if err := WritePretty(&buf, rep, opts); err != nil {
			t.Fatal(err)
		}
		out := colourCode.ReplaceAllString(buf.String(), "")
		// print() output is free text and keeps its lines, indented
		// below its heading; no other value may start a line.
		printIndent := -1
		for _, line := range strings.Split(out, "\n") {
			if ui.Safe(line) != line {
				t.Errorf("%+v: unsafe line %q", opts, line)
			}
			trimmed := strings.TrimLeft(line, " ")
			indent := len(line) - len(trimmed)
			switch {
			case trimmed == "print output:":
				printIndent = indent
				continue
			case printIndent >= 0 && indent > printIndent:
				continue
			}
			printIndent = -1
			if strings.HasPrefix(line, "--- PASS") || strings.HasPrefix(strings.TrimLeft(trimmed, "+- "), "# action.stop") {
				t.Errorf("%+v: a value forged the line %q\n%s", opts, line, out)
			}
		}
		// What was odd shows as escapes.
		for _, want := range []string{`X\x1b[2J\x1b[H\rmalicious\x08\x08\x08`, `\x1b]8;;https://attacker.example/\x07approve`, `gnp.\u202eexe\u2028x\n  # action.stop`, `i-0a1b\u2066\u200b\u009b2J\n--- PASS`} {
			if !strings.Contains(out, want) {
				t.Errorf("%+v: output lacks %s:\n%s", opts, want, out)
			}
		}
	}
}
