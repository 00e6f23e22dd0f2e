package demo

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/report"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/ui"
	"github.com/cordonhq/cordon/policies"
)

//go:embed exempt_ci_runner_backdoor.json
var exemptFinding []byte

// The findings the demo feeds, in order: one in scope and malicious (a
// cryptominer on web-1), one benign (a failed SSH brute force against the
// bastion), one out of scope (a CI runner tagged cordon:exempt), and a
// credential finding for the CI deploy user.
var findingFiles = []string{
	"testdata/findings/ec2_cryptocurrency_bitcointool_dns.json",
	"testdata/findings/ec2_ssh_bruteforce_target.json",
	"exempt",
	"testdata/findings/iam_discovery_anomalous_behavior.json",
}

// Options configure Run.
type Options struct {
	Out   io.Writer
	Color bool
	// StateDir holds the demo's state; default a new temporary directory,
	// removed afterwards.
	StateDir string
	// Debug receives AWS retries and policy prints; nil discards.
	Debug io.Writer
}

// Run runs cordon end to end with no account, no credentials and no
// files: the emulator with the demo fleet, the embedded starter policies,
// the demo findings; it prints the plan, applies it, shows what changed,
// then reverts the malicious incident and shows the restored state.
func Run(ctx context.Context, o Options) error {
	d := &runner{o: o}
	return d.run(ctx)
}

type runner struct {
	o Options

	mu    sync.Mutex
	hooks []string
}

func (d *runner) step(format string, args ...any) {
	title := fmt.Sprintf(format, args...)
	if d.o.Color {
		title = "\x1b[1;36m==> " + title + "\x1b[0m"
	} else {
		title = "==> " + title
	}
	fmt.Fprintf(d.o.Out, "\n%s\n\n", title)
}

func (d *runner) run(ctx context.Context) error {
	out := d.o.Out
	seed, err := Fleet()
	if err != nil {
		return err
	}
	emu := awsemu.New(seed)
	SeedTriage(emu) // what the triage script finds on the compromised web-1
	srv := httptest.NewServer(emu)
	defer srv.Close()
	hook := httptest.NewServer(http.HandlerFunc(d.receive))
	defer hook.Close()

	stateDir := d.o.StateDir
	if stateDir == "" {
		if stateDir, err = os.MkdirTemp("", "cordon-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(stateDir)
	}

	d.step("Starting an in-memory AWS (the emulator) with a small fleet")
	fmt.Fprintf(out, "Account %s (prod), %s, served at %s:\n", ProdAccount, Region, srv.URL)
	before := emu.Snapshot()
	d.printFleet(before)
	fmt.Fprintf(out, "\ncordon signs in as user cordon of account %s (%s) and assumes\n%s in the account of each finding.\n",
		SecurityAccount, CordonAccessKey, strings.ReplaceAll(ResponderRoleARN, "{account}", ProdAccount))

	d.step("Loading the starter policies (what `cordon init` writes)")
	e, diags := engine.Load(ctx, engine.Options{
		Dir: "starter", FS: policies.Starter(), Debug: d.o.Debug,
		Values:       StarterValues(hook.URL + "/incidents"),
		ValuesSource: "cordon demo",
	})
	if diags.HasErrors() {
		return fmt.Errorf("loading the starter policies: %s", diagsText(diags))
	}
	cfg := e.Config()
	fmt.Fprintf(out, "%d rules, %d scopes, %d collectors, %d actions, policies %s.\n",
		len(cfg.Rules), len(cfg.Scopes), len(cfg.Collectors), len(cfg.Actions), strings.Join(e.Policies().Packages(), ", "))
	fmt.Fprintf(out, "Memory images go to bucket %s (Object Lock) in account %s; hosts\n"+
		"acquire them with %s, pinned by its SHA-256 %s.\n",
		EvidenceBucket, SecurityAccount, MemoryToolURI, shortHash(MemoryToolSHA256))

	aws, err := awsclient.New(ctx, awsclient.Options{
		Region: Region, Endpoint: srv.URL, AssumeRoleARN: ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider(CordonAccessKey, CordonSecretKey, ""),
		Version:     engine.Version, Debug: d.o.Debug,
	})
	if err != nil {
		return err
	}

	d.step("Planning the response to %d GuardDuty findings (the collectors run; memory is acquired first)", len(findingFiles))
	files, err := d.findings()
	if err != nil {
		return err
	}
	res, diags := e.Plan(ctx, files, engine.PlanOptions{KeepData: true, AWS: aws})
	if diags.HasErrors() {
		return fmt.Errorf("planning: %s", diagsText(diags))
	}
	p := res.Plan
	if err := p.Render(out, plan.RenderOptions{Color: d.o.Color}); err != nil {
		return err
	}
	if p.HasErrors() {
		return fmt.Errorf("the plan has %d failed investigations", p.Summary.Errors)
	}
	d.printMemory(p, res.Data)

	d.step("Applying the plan")
	statePath := filepath.Join(stateDir, "state.db")
	st, err := state.OpenSQLite(statePath)
	if err != nil {
		return err
	}
	defer st.Close()
	f := res.File(e, time.Now().UTC().Format(time.RFC3339))
	if f.ID, err = plan.ID(f); err != nil {
		return err
	}
	opts := engine.ApplyOptions{Store: st, AWS: aws, Owner: "cordon demo", ApproveManual: true, Progress: out, Debug: d.o.Debug}
	applied, err := e.Apply(ctx, f, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nApply complete! %s\n", applied.Summary)

	d.step("What changed in the emulator")
	afterApply := emu.Snapshot()
	d.printChanges(before, afterApply)
	d.mu.Lock()
	for _, h := range d.hooks {
		fmt.Fprintf(out, "  webhook received: %s\n", h)
	}
	d.mu.Unlock()

	d.step("Incidents in state (cordon state list)")
	list, err := st.Incidents(ctx, state.IncidentFilter{})
	if err != nil {
		return err
	}
	var malicious string
	for _, s := range list {
		verdict := "-"
		if len(s.Verdicts) > 0 {
			verdict = s.Verdicts[0].Verdict
		}
		fmt.Fprintf(out, "  %s  %-38s %-22s %-10s %s\n", s.ID, s.Finding.Type, s.Finding.Resource.ID, verdict, s.Status)
		if verdict == "malicious" && s.Finding.Resource.Type == "aws_instance" {
			malicious = s.ID
		}
	}
	if malicious == "" {
		return fmt.Errorf("no malicious instance incident to revert")
	}

	d.step("The incident report of %s (cordon report %s)", malicious, malicious)
	r, err := engine.BuildReport(ctx, st, malicious, e.CollectorTypes())
	if err != nil {
		return err
	}
	d.printReport(r)
	fmt.Fprintf(out, "\nTimeline:\n\n")
	if err := report.WriteTimelineText(out, r, 25); err != nil {
		return err
	}
	if d.o.StateDir != "" {
		fmt.Fprintf(out, "\nThe whole report, with the evidence and a visual timeline:\n  cordon report -state %s -format html -out report.html %s\n",
			filepath.Join(d.o.StateDir, "state.db"), malicious)
	} else {
		fmt.Fprintf(out, "\nThe whole report, with the evidence and a visual timeline: run `cordon demo -state-dir DIR`,\nthen `cordon report -state DIR/state.db -format html -out report.html %s`.\n", malicious)
	}

	d.step("Reverting incident %s (cordon revert)", malicious)
	rp, err := e.PlanRevert(ctx, st, malicious)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "cordon will revert the following actions:\n\n")
	plan.RenderActions(out, rp.Actions, plan.RenderOptions{Color: d.o.Color})
	fmt.Fprintf(out, "\nKept, by design: %s\n\n", strings.Join(rp.Irreversible, ", "))
	reverted, err := e.Revert(ctx, rp, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nRevert complete! %s\n", reverted.SummaryLine())

	d.step("The restored state")
	d.printChanges(afterApply, emu.Snapshot())
	fmt.Fprintf(out, "\nThe snapshots and the memory image stay: they are evidence.\n")

	d.step("Verifying the chain of custody (cordon state verify)")
	if _, err := d.verifyCustody(ctx, st); err != nil {
		return err
	}

	// Whoever can write the state file can change what it says: the
	// chain shows it. The store is closed first, as cordon would not be
	// running while someone edits its database.
	d.step("Editing one evidence row behind cordon's back")
	if err := st.Close(); err != nil {
		return err
	}
	edit, err := tamperMemoryImage(ctx, statePath, malicious)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "With SQLite alone, as anyone who can write %s could, the demo drops the trigger\n"+
		"that keeps the custody log append-only, rewrites the SHA-256 recorded for the memory\n"+
		"image of %s (entry %d), as if the image had been swapped for a doctored\n"+
		"one, and puts the trigger back:\n\n  %s\n  was %s\n  now %s\n",
		filepath.Base(statePath), malicious, edit.Seq, edit.Name, edit.Was, edit.Now)

	d.step("Verifying the chain of custody again (cordon state verify)")
	st, err = state.OpenSQLite(statePath)
	if err != nil {
		return err
	}
	defer st.Close()
	broken, err := d.verifyCustody(ctx, st)
	if err != nil {
		return err
	}
	if broken == 0 {
		return fmt.Errorf("state verify did not notice the edit of entry %d of %s", edit.Seq, malicious)
	}
	if d.o.StateDir != "" {
		fmt.Fprintf(out, "\n%s keeps the edit: cordon report shows the break too.\n", statePath)
	}
	fmt.Fprintf(out, "\nTry it yourself with `cordon init`, or point cordon at the emulator with\n"+
		"`cordon emulator` (see the README).\n")
	return nil
}

// verifyCustody prints what `cordon state verify` prints: each incident's
// custody log recomputed, with its entries, its chain head and whether it
// verifies, then where each broken chain breaks. It returns how many are
// broken.
func (d *runner) verifyCustody(ctx context.Context, st state.Store) (int, error) {
	out := d.o.Out
	list, err := st.Incidents(ctx, state.IncidentFilter{})
	if err != nil {
		return 0, err
	}
	var breaks []*state.CustodyBreak
	fmt.Fprintf(out, "  %-22s %-8s %-18s %s\n", "INCIDENT", "ENTRIES", "CHAIN HEAD", "CUSTODY")
	for _, inc := range list {
		entries, evidence, err := state.ReadCustody(ctx, st, inc.ID)
		if err != nil {
			return 0, err
		}
		result := "verified"
		if b := state.VerifyCustody(entries, evidence); b != nil {
			result = "BROKEN"
			breaks = append(breaks, b)
		}
		head := state.CustodyHead(entries)
		if head == "" {
			head = "-"
		}
		fmt.Fprintf(out, "  %-22s %-8d %-18s %s\n", inc.ID, len(entries), shortHash(head), result)
	}
	for _, b := range breaks {
		where := fmt.Sprintf("entry %d (%s %s)", b.Seq, b.Kind, b.Name)
		if b.Seq == 0 {
			where = fmt.Sprintf("evidence record %d (%s %s)", b.EvidenceID, b.Kind, b.Name)
		}
		fmt.Fprintf(out, "\nIncident %s: the chain of custody breaks at %s:\n%s: %s.\n", b.IncidentID, where, b.Problem, b.Detail)
	}
	switch {
	case len(breaks) == 1:
		fmt.Fprintln(out, "\nThe chain of custody of 1 incident is broken.")
	case len(breaks) > 1:
		fmt.Fprintf(out, "\nThe chains of custody of %d incidents are broken.\n", len(breaks))
	default:
		fmt.Fprintf(out, "\nAll %d incidents' chains of custody verify: each entry's hash covers it and the\n"+
			"entry before it, and each piece of evidence still hashes to what was recorded.\n", len(list))
	}
	return len(breaks), nil
}

// printMemory shows what the memory collectors did while planning, before
// anything was applied: the images S3 confirmed, and why any is missing
// (its instance's stop is then withheld, as the plan shows).
func (d *runner) printMemory(p *plan.Plan, data map[string]*plan.IncidentData) {
	first := true
	for _, inc := range p.Incidents {
		facts := data[inc.ID]
		if facts == nil {
			continue
		}
		m, ok := facts.Facts["memory"]
		if !ok {
			continue
		}
		if first {
			fmt.Fprintf(d.o.Out, "\nMemory acquired while planning, before anything is applied:\n")
			first = false
		}
		if e, failed := m["error"].(string); failed {
			fmt.Fprintf(d.o.Out, "  %s: not acquired: %s\n", inc.Finding.Resource.ID, e)
			continue
		}
		size, _ := m["size"].(int64)
		fmt.Fprintf(d.o.Out, "  %s: s3://%s/%s\n    %s, SHA-256 %s\n", inc.Finding.Resource.ID, m["bucket"], m["key"], ui.ByteSize(size), m["sha256"])
	}
}

// printReport prints the head of an incident report: the assessment, the
// scope and the evidence's digests; the timeline follows it.
func (d *runner) printReport(r *report.Report) {
	out := d.o.Out
	if v := r.Verdict; v != nil {
		fmt.Fprintf(out, "Verdict:    %s", v.Verdict)
		if v.Confidence != nil {
			fmt.Fprintf(out, " (confidence %.2f)", *v.Confidence)
		}
		fmt.Fprintln(out)
	}
	for _, line := range []struct{ label, text string }{
		{"Summary", r.Summary}, {"Root cause", r.RootCause}, {"Impact", r.Impact},
	} {
		if line.text != "" {
			fmt.Fprintf(out, "%-11s %s\n", line.label+":", line.text)
		}
	}
	fmt.Fprintf(out, "\nScope:\n")
	for _, res := range r.Scope.Resources {
		fmt.Fprintf(out, "  %-22s %-22s via %s\n", res.ID, res.Type, strings.Join(res.Via, ", "))
	}
	fmt.Fprintf(out, "\nEvidence (SHA-256 as recorded in state):\n")
	for _, c := range r.Facts.Collectors {
		status := "ok"
		if c.Error != "" {
			status = "failed: " + c.Error
		}
		fmt.Fprintf(out, "  facts.%-9s %s  %s\n", c.Name, shortHash(c.SHA256), status)
	}
	for _, a := range r.Evidence.Other {
		if a.Kind == "memory_image" {
			fmt.Fprintf(out, "  memory image %s (%s)\n    SHA-256 %s, computed on the host, checked by S3\n", a.Name, ui.ByteSize(a.Size), a.SHA256)
		}
	}
	for _, s := range r.Evidence.Snapshots {
		fmt.Fprintf(out, "  snapshot %s of %s\n", s.SnapshotID, s.VolumeID)
	}
	if c := r.Custody; c.Head != "" {
		fmt.Fprintf(out, "\nChain of custody: %d entries, head %s\n", len(c.Entries), c.Head)
	}
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

func (d *runner) receive(w http.ResponseWriter, r *http.Request) {
	var s struct {
		IncidentID string                             `json:"incident_id"`
		Finding    struct{ Type string }              `json:"finding"`
		Verdicts   []struct{ Verdict string }         `json:"verdicts"`
		Actions    []struct{ Address, Result string } `json:"actions"`
	}
	json.NewDecoder(r.Body).Decode(&s)
	verdict := "?"
	if len(s.Verdicts) > 0 {
		verdict = s.Verdicts[0].Verdict
	}
	d.mu.Lock()
	d.hooks = append(d.hooks, fmt.Sprintf("%s %s (%s), %d actions reported", s.IncidentID, s.Finding.Type, verdict, len(s.Actions)))
	d.mu.Unlock()
}

// findings reads the demo findings from the embedded starter set.
func (d *runner) findings() ([]*engine.FindingsFile, error) {
	var files []*engine.FindingsFile
	for _, name := range findingFiles {
		var data []byte
		var err error
		if name == "exempt" {
			name, data = "exempt_ci_runner_backdoor.json", exemptFinding
		} else if data, err = fs.ReadFile(policies.Starter(), name); err != nil {
			return nil, err
		}
		ff, err := engine.SplitFindings(filepath.Base(name), data)
		if err != nil {
			return nil, err
		}
		files = append(files, ff)
	}
	return files, nil
}

func (d *runner) printFleet(s *awsemu.State) {
	r := s.Accounts[ProdAccount].Regions[Region]
	for _, id := range sortedKeys(r.Instances) {
		inst := r.Instances[id]
		var groups []string
		for _, eni := range inst.NetworkInterfaces {
			groups = append(groups, r.NetworkInterfaces[eni].Groups...)
		}
		fmt.Fprintf(d.o.Out, "  %s  %-12s %-8s groups %s\n", id, inst.Tags["Name"], inst.State, strings.Join(groups, ","))
	}
}

// printChanges prints what differs between two emulator states: instance
// states, groups, tags and protection, snapshots, access keys, inline
// policies.
func (d *runner) printChanges(a, b *awsemu.State) {
	out := d.o.Out
	ra, rb := a.Accounts[ProdAccount].Regions[Region], b.Accounts[ProdAccount].Regions[Region]
	changes := 0
	for _, id := range sortedKeys(rb.Instances) {
		ia, ib := ra.Instances[id], rb.Instances[id]
		name := fmt.Sprintf("%s (%s)", id, ib.Tags["Name"])
		if ia.State != ib.State {
			fmt.Fprintf(out, "  %s: state %s -> %s\n", name, ia.State, ib.State)
			changes++
		}
		if ia.DisableAPITermination != ib.DisableAPITermination {
			fmt.Fprintf(out, "  %s: termination protection %v -> %v\n", name, ia.DisableAPITermination, ib.DisableAPITermination)
			changes++
		}
		if ia.ShutdownBehavior != ib.ShutdownBehavior {
			fmt.Fprintf(out, "  %s: shutdown behaviour %s -> %s\n", name, ia.ShutdownBehavior, ib.ShutdownBehavior)
			changes++
		}
		for _, v := range sortedKeys(rb.Volumes) {
			va, vb := ra.Volumes[v], rb.Volumes[v]
			if va != nil && va.Attachment != nil && vb.Attachment != nil && vb.Attachment.InstanceID == id &&
				va.Attachment.DeleteOnTermination != vb.Attachment.DeleteOnTermination {
				fmt.Fprintf(out, "  %s: %s delete on termination %v -> %v\n", name, v, va.Attachment.DeleteOnTermination, vb.Attachment.DeleteOnTermination)
				changes++
			}
		}
		for _, eni := range ib.NetworkInterfaces {
			ga, gb := ra.NetworkInterfaces[eni].Groups, rb.NetworkInterfaces[eni].Groups
			if strings.Join(ga, ",") != strings.Join(gb, ",") {
				fmt.Fprintf(out, "  %s: %s security groups %v -> %v\n", name, eni, ga, gb)
				changes++
			}
		}
		for _, k := range sortedKeys(unionKeys(ia.Tags, ib.Tags)) {
			if ia.Tags[k] != ib.Tags[k] {
				fmt.Fprintf(out, "  %s: tag %s %q -> %q\n", name, k, ia.Tags[k], ib.Tags[k])
				changes++
			}
		}
	}
	for _, id := range sortedKeys(rb.Snapshots) {
		if _, old := ra.Snapshots[id]; !old {
			s := rb.Snapshots[id]
			fmt.Fprintf(out, "  new snapshot %s of %s (%d GiB, %s), tagged cordon:incident=%s\n", id, s.VolumeID, s.VolumeSizeGB, s.State, s.Tags["cordon:incident"])
			changes++
		}
	}
	aa, ab := a.Accounts[ProdAccount], b.Accounts[ProdAccount]
	for _, name := range sortedKeys(ab.Users) {
		ua, ub := aa.Users[name], ab.Users[name]
		for i, k := range ub.AccessKeys {
			if i < len(ua.AccessKeys) && ua.AccessKeys[i].Status != k.Status {
				fmt.Fprintf(out, "  user %s: access key %s %s -> %s\n", name, k.ID, ua.AccessKeys[i].Status, k.Status)
				changes++
			}
		}
		for _, p := range sortedKeys(unionKeys(ua.Policies, ub.Policies)) {
			if _, had := ua.Policies[p]; !had {
				fmt.Fprintf(out, "  user %s: inline policy %s attached\n", name, p)
				changes++
			} else if _, has := ub.Policies[p]; !has {
				fmt.Fprintf(out, "  user %s: inline policy %s removed\n", name, p)
				changes++
			}
		}
	}
	for _, name := range sortedKeys(ab.Roles) {
		for _, p := range sortedKeys(unionKeys(aa.Roles[name].Policies, ab.Roles[name].Policies)) {
			_, had := aa.Roles[name].Policies[p]
			_, has := ab.Roles[name].Policies[p]
			if had != has {
				verb := "attached"
				if had {
					verb = "removed"
				}
				fmt.Fprintf(out, "  role %s: inline policy %s %s\n", name, p, verb)
				changes++
			}
		}
	}
	if changes == 0 {
		fmt.Fprintln(out, "  (nothing changed)")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func unionKeys(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k := range a {
		out[k] = ""
	}
	for k := range b {
		out[k] = ""
	}
	return out
}

func diagsText(diags hcl.Diagnostics) string {
	var parts []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			parts = append(parts, d.Error())
		}
	}
	return strings.Join(parts, "; ")
}
