package report_test

import (
	"encoding/json"
	"testing"

	"github.com/cordonhq/cordon/engine/report/reporttest"
)

// Attacker-controlled text, planted where an attacker controls it: a
// process's cmdline and name, a cron command, an SSH key's comment, a
// CloudTrail user agent, the finding's title and description (an OCSF or
// ASFF producer writes them), a related finding's title, an action's error
// (it quotes what AWS or a webhook answered).
var hostile = []string{
	`<script>window.__pwned=1</script>`,
	`"><img src=x onerror="window.__pwned=2">`,
	`</textarea></style></script><svg onload=window.__pwned=3>`,
	"`javascript:window.__pwned=4` [click](javascript:window.__pwned=5) | col | ![x](https://attacker.example/p.png)",
	"\x1b[2J\x1b[31mFAKE OK\x1b[0m\r\nforged line\u202egnp.exe",
	"\xff\xfe invalid UTF-8 \x00 NUL",
}

// hostileFixture is the cryptominer incident with hostile text planted
// everywhere an attacker reaches.
func hostileFixture(t testing.TB) *reporttest.Fixture {
	t.Helper()
	fx := load(t, "cryptominer")
	d := fx.Detail
	var facts map[string]map[string]any
	if err := json.Unmarshal(d.Incident.Facts, &facts); err != nil {
		t.Fatal(err)
	}
	at := func(m map[string]any, key string, i int) map[string]any {
		return m[key].([]any)[i].(map[string]any)
	}
	p := at(facts["triage"], "processes", 5)
	p["cmdline"] = hostile[0] + " " + hostile[2]
	p["name"] = hostile[1]
	at(facts["triage"], "cron", 1)["command"] = hostile[3]
	at(facts["triage"], "authorized_keys", 1)["comment"] = hostile[4]
	at(facts["triage"], "files", 0)["path"] = hostile[5]
	at(facts["trail"], "events", 0)["user_agent"] = hostile[1]
	at(facts["related"], "findings", 0)["title"] = hostile[2]
	d.Incident.Facts, _ = json.Marshal(facts)
	d.Incident.FactsSHA256 = ""

	var finding map[string]any
	if err := json.Unmarshal(d.Incident.FindingData, &finding); err != nil {
		t.Fatal(err)
	}
	finding["title"] = hostile[0]
	finding["description"] = hostile[3]
	d.Incident.FindingData, _ = json.Marshal(finding)
	d.Incident.Verdicts[0].Reasons = append(d.Incident.Verdicts[0].Reasons, hostile...)
	d.Incident.Verdicts[0].Summary = hostile[1]
	d.Actions[5].Error = hostile[2] + hostile[4]
	// The facts evidence no longer matches the facts; leave it out.
	var kept = fx.Evidence[:0]
	for _, ev := range fx.Evidence {
		if ev.Kind != "facts" {
			kept = append(kept, ev)
		}
	}
	fx.Evidence = kept
	return fx
}
