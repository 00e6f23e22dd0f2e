package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/internal/ui"
)

// hostileFinding is a GuardDuty finding whose author planted terminal
// escapes (ESC[2J, OSC 8 hyperlinks, C1 CSI), carriage returns,
// backspaces, bidi overrides and isolates, line separators, zero-width
// characters and newlines followed by a fake `  # action.stop["i-0fake"]`
// line in its id, type, title, description, instance id, tags and domain.
// The policies quote its type in their reasons.
const hostileFinding = findings + "cordon_hostile_terminal_escapes.json"

// hostileValues reads the fixture's values as the finding carries them.
func hostileValues(t *testing.T) (id, typ, instance string) {
	t.Helper()
	data, err := os.ReadFile(hostileFinding)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Resource struct {
			InstanceDetails struct {
				InstanceID string `json:"instanceId"`
			} `json:"instanceDetails"`
		} `json:"resource"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.Type, "\x1b[2J") || !strings.Contains(f.Resource.InstanceDetails.InstanceID, "\u202e") {
		t.Fatal("the hostile fixture lost its payload")
	}
	return f.ID, f.Type, f.Resource.InstanceDetails.InstanceID
}

var (
	ansiColour      = regexp.MustCompile(`\x1b\[[0-9;]*m`)
	incidentPattern = regexp.MustCompile(`inc-[0-9a-f]{16}`)
)

// checkHuman fails if human output holds a character that acts on a
// terminal (only cordon's own colour codes may), or a line a value forged.
func checkHuman(t *testing.T, what, out string) {
	t.Helper()
	out = ansiColour.ReplaceAllString(out, "")
	for _, bad := range []string{"\x1b", "\r", "\b", "\x07", "\u009b", "\u202e", "\u202c", "\u2066", "\u2069", "\u200b", "\u2028", "\u2029"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s holds %q:\n%s", what, bad, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if ui.Safe(line) != line {
			t.Errorf("%s: unsafe line %q", what, line)
		}
		trimmed := strings.TrimLeft(line, " -+~")
		if strings.HasPrefix(trimmed, `# action.stop["i-0fake"]`) || strings.HasPrefix(line, "| forged") {
			t.Errorf("%s: a value forged the line %q:\n%s", what, line, out)
		}
	}
}

func TestHostileFindingPlan(t *testing.T) {
	id, typ, instance := hostileValues(t)
	args := []string{"plan", "-config", basicConfig, "-facts", noFacts, "-finding", hostileFinding}

	code, out, errOut := cordon(t, append(args, "-no-color")...)
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	checkHuman(t, "plan", out)
	// What was odd is shown, escaped, where it was.
	for _, want := range []string{
		`Finding hostile0001\x1b]8;;https://attacker.example/approve\x07b2c8e1a4\x1b]8;;\x07 · CryptoCurrency:EC2/BitcoinTool.B!DNS\x1b[2J\x1b[H\rbenign\x08`,
		`  resource  aws_instance.i-0a1b2c3d4e5f67890\x1b[2K\r\u202e\n  # action.stop["i-0fake"] (aws_ec2_stop, disrupt) (123456789012, us-west-2)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %s:\n%s", want, out)
		}
	}
	// The incident id is left out: what it is made of is tested elsewhere.
	golden(t, "hostile_escapes.txt", incidentPattern.ReplaceAllString(out, "inc-…"))

	code, out, _ = cordon(t, append(args, "-json")...)
	if code != 0 {
		t.Fatalf("plan -json: exit %d", code)
	}
	golden(t, "hostile_escapes.json", incidentPattern.ReplaceAllString(digestPattern.ReplaceAllString(out, `"config_digest": "sha256:…"`), "inc-…"))
	var p struct {
		Incidents []struct {
			Finding struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Resource struct {
					ID string `json:"id"`
				} `json:"resource"`
			} `json:"finding"`
			Verdicts []struct {
				Reasons []string `json:"reasons"`
			} `json:"verdicts"`
			Actions []struct {
				Target struct {
					ID string `json:"id"`
				} `json:"target"`
			} `json:"actions"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || len(p.Incidents) != 1 {
		t.Fatalf("plan -json: %v\n%s", err, out)
	}
	inc := p.Incidents[0]
	if inc.Finding.ID != id || inc.Finding.Type != typ || inc.Finding.Resource.ID != instance ||
		inc.Actions[0].Target.ID != instance || !strings.Contains(strings.Join(inc.Verdicts[0].Reasons, "\n"), typ) {
		t.Errorf("plan -json changed the finding's text: %+v", inc)
	}

	// A saved plan shows as the plan did.
	planFile := filepath.Join(t.TempDir(), "hostile.plan")
	if code, _, errOut := cordon(t, append(args, "-out", planFile)...); code != 0 {
		t.Fatalf("plan -out: exit %d\n%s", code, errOut)
	}
	code, shown, errOut := cordon(t, "show", "-no-color", planFile)
	if code != 0 {
		t.Fatalf("show: exit %d\n%s", code, errOut)
	}
	checkHuman(t, "show", shown)
	if !strings.Contains(shown, `# action.stop["i-0a1b2c3d4e5f67890\x1b[2K\r\u202e\n  # action.stop[\"i-0fake\"] (aws_ec2_stop, disrupt)"] (aws_ec2_stop, disrupt)`) {
		t.Errorf("show lacks the escaped stop action:\n%s", shown)
	}
}

// TestHostileFindingStateAndReport applies the hostile finding against the
// emulator (the instance it names does not exist, so its actions fail with
// AWS's error quoting the id) and reads it back: apply's output, state
// list, state show, revert and the Markdown report escape it; state list
// -json and state show -json keep it exact.
func TestHostileFindingStateAndReport(t *testing.T) {
	_, typ, instance := hostileValues(t)
	dir, _ := emulatedConfig(t)
	planFile := filepath.Join(t.TempDir(), "hostile.plan")
	if code, _, errOut := cordon(t, "plan", "-config", dir, "-finding", hostileFinding, "-out", planFile); code != 0 {
		t.Fatalf("plan: %s", errOut)
	}
	code, out, errOut := cordon(t, "apply", "-config", dir, "-no-color", planFile)
	if code != 1 {
		t.Fatalf("apply of actions on an instance that does not exist: exit %d\n%s\n%s", code, out, errOut)
	}
	// Apply's progress lines and its error quote AWS's error, which quotes
	// the instance id.
	checkHuman(t, "apply", out)
	checkHuman(t, "apply's diagnostics", errOut)
	if !strings.Contains(errOut, `Invalid id: "i-0a1b2c3d4e5f67890`) {
		t.Errorf("apply's error lacks AWS's answer:\n%s", errOut)
	}

	code, out, errOut = cordon(t, "state", "list", "-config", dir, "-json")
	var list struct {
		Incidents []struct {
			ID      string `json:"id"`
			Finding struct {
				Type     string `json:"type"`
				Resource struct {
					ID string `json:"id"`
				} `json:"resource"`
			} `json:"finding"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.Incidents) != 1 {
		t.Fatalf("state list -json: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
	inc := list.Incidents[0]
	if inc.Finding.Type != typ || inc.Finding.Resource.ID != instance {
		t.Errorf("state list -json changed the finding's text: %+v", inc)
	}

	code, out, errOut = cordon(t, "state", "list", "-config", dir)
	if code != 0 {
		t.Fatalf("state list: exit %d\n%s", code, errOut)
	}
	checkHuman(t, "state list", out)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[1], `i-0a1b2c3d4e5f67890\x1b[2K\r\u202e\n`) {
		t.Errorf("state list is not one escaped row under its header:\n%s", out)
	}

	code, out, errOut = cordon(t, "state", "show", "-config", dir, "-no-color", inc.ID)
	if code != 0 {
		t.Fatalf("state show: exit %d\n%s", code, errOut)
	}
	checkHuman(t, "state show", out)
	for _, want := range []string{
		`CryptoCurrency:EC2/BitcoinTool.B!DNS\x1b[2J\x1b[H\rbenign\x08`,
		`  finding   hostile0001\x1b]8;;https://attacker.example/approve\x07b2c8e1a4\x1b]8;;\x07 (guardduty)`,
		`FAILED at`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("state show lacks %s:\n%s", want, out)
		}
	}

	code, out, _ = cordon(t, "state", "show", "-config", dir, "-json", inc.ID)
	var d struct {
		Incident struct {
			Finding struct {
				Type     string `json:"type"`
				Resource struct {
					ID string `json:"id"`
				} `json:"resource"`
			} `json:"finding"`
			Verdicts []struct {
				Reasons []string `json:"reasons"`
			} `json:"verdicts"`
		} `json:"incident"`
	}
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil {
		t.Fatalf("state show -json: exit %d %v", code, err)
	}
	if d.Incident.Finding.Type != typ || d.Incident.Finding.Resource.ID != instance ||
		len(d.Incident.Verdicts) == 0 || !strings.Contains(strings.Join(d.Incident.Verdicts[0].Reasons, "\n"), typ) {
		t.Errorf("state show -json changed the finding's text: %+v", d.Incident)
	}

	// Only the notification was applied, and it is not reverted.
	code, out, errOut = cordon(t, "revert", "-config", dir, "-auto-approve", "-no-color", inc.ID)
	if code != 0 || !strings.Contains(out, "Not reverted, by design") {
		t.Fatalf("revert: exit %d\n%s\n%s", code, out, errOut)
	}
	checkHuman(t, "revert", out)

	code, md, errOut := cordon(t, "report", "-config", dir, "-format", "md", inc.ID)
	if code != 0 {
		t.Fatalf("report: exit %d\n%s", code, errOut)
	}
	checkHuman(t, "Markdown report", md)
	for _, want := range []string{`\| forged \| row \|`, `pool.supportxmr.com\x1b[2J\x07`} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown report lacks %s:\n%s", want, md)
		}
	}
}
