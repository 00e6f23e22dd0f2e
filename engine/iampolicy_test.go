package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// loadFS loads a configuration held in memory, with trivial policies.
func loadFS(t *testing.T, hcl string) *engine.Engine {
	t.Helper()
	fsys := fstest.MapFS{
		"cordon.hcl":             &fstest.MapFile{Data: []byte(hcl)},
		"policies/verdict.rego":  &fstest.MapFile{Data: []byte("package cordon.verdict\n\nverdict := \"benign\"\n")},
		"policies/response.rego": &fstest.MapFile{Data: []byte("package cordon.response\n\nactions := set()\n")},
	}
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "cfg", FS: fsys})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return e
}

func statements(p engine.IAMPolicy) map[string]engine.IAMStatement {
	out := map[string]engine.IAMStatement{}
	for _, s := range p.Statement {
		out[s.Sid] = s
	}
	return out
}

// The daemon's sources call AWS with the same identity as actions and
// collectors: the policy grants their calls too, on the queue and the
// detectors they read.
func TestIAMPolicyIncludesSources(t *testing.T) {
	e := loadFS(t, `
scope "any" {}

action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = "sg-0e1f2a3b4c5d6e7f8"
}

rule "r" {
  scopes  = [scope.any]
  actions = [action.isolate]
}

source "sqs" "events" {
  queue_url = "https://sqs.us-west-2.amazonaws.com/123456789012/cordon-findings"
}

source "sqs" "more_events" {
  queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/cordon-findings"
}

source "guardduty" "poll" {
  regions = ["us-west-2"]
}
`)
	byID := statements(e.IAMPolicy())
	want := map[string]engine.IAMStatement{
		"CordonSourceSqs": {Action: []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"},
			Resource: []string{"arn:aws:sqs:eu-west-1:123456789012:cordon-findings", "arn:aws:sqs:us-west-2:123456789012:cordon-findings"}},
		"CordonSourceGuardduty":          {Action: []string{"guardduty:GetFindings", "guardduty:ListFindings"}, Resource: []string{"arn:aws:guardduty:us-west-2:*:detector/*"}},
		"CordonSourceGuarddutyDetectors": {Action: []string{"guardduty:ListDetectors"}, Resource: []string{"*"}},
	}
	for sid, w := range want {
		got := byID[sid]
		if !slices.Equal(got.Action, w.Action) || !slices.Equal(got.Resource, w.Resource) {
			t.Errorf("statement %s = %v on %v; want %v on %v", sid, got.Action, got.Resource, w.Action, w.Resource)
		}
	}
	if _, ok := byID["CordonActionEc2Isolate"]; !ok {
		t.Errorf("statements %v: want the action's", byID)
	}
}

// The statements are narrowed by the scopes of the rules that can plan an
// action: their accounts and regions in the ARNs, the tags they all
// require or exclude as conditions on the target.
func TestIAMPolicyNarrowsToScopes(t *testing.T) {
	e := loadFS(t, `
provider "aws" {
  region          = "us-west-2"
  assume_role_arn = "arn:aws:iam::{account}:role/cordon-responder"
}

scope "web" {
  accounts       = ["111111111111", "222222222222"]
  regions        = ["us-west-2", "eu-*"]
  resource_types = ["aws_instance"]
  tags           = { Environment = "prod", Role = "web*" }
  exclude_tags   = { "cordon:exempt" = "true" }
}

scope "batch" {
  accounts       = ["111111111111"]
  regions        = ["us-west-2"]
  resource_types = ["aws_instance", "aws_iam_role"]
  tags           = { Environment = "staging" }
  exclude_tags   = { "cordon:exempt" = "true" }
}

scope "unused" {}

collector "triage" { type = "aws_ssm_triage" }

action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = "sg-0e1f2a3b4c5d6e7f8"
}
action "stop" { type = "aws_ec2_stop" }
action "tag"  { type = "aws_ec2_tag" }
action "deny" { type = "aws_iam_deny_all" }
action "never" { type = "aws_ec2_termination_protection" }

rule "web" {
  scopes  = [scope.web]
  collect = [collector.triage]
  actions = [action.isolate, action.stop, action.tag]
}

rule "batch" {
  scopes  = [scope.batch]
  actions = [action.isolate, action.deny]
}

rule "off" {
  scopes  = [scope.unused]
  actions = [action.never]
  enabled = false
}
`)
	pol := e.IAMPolicy()
	byID := statements(pol)
	if len(byID) != len(pol.Statement) {
		t.Fatalf("statement ids repeat: %v", pol.Statement)
	}

	iso := byID["CordonActionEc2Isolate"]
	wantRes := []string{
		"arn:aws:ec2:eu-*:111111111111:instance/*", "arn:aws:ec2:eu-*:222222222222:instance/*",
		"arn:aws:ec2:us-west-2:111111111111:instance/*", "arn:aws:ec2:us-west-2:222222222222:instance/*",
	}
	if !slices.Equal(iso.Resource, wantRes) || !slices.Equal(iso.Action, []string{"ec2:ModifyNetworkInterfaceAttribute"}) {
		t.Errorf("isolate on its target: %v on %v", iso.Action, iso.Resource)
	}
	// Environment is required by both scopes (either value); Role by one
	// only, so it cannot be a condition.
	wantCond := engine.IAMCondition{
		"StringEquals":    {"ec2:ResourceTag/Environment": {"prod", "staging"}},
		"StringNotEquals": {"ec2:ResourceTag/cordon:exempt": {"true"}},
	}
	if !jsonEqual(t, iso.Condition, wantCond) {
		t.Errorf("isolate conditions %v; want %v", iso.Condition, wantCond)
	}
	// Stop is planned by the web rule only: its tags, Role a glob.
	stop := byID["CordonActionEc2Stop"]
	wantCond = engine.IAMCondition{
		"StringEquals":    {"ec2:ResourceTag/Environment": {"prod"}},
		"StringLike":      {"ec2:ResourceTag/Role": {"web*"}},
		"StringNotEquals": {"ec2:ResourceTag/cordon:exempt": {"true"}},
	}
	if !jsonEqual(t, stop.Condition, wantCond) {
		t.Errorf("stop conditions %v; want %v", stop.Condition, wantCond)
	}
	if r := byID["CordonActionEc2StopRead"]; !slices.Equal(r.Resource, []string{"*"}) || r.Condition != nil {
		t.Errorf("describe calls: %+v", r)
	}
	// The tags written are only cordon's.
	tag := byID["CordonActionEc2Tag"]
	if !jsonEqual(t, tag.Condition["ForAllValues:StringEquals"], map[string][]string{"aws:TagKeys": {"cordon:incident"}}) {
		t.Errorf("tag conditions %v", tag.Condition)
	}
	// No scope of the tagging rule holds users or roles.
	if _, ok := byID["CordonActionEc2TagUsers"]; ok {
		t.Error("tagging users is granted, yet no scope holds one")
	}
	// Deny-all on roles: the batch scope's roles only, none on users.
	roles := byID["CordonActionIamDenyAllRoles"]
	if !slices.Equal(roles.Resource, []string{"arn:aws:iam::111111111111:role/*"}) ||
		!jsonEqual(t, roles.Condition["StringEquals"], map[string][]string{"aws:ResourceTag/Environment": {"staging"}}) {
		t.Errorf("deny-all on roles: %+v", roles)
	}
	if _, ok := byID["CordonActionIamDenyAllUsers"]; ok {
		t.Error("deny-all on users is granted, yet no scope holds one")
	}
	deny := byID["CordonDenyChangingOwnRole"]
	if deny.Effect != "Deny" || !slices.Equal(deny.Resource, []string{"arn:aws:iam::*:role/cordon-responder"}) ||
		!slices.Contains(deny.Action, "iam:PutRolePolicy") {
		t.Errorf("self-protection: %+v", deny)
	}
	// SendCommand: the shell document and the scopes' instances.
	if d := byID["CordonCollectorSsmTriageDocument"]; !slices.Equal(d.Resource, []string{"arn:aws:ssm:eu-*::document/AWS-RunShellScript", "arn:aws:ssm:us-west-2::document/AWS-RunShellScript"}) {
		t.Errorf("triage document: %+v", d)
	}
	if in := byID["CordonCollectorSsmTriage"]; !jsonEqual(t, in.Condition["StringEquals"], map[string][]string{"ssm:resourceTag/Environment": {"prod"}}) {
		t.Errorf("triage on instances: %+v", in)
	}
	// An action no enabled rule lists gets nothing.
	for sid := range byID {
		if strings.Contains(sid, "TerminationProtection") {
			t.Errorf("%s granted, yet no enabled rule lists the action", sid)
		}
	}
	// Writes never on every resource.
	for _, s := range pol.Statement {
		for _, a := range s.Action {
			if slices.Contains(s.Resource, "*") && !readOnlyAction(a) {
				t.Errorf("%s grants %s on *", s.Sid, a)
			}
		}
	}
	doc, _ := json.Marshal(pol)
	if _, _, err := awsemu.Allows([]string{string(doc)}, awsemu.Call{Service: "sts", Operation: "GetCallerIdentity"}); err != nil {
		t.Errorf("the policy is not one IAM accepts: %v", err)
	}
}

// readOnlyAction reports whether an action only reads (or needs no
// permission), which is what may stay on "*".
func readOnlyAction(a string) bool {
	_, op, _ := strings.Cut(a, ":")
	for _, p := range []string{"Describe", "List", "Get", "LookupEvents"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return a == "ssm:CancelCommand" // cancels cordon's own command; no resource-level permissions
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return string(ja) == string(jb)
}

// The responder role holds exactly the policy `cordon iam-policy` prints,
// and the emulator enforces it as IAM does (a request needs an Allow):
// every collector and action of testdata/iampolicy runs, applies and
// reverts on production instances, and what the scopes leave out is
// denied.
func TestIAMPolicyEnforced(t *testing.T) {
	seed, err := demo.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	// Without the fleet's hand-made isolation group, cordon makes its own
	// (and closes it), under the policy.
	for i := range seed.Accounts {
		if seed.Accounts[i].ID != demo.ProdAccount {
			continue
		}
		r := seed.Accounts[i].Regions[demo.Region]
		for j := range r.SecurityGroups {
			if r.SecurityGroups[j].Name == "cordon-isolation" {
				r.SecurityGroups[j].Name = "legacy-isolation"
			}
		}
	}
	// A second account with its own VPC and a production instance, so
	// that isolation needs a group in each of two VPCs of two accounts.
	findings := []string{web1Findings, bastionFind, otherAccountFinding(t)}
	for i := range seed.Accounts {
		a := &seed.Accounts[i]
		if a.ID != demo.SecurityAccount {
			continue
		}
		a.Roles = append(a.Roles, awsemu.SeedRole{Name: "cordon-responder", Trust: []string{demo.SecurityAccount}})
		if a.Regions == nil {
			a.Regions = map[string]awsemu.SeedRegion{}
		}
		a.Regions[demo.Region] = awsemu.SeedRegion{
			VPCs:           []awsemu.SeedVPC{{ID: otherVPC, CIDR: "10.9.0.0/16"}},
			Subnets:        []awsemu.SeedSubnet{{ID: "subnet-0a9a8a7a6a5a4a3a2", VPC: otherVPC, AvailabilityZone: "us-west-2a", CIDR: "10.9.1.0/24"}},
			SecurityGroups: []awsemu.SeedSecurityGroup{{ID: "sg-0a9a8a7a6a5a4a3a2", Name: "tools", VPC: otherVPC}},
			Instances: []awsemu.SeedInstance{{ID: otherInstance, Type: "t3.small", Tags: map[string]string{"Name": "tools-1", "Environment": "prod"},
				NetworkInterfaces: []awsemu.SeedENI{{Subnet: "subnet-0a9a8a7a6a5a4a3a2", Groups: []string{"sg-0a9a8a7a6a5a4a3a2"}}},
				Volumes:           []awsemu.SeedVolume{{Device: "/dev/xvda", SizeGB: 8}}, SSMManaged: true}},
		}
	}
	if err := seed.Validate(); err != nil {
		t.Fatal(err)
	}
	emu := awsemu.New(seed)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	t.Cleanup(hook.Close)

	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/iampolicy",
		Values: map[string]cty.Value{"webhook_url": cty.StringVal(hook.URL + "/cordon")}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	policy, _ := json.Marshal(e.IAMPolicy())
	caller, err := e.CallerPolicy()
	if err != nil {
		t.Fatal(err)
	}
	callerDoc, _ := json.Marshal(caller)
	for _, account := range []string{demo.ProdAccount, demo.SecurityAccount} {
		role := strings.ReplaceAll(demo.ResponderRoleARN, "{account}", account)
		if err := emu.PutInlinePolicy(role, "cordon", string(policy)); err != nil {
			t.Fatal(err)
		}
	}
	if err := emu.PutInlinePolicy("arn:aws:iam::"+demo.SecurityAccount+":user/automation/cordon", "cordon-caller", string(callerDoc)); err != nil {
		t.Fatal(err)
	}
	emu.EnforcePolicies(true)
	t.Logf("policy: %d characters without white space", e.IAMPolicy().Size())

	factory, err := awsclient.New(context.Background(), awsclient.Options{
		Region: demo.Region, Endpoint: srv.URL, AssumeRoleARN: demo.ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, ""),
		MaxBackoff:  time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.OpenSQLite(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	files, diags := engine.ReadFindings(findings)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res, diags := e.Plan(context.Background(), files, engine.PlanOptions{AWS: factory, KeepData: true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for id, data := range res.Data {
		if len(data.Facts) != 6 {
			t.Errorf("%s: facts of %d collectors, want 6", id, len(data.Facts))
		}
		// The demo fleet has no triage output nor GuardDuty detector;
		// what matters is that no call was refused.
		for name, facts := range data.Facts {
			if msg, _ := facts["error"].(string); strings.Contains(msg, "not authorized") || strings.Contains(msg, "AccessDenied") {
				t.Errorf("%s: collector %s was refused: %s", id, name, msg)
			}
		}
	}
	f := res.File(e, time.Now().UTC().Format(time.RFC3339Nano))
	if f.ID, err = plan.ID(f); err != nil {
		t.Fatal(err)
	}
	opts := engine.ApplyOptions{Store: st, AWS: factory, Owner: "test", ApproveManual: true}
	applied, err := e.Apply(context.Background(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if applied.Failed() || applied.Summary.Applied == 0 {
		t.Fatalf("apply under the policy: %s\n%+v", applied.Summary, applied.Actions)
	}
	// Each instance went to the isolation group of its own VPC, which
	// cordon made in each account.
	isolatedIn := map[string]string{}
	for _, c := range []struct{ account, instance string }{{demo.ProdAccount, web1}, {demo.ProdAccount, bastion}, {demo.SecurityAccount, otherInstance}} {
		r := emu.Snapshot().Accounts[c.account].Regions[demo.Region]
		in := r.Instances[c.instance]
		groups := r.NetworkInterfaces[in.NetworkInterfaces[0]].Groups
		if len(groups) != 1 || r.SecurityGroups[groups[0]].Name != "cordon-isolation" || r.SecurityGroups[groups[0]].VPC != in.VPCID {
			t.Errorf("%s: groups %v; want its VPC's cordon-isolation group", c.instance, groups)
			continue
		}
		isolatedIn[c.instance] = groups[0]
	}
	if isolatedIn[web1] != isolatedIn[bastion] || isolatedIn[web1] == isolatedIn[otherInstance] {
		t.Errorf("isolation groups %v: want one per VPC", isolatedIn)
	}
	for _, inc := range uniqueIncidents(applied) {
		rp, err := e.PlanRevert(context.Background(), st, inc)
		if err != nil {
			t.Fatal(err)
		}
		rr, err := e.Revert(context.Background(), rp, opts)
		if err != nil || rr.Failed() {
			t.Fatalf("revert under the policy: %v %+v", err, rr.Actions)
		}
	}
	denied := 0
	for _, c := range emu.Calls() {
		switch c.ErrorCode {
		case "UnauthorizedOperation", "AccessDenied", "AccessDeniedException":
			denied++
			t.Errorf("%s by %s was denied: %+v", c.Action(), c.Principal, c.Authorizations)
		}
	}
	// The same calls, judged offline against the documents (a call the
	// service refused before asking IAM has nothing to judge).
	for _, c := range emu.Calls() {
		if c.ErrorCode != "" && len(c.Authorizations) == 0 {
			continue
		}
		docs := []string{string(policy)}
		if strings.Contains(c.Principal, ":user/") {
			docs = []string{string(callerDoc)}
		}
		if ok, why, err := awsemu.Allows(docs, c); err != nil || !ok {
			t.Errorf("%s: %s %v", c.Action(), why, err)
		}
	}

	// What the scopes leave out is denied: an instance without the
	// production tag (and exempt), cordon's own role, another document.
	ec2c := factory.EC2(demo.ProdAccount, demo.Region)
	_, err = ec2c.StopInstances(context.Background(), &ec2.StopInstancesInput{InstanceIds: []string{"i-0d1d2d3d4d5d6d7d8"}})
	wantDenied(t, err, "stopping an out-of-scope instance")
	_, err = factory.IAM(demo.ProdAccount, demo.Region).PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{
		RoleName: aws.String("cordon-responder"), PolicyName: aws.String("escalate"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
	wantDenied(t, err, "writing a policy onto the responder role")
	_, err = factory.SSM(demo.ProdAccount, demo.Region).SendCommand(context.Background(), &ssm.SendCommandInput{
		DocumentName: aws.String("AWS-RunPowerShellScript"), InstanceIds: []string{web1},
		Parameters: map[string][]string{"commands": {"whoami"}}})
	wantDenied(t, err, "running another document")
	_, err = ec2c.CreateTags(context.Background(), &ec2.CreateTagsInput{Resources: []string{web1},
		Tags: []ec2types.Tag{{Key: aws.String("Environment"), Value: aws.String("dev")}}})
	wantDenied(t, err, "writing a tag cordon does not write")
}

// The second account's VPC and instance, which TestIAMPolicyEnforced adds.
const (
	otherVPC      = "vpc-0a9a8a7a6a5a4a3a2"
	otherInstance = "i-0a9a8a7a6a5a4a3a2"
)

// otherAccountFinding writes web-1's finding as one about the second
// account's instance.
func otherAccountFinding(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(web1Findings)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(
		demo.ProdAccount, demo.SecurityAccount, web1, otherInstance, "b2c8e1a4f3d94e6fa0c1d2e3f4a5b6c7", "c3d9f2b5a4e05f7ab1d2e3f4a5b6c7d8",
		"vpc-0a9b8c7d6e5f43210", otherVPC, "subnet-0f1e2d3c4b5a69788", "subnet-0a9a8a7a6a5a4a3a2",
		"sg-0123456789abcdef0", "sg-0a9a8a7a6a5a4a3a2", "eni-0d4c3b2a190817263", "eni-0a9a8a7a6a5a4a3a2",
	).Replace(string(data))
	path := filepath.Join(t.TempDir(), "other_account.json")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantDenied(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil || !(strings.Contains(err.Error(), "UnauthorizedOperation") || strings.Contains(err.Error(), "AccessDenied")) {
		t.Errorf("%s: %v; want it denied", what, err)
	}
}

func uniqueIncidents(res *engine.ApplyResult) []string {
	var out []string
	for _, a := range res.Actions {
		if !slices.Contains(out, a.Incident) {
			out = append(out, a.Incident)
		}
	}
	return out
}

// A policy too large for one managed policy is split into documents that
// each fit, statement order and content kept; a statement too large alone
// is split by its resources.
func TestIAMPolicySplit(t *testing.T) {
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/iampolicy"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	pol := e.IAMPolicy()
	if pol.Size() <= engine.ManagedPolicyLimit {
		t.Fatalf("the test policy (%d) fits one managed policy; the test needs a larger one", pol.Size())
	}
	docs, err := pol.Split(engine.ManagedPolicyLimit)
	if err != nil {
		t.Fatal(err)
	}
	var again []engine.IAMStatement
	for _, d := range docs {
		if d.Size() > engine.ManagedPolicyLimit || d.Version != "2012-10-17" {
			t.Errorf("a document of %d characters", d.Size())
		}
		again = append(again, d.Statement...)
	}
	if len(docs) < 2 || !jsonEqual(t, again, pol.Statement) {
		t.Errorf("%d documents; statements kept: %v", len(docs), jsonEqual(t, again, pol.Statement))
	}

	var many []string
	for i := 0; i < 400; i++ {
		many = append(many, fmt.Sprintf("arn:aws:sqs:us-west-2:123456789012:queue-%03d", i))
	}
	big := engine.IAMPolicy{Version: "2012-10-17", Statement: []engine.IAMStatement{{Sid: "Big", Effect: "Allow", Action: []string{"sqs:ReceiveMessage"}, Resource: many}}}
	docs, err = big.Split(engine.ManagedPolicyLimit)
	if err != nil {
		t.Fatal(err)
	}
	var resources []string
	for _, d := range docs {
		for _, st := range d.Statement {
			if !strings.HasPrefix(st.Sid, "BigPart") || d.Size() > engine.ManagedPolicyLimit {
				t.Errorf("part %s in a document of %d", st.Sid, d.Size())
			}
			resources = append(resources, st.Resource...)
		}
	}
	if !slices.Equal(resources, many) {
		t.Errorf("resources lost or reordered: %d of %d", len(resources), len(many))
	}
	huge := engine.IAMPolicy{Version: "2012-10-17", Statement: []engine.IAMStatement{{Sid: "Huge", Effect: "Allow", Action: []string{"s3:GetObject"},
		Resource: []string{"arn:aws:s3:::" + strings.Repeat("b", 7000)}}}}
	if _, err := huge.Split(engine.ManagedPolicyLimit); err == nil || !strings.Contains(err.Error(), "Huge") {
		t.Errorf("a statement that cannot fit: %v", err)
	}
}
