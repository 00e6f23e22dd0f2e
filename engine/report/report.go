// Package report builds an incident's report from what state recorded
// (docs/state.md): the verdicts with their confidence and reasons, the summary,
// root cause and impact, the scope (the affected resources and the other
// findings on them), a timeline merging the finding's own times, the
// collectors' facts and cordon's actions, the digests that keep the
// evidence's chain of custody and the custody log with its head, and every
// action with its before → after and result.
//
// A Report renders as GitHub-flavoured Markdown for a ticket (Markdown),
// as one self-contained HTML file with a visual timeline (HTML), and as a
// stable JSON document for tools (JSON, FormatVersion).
//
// Finding fields and facts are attacker-controlled: a process's cmdline, a
// user agent, an SSH key's comment. The report cleans them on the way in
// (control characters made visible, lengths bounded) and every renderer
// escapes them for its format.
package report

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/schema"
)

// FormatVersion is the version of the report's JSON document. It changes
// only when a key is removed or changes meaning; added keys keep it.
const FormatVersion = "1.0"

// Report is an incident's report. Its JSON form is documented field by
// field here and in the package README.
type Report struct {
	FormatVersion string `json:"format_version"`
	// CordonVersion and GeneratedAt are set by the caller (the CLI); a
	// report built in a test leaves them out.
	CordonVersion string    `json:"cordon_version,omitempty"`
	GeneratedAt   time.Time `json:"generated_at,omitzero"`

	Incident Incident `json:"incident"`
	Finding  Finding  `json:"finding"`
	// Verdict is the most severe of Verdicts (malicious, suspicious,
	// inconclusive, benign), nil when no rule gave one.
	Verdict  *plan.Verdict  `json:"verdict"`
	Verdicts []plan.Verdict `json:"verdicts"`
	// Summary, RootCause and Impact come from the verdicts, the most
	// severe verdict that has each first.
	Summary   string `json:"summary,omitempty"`
	RootCause string `json:"root_cause,omitempty"`
	Impact    string `json:"impact,omitempty"`

	Scope    Scope       `json:"scope"`
	Timeline Events      `json:"timeline"`
	Facts    FactsDigest `json:"facts"`
	Evidence Evidence    `json:"evidence"`
	// Custody is the chain of custody: set by AddCustody.
	Custody Custody  `json:"custody"`
	Actions []Action `json:"actions"`
	// Notes are problems met reading the record: unreadable facts, a
	// digest that does not match. Empty for a sound record.
	Notes []string `json:"notes"`
}

// Incident is the incident as state recorded it.
type Incident struct {
	ID        string         `json:"id"`
	Status    string         `json:"status"`
	Matches   []plan.Match   `json:"matches"`
	CreatedAt time.Time      `json:"created_at,omitzero"`
	UpdatedAt time.Time      `json:"updated_at,omitzero"`
	Actions   map[string]int `json:"actions"`
}

// Finding is what the report shows of the finding.
type Finding struct {
	ID            string           `json:"id"`
	Source        string           `json:"source"`
	Detector      string           `json:"detector"`
	Type          string           `json:"type"`
	Title         string           `json:"title,omitempty"`
	Description   string           `json:"description,omitempty"`
	Severity      string           `json:"severity"`
	SeverityScore float64          `json:"severity_score,omitempty"`
	Account       string           `json:"account,omitempty"`
	Region        string           `json:"region,omitempty"`
	Resource      plan.ResourceRef `json:"resource"`
	// ResourceName is the primary resource's Name tag.
	ResourceName string          `json:"resource_name,omitempty"`
	Count        int             `json:"count,omitempty"`
	CreatedAt    time.Time       `json:"created_at,omitzero"`
	UpdatedAt    time.Time       `json:"updated_at,omitzero"`
	FirstSeen    time.Time       `json:"first_seen,omitzero"`
	LastSeen     time.Time       `json:"last_seen,omitzero"`
	Network      *schema.Network `json:"network,omitempty"`
	Actor        *schema.Actor   `json:"actor,omitempty"`
}

// Scope is what the incident touches.
type Scope struct {
	Resources []Resource `json:"resources"`
	// RelatedFindings are the other findings on the resources
	// (aws_guardduty_related).
	RelatedFindings []RelatedFinding `json:"related_findings"`
	// Indicators are the network and credential indicators the finding
	// and facts name: remote IPs, domains, access keys.
	Indicators []Indicator `json:"indicators"`
}

// Resource is an affected resource.
type Resource struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	ARN  string `json:"arn,omitempty"`
	Name string `json:"name,omitempty"`
	// Primary is set on the finding's primary resource.
	Primary bool `json:"primary,omitempty"`
	// Via says how the report knows of it: "finding",
	// "facts.<collector>", "action.<name>" (an action's target).
	Via []string `json:"via"`
	// Note says more: the CloudTrail events that named it.
	Note string `json:"note,omitempty"`
}

// RelatedFinding is another finding on the incident's resource.
type RelatedFinding struct {
	ID            string    `json:"id"`
	Type          string    `json:"type"`
	Title         string    `json:"title,omitempty"`
	Severity      string    `json:"severity,omitempty"`
	SeverityScore *float64  `json:"severity_score,omitempty"`
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
	Resource      string    `json:"resource"`
	Collector     string    `json:"collector"`
}

// Indicator is an IP address, domain or access key the incident involves.
type Indicator struct {
	Kind  string `json:"kind"` // ip, domain, access_key
	Value string `json:"value"`
	// Seen lists where: "finding remote IP (Romania)", "triage: xmrig
	// → 141.94.96.144:443", "CloudTrail: 4 calls".
	Seen []string `json:"seen"`
}

// FactsDigest is the chain of custody of the facts the verdict used.
type FactsDigest struct {
	// SHA256 is the digest state recorded for the incident's facts.
	SHA256 string `json:"sha256"`
	// Verified tells whether the facts read back hash to SHA256; absent
	// when there was nothing to hash.
	Verified   *bool            `json:"verified,omitempty"`
	Collectors []CollectorFacts `json:"collectors"`
}

// CollectorFacts digests one collector's facts.
type CollectorFacts struct {
	Name string `json:"name"`
	// Type is the collector's type, from the configuration or, when
	// TypeInferred, recognised from the facts' shape.
	Type         string `json:"type,omitempty"`
	TypeInferred bool   `json:"type_inferred,omitempty"`
	// SHA256, Size and RecordedAt come from the collector's facts
	// evidence record; Verified whether its data hashes to SHA256.
	SHA256     string    `json:"sha256,omitempty"`
	Size       int64     `json:"size,omitempty"`
	RecordedAt time.Time `json:"recorded_at,omitzero"`
	Verified   *bool     `json:"verified,omitempty"`
	// Summary says what the facts hold ("142 processes, 18 connections").
	Summary string `json:"summary,omitempty"`
	// Error is the collector's own error: it failed, and the verdict went
	// without its evidence.
	Error string `json:"error,omitempty"`
	// Problem is why the report could not read the facts (fully).
	Problem string `json:"problem,omitempty"`
	// Skipped are the files a triage did not read, links and special
	// files first (see SkippedFile); SkippedOmitted counts those past the
	// report's bound.
	Skipped        []SkippedFile `json:"skipped,omitempty"`
	SkippedOmitted int           `json:"skipped_omitted,omitempty"`
}

// Evidence is what was acquired besides facts.
type Evidence struct {
	Snapshots   []Snapshot   `json:"snapshots"`
	Screenshots []Screenshot `json:"screenshots"`
	// ScreenshotErrors are the console screenshots that could not be
	// taken (aws_ec2_console's screenshot_error fact): a stopped or bare
	// metal instance, a missing permission.
	ScreenshotErrors []ScreenshotError `json:"screenshot_errors"`
	// Other lists evidence records of other kinds.
	Other []Artefact `json:"other"`
}

// Snapshot is an EBS snapshot taken as evidence.
type Snapshot struct {
	SnapshotID string    `json:"snapshot_id"`
	VolumeID   string    `json:"volume_id,omitempty"`
	Device     string    `json:"device,omitempty"`
	State      string    `json:"state,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	// TakenBy says what took it: "facts.<collector>" or an action's
	// address; "evidence" for a record only state has.
	TakenBy []string `json:"taken_by"`
}

// Screenshot is a console screenshot kept in state.
type Screenshot struct {
	Name string `json:"name"`
	// InstanceID is the instance it is of, from the evidence's metadata.
	InstanceID string `json:"instance_id,omitempty"`
	// ContentType is image/jpeg (what EC2 returns) or image/png, read
	// from the image's own bytes; empty when they are neither (or were
	// not read), whatever the metadata claims.
	ContentType string    `json:"content_type,omitempty"`
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	RecordedAt  time.Time `json:"recorded_at,omitzero"`
	Verified    *bool     `json:"verified,omitempty"`
	// Image is the image, when it is a PNG or JPEG small enough to embed
	// in the HTML report; not part of the JSON.
	Image []byte `json:"-"`
}

// ScreenshotError is a console screenshot that could not be taken.
type ScreenshotError struct {
	Collector string `json:"collector"`
	Error     string `json:"error"`
}

// Artefact is an evidence record of another kind.
type Artefact struct {
	Kind       string          `json:"kind"`
	Name       string          `json:"name"`
	SHA256     string          `json:"sha256,omitempty"`
	Size       int64           `json:"size,omitempty"`
	RecordedAt time.Time       `json:"recorded_at,omitzero"`
	Verified   *bool           `json:"verified,omitempty"`
	Meta       json.RawMessage `json:"meta,omitempty"`
}

// Action is one action record: an apply or a revert of a planned action.
type Action struct {
	ID      int64          `json:"id"`
	Kind    state.Kind     `json:"kind"`
	Address string         `json:"address"`
	Action  string         `json:"action"`
	Type    string         `json:"type"`
	Phase   string         `json:"phase"`
	Target  actions.Target `json:"target"`
	// RevertOf is, for a revert, the id of the record it undid.
	RevertOf   int64           `json:"revert_of,omitempty"`
	Result     state.Result    `json:"result"`
	Error      string          `json:"error,omitempty"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	Changes    []Change        `json:"changes"`
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after,omitempty"`
}

// Change is one attribute an action changed.
type Change struct {
	Attribute string          `json:"attribute"`
	Before    json.RawMessage `json:"before,omitempty"`
	After     json.RawMessage `json:"after,omitempty"`
}

// maxScreenshotEmbed bounds a screenshot embedded in the HTML report.
// Console screenshots are tens of kilobytes.
const maxScreenshotEmbed = 8 << 20

// Build makes the report of an incident. d is what state recorded
// (Store.Incident), evidence its evidence with data (Store.Evidence; nil
// reports without verifying digests or embedding the screenshot), and
// collectorTypes maps collector block names to their types (the
// configuration's collectors; see Timeline).
func Build(d *state.IncidentDetail, evidence []state.Evidence, collectorTypes map[string]string) *Report {
	inc := &d.Incident
	r := &Report{
		FormatVersion: FormatVersion,
		Incident: Incident{
			ID: inc.ID, Status: string(d.Status), Matches: nonNil(inc.Matches),
			CreatedAt: inc.CreatedAt.UTC(), UpdatedAt: inc.UpdatedAt.UTC(),
		},
		Verdicts: nonNil(inc.Verdicts),
		Custody:  Custody{Entries: []CustodyEntry{}},
		Notes:    []string{},
	}
	if len(evidence) == 0 {
		evidence = d.Evidence
	}

	f := decodeFinding(inc.FindingData)
	if f == nil && len(bytes.TrimSpace(inc.FindingData)) > 0 && string(bytes.TrimSpace(inc.FindingData)) != "null" {
		r.note("The recorded finding is not a normalized finding; the report shows its summary only.")
	}
	r.Finding = findingOf(inc, f)

	facts, err := decodeFacts(inc.Facts, collectorTypes)
	if err != nil {
		r.note(err.Error())
	}
	if len(inc.Facts) == 0 && len(facts) == 0 {
		facts = factsFromEvidence(evidence, collectorTypes)
	}

	r.verdicts()
	r.Scope = buildScope(inc, f, facts, d.Actions)
	r.Timeline = buildTimeline(d, f, facts, DefaultLimit)
	r.Facts = buildFactsDigest(inc, facts, evidence, r)
	r.Evidence = buildEvidence(facts, evidence, d.Actions, r)
	r.Actions = buildActions(d.Actions)
	r.Incident.Actions = map[string]int{}
	for _, a := range r.Actions {
		if a.Kind == state.KindRevert {
			if a.Result == state.ResultApplied || a.Result == state.ResultRecovered {
				r.Incident.Actions["reverted"]++
			} else {
				r.Incident.Actions["revert "+string(a.Result)]++
			}
			continue
		}
		r.Incident.Actions[string(a.Result)]++
	}
	for _, c := range r.Facts.Collectors {
		if c.Problem != "" {
			r.note(fmt.Sprintf("Facts of collector %q: %s.", c.Name, c.Problem))
		}
	}
	if r.Timeline.Omitted > 0 {
		r.note(fmt.Sprintf("The timeline shows %d of %d entries: the %d furthest from the finding's activity window are left out (%s).",
			len(r.Timeline.Entries), r.Timeline.Total, r.Timeline.Omitted, omittedText(r.Timeline.OmittedBySource)))
	}
	return r
}

func (r *Report) note(s string) { r.Notes = append(r.Notes, s) }

func omittedText(m map[Source]int) string {
	var parts []string
	for _, s := range Sources() {
		if n := m[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s.Label()))
		}
	}
	return strings.Join(parts, ", ")
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func findingOf(inc *state.Incident, f *findingData) Finding {
	fs := inc.Finding
	out := Finding{
		ID: fs.ID, Source: fs.Source, Type: fs.Type, Severity: fs.Severity,
		Account: fs.Account, Region: fs.Region, Resource: fs.Resource,
	}
	if f == nil {
		out.Detector = (&findingData{Finding: schema.Finding{Source: fs.Source}}).detector()
		return out
	}
	out.Detector = f.detector()
	out.Title = clean(f.Title, maxDetail)
	out.Description = clean(f.Description, maxDetail)
	out.SeverityScore = f.SeverityScore
	out.Count = f.Count
	out.CreatedAt, out.UpdatedAt = f.CreatedAt, f.UpdatedAt
	out.FirstSeen, out.LastSeen = f.FirstSeen, f.LastSeen
	out.ResourceName = clean(f.Resource.Tags["Name"], maxTitle)
	if f.Network != nil {
		n := *f.Network
		n.Domain = clean(n.Domain, maxTitle)
		n.RemoteCountry = clean(n.RemoteCountry, maxTitle)
		out.Network = &n
	}
	if f.Actor != nil {
		a := *f.Actor
		a.User = clean(a.User, maxTitle)
		out.Actor = &a
	}
	cmpOr := func(a, b string) string { return cmp.Or(a, b) }
	out.Type = cmpOr(out.Type, f.Type)
	out.Severity = cmpOr(out.Severity, f.Severity)
	out.Account = cmpOr(out.Account, f.Account)
	out.Region = cmpOr(out.Region, f.Region)
	return out
}

// verdictRank orders verdicts from the most to the least severe.
func verdictRank(v string) int {
	switch v {
	case "malicious":
		return 0
	case "suspicious":
		return 1
	case "inconclusive":
		return 2
	case "benign":
		return 3
	}
	return 4
}

// headline returns the most severe verdict, the first of equals.
func headline(vs []plan.Verdict) *plan.Verdict {
	var best *plan.Verdict
	for i := range vs {
		if best == nil || verdictRank(vs[i].Verdict) < verdictRank(best.Verdict) {
			best = &vs[i]
		}
	}
	return best
}

func (r *Report) verdicts() {
	if v := headline(r.Verdicts); v != nil {
		c := *v
		r.Verdict = &c
	}
	sorted := slices.Clone(r.Verdicts)
	slices.SortStableFunc(sorted, func(a, b plan.Verdict) int { return cmp.Compare(verdictRank(a.Verdict), verdictRank(b.Verdict)) })
	for _, v := range sorted {
		r.Summary = cmp.Or(r.Summary, v.Summary)
		r.RootCause = cmp.Or(r.RootCause, v.RootCause)
		r.Impact = cmp.Or(r.Impact, v.Impact)
	}
}

// factsFromEvidence rebuilds the facts from their evidence records when
// the incident record has none (an incident recorded before facts were
// kept with it).
func factsFromEvidence(evidence []state.Evidence, types map[string]string) []*collectorFacts {
	var out []*collectorFacts
	for _, ev := range evidence {
		if ev.Kind == "facts" && len(ev.Data) > 0 {
			out = append(out, decodeCollector(ev.Name, types[ev.Name], ev.Data))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// --- scope ---

type scopeBuilder struct {
	resources []Resource
	index     map[string]int
}

func (s *scopeBuilder) add(r Resource, via string) *Resource {
	r.Type, r.ID = clean(r.Type, maxTitle), clean(r.ID, maxTitle)
	if r.ID == "" {
		return nil
	}
	key := r.Type + "\x00" + r.ID
	if i, ok := s.index[key]; ok {
		e := &s.resources[i]
		if !slices.Contains(e.Via, via) {
			e.Via = append(e.Via, via)
		}
		e.ARN = cmp.Or(e.ARN, r.ARN)
		e.Name = cmp.Or(e.Name, r.Name)
		return e
	}
	r.Via = []string{via}
	s.index[key] = len(s.resources)
	s.resources = append(s.resources, r)
	return &s.resources[len(s.resources)-1]
}

func buildScope(inc *state.Incident, f *findingData, facts []*collectorFacts, acts []state.ActionRecord) Scope {
	s := &scopeBuilder{index: map[string]int{}}
	primary := inc.Finding.Resource
	if f != nil {
		for _, res := range f.Resources {
			s.add(Resource{Type: res.Type, ID: res.ID, ARN: clean(res.ARN, maxTitle), Name: clean(res.Tags["Name"], maxTitle)}, "finding")
		}
		if primary.ID == "" {
			primary = plan.ResourceRef{Type: f.Resource.Type, ID: f.Resource.ID}
		}
	}
	if p := s.add(Resource{Type: primary.Type, ID: primary.ID}, "finding"); p != nil {
		p.Primary = true
	}
	ind := newIndicators()
	if f != nil {
		ind.finding(f)
	}
	var related []RelatedFinding
	for _, c := range facts {
		via := "facts." + c.name
		switch {
		case c.describe != nil:
			d := c.describe
			for _, v := range d.Volumes {
				s.add(Resource{Type: schema.ResourceEBSVolume, ID: v.ID, Name: v.Device}, via)
			}
			for _, n := range d.NetworkInterfaces {
				s.add(Resource{Type: "aws_network_interface", ID: n.ID}, via)
			}
			if p := d.IAMInstanceProfile; p != nil && p.RoleName != "" {
				s.add(Resource{Type: schema.ResourceIAMRole, ID: p.RoleName}, via)
			}
			if d.AutoscalingGroup != "" {
				s.add(Resource{Type: "aws_autoscaling_group", ID: d.AutoscalingGroup}, via)
			}
			for _, tg := range d.TargetGroups {
				s.add(Resource{Type: "aws_lb_target_group", ID: tg, ARN: tg}, via)
			}
			for _, lb := range d.LoadBalancers {
				s.add(Resource{Type: "aws_elb", ID: lb}, via)
			}
		case c.cloudtrail != nil:
			named := map[string][]string{}
			var order []string
			for _, e := range c.cloudtrail.Events {
				ind.cloudtrail(e.SourceIP, e.AccessKeyID)
				for _, raw := range e.Resources {
					ref, ok := trailResource(raw)
					if !ok {
						continue
					}
					key := ref.Type + "\x00" + ref.ID
					if _, seen := named[key]; !seen {
						order = append(order, key)
					}
					if n := clean(e.EventName, 100); n != "" && !slices.Contains(named[key], n) && len(named[key]) < 10 {
						named[key] = append(named[key], n)
					}
				}
			}
			for _, key := range order {
				typ, id, _ := strings.Cut(key, "\x00")
				if res := s.add(Resource{Type: typ, ID: id}, via); res != nil && res.Note == "" && len(named[key]) > 0 {
					res.Note = "named by " + strings.Join(named[key], ", ")
				}
			}
		case c.triage != nil:
			ind.triage(c.triage)
		case c.related != nil:
			for _, rf := range c.related.Findings {
				related = append(related, RelatedFinding{
					ID: clean(rf.ID, maxTitle), Type: clean(rf.Type, maxTitle), Title: clean(rf.Title, maxDetail),
					Severity: clean(rf.Severity, 40), SeverityScore: rf.SeverityScore, UpdatedAt: rf.UpdatedAt.t,
					Resource: primary.ID, Collector: c.name,
				})
			}
		}
	}
	for _, a := range acts {
		if a.Target.ID != "" {
			s.add(Resource{Type: a.Target.Type, ID: a.Target.ID}, "action."+a.Action)
		}
	}
	slices.SortStableFunc(related, func(a, b RelatedFinding) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	return Scope{Resources: nonNil(s.resources), RelatedFindings: nonNil(related), Indicators: ind.list()}
}

// trailResources maps CloudTrail's resource types to Terraform's names.
var trailResources = map[string]string{
	"AWS::EC2::Instance":      schema.ResourceInstance,
	"AWS::EC2::Volume":        schema.ResourceEBSVolume,
	"AWS::EC2::SecurityGroup": "aws_security_group",
	"AWS::IAM::AccessKey":     schema.ResourceAccessKey,
	"AWS::IAM::User":          schema.ResourceIAMUser,
	"AWS::IAM::Role":          schema.ResourceIAMRole,
	"AWS::IAM::Policy":        "aws_iam_policy",
	"AWS::S3::Bucket":         schema.ResourceS3Bucket,
	"AWS::S3::Object":         "aws_s3_object",
	"AWS::Lambda::Function":   schema.ResourceLambda,
	"AWS::RDS::DBInstance":    schema.ResourceDBInstance,
	"AWS::KMS::Key":           "aws_kms_key",
	"AWS::CloudTrail::Trail":  "aws_cloudtrail",
}

// trailResource reads a resource of a CloudTrail event as the collector
// gives it: an object with a type and a name (in CloudTrail's or snake
// case), or a bare ARN or name.
func trailResource(v any) (plan.ResourceRef, bool) {
	switch v := v.(type) {
	case string:
		if v == "" {
			return plan.ResourceRef{}, false
		}
		return plan.ResourceRef{Type: "aws_resource", ID: clean(v, maxTitle)}, true
	case map[string]any:
		str := func(keys ...string) string {
			for _, k := range keys {
				if s, ok := v[k].(string); ok && s != "" {
					return s
				}
			}
			return ""
		}
		typ := str("type", "resource_type", "ResourceType")
		name := str("name", "resource_name", "ResourceName", "id", "arn", "ARN")
		if name == "" {
			return plan.ResourceRef{}, false
		}
		if t, ok := trailResources[typ]; ok {
			typ = t
		}
		return plan.ResourceRef{Type: clean(cmp.Or(typ, "aws_resource"), 100), ID: clean(name, maxTitle)}, true
	}
	return plan.ResourceRef{}, false
}

// indicators gathers IPs, domains and access keys, each with where it was
// seen, in first-seen order.
type indicators struct {
	items []Indicator
	index map[string]int
	// trail counts CloudTrail calls per source IP and access key, told
	// as one line each at the end.
	trail      map[string]int
	trailOrder []string
}

const maxIndicators = 200

func newIndicators() *indicators {
	return &indicators{index: map[string]int{}, trail: map[string]int{}}
}

func (in *indicators) add(kind, value, seen string) {
	value = clean(value, maxTitle)
	if value == "" {
		return
	}
	key := kind + "\x00" + value
	i, ok := in.index[key]
	if !ok {
		if len(in.items) == maxIndicators {
			return
		}
		i = len(in.items)
		in.index[key] = i
		in.items = append(in.items, Indicator{Kind: kind, Value: value, Seen: []string{}})
	}
	if seen = clean(seen, maxTitle); !slices.Contains(in.items[i].Seen, seen) && len(in.items[i].Seen) < 10 {
		in.items[i].Seen = append(in.items[i].Seen, seen)
	}
}

func (in *indicators) finding(f *findingData) {
	if n := f.Network; n != nil {
		if n.RemoteIP != "" {
			seen := "finding: remote IP"
			if n.RemoteCountry != "" {
				seen += " (" + n.RemoteCountry + ")"
			}
			in.add("ip", n.RemoteIP, seen)
		}
		if n.Domain != "" {
			in.add("domain", n.Domain, "finding: domain queried")
		}
	}
	if a := f.Actor; a != nil {
		if a.IP != "" {
			in.add("ip", a.IP, "finding: caller IP")
		}
		if a.AccessKeyID != "" {
			in.add("access_key", a.AccessKeyID, "finding: access key used")
		}
	}
}

// public reports whether s is an IP address on the internet: private,
// loopback, link-local and unspecified addresses are no indicators, and
// CloudTrail gives service names ("ec2.amazonaws.com") as source IPs.
func public(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	return !(a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast())
}

func (in *indicators) triage(t *triageFacts) {
	names := map[int64]string{}
	for _, p := range t.Processes {
		names[p.PID] = cmp.Or(p.Name, p.Exe)
	}
	for _, c := range t.Connections {
		if !public(c.RemoteIP) {
			continue
		}
		seen := fmt.Sprintf("triage: %s:%d %s", c.RemoteIP, c.RemotePort, c.State)
		if n := names[c.PID]; n != "" {
			seen = fmt.Sprintf("triage: %s (pid %d) → %s:%d %s", n, c.PID, c.RemoteIP, c.RemotePort, c.State)
		}
		in.add("ip", c.RemoteIP, strings.TrimSpace(seen))
	}
	for _, l := range t.Logins {
		if public(l.From) {
			what := "login"
			if l.Success != nil && !*l.Success {
				what = "failed login"
			}
			in.add("ip", l.From, "triage: "+what+" as "+l.User)
		}
	}
	for _, u := range t.Users {
		if public(u.From) {
			in.add("ip", u.From, "triage: session of "+u.Name)
		}
	}
}

func (in *indicators) cloudtrail(ip, key string) {
	for _, k := range []string{"ip\x00" + ip, "access_key\x00" + key} {
		if strings.HasSuffix(k, "\x00") || (strings.HasPrefix(k, "ip\x00") && !public(ip)) {
			continue
		}
		if in.trail[k] == 0 {
			in.trailOrder = append(in.trailOrder, k)
		}
		in.trail[k]++
	}
}

func (in *indicators) list() []Indicator {
	for _, k := range in.trailOrder {
		kind, value, _ := strings.Cut(k, "\x00")
		in.add(kind, value, "CloudTrail: "+count(in.trail[k], "call", "calls"))
	}
	return nonNil(in.items)
}

// --- facts digest and evidence ---

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func verified(data []byte, digest string) *bool {
	if data == nil || digest == "" {
		return nil
	}
	ok := strings.EqualFold(sha256Hex(data), digest)
	return &ok
}

func buildFactsDigest(inc *state.Incident, facts []*collectorFacts, evidence []state.Evidence, r *Report) FactsDigest {
	out := FactsDigest{SHA256: inc.FactsSHA256, Collectors: []CollectorFacts{}}
	if len(inc.Facts) > 0 && inc.FactsSHA256 != "" {
		out.Verified = verified(inc.Facts, inc.FactsSHA256)
		if !*out.Verified {
			r.note("The incident's facts do not hash to the digest state recorded for them: they were changed after they were recorded.")
		}
	}
	records := map[string]*state.Evidence{}
	for i := range evidence {
		if evidence[i].Kind == "facts" {
			records[evidence[i].Name] = &evidence[i]
		}
	}
	seen := map[string]bool{}
	for _, c := range facts {
		seen[c.name] = true
		cf := CollectorFacts{Name: clean(c.name, maxTitle), Type: c.typ, TypeInferred: c.inferred,
			Summary: c.summary(), Error: c.err, Problem: c.problem}
		cf.Skipped, cf.SkippedOmitted = c.skipped()
		if ev := records[c.name]; ev != nil {
			cf.SHA256, cf.Size, cf.RecordedAt = ev.SHA256, ev.Size, ev.CreatedAt.UTC()
			cf.Verified = verified(ev.Data, ev.SHA256)
		}
		out.Collectors = append(out.Collectors, cf)
	}
	// Facts evidence of collectors the incident record does not list.
	for _, ev := range evidence {
		if ev.Kind == "facts" && !seen[ev.Name] {
			seen[ev.Name] = true
			out.Collectors = append(out.Collectors, CollectorFacts{Name: clean(ev.Name, maxTitle), SHA256: ev.SHA256, Size: ev.Size,
				RecordedAt: ev.CreatedAt.UTC(), Verified: verified(ev.Data, ev.SHA256), Problem: "recorded as evidence but not among the incident's facts"})
		}
	}
	for _, c := range out.Collectors {
		if c.Verified != nil && !*c.Verified {
			r.note(fmt.Sprintf("The facts evidence of collector %q does not hash to its recorded digest.", c.Name))
		}
	}
	return out
}

var (
	pngSignature  = []byte("\x89PNG\r\n\x1a\n")
	jpegSignature = []byte{0xff, 0xd8, 0xff}
)

// imageType names an image's MIME type by its signature: the screenshot
// bytes decide, not the metadata stored beside them, since only a known
// image type may go into a data: URI.
func imageType(b []byte) string {
	switch {
	case bytes.HasPrefix(b, pngSignature):
		return "image/png"
	case bytes.HasPrefix(b, jpegSignature):
		return "image/jpeg"
	}
	return ""
}

func buildEvidence(facts []*collectorFacts, evidence []state.Evidence, acts []state.ActionRecord, r *Report) Evidence {
	out := Evidence{Snapshots: []Snapshot{}, Screenshots: []Screenshot{}, ScreenshotErrors: []ScreenshotError{}, Other: []Artefact{}}
	for _, c := range facts {
		if c.console != nil && c.console.ScreenshotError != "" {
			out.ScreenshotErrors = append(out.ScreenshotErrors, ScreenshotError{Collector: clean(c.name, maxTitle), Error: clean(c.console.ScreenshotError, maxDetail)})
		}
	}
	snaps := map[string]int{}
	addSnap := func(s snapshotFacts, by string) {
		id := clean(s.SnapshotID, maxTitle)
		if id == "" {
			return
		}
		if i, ok := snaps[id]; ok {
			e := &out.Snapshots[i]
			if !slices.Contains(e.TakenBy, by) {
				e.TakenBy = append(e.TakenBy, by)
			}
			e.VolumeID = cmp.Or(e.VolumeID, clean(s.VolumeID, maxTitle))
			e.Device = cmp.Or(e.Device, clean(s.Device, maxTitle))
			if e.StartedAt.IsZero() {
				e.StartedAt = s.StartedAt.t
			}
			return
		}
		snaps[id] = len(out.Snapshots)
		out.Snapshots = append(out.Snapshots, Snapshot{SnapshotID: id, VolumeID: clean(s.VolumeID, maxTitle),
			Device: clean(s.Device, maxTitle), State: clean(s.State, 40), StartedAt: s.StartedAt.t, TakenBy: []string{by}})
	}
	for _, c := range facts {
		if c.acquire != nil {
			for _, s := range c.acquire.Snapshots {
				addSnap(s, "facts."+c.name)
			}
		}
	}
	// aws_ec2_snapshot actions record their snapshots in the after-state,
	// in the aws_ebs_acquire shape.
	for _, a := range acts {
		if a.Kind != state.KindApply || len(a.After) == 0 {
			continue
		}
		var after struct {
			Snapshots []snapshotFacts `json:"snapshots"`
		}
		if json.Unmarshal(a.After, &after) == nil {
			for _, s := range after.Snapshots {
				addSnap(s, clean(a.Address, maxTitle))
			}
		}
	}
	for _, ev := range evidence {
		switch ev.Kind {
		case "facts":
		case "snapshot":
			var meta snapshotFacts
			json.Unmarshal(ev.Meta, &meta)
			meta.SnapshotID = cmp.Or(meta.SnapshotID, ev.Name)
			addSnap(meta, "evidence")
		case "screenshot":
			var meta struct {
				InstanceID  string `json:"instance_id"`
				ContentType string `json:"content_type"`
			}
			json.Unmarshal(ev.Meta, &meta)
			s := Screenshot{Name: clean(ev.Name, maxTitle), InstanceID: clean(meta.InstanceID, maxTitle), ContentType: imageType(ev.Data),
				SHA256: ev.SHA256, Size: ev.Size, RecordedAt: ev.CreatedAt.UTC(), Verified: verified(ev.Data, ev.SHA256)}
			if s.Verified != nil && !*s.Verified {
				r.note(fmt.Sprintf("Screenshot %q does not hash to its recorded digest.", s.Name))
			}
			if ct := strings.TrimSpace(meta.ContentType); ct != "" && s.ContentType != "" && !strings.EqualFold(ct, s.ContentType) {
				r.note(fmt.Sprintf("Screenshot %q is recorded as %s but is %s.", s.Name, clean(ct, 100), s.ContentType))
			}
			if len(ev.Data) > 0 && s.ContentType == "" {
				r.note(fmt.Sprintf("Screenshot %q is neither a PNG nor a JPEG image: it is not shown.", s.Name))
			}
			if s.ContentType != "" && len(ev.Data) <= maxScreenshotEmbed && (s.Verified == nil || *s.Verified) {
				s.Image = ev.Data
			}
			out.Screenshots = append(out.Screenshots, s)
		default:
			a := Artefact{Kind: clean(ev.Kind, 100), Name: clean(ev.Name, maxTitle), SHA256: ev.SHA256, Size: ev.Size,
				RecordedAt: ev.CreatedAt.UTC(), Verified: verified(ev.Data, ev.SHA256)}
			if json.Valid(ev.Meta) && len(ev.Meta) <= 4096 {
				a.Meta = ev.Meta
			}
			out.Other = append(out.Other, a)
		}
	}
	return out
}

// --- actions ---

func buildActions(recs []state.ActionRecord) []Action {
	out := make([]Action, 0, len(recs))
	for _, a := range recs {
		act := Action{
			ID: a.ID, Kind: a.Kind, Address: clean(a.Address, maxTitle), Action: a.Action, Type: a.Type, Phase: a.Phase,
			Target: a.Target, RevertOf: a.RevertOf, Result: a.Result, Error: clean(a.Error, maxDetail),
			StartedAt: a.StartedAt.UTC(), Changes: changes(a.Before, a.After), Before: validJSON(a.Before), After: validJSON(a.After),
		}
		if a.FinishedAt != nil {
			t := a.FinishedAt.UTC()
			act.FinishedAt = &t
		}
		out = append(out, act)
	}
	return out
}

func validJSON(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return nil
	}
	return buf.Bytes()
}

// changes lists the top-level attributes whose values differ between
// before and after, in name order. Values are compared as canonical JSON.
func changes(before, after json.RawMessage) []Change {
	var b, a map[string]json.RawMessage
	json.Unmarshal(before, &b)
	json.Unmarshal(after, &a)
	keys := make([]string, 0, len(b)+len(a))
	for k := range b {
		keys = append(keys, k)
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := []Change{}
	for _, k := range keys {
		bv, av := canonical(b[k]), canonical(a[k])
		if bytes.Equal(bv, av) {
			continue
		}
		out = append(out, Change{Attribute: clean(k, maxTitle), Before: bv, After: av})
	}
	return out
}

// canonical re-encodes a JSON value with sorted keys and no spaces.
func canonical(v json.RawMessage) json.RawMessage {
	if len(v) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var x any
	if d.Decode(&x) != nil {
		return nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(x) != nil {
		return nil
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
