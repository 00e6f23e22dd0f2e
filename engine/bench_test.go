package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/cordonhq/cordon/engine/policy"
	"github.com/cordonhq/cordon/schema"
)

// The pair of benchmarks the speed target compares: the whole pipeline for one
// GuardDuty finding with in-memory facts, and the bare cost under it (the
// JSON decode of the finding plus the two prepared evaluations on an input
// parsed beforehand). Run together:
//
//	go test ./engine -run XXX -bench 'PlanFinding|BareRego' -count 5
//
// and compare the pairs per configuration.

type benchCase struct {
	name, dir, finding, facts string
}

var benchCases = []benchCase{
	{"small", "testdata/bench", "../testdata/findings/guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json", "testdata/basic/facts.json"},
	{"starter", "../policies", "../policies/testdata/findings/ec2_cryptocurrency_bitcointool_dns.json", "../policies/testdata/facts/ec2_cryptominer.json"},
}

func loadBench(b *testing.B, bc benchCase) (*Engine, []byte, *FactsFile) {
	b.Helper()
	e, diags := Load(context.Background(), Options{Dir: bc.dir})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	data, err := os.ReadFile(bc.finding)
	if err != nil {
		b.Fatal(err)
	}
	facts, err := e.ReadFactsFile(bc.facts)
	if err != nil {
		b.Fatal(err)
	}
	return e, data, facts
}

func BenchmarkPlanFinding(b *testing.B) {
	ctx := context.Background()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			e, data, facts := loadBench(b, bc)
			opts := PlanOptions{Facts: facts, Workers: 1}
			b.ReportAllocs()
			cpu, _ := processCPU()
			defer func() { reportCPU(b, cpu) }()
			for b.Loop() {
				ff, err := SplitFindings("finding.json", data)
				if err != nil {
					b.Fatal(err)
				}
				res, diags := e.Plan(ctx, []*FindingsFile{ff}, opts)
				if diags.HasErrors() || len(res.Plan.Incidents) != 1 || len(res.Plan.Incidents[0].Actions) == 0 {
					b.Fatalf("unexpected plan: %v", diags)
				}
			}
		})
	}
}

func BenchmarkBareRego(b *testing.B) {
	ctx := context.Background()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			e, data, facts := loadBench(b, bc)
			findings, err := schema.Parse("finding.json", data)
			if err != nil {
				b.Fatal(err)
			}
			f := findings[0]
			matches, _ := e.matchFinding(f)
			if len(matches) == 0 {
				b.Fatal("no rule matches the benchmark finding")
			}
			rule := matches[0].rule.cfg
			factsObj := ast.NewObject()
			byCollector := facts.Global
			if facts.PerResource != nil {
				byCollector = facts.PerResource[f.Resource.ID]
			}
			for _, name := range rule.Collect {
				fm, ok := byCollector[name]
				if !ok {
					fm = map[string]any{}
				}
				factsObj.Insert(ast.StringTerm(name), ast.NewTerm(policy.ToValue(fm)))
			}
			input := e.policies.BuildInput(&policy.Input{Finding: f, Resource: &f.Resource, Facts: factsObj,
				Scope: matches[0].scope.cfg.Name, Rule: rule.Name, Actions: rule.Actions})
			v, err := e.policies.EvalVerdict(ctx, rule.Verdict, input)
			if err != nil {
				b.Fatal(err)
			}
			responseInput := policy.WithVerdict(input, v)
			b.ReportAllocs()
			cpu, _ := processCPU()
			defer func() { reportCPU(b, cpu) }()
			for b.Loop() {
				var decoded any
				if err := json.Unmarshal(data, &decoded); err != nil {
					b.Fatal(err)
				}
				if _, err := e.policies.EvalVerdict(ctx, rule.Verdict, input); err != nil {
					b.Fatal(err)
				}
				if _, err := e.policies.EvalResponse(ctx, rule.Response, responseInput); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlanNDJSON plans 10,000 distinct GuardDuty findings from one
// NDJSON file on every core, the throughput the speed target sets a floor for; it
// reports findings/s.
func BenchmarkPlanNDJSON(b *testing.B) {
	ctx := context.Background()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			e, data, _ := loadBench(b, bc)
			ndjson := generateNDJSON(b, data, 10000)
			b.ReportAllocs()
			cpu, _ := processCPU()
			defer func() { reportCPU(b, cpu) }()
			for b.Loop() {
				ff, err := SplitFindings("findings.ndjson", ndjson)
				if err != nil {
					b.Fatal(err)
				}
				res, diags := e.Plan(ctx, []*FindingsFile{ff}, PlanOptions{})
				if diags.HasErrors() || res.Plan.Summary.Findings != 10000 {
					b.Fatalf("unexpected plan: %v %+v", diags, res.Plan.Summary)
				}
			}
			b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "findings/s")
		})
	}
}

// generateNDJSON repeats a finding n times as NDJSON with distinct finding
// and instance ids.
func generateNDJSON(tb testing.TB, finding []byte, n int) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(finding, &m); err != nil {
		tb.Fatal(err)
	}
	var out []byte
	for i := range n {
		setID(m, fmt.Sprintf("%032x", i))
		line, err := json.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(append(out, line...), '\n')
	}
	return out
}

func setID(m map[string]any, id string) {
	for _, k := range []string{"Id", "id"} {
		if _, ok := m[k]; ok {
			m[k] = id
		}
	}
	for _, k := range []string{"Resource", "resource"} {
		if r, ok := m[k].(map[string]any); ok {
			for _, ik := range []string{"InstanceDetails", "instanceDetails"} {
				if inst, ok := r[ik].(map[string]any); ok {
					for _, idk := range []string{"InstanceId", "instanceId"} {
						if _, ok := inst[idk]; ok {
							inst[idk] = "i-" + id[15:]
						}
					}
				}
			}
		}
	}
}
