package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// A revert that cannot call AWS is refused with one clear message before
// it is shown or approved, records nothing, and the same revert with
// access afterwards undoes everything (issue: apply checks its access
// first; revert does the same).
func TestRevertChecksAccessFirst(t *testing.T) {
	tests := []struct {
		name    string
		lose    func(t *testing.T, emu *awsemu.Emulator)
		restore func(t *testing.T, emu *awsemu.Emulator)
		cause   string
	}{
		{"no credentials", func(t *testing.T, _ *awsemu.Emulator) {
			t.Setenv("AWS_ACCESS_KEY_ID", "")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		}, func(t *testing.T, _ *awsemu.Emulator) { setAWSEnv(t) }, "no AWS credentials"},
		{"credentials refused", func(t *testing.T, _ *awsemu.Emulator) {
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000001")
		}, func(t *testing.T, _ *awsemu.Emulator) { setAWSEnv(t) }, "InvalidClientTokenId"},
		{"role that cannot be assumed", func(t *testing.T, emu *awsemu.Emulator) {
			emu.Faults().Fail("sts:AssumeRole", "*", "AccessDenied", "User is not authorized to perform: sts:AssumeRole")
		}, func(t *testing.T, emu *awsemu.Emulator) { emu.Faults().Clear() }, "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, emu := emulatedConfig(t)
			if code, out, errOut := cordon(t, "apply", "-config", dir, "-no-color", "-auto-approve", "-finding", web1Finding); code != 0 {
				t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
			}
			inc := onlyIncident(t, dir)
			recorded := stateShowJSON(t, dir, inc)

			tt.lose(t, emu)
			calls := len(emu.Calls())
			runs := []struct {
				name string
				args []string
			}{
				{"auto-approve", []string{"revert", "-config", dir, "-no-color", "-auto-approve", inc}},
				// Refused before the question: without a terminal the
				// answer would otherwise be "No approval".
				{"asking", []string{"revert", "-config", dir, "-no-color", inc}},
			}
			for _, r := range runs {
				start := time.Now()
				code, out, errOut := cordon(t, r.args...)
				if code != 1 || !strings.Contains(errOut, "No AWS access") || !strings.Contains(errOut, tt.cause) ||
					!strings.Contains(errOut, "Nothing was reverted or recorded") {
					t.Errorf("%s: exit %d, want 1 with No AWS access and %q\nstdout:\n%s\nstderr:\n%s", r.name, code, tt.cause, out, errOut)
				}
				if strings.Contains(out, "will revert") || strings.Contains(out, "Do you want") {
					t.Errorf("%s: the revert was shown or asked for:\n%s", r.name, out)
				}
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("%s: the refusal took %s", r.name, d)
				}
			}
			// -json: the error is a JSON document on stdout.
			code, out, _ := cordon(t, "revert", "-config", dir, "-json", "-auto-approve", inc)
			var doc struct {
				FormatVersion string `json:"format_version"`
				Diagnostics   []struct{ Summary, Detail string }
			}
			if err := json.Unmarshal([]byte(out), &doc); code != 1 || err != nil || doc.FormatVersion != "1.0" ||
				len(doc.Diagnostics) != 1 || doc.Diagnostics[0].Summary != "No AWS access" || !strings.Contains(doc.Diagnostics[0].Detail, tt.cause) {
				t.Errorf("revert -json: exit %d %v\n%s", code, err, out)
			}

			for _, c := range emu.Calls()[calls:] {
				if c.Service != "sts" {
					t.Errorf("a revert without access called %s", c.Action())
				}
			}
			if got := stateShowJSON(t, dir, inc); got != recorded {
				t.Errorf("a refused revert changed the state:\nbefore %s\nafter  %s", recorded, got)
			}
			if s := emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region].Instances[demo.WebServerID].State; s != "stopped" {
				t.Errorf("web-1 is %s after refused reverts", s)
			}

			tt.restore(t, emu)
			code, out, errOut := cordon(t, "revert", "-config", dir, "-no-color", "-auto-approve", inc)
			if code != 0 || !strings.Contains(out, "Revert complete! Actions: 4 reverted, 0 failed, 0 drifted.") {
				t.Errorf("revert with access: exit %d\n%s\n%s", code, out, errOut)
			}
			if s := emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region].Instances[demo.WebServerID].State; s != "running" {
				t.Errorf("web-1 is %s after the revert", s)
			}
		})
	}
}

// onlyIncident is the id of the one incident in dir's state.
func onlyIncident(t *testing.T, dir string) string {
	t.Helper()
	code, out, errOut := cordon(t, "state", "list", "-config", dir, "-json")
	var list struct {
		Incidents []struct {
			ID string `json:"id"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.Incidents) != 1 {
		t.Fatalf("state list -json: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
	return list.Incidents[0].ID
}

// stateShowJSON is `cordon state show -json` of an incident.
func stateShowJSON(t *testing.T, dir, inc string) string {
	t.Helper()
	code, out, errOut := cordon(t, "state", "show", "-config", dir, "-json", inc)
	if code != 0 {
		t.Fatalf("state show -json: exit %d\n%s", code, errOut)
	}
	return out
}
