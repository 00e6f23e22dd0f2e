package policies

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/format"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/cordonhq/cordon/engine/policy"
	"github.com/cordonhq/cordon/schema"
)

// minCoverage is the least share of the policies' expressions (not their
// tests') the Rego unit tests must evaluate, in percent: all of them, so a
// rule no test reaches is caught in review, not in an incident.
const minCoverage = 100.0

// loadModules parses every .rego file under rego/ in FS as Rego v1, the way
// the engine does, keyed by path.
func loadModules(t testing.TB) map[string]*ast.Module {
	t.Helper()
	modules := map[string]*ast.Module{}
	err := fs.WalkDir(FS, "rego", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") {
			return err
		}
		src, err := fs.ReadFile(FS, p)
		if err != nil {
			return err
		}
		m, err := ast.ParseModuleWithOpts(p, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return err
		}
		modules[p] = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(modules) == 0 {
		t.Fatal("no Rego modules under rego/")
	}
	return modules
}

func isTestFile(name string) bool { return strings.HasSuffix(name, "_test.rego") }

// TestRego runs the Rego unit tests (every test_ rule in rego/*_test.rego)
// through OPA's test runner, compiled as cordon compiles policies: Rego v1,
// the capabilities without network, clock or randomness, the input schema
// of cordon.hcl's collectors, and built-in errors raised. Each Rego test is a
// subtest; the coverage of the policies by their tests must stay above
// minCoverage.
func TestRego(t *testing.T) {
	ctx := context.Background()
	modules := loadModules(t)
	store := inmem.NewWithOpts(inmem.OptRoundTripOnWrite(false))
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Abort(ctx, txn)

	// The input schema types input.facts by cordon.hcl's collectors, as
	// the engine types it, so a misspelt field fails here too.
	inputSchema, err := schema.InputSchema(parseStarterConfig(t).collectors)
	if err != nil {
		t.Fatal(err)
	}
	var schemaDoc any
	if err := util.UnmarshalJSON(inputSchema, &schemaDoc); err != nil {
		t.Fatal(err)
	}
	schemas := ast.NewSchemaSet()
	schemas.Put(ast.SchemaRootRef, schemaDoc)

	coverage := cover.New()
	compiler := ast.NewCompiler().
		WithCapabilities(policy.Capabilities()).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(true).
		WithUseTypeCheckAnnotations(true).
		WithSchemas(schemas)
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(modules).
		SetDefaultRegoVersion(ast.RegoV1).
		SetCoverageQueryTracer(coverage).
		RaiseBuiltinErrors(true).
		CapturePrintOutput(true)
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		t.Fatalf("compiling the policies and their tests: %v", err)
	}
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	if len(results) == 0 {
		t.Fatal("no Rego tests found")
	}
	sort.Slice(results, func(i, j int) bool {
		if results[i].Package != results[j].Package {
			return results[i].Package < results[j].Package
		}
		return results[i].Name < results[j].Name
	})

	perPackage := map[string]int{}
	failed := 0
	for _, r := range results {
		pkg := strings.TrimPrefix(r.Package, "data.")
		perPackage[pkg]++
		t.Run(pkg+"/"+r.Name, func(t *testing.T) {
			switch {
			case r.Error != nil:
				failed++
				t.Errorf("%s:%d: error: %v\n%s", r.Location.File, r.Location.Row, r.Error, r.Output)
			case r.Skip:
				t.Skipf("%s: skipped (todo_ test)", r.Name)
			case !r.Pass():
				failed++
				t.Errorf("%s:%d: failed\n%s", r.Location.File, r.Location.Row, r.Output)
			}
		})
	}
	pkgs := make([]string, 0, len(perPackage))
	for p := range perPackage {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		t.Logf("%-28s %3d tests", p, perPackage[p])
	}
	t.Logf("Rego: %d passed, %d failed", len(results)-failed, failed)

	// Coverage of the policies only: the tests cover themselves.
	policies := map[string]*ast.Module{}
	for name, m := range modules {
		if !isTestFile(name) {
			policies[name] = m
		}
	}
	report := coverage.Report(policies)
	names := make([]string, 0, len(report.Files))
	for name := range report.Files {
		if !isTestFile(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	covered, total := 0, 0
	for _, name := range names {
		f := report.Files[name]
		covered += f.CoveredLines
		total += f.CoveredLines + f.NotCoveredLines
		t.Logf("coverage %-24s %5.1f%%", name, f.Coverage)
		if testing.Verbose() {
			for _, r := range f.NotCovered {
				t.Logf("  not covered: %s:%d-%d", name, r.Start.Row, r.End.Row)
			}
		}
	}
	if total == 0 {
		t.Fatal("no coverage recorded")
	}
	pct := 100 * float64(covered) / float64(total)
	t.Logf("coverage of the policies: %.1f%% of %d lines", pct, total)
	if pct < minCoverage {
		t.Errorf("the Rego tests cover %.1f%% of the policies, below %.1f%%; run with -v to list what they miss", pct, minCoverage)
	}
}

// TestRegoFormatted checks every Rego file is as `opa fmt` writes it, so a
// team that formats its copy sees only its own changes in review.
func TestRegoFormatted(t *testing.T) {
	files, err := fs.Glob(FS, "rego/*.rego")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Rego files: %v", err)
	}
	for _, f := range files {
		src := mustRead(t, f)
		want, err := format.SourceWithOpts(f, src, format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !bytes.Equal(src, want) {
			t.Errorf("%s is not formatted as opa fmt formats it", f)
		}
	}
}

// expectedFiles is the starter configuration directory: what cordon init
// writes, and nothing else (no Go source, no editor leftovers).
var expectedFiles = []string{
	"cordon.hcl",
	"rego/attack_sequence_response.rego",
	"rego/attack_sequence_response_test.rego",
	"rego/attack_sequence_verdict.rego",
	"rego/attack_sequence_verdict_test.rego",
	"rego/backup_malware_verdict.rego",
	"rego/backup_malware_verdict_test.rego",
	"rego/ec2_response.rego",
	"rego/ec2_response_test.rego",
	"rego/ec2_verdict.rego",
	"rego/ec2_verdict_test.rego",
	"rego/iam_response.rego",
	"rego/iam_response_test.rego",
	"rego/iam_verdict.rego",
	"rego/iam_verdict_test.rego",
	"rego/kubernetes_response.rego",
	"rego/kubernetes_response_test.rego",
	"rego/kubernetes_verdict.rego",
	"rego/kubernetes_verdict_test.rego",
	"rego/lambda_verdict.rego",
	"rego/lambda_verdict_test.rego",
	"rego/lib.rego",
	"rego/lib_test.rego",
	"rego/notify_response.rego",
	"rego/notify_response_test.rego",
	"rego/rds_verdict.rego",
	"rego/rds_verdict_test.rego",
	"rego/runtime_verdict.rego",
	"rego/runtime_verdict_test.rego",
	"rego/s3_malware_verdict.rego",
	"rego/s3_malware_verdict_test.rego",
	"rego/s3_response.rego",
	"rego/s3_response_test.rego",
	"rego/s3_verdict.rego",
	"rego/s3_verdict_test.rego",
	"rego/unhandled_verdict.rego",
	"rego/unhandled_verdict_test.rego",
	"testdata/README.md",
	"testdata/facts/ec2_authorized_scanner.json",
	"testdata/facts/ec2_backdoor_triage_failed.json",
	"testdata/facts/ec2_cryptominer.json",
	"testdata/facts/ec2_ssh_bruteforce_failed.json",
	"testdata/facts/ec2_ssh_bruteforce_succeeded.json",
	"testdata/facts/iam_anomalous_persistence.json",
	"testdata/facts/iam_anomalous_recon_only.json",
	"testdata/facts/iam_exfiltration_trail.json",
	"testdata/facts/s3_public_access_trail.json",
	"testdata/findings/attack_sequence_ec2_compromised_instance_group.json",
	"testdata/findings/attack_sequence_iam_compromised_credentials.json",
	"testdata/findings/backup_ebs_snapshot_malicious_file.json",
	"testdata/findings/backup_ec2_recovery_point_malicious_file.json",
	"testdata/findings/custom_detection_organization_leave_attempt.json",
	"testdata/findings/ec2_backdoor_cnc_dns.json",
	"testdata/findings/ec2_cryptocurrency_bitcointool_dns.json",
	"testdata/findings/ec2_malicious_file.json",
	"testdata/findings/ec2_recon_portprobe_unprotected_port.json",
	"testdata/findings/ec2_ssh_bruteforce_outbound_scanner.json",
	"testdata/findings/ec2_ssh_bruteforce_target.json",
	"testdata/findings/eks_exec_in_kube_system_pod.json",
	"testdata/findings/eks_malicious_ip_caller.json",
	"testdata/findings/guardduty_PenTest_S3_ParrotLinux.json",
	"testdata/findings/guardduty_Recon_IAMUser_MaliciousIPCaller.Custom.json",
	"testdata/findings/guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json",
	"testdata/findings/iam_discovery_anomalous_behavior.json",
	"testdata/findings/iam_instance_credential_exfiltration_outside_aws.json",
	"testdata/findings/lambda_cnc_activity.json",
	"testdata/findings/lambda_tor_client.json",
	"testdata/findings/rds_successful_brute_force.json",
	"testdata/findings/rds_tor_failed_login.json",
	"testdata/findings/runtime_ecs_reverse_shell.json",
	"testdata/findings/runtime_ecs_reverse_shell_sample.json",
	"testdata/findings/runtime_fargate_suspicious_command.json",
	"testdata/findings/s3_exfiltration_malicious_ip_caller.json",
	"testdata/findings/s3_object_malicious_file.json",
	"testdata/findings/s3_policy_bucket_block_public_access_disabled.json",
	"testdata/findings/securityhub_forged_guardduty_backdoor_cnc_dns.json",
	"testdata/findings/securityhub_guardduty_backdoor_cnc_dns.json",
	"tests/attack_sequence.test.hcl",
	"tests/backup_malware.test.hcl",
	"tests/ec2_compromise.test.hcl",
	"tests/iam_credential_compromise.test.hcl",
	"tests/kubernetes_threat.test.hcl",
	"tests/lambda_threat.test.hcl",
	"tests/rds_threat.test.hcl",
	"tests/runtime_threat.test.hcl",
	"tests/s3_exposure.test.hcl",
	"tests/s3_malware.test.hcl",
	"tests/unhandled_high_severity.test.hcl",
}

func TestEmbeddedFiles(t *testing.T) {
	var got []string
	err := fs.WalkDir(Starter(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			got = append(got, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	for _, want := range expectedFiles {
		if _, found := slices.BinarySearch(got, want); !found {
			t.Errorf("missing from the embedded starter: %s", want)
		}
	}
	for _, g := range got {
		if !slices.Contains(expectedFiles, g) {
			t.Errorf("unexpected file in the embedded starter: %s (add it to expectedFiles if it belongs)", g)
		}
	}
	for _, g := range got {
		data, err := fs.ReadFile(Starter(), g)
		if err != nil {
			t.Errorf("%s: %v", g, err)
		} else if len(data) == 0 {
			t.Errorf("%s is empty", g)
		}
	}
}

// starterConfig is what TestConfigMatchesPolicies reads of cordon.hcl.
type starterConfig struct {
	collectors map[string]string // name → type
	actions    map[string]string // name → type
	rules      map[string]starterRule
}

type starterRule struct {
	verdict, response string
	actions           []string
	collect           []string
}

// parseStarterConfig reads cordon.hcl's blocks syntactically: enough to
// check that it and the policies agree, without the engine's loader.
func parseStarterConfig(t *testing.T) starterConfig {
	t.Helper()
	src, err := fs.ReadFile(FS, "cordon.hcl")
	if err != nil {
		t.Fatal(err)
	}
	file, diags := hclsyntax.ParseConfig(src, "cordon.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("cordon.hcl: %s", diags.Error())
	}
	cfg := starterConfig{collectors: map[string]string{}, actions: map[string]string{}, rules: map[string]starterRule{}}
	for _, b := range file.Body.(*hclsyntax.Body).Blocks {
		switch b.Type {
		case "collector":
			cfg.collectors[b.Labels[0]] = literalString(t, b.Body.Attributes["type"])
		case "action":
			cfg.actions[b.Labels[0]] = literalString(t, b.Body.Attributes["type"])
		case "rule":
			attrs := b.Body.Attributes
			cfg.rules[b.Labels[0]] = starterRule{
				verdict:  literalString(t, attrs["verdict"]),
				response: literalString(t, attrs["response"]),
				actions:  referencedNames(t, attrs["actions"], "action"),
				collect:  referencedNames(t, attrs["collect"], "collector"),
			}
		}
	}
	return cfg
}

func literalString(t *testing.T, a *hclsyntax.Attribute) string {
	t.Helper()
	if a == nil {
		return ""
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", a.SrcRange, diags.Error())
	}
	return v.AsString()
}

// referencedNames returns the names of kind.NAME references in a list.
func referencedNames(t *testing.T, a *hclsyntax.Attribute, kind string) []string {
	t.Helper()
	if a == nil {
		return nil
	}
	exprs, diags := hcl.ExprList(a.Expr)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", a.SrcRange, diags.Error())
	}
	var names []string
	for _, e := range exprs {
		tr, diags := hcl.AbsTraversalForExpr(e)
		if diags.HasErrors() || len(tr) != 2 || tr.RootName() != kind {
			t.Fatalf("%s: expected %s.NAME", e.Range(), kind)
		}
		names = append(names, tr[1].(hcl.TraverseAttr).Name)
	}
	return names
}

// libCalls returns the string literals passed to cordon.lib's function
// name across a package's modules: lib.allowed("isolate") → "isolate". The
// modules are parsed, not compiled, so the call is spelled through the
// import: lib.allowed.
func libCalls(modules map[string]*ast.Module, pkg, name string) []string {
	fn := ast.MustParseRef("lib." + name)
	seen := map[string]bool{}
	note := func(operator *ast.Term, args []*ast.Term) {
		if ref, ok := operator.Value.(ast.Ref); ok && ref.Equal(fn) && len(args) > 0 {
			if s, ok := args[0].Value.(ast.String); ok {
				seen[string(s)] = true
			}
		}
	}
	for _, m := range modules {
		if strings.TrimPrefix(m.Package.Path.String(), "data.") != pkg {
			continue
		}
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if terms, ok := e.Terms.([]*ast.Term); ok && len(terms) > 0 {
				note(terms[0], terms[1:])
			}
			return false
		})
		ast.WalkTerms(m, func(term *ast.Term) bool {
			if call, ok := term.Value.(ast.Call); ok && len(call) > 0 {
				note(call[0], call[1:])
			}
			return false
		})
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// TestConfigMatchesPolicies checks that cordon.hcl and the Rego agree: the
// packages rules name exist, the actions responses may choose are ones the
// rules using them list, the facts verdicts read come from collectors the
// rules run, and the recorded facts name declared collectors.
func TestConfigMatchesPolicies(t *testing.T) {
	cfg := parseStarterConfig(t)
	modules := loadModules(t)
	packages := map[string]bool{}
	for name, m := range modules {
		if !isTestFile(name) {
			packages[strings.TrimPrefix(m.Package.Path.String(), "data.")] = true
		}
	}
	if len(cfg.rules) != 11 {
		t.Errorf("cordon.hcl has %d rules, want 11", len(cfg.rules))
	}
	for name, r := range cfg.rules {
		for _, pkg := range []string{r.verdict, r.response} {
			if !packages[pkg] {
				t.Errorf("rule %s names package %q, which no policy declares", name, pkg)
			}
		}
		for _, a := range r.actions {
			if _, ok := cfg.actions[a]; !ok {
				t.Errorf("rule %s lists action.%s, which is not declared", name, a)
			}
		}
		for _, c := range r.collect {
			if _, ok := cfg.collectors[c]; !ok {
				t.Errorf("rule %s collects collector.%s, which is not declared", name, c)
			}
		}
		// Every action the response can choose must be declared, and
		// every action the rule lists should be one the response uses.
		chosen := libCalls(modules, r.response, "allowed")
		if len(chosen) == 0 {
			t.Errorf("response %s never calls lib.allowed", r.response)
		}
		for _, a := range chosen {
			if _, ok := cfg.actions[a]; !ok {
				t.Errorf("response %s can choose action %q, which cordon.hcl does not declare", r.response, a)
			}
		}
		for _, a := range r.actions {
			if !slices.Contains(chosen, a) {
				t.Errorf("rule %s lists action.%s, which response %s never chooses", name, a, r.response)
			}
		}
		// The facts the verdict reads are gathered by the rule.
		for _, c := range libCalls(modules, r.verdict, "usable") {
			if !slices.Contains(r.collect, c) {
				t.Errorf("verdict %s reads facts.%s, which rule %s does not collect", r.verdict, c, name)
			}
		}
	}

	facts, err := fs.Glob(FS, "testdata/facts/*.json")
	if err != nil || len(facts) == 0 {
		t.Fatalf("no facts files: %v", err)
	}
	for _, f := range facts {
		var byCollector map[string]map[string]any
		if err := json.Unmarshal(mustRead(t, f), &byCollector); err != nil {
			t.Errorf("%s: facts must be an object of objects keyed by collector name: %v", f, err)
			continue
		}
		for c := range byCollector {
			if _, ok := cfg.collectors[c]; !ok {
				t.Errorf("%s: %q is not a collector of cordon.hcl", f, c)
			}
		}
	}
}

// TestFindingsAreGuardDuty checks the recorded findings are single
// GuardDuty findings in either key spelling, or (securityhub_*) single
// Security Hub findings in GuardDuty's form, in the account and region the
// README promises for the ones written here.
func TestFindingsAreGuardDuty(t *testing.T) {
	files, err := fs.Glob(FS, "testdata/findings/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no findings: %v", err)
	}
	readme := string(mustRead(t, "testdata/README.md"))
	for _, f := range files {
		var doc map[string]any
		if err := json.Unmarshal(mustRead(t, f), &doc); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		base := path.Base(f)
		if !strings.Contains(readme, base) {
			t.Errorf("%s is not described in testdata/README.md", f)
		}
		if strings.HasPrefix(base, "securityhub_") {
			types, _ := doc["Types"].([]any)
			sev, _ := doc["Severity"].(map[string]any)
			if len(types) != 1 || sev["Label"] == nil || doc["ProductName"] != "GuardDuty" {
				t.Errorf("%s: not an ASFF finding in GuardDuty's form (Types %v, Severity %v, ProductName %v)", f, types, sev, doc["ProductName"])
			}
			if doc["AwsAccountId"] != "123456789012" || doc["Region"] != "us-west-2" || doc["SchemaVersion"] != "2018-10-08" {
				t.Errorf("%s: want AwsAccountId 123456789012, Region us-west-2, SchemaVersion 2018-10-08", f)
			}
			continue
		}
		typ, _ := firstOf(doc, "type", "Type").(string)
		sev, _ := firstOf(doc, "severity", "Severity").(float64)
		if typ == "" || sev < 1 || sev > 10 {
			t.Errorf("%s: not a GuardDuty finding (type %q, severity %v)", f, typ, sev)
		}
		if strings.HasPrefix(base, "guardduty_") {
			continue // copied from published samples, kept as published
		}
		if doc["accountId"] != "123456789012" || doc["region"] != "us-west-2" || doc["schemaVersion"] != "2.0" {
			t.Errorf("%s: want accountId 123456789012, region us-west-2, schemaVersion 2.0", f)
		}
	}
}

func firstOf(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return nil
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	data, err := fs.ReadFile(FS, name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
