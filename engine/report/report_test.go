package report_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/engine/report"
	"github.com/cordonhq/cordon/engine/report/reporttest"
	"github.com/cordonhq/cordon/engine/state"
)

var update = flag.Bool("update", false, "rewrite golden files")

// load reads a recorded incident from testdata/incidents.
func load(t testing.TB, name string) *reporttest.Fixture {
	t.Helper()
	fx, err := reporttest.Load(filepath.Join("testdata", "incidents", name))
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

func build(t testing.TB, name string) *report.Report {
	fx := load(t, name)
	r := report.Build(fx.Detail, fx.Evidence, fx.CollectorTypes)
	r.AddCustody(fx.Custody, fx.Evidence)
	return r
}

// golden compares got with testdata/golden/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n%s", name, firstDiff(string(got), string(want)))
	}
}

// firstDiff shows the first line that differs.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + itoa(i+1) + ":\n got: " + gl + "\nwant: " + wl
		}
	}
	return ""
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestGolden(t *testing.T) {
	for _, name := range []string{"cryptominer", "iam_credentials"} {
		t.Run(name, func(t *testing.T) {
			r := build(t, name)
			var md, js, html bytes.Buffer
			if err := r.WriteMarkdown(&md); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteHTML(&html); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".md", md.Bytes())
			golden(t, name+".json", js.Bytes())
			golden(t, name+".html", html.Bytes())
		})
	}
}

// TestCryptominer checks the report of the cryptominer incident piece by
// piece, independently of the golden files.
func TestCryptominer(t *testing.T) {
	fx := load(t, "cryptominer")
	r := report.Build(fx.Detail, fx.Evidence, fx.CollectorTypes)

	if r.Verdict == nil || r.Verdict.Verdict != "malicious" || *r.Verdict.Confidence != 0.97 {
		t.Errorf("verdict %+v", r.Verdict)
	}
	if !strings.Contains(r.RootCause, "x.sh") || !strings.Contains(r.Impact, "Monero") || r.Summary == "" {
		t.Errorf("summary %q, root cause %q, impact %q", r.Summary, r.RootCause, r.Impact)
	}
	if len(r.Notes) != 0 {
		t.Errorf("notes on a sound record: %q", r.Notes)
	}

	// The timeline: every source, in time order, with the counts the
	// facts give.
	counts := r.Timeline.Count()
	want := map[report.Source]int{
		report.SourceFinding:     4, // first seen, created, last seen, updated
		report.SourceRelated:     3,
		report.SourceCloudTrail:  5,
		report.SourceTriage:      1 + 9 + 4 + 1 + 6 + 2 + 2, // collected, processes, logins, session, files, cron, keys
		report.SourceAcquisition: 2,
		report.SourceCordon:      1 + 7, // recorded, 6 applied + 1 reverted
	}
	for s, n := range want {
		if counts[s] != n {
			t.Errorf("%s: %d entries, want %d", s, counts[s], n)
		}
	}
	if r.Timeline.Total != len(r.Timeline.Entries) || r.Timeline.Omitted != 0 {
		t.Errorf("total %d, omitted %d, entries %d", r.Timeline.Total, r.Timeline.Omitted, len(r.Timeline.Entries))
	}
	for i := 1; i < len(r.Timeline.Entries); i++ {
		if r.Timeline.Entries[i].Time.Before(r.Timeline.Entries[i-1].Time) {
			t.Fatalf("entry %d (%s) before entry %d (%s)", i, r.Timeline.Entries[i].Time, i-1, r.Timeline.Entries[i-1].Time)
		}
	}
	first := r.Timeline.Entries[0]
	if first.Kind != "process.start" || !strings.Contains(first.Title, "systemd") {
		t.Errorf("first entry %+v, want systemd's start", first)
	}
	byKind := map[string][]report.Entry{}
	for _, e := range r.Timeline.Entries {
		byKind[e.Kind] = append(byKind[e.Kind], e)
	}
	if fs := byKind["finding.first_seen"]; len(fs) != 1 || fs[0].Time.Format("15:04:05") != "02:11:07" || fs[0].Title != "GuardDuty first saw the activity" {
		t.Errorf("first seen %+v", fs)
	}
	for _, kind := range []string{"cron", "authorized_key"} {
		for _, e := range byKind[kind] {
			if !e.Observed || e.Time.Format("15:04:05") != "04:03:30" {
				t.Errorf("%s entry %q: observed %v at %s, want observed at collected_at", kind, e.Title, e.Observed, e.Time)
			}
		}
	}
	if f := byKind["login.failed"]; len(f) != 3 {
		t.Errorf("%d failed logins", len(f))
	}
	var failedAction, revert bool
	for _, e := range byKind["action.apply"] {
		if e.Result == "failed" && strings.Contains(e.Error, "503") {
			failedAction = true
		}
	}
	for _, e := range byKind["action.revert"] {
		revert = revert || (e.Result == "applied" && strings.Contains(e.Title, "action.stop"))
	}
	if !failedAction || !revert {
		t.Errorf("failed notify on the timeline %v, revert of stop %v", failedAction, revert)
	}
	if ct := byKind["api_call"]; len(ct) != 5 || ct[3].Error != "Client.UnauthorizedOperation" {
		t.Errorf("CloudTrail entries %+v", ct)
	}

	// Scope: the finding's instance first, then what facts revealed.
	res := map[string]report.Resource{}
	for _, x := range r.Scope.Resources {
		res[x.Type+" "+x.ID] = x
	}
	if p := r.Scope.Resources[0]; !p.Primary || p.ID != "i-0a1b2c3d4e5f67890" || p.Name != "web-1" {
		t.Errorf("primary resource %+v", p)
	}
	for _, k := range []string{
		"aws_ebs_volume vol-0a1a2a3a4a5a6a7a8", "aws_ebs_volume vol-0b1b2b3b4b5b6b7b8", "aws_iam_role web-app-role",
		"aws_autoscaling_group storefront-web", "aws_network_interface eni-0d4c3b2a190817263", "aws_iam_user deploy-bot",
	} {
		if _, ok := res[k]; !ok {
			t.Errorf("scope lacks %s: %+v", k, r.Scope.Resources)
		}
	}
	if u := res["aws_iam_user deploy-bot"]; u.Note != "named by CreateAccessKey" || u.Via[0] != "facts.trail" {
		t.Errorf("deploy-bot %+v", u)
	}
	if len(r.Scope.RelatedFindings) != 3 || r.Scope.RelatedFindings[0].Type != "CryptoCurrency:EC2/BitcoinTool.B" {
		t.Errorf("related findings %+v", r.Scope.RelatedFindings)
	}
	ind := map[string]report.Indicator{}
	for _, i := range r.Scope.Indicators {
		ind[i.Value] = i
	}
	for _, v := range []string{"pool.supportxmr.com", "141.94.96.144", "198.51.100.23", "45.95.147.12", "54.201.17.33", "ASIAXQ4G7NF2R5EXAMPL"} {
		if _, ok := ind[v]; !ok {
			t.Errorf("indicator %s missing: %+v", v, r.Scope.Indicators)
		}
	}
	if _, ok := ind["10.0.1.25"]; ok {
		t.Error("a private address is listed as an indicator")
	}
	if s := ind["141.94.96.144"].Seen; len(s) != 1 || !strings.Contains(s[0], "kworkerd (pid 24602)") {
		t.Errorf("miner connection indicator %v", s)
	}

	// Chain of custody: every digest verified.
	if r.Facts.Verified == nil || !*r.Facts.Verified || r.Facts.SHA256 != fx.Detail.Incident.FactsSHA256 {
		t.Errorf("facts digest %+v", r.Facts)
	}
	if len(r.Facts.Collectors) != 6 {
		t.Fatalf("%d collectors", len(r.Facts.Collectors))
	}
	for _, c := range r.Facts.Collectors {
		if c.Verified == nil || !*c.Verified || len(c.SHA256) != 64 || c.Type == "" || c.TypeInferred || c.Summary == "" {
			t.Errorf("collector digest %+v", c)
		}
	}
	// Evidence: the acquisition's snapshots, found again by the snapshot
	// action and recorded as evidence, are two snapshots.
	if len(r.Evidence.Snapshots) != 2 {
		t.Fatalf("snapshots %+v", r.Evidence.Snapshots)
	}
	s := r.Evidence.Snapshots[0]
	if s.SnapshotID != "snap-0f3e9a1c7b2d4e6f8" || s.VolumeID != "vol-0a1a2a3a4a5a6a7a8" || s.Device != "/dev/xvda" ||
		strings.Join(s.TakenBy, ",") != `facts.acquire,action.snapshot["i-0a1b2c3d4e5f67890"],evidence` {
		t.Errorf("snapshot %+v", s)
	}
	if len(r.Evidence.Screenshots) != 1 || r.Evidence.Screenshots[0].Image == nil || r.Evidence.Screenshots[0].ContentType != "image/png" || !*r.Evidence.Screenshots[0].Verified ||
		r.Evidence.Screenshots[0].SHA256 != "c4bbff9138a59aa8b519b43fe67aaf8b67ee0ba94c18ea2caaf62e1429ede51c" {
		t.Errorf("screenshot %+v", r.Evidence.Screenshots)
	}

	// Actions: all seven records, with what changed.
	if len(r.Actions) != 7 {
		t.Fatalf("%d actions", len(r.Actions))
	}
	iso := r.Actions[2]
	if iso.Action != "isolate" || len(iso.Changes) != 2 || iso.Changes[1].Attribute != "security_groups" ||
		string(iso.Changes[1].Before) != `["sg-0123456789abcdef0"]` || string(iso.Changes[1].After) != `["sg-0e1f2a3b4c5d6e7f8"]` {
		t.Errorf("isolate %+v", iso)
	}
	if snap := r.Actions[3]; snap.Result != state.ResultNoChange || len(snap.Changes) != 0 {
		t.Errorf("snapshot action %+v", snap)
	}
	if rv := r.Actions[6]; rv.Kind != state.KindRevert || rv.RevertOf != 5 || string(rv.Changes[0].After) != `"running"` {
		t.Errorf("revert %+v", rv)
	}
	if got := r.Incident.Actions; got["applied"] != 4 || got["failed"] != 1 || got["no_change"] != 1 || got["reverted"] != 1 {
		t.Errorf("action counts %v", got)
	}
}

func TestIAMCredentials(t *testing.T) {
	r := build(t, "iam_credentials")
	if r.Finding.FirstSeen.Format("15:04:05") != "10:02:44" || r.Finding.Actor == nil || r.Finding.Actor.IP != "203.0.113.77" {
		t.Errorf("finding %+v", r.Finding)
	}
	res := map[string]bool{}
	for _, x := range r.Scope.Resources {
		res[x.Type+" "+x.ID] = true
	}
	for _, k := range []string{"aws_iam_access_key ASIAXQ4G7NF2R5EXAMPL", "aws_iam_role web-app-role", "aws_s3_bucket storefront-orders-prod",
		"aws_iam_user deploy-bot", "aws_cloudtrail arn:aws:cloudtrail:us-west-2:123456789012:trail/org-trail"} {
		if !res[k] {
			t.Errorf("scope lacks %s", k)
		}
	}
	var ip report.Indicator
	for _, i := range r.Scope.Indicators {
		if i.Value == "203.0.113.77" {
			ip = i
		}
	}
	if strings.Join(ip.Seen, "; ") != "finding: remote IP (Romania); finding: caller IP; CloudTrail: 8 calls" {
		t.Errorf("indicator %+v", ip)
	}
	// The CloudTrail event from the instance, hours before the window, is
	// on the timeline before everything else of the incident.
	if e := r.Timeline.Entries[0]; e.Kind != "api_call" || e.Time.Format("15:04:05") != "02:45:03" {
		t.Errorf("first entry %+v", e)
	}
	if len(r.Evidence.Snapshots)+len(r.Evidence.Screenshots)+len(r.Evidence.Other) != 0 {
		t.Errorf("evidence %+v", r.Evidence)
	}
}
