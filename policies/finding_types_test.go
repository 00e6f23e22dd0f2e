package policies_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/schema"
)

// findingTypesFile lists GuardDuty's documented finding types by family
// (its header says where from and when).
const findingTypesFile = "testdata/guardduty_finding_types.txt"

// findingType is one line of findingTypesFile.
type findingType struct {
	Family, Type string
	Line         int
}

// familyRules are the families of findingTypesFile and the starter rule
// that must take each: by the finding's target kind where one family
// spans several (Malware Protection for EC2 scans instances and container
// workloads).
var familyRules = map[string]func(kind string) string{
	"EC2":             func(string) string { return "ec2_compromise" },
	"IAM":             func(string) string { return "iam_credential_compromise" },
	"Attack sequence": func(string) string { return "attack_sequence" },
	"S3 Protection":   func(string) string { return "s3_exposure" },
	"EKS Protection":  func(string) string { return "kubernetes_threat" },
	"Runtime Monitoring": func(string) string {
		return "runtime_threat"
	},
	"Malware Protection for EC2": func(kind string) string {
		if kind == "EC2" {
			return "ec2_compromise"
		}
		return "runtime_threat"
	},
	"Malware Protection for S3":     func(string) string { return "s3_malware" },
	"Malware Protection for Backup": func(string) string { return "backup_malware" },
	"RDS Protection":                func(string) string { return "rds_threat" },
	"Lambda Protection":             func(string) string { return "lambda_threat" },
}

// notifyOnly are the families whose findings are about resources cordon
// has no action for (Malware Protection for Backup's snapshots, AMIs and
// recovery points): they plan a notification and nothing that changes
// anything, whatever the verdict.
var notifyOnly = map[string]bool{"Malware Protection for Backup": true}

var findingTypeRx = regexp.MustCompile(`^[A-Za-z]+:[A-Za-z0-9]+/[A-Za-z0-9.&!]+$`)

// parseFindingTypes reads a finding types list: "# comments", "[family]"
// headings of a known family, and a finding type a line under one.
func parseFindingTypes(name string, r io.Reader) ([]findingType, error) {
	var (
		out    []findingType
		family string
		seen   = map[string]int{}
		sc     = bufio.NewScanner(r)
		line   int
	)
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		switch {
		case text == "" || strings.HasPrefix(text, "#"):
			continue
		case strings.HasPrefix(text, "[") && strings.HasSuffix(text, "]"):
			family = strings.TrimSpace(text[1 : len(text)-1])
			if _, ok := familyRules[family]; !ok {
				return nil, fmt.Errorf("%s:%d: unknown family %q", name, line, family)
			}
		case family == "":
			return nil, fmt.Errorf("%s:%d: finding type %q before any [family] heading", name, line, text)
		case !findingTypeRx.MatchString(text):
			return nil, fmt.Errorf("%s:%d: %q is not a GuardDuty finding type (ThreatPurpose:ResourceTypeAffected/ThreatFamilyName)", name, line, text)
		case seen[text] > 0:
			return nil, fmt.Errorf("%s:%d: %s is listed again (first on line %d)", name, line, text, seen[text])
		default:
			seen[text] = line
			out = append(out, findingType{Family: family, Type: text, Line: line})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no finding types", name)
	}
	return out, nil
}

func TestParseFindingTypes(t *testing.T) {
	for _, tt := range []struct {
		name, text, err string
		want            int
	}{
		{"good", "# c\n\n[EC2]\nBackdoor:EC2/C&CActivity.B!DNS\n[IAM]\nRecon:IAMUser/TorIPCaller\n", "", 2},
		{"unknown family", "[Bedrock]\nX:Y/Z\n", `list:1: unknown family "Bedrock"`, 0},
		{"type before a family", "Backdoor:EC2/Spambot\n", `list:1: finding type "Backdoor:EC2/Spambot" before any [family] heading`, 0},
		{"not a type", "[EC2]\nBackdoor EC2 Spambot\n", `list:2: "Backdoor EC2 Spambot" is not a GuardDuty finding type`, 0},
		{"repeated", "[EC2]\nBackdoor:EC2/Spambot\n[IAM]\nBackdoor:EC2/Spambot\n", "list:4: Backdoor:EC2/Spambot is listed again (first on line 2)", 0},
		{"empty", "# nothing\n", "list: no finding types", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFindingTypes("list", strings.NewReader(tt.text))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("got %d types, %v; want %d", len(got), err, tt.want)
			}
		})
	}
}

// template is a recorded finding whose resource suits a family: the type,
// severity, id and sample mark are set on a copy for each plan.
type template struct {
	name string
	file string // under policies/ (testdata/findings) or the repository's testdata
	edit func(m map[string]any)
	// resource, when set, is the primary resource the finding's plan must
	// show.
	resource plan.ResourceRef
}

func starterTemplate(name, file string) template {
	return template{name: name, file: filepath.Join("testdata", "findings", file)}
}

// The repository's container fixtures (schema/'s, written from GuardDuty's
// documented format), for the container shapes the starter's own
// recordings do not have.
func repoTemplate(name, file string) template {
	return template{name: name, file: filepath.Join("..", "testdata", "findings", file)}
}

var (
	instanceTemplate     = starterTemplate("instance", "ec2_backdoor_cnc_dns.json")
	volumeScanTemplate   = starterTemplate("instance_volume_scan", "ec2_malicious_file.json")
	ecsOnEC2Template     = starterTemplate("ecs_task_on_ec2", "runtime_ecs_reverse_shell.json")
	fargateTemplate      = starterTemplate("ecs_task_on_fargate", "runtime_fargate_suspicious_command.json")
	eksPodTemplate       = repoTemplate("eks_pod_on_node", "cordon_guardduty_Execution_Runtime_ReverseShell_EKS.json")
	dockerTemplate       = repoTemplate("container_on_ec2", "cordon_guardduty_CryptoCurrency_Runtime_BitcoinTool.B_Container_EC2.json")
	eksAuditTemplate     = starterTemplate("eks_cluster", "eks_exec_in_kube_system_pod.json")
	rdsTemplate          = starterTemplate("db_instance", "rds_successful_brute_force.json")
	lambdaTemplate       = starterTemplate("lambda_function", "lambda_cnc_activity.json")
	bucketTemplate       = starterTemplate("bucket_and_caller_key", "s3_exfiltration_malicious_ip_caller.json")
	objectTemplate       = starterTemplate("s3_object", "s3_object_malicious_file.json")
	accessKeyTemplate    = starterTemplate("access_key", "iam_discovery_anomalous_behavior.json")
	credentialsSequence  = starterTemplate("sequence_key_and_bucket", "attack_sequence_iam_compromised_credentials.json")
	instanceGroupSequece = starterTemplate("sequence_instances", "attack_sequence_ec2_compromised_instance_group.json")
)

// clusterSequence is an attack sequence naming a cluster and a container
// of it first, as GuardDuty's EKS and ECS sequences do.
func clusterSequence(name, clusterType, clusterUID string) template {
	t := credentialsSequence
	t.name = name
	t.edit = func(m map[string]any) {
		seq := m["service"].(map[string]any)["detection"].(map[string]any)["sequence"].(map[string]any)
		seq["resources"] = []any{
			map[string]any{"uid": clusterUID, "name": filepath.Base(clusterUID), "resourceType": clusterType, "accountId": "123456789012", "region": "us-west-2"},
			map[string]any{"uid": "9b8a7c6d5e4f", "name": "api", "resourceType": "CONTAINER", "accountId": "123456789012", "region": "us-west-2"},
		}
	}
	return t
}

// backupTemplate is a Malware Protection for Backup finding, schema/'s
// recording (written from GuardDuty's documented format: its SOURCES.md),
// whose plan must show the scanned snapshot, AMI or recovery point as the
// finding's resource.
func backupTemplate(name, file, resourceType, id string) template {
	return template{
		name:     name,
		file:     filepath.Join("..", "schema", "testdata", "guardduty_backup", file),
		resource: plan.ResourceRef{Type: resourceType, ID: id},
	}
}

var (
	snapshotTemplate      = backupTemplate("ebs_snapshot", "ebs_snapshot_malicious_file.json", "aws_ebs_snapshot", "snap-0f6a7b8c9d0e12345")
	amiTemplate           = backupTemplate("ami", "ami_malicious_file.json", "aws_ami", "ami-0a1b2c3d4e5f60718")
	recoveryPointTemplate = backupTemplate("recovery_point", "ec2_recovery_point_malicious_file.json", "aws_backup_recovery_point", "a1b2c3d4-5678-90ab-cdef-0123456789ab")
)

// templatesFor gives the resources a finding of type ft plausibly has.
func templatesFor(ft findingType) []template {
	kind := schemaKind(ft.Type)
	switch ft.Family {
	case "EC2":
		return []template{instanceTemplate}
	case "IAM":
		return []template{accessKeyTemplate}
	case "Attack sequence":
		switch kind {
		case "EC2":
			return []template{instanceGroupSequece}
		case "EKS":
			return []template{clusterSequence("sequence_eks_cluster", "EKS_CLUSTER", "arn:aws:eks:us-west-2:123456789012:cluster/platform")}
		case "ECS":
			return []template{clusterSequence("sequence_ecs_cluster", "ECS_CLUSTER", "arn:aws:ecs:us-west-2:123456789012:cluster/payments")}
		}
		return []template{credentialsSequence}
	case "S3 Protection":
		return []template{bucketTemplate}
	case "EKS Protection":
		return []template{eksAuditTemplate}
	case "Runtime Monitoring":
		return []template{ecsOnEC2Template, fargateTemplate, eksPodTemplate, dockerTemplate}
	case "Malware Protection for EC2":
		switch kind {
		case "ECS":
			return []template{ecsOnEC2Template}
		case "Kubernetes":
			return []template{eksPodTemplate}
		case "Container":
			return []template{dockerTemplate}
		}
		return []template{volumeScanTemplate}
	case "Malware Protection for S3":
		return []template{objectTemplate}
	case "Malware Protection for Backup":
		switch {
		case strings.HasSuffix(ft.Type, "!AMI"):
			return []template{amiTemplate}
		case strings.HasSuffix(ft.Type, "!Snapshot"):
			return []template{snapshotTemplate}
		}
		return []template{recoveryPointTemplate}
	case "RDS Protection":
		return []template{rdsTemplate}
	case "Lambda Protection":
		return []template{lambdaTemplate}
	}
	return nil
}

// schemaKind is the ResourceTypeAffected part of a finding type: "EC2" of
// "Backdoor:EC2/Spambot".
func schemaKind(findingType string) string {
	_, rest, _ := strings.Cut(findingType, ":")
	kind, _, _ := strings.Cut(rest, "/")
	return kind
}

// variant is how a finding of each type is planned: at the lowest and the
// highest severity band, so no rule's min_severity leaves a documented type
// out, and as a GuardDuty sample.
type variant struct {
	name     string
	severity float64
	sample   bool
}

var variants = []variant{{"low", 2, false}, {"critical", 9.5, false}, {"sample", 8, true}}

// readTemplate reads and decodes a template's finding.
func readTemplate(t *testing.T, cache map[string]map[string]any, tmpl template) map[string]any {
	t.Helper()
	base, ok := cache[tmpl.file]
	if !ok {
		data, err := os.ReadFile(tmpl.file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &base); err != nil {
			t.Fatalf("%s: %v", tmpl.file, err)
		}
		cache[tmpl.file] = base
	}
	// A deep copy, through JSON: each plan edits its own.
	data, _ := json.Marshal(base)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// buildFinding makes a GuardDuty finding of type ft from a template: its
// own id (so each is its own incident), type, title and severity, and the
// sample mark GuardDuty's generator sets.
func buildFinding(t *testing.T, cache map[string]map[string]any, tmpl template, ft findingType, v variant) []byte {
	t.Helper()
	m := readTemplate(t, cache, tmpl)
	if tmpl.edit != nil {
		tmpl.edit(m)
	}
	sum := sha256.Sum256([]byte(ft.Type + "\x00" + tmpl.name + "\x00" + v.name))
	id := hex.EncodeToString(sum[:16])
	m["id"] = id
	m["arn"] = "arn:aws:guardduty:us-west-2:123456789012:detector/5ec52e1f0a2b4c6d8e9f0a1b2c3d4e5f/finding/" + id
	m["type"] = ft.Type
	m["title"] = fmt.Sprintf("GuardDuty %s finding.", ft.Type)
	m["severity"] = v.severity
	svc, _ := m["service"].(map[string]any)
	if svc == nil {
		t.Fatalf("%s has no service block", tmpl.file)
	}
	if v.sample {
		svc["additionalInfo"] = map[string]any{"value": `{"sample":true}`, "type": "default", "sample": true}
	} else {
		delete(svc, "additionalInfo")
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestGuardDutyFindingTypes plans every finding type GuardDuty documents
// (testdata/guardduty_finding_types.txt) with the starter configuration
// and empty facts (as `cordon plan -facts` with `{}` does), on a resource
// its family has, at low and critical severity and as a sample. Each must
// be taken by its family's rule and by no other (the catch-all is for
// types no family rule knows), on the resource its template names, plan
// without errors, and plan at least a notification; a sample, and any
// finding of a notifyOnly family, must plan nothing but notifications.
func TestGuardDutyFindingTypes(t *testing.T) {
	f, err := os.Open(findingTypesFile)
	if err != nil {
		t.Fatal(err)
	}
	types, err := parseFindingTypes(findingTypesFile, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	e := loadStarter(t)
	facts, err := e.ParseFacts("{}", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	cache := map[string]map[string]any{}
	families := map[string]int{}
	plans := 0
	for _, ft := range types {
		families[ft.Family]++
		want := familyRules[ft.Family](schemaKind(ft.Type))
		tmpls := templatesFor(ft)
		if len(tmpls) == 0 {
			t.Errorf("%s:%d: %s: no resource template for family %q", findingTypesFile, ft.Line, ft.Type, ft.Family)
			continue
		}
		for _, tmpl := range tmpls {
			for _, v := range variants {
				name := ft.Type + "/" + tmpl.name + "/" + v.name
				data := buildFinding(t, cache, tmpl, ft, v)
				plans++
				t.Run(name, func(t *testing.T) {
					ff, err := engine.SplitFindings(name+".json", data)
					if err != nil {
						t.Fatal(err)
					}
					res, diags := e.Plan(context.Background(), []*engine.FindingsFile{ff}, engine.PlanOptions{Facts: facts, Workers: 1})
					if diags.HasErrors() {
						t.Fatalf("planning: %s", diags.Error())
					}
					p := res.Plan
					checkHandled(t, p, want, v.sample, notifyOnly[ft.Family])
					if tmpl.resource != (plan.ResourceRef{}) && len(p.Incidents) == 1 {
						if got := p.Incidents[0].Finding.Resource; got != tmpl.resource {
							t.Errorf("the finding's resource is %s %q, want %s %q", got.Type, got.ID, tmpl.resource.Type, tmpl.resource.ID)
						}
					}
				})
			}
		}
	}
	for fam := range familyRules {
		if families[fam] == 0 {
			t.Errorf("%s lists no type of family %q", findingTypesFile, fam)
		}
	}
	t.Logf("%d finding types of %d families, %d plans", len(types), len(families), plans)
}

// checkHandled checks one plan of a documented finding type: one incident,
// taken by rule want alone, without errors, notifying, its sample mark
// shown; a sample, and with onlyNotify any finding (one about a resource
// cordon has no action for), plans nothing but notifications.
func checkHandled(t *testing.T, p *plan.Plan, want string, sample, onlyNotify bool) {
	t.Helper()
	if len(p.Incidents) != 1 {
		for _, u := range p.Unmatched {
			t.Errorf("unmatched: %s (%s): resource %+v, near misses %+v", u.FindingID, u.Reason, u.Resource, u.NearMisses)
		}
		t.Fatalf("want 1 incident, got %d", len(p.Incidents))
	}
	inc := p.Incidents[0]
	var rules []string
	for _, m := range inc.Matches {
		rules = append(rules, m.Rule)
	}
	if !slices.Equal(rules, []string{want}) {
		t.Errorf("matched by %v, want %s alone", rules, want)
	}
	for _, e := range inc.Errors {
		t.Errorf("investigation failed: %s: %s: %s", e.Rule, e.Summary, e.Detail)
	}
	notified := false
	for _, a := range inc.Actions {
		if a.Phase == actions.Notify.String() {
			notified = true
		} else if sample {
			t.Errorf("a sample finding plans %s (%s)", a.Address, a.Phase)
		} else if onlyNotify {
			t.Errorf("a finding about a resource cordon has no action for plans %s (%s)", a.Address, a.Phase)
		}
	}
	if !notified {
		t.Errorf("no notification planned; actions %d, withheld %d, verdicts %+v", len(inc.Actions), len(inc.Withheld), inc.Verdicts)
	}
	if sample != inc.Finding.Sample {
		t.Errorf("the plan shows sample = %v", inc.Finding.Sample)
	}
}

// TestCatchAllTakesUnknownTypes checks the catch-all's side of "no other
// rule": a high or critical finding of a type no family rule takes (here a
// Custom Detection Rules type, and one GuardDuty might add) is reported
// and nothing else; below high it is left unmatched, and the plan says it
// was under the catch-all's min_severity.
func TestCatchAllTakesUnknownTypes(t *testing.T) {
	e := loadStarter(t)
	facts, err := e.ParseFacts("{}", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	cache := map[string]map[string]any{}
	for _, tc := range []struct {
		typ     string
		tmpl    template
		sev     float64
		matched bool
	}{
		{"DefenseImpairment:Organizations/DisableOrModifyTools", accessKeyTemplate, 8, true},
		{"Exfiltration:Bedrock/ModelWeightsCopied", accessKeyTemplate, 9.5, true},
		{"Exfiltration:Bedrock/ModelWeightsCopied", lambdaTemplate, 9.5, true},
		{"Exfiltration:Bedrock/ModelWeightsCopied", instanceTemplate, 8, true},
		{"Exfiltration:Bedrock/ModelWeightsCopied", accessKeyTemplate, 5, false},
	} {
		name := fmt.Sprintf("%s/%s/%v", tc.typ, tc.tmpl.name, tc.sev)
		t.Run(name, func(t *testing.T) {
			data := buildFinding(t, cache, tc.tmpl, findingType{Type: tc.typ}, variant{name: fmt.Sprint(tc.sev), severity: tc.sev})
			ff, err := engine.SplitFindings("catch-all.json", data)
			if err != nil {
				t.Fatal(err)
			}
			res, diags := e.Plan(context.Background(), []*engine.FindingsFile{ff}, engine.PlanOptions{Facts: facts, Workers: 1})
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			p := res.Plan
			if !tc.matched {
				if len(p.Incidents) != 0 || len(p.Unmatched) != 1 {
					t.Fatalf("want the finding unmatched, got %d incidents", len(p.Incidents))
				}
				for _, nm := range p.Unmatched[0].NearMisses {
					if nm.Rule == "unhandled_high_severity" && strings.Contains(nm.Why, "min_severity") {
						return
					}
				}
				t.Fatalf("no near miss says the catch-all wants high: %+v", p.Unmatched[0].NearMisses)
			}
			checkHandled(t, p, "unhandled_high_severity", false, false)
			inc := p.Incidents[0]
			if len(inc.Actions) != 1 || inc.Verdicts[0].Verdict != "inconclusive" {
				t.Errorf("want one notification on an inconclusive verdict, got %d actions, verdict %s", len(inc.Actions), inc.Verdicts[0].Verdict)
			}
		})
	}
}

// TestBackupFindingWithoutItsResource checks a Malware Protection for
// Backup finding that does not name what it scanned: schema/ gives it no
// primary resource (never a bystander its resource block also names, such
// as an instance, which a rule could act on), so at any severity it is
// left unmatched, plans nothing, and the plan says what it is.
func TestBackupFindingWithoutItsResource(t *testing.T) {
	e := loadStarter(t)
	facts, err := e.ParseFacts("{}", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	cache := map[string]map[string]any{}
	const typ = "Execution:EC2/MaliciousFile!Snapshot"
	for _, tc := range []struct {
		name      string
		resource  any
		bystander string // the instance the finding also names
	}{
		{"no resource block", nil, ""},
		{"no details block", map[string]any{}, ""},
		{"details without the ARN", map[string]any{"ebsSnapshotDetails": map[string]any{}}, ""},
		{"details not an object", map[string]any{"ebsSnapshotDetails": "snap-0f6a7b8c9d0e12345"}, ""},
		{"an instance also named", map[string]any{
			"resourceType":       "Instance",
			"instanceDetails":    map[string]any{"instanceId": "i-0d4e5f6a7b8c90123", "instanceState": "running"},
			"ebsSnapshotDetails": map[string]any{"snapshotArn": ""},
		}, "i-0d4e5f6a7b8c90123"},
	} {
		for _, v := range variants[:2] {
			t.Run(tc.name+"/"+v.name, func(t *testing.T) {
				tmpl := snapshotTemplate
				tmpl.name = "without_resource"
				tmpl.edit = func(m map[string]any) {
					if tc.resource == nil {
						delete(m, "resource")
					} else {
						m["resource"] = tc.resource
					}
				}
				data := buildFinding(t, cache, tmpl, findingType{Type: typ}, v)
				findings, err := schema.Parse("finding.json", data)
				if err != nil || len(findings) != 1 {
					t.Fatalf("parsing: %d findings, %v", len(findings), err)
				}
				f := findings[0]
				if f.Resource.Type != "" || f.Resource.ID != "" {
					t.Fatalf("the primary resource is %s %q", f.Resource.Type, f.Resource.ID)
				}
				if tc.bystander != "" && (len(f.Resources) != 2 || f.Resources[1].ID != tc.bystander) {
					t.Errorf("resources %+v: want the instance kept second", f.Resources)
				}
				ff, err := engine.SplitFindings("finding.json", data)
				if err != nil {
					t.Fatal(err)
				}
				res, diags := e.Plan(context.Background(), []*engine.FindingsFile{ff}, engine.PlanOptions{Facts: facts, Workers: 1})
				if diags.HasErrors() {
					t.Fatalf("planning: %s", diags.Error())
				}
				p := res.Plan
				if len(p.Incidents) != 0 || len(p.Unmatched) != 1 {
					t.Fatalf("want the finding unmatched, got %d incidents, %d unmatched", len(p.Incidents), len(p.Unmatched))
				}
				u := p.Unmatched[0]
				if u.Reason != plan.ReasonNoRuleMatched || u.Type != typ || u.Source != "guardduty" || u.Severity == "" {
					t.Errorf("unmatched %+v: want its type, source and severity, and why", u)
				}
			})
		}
	}
}
