package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

const (
	benchVerdict  = "cordon.ec2.verdict"
	benchResponse = "cordon.ec2.response"
)

func benchSet(b *testing.B) *Set {
	b.Helper()
	s := loadEval(b, Options{})
	if err := s.Prepare(context.Background(), []string{benchVerdict, benchResponse}); err != nil {
		b.Fatal(err)
	}
	return s
}

func benchInput(b *testing.B) *Input {
	b.Helper()
	f := testFinding(b)
	f.Decoded() // the parser keeps the decoded raw finding
	return &Input{
		Finding: f, Resource: &f.Resource, Facts: testFacts(),
		Scope: "prod_web", Rule: "ec2_compromise",
		Actions: []string{"isolate", "snapshot", "stop", "notify"},
	}
}

// BenchmarkBuildInput is the per-investigation cost of the input document:
// "full" converts the whole ~4KB raw GuardDuty finding (BuildInput),
// "projected" only the raw paths the realistic policies read (Set.BuildInput).
func BenchmarkBuildInput(b *testing.B) {
	in := benchInput(b)
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			BuildInput(in)
		}
	})
	s := benchSet(b)
	b.Run("projected", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.BuildInput(in)
		}
	})
}

func BenchmarkEvalVerdict(b *testing.B) {
	s := benchSet(b)
	input := BuildInput(benchInput(b))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.EvalVerdict(ctx, benchVerdict, input); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvalVerdictParallel(b *testing.B) {
	s := benchSet(b)
	input := BuildInput(benchInput(b))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.EvalVerdict(ctx, benchVerdict, input); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkEvalResponse(b *testing.B) {
	s := benchSet(b)
	ctx := context.Background()
	base := BuildInput(benchInput(b))
	v, err := s.EvalVerdict(ctx, benchVerdict, base)
	if err != nil {
		b.Fatal(err)
	}
	input := WithVerdict(base, v)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.EvalResponse(ctx, benchResponse, input); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInvestigation compares what the engine does per investigation
// (build the input, evaluate the verdict, add it, evaluate the response)
// with the floor: the same two queries prepared with OPA's defaults and
// evaluated on inputs built beforehand.
func BenchmarkInvestigation(b *testing.B) {
	ctx := context.Background()
	s := benchSet(b)
	in := benchInput(b)

	for _, build := range []struct {
		name  string
		build func(*Input) ast.Object
	}{{"engine-full-input", BuildInput}, {"engine-projected-input", s.BuildInput}} {
		b.Run(build.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				input := build.build(in)
				v, err := s.EvalVerdict(ctx, benchVerdict, input)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.EvalResponse(ctx, benchResponse, WithVerdict(input, v)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}

	b.Run("bare-evals", func(b *testing.B) {
		prep := func(q string) rego.PreparedEvalQuery {
			pq, err := rego.New(rego.Query(q), rego.Compiler(s.Compiler())).PrepareForEval(ctx)
			if err != nil {
				b.Fatal(err)
			}
			return pq
		}
		ref := ast.MustParseRef("data." + benchVerdict)
		verdictQ := prep(verdictQuery(ref))
		responseQ := prep(responseQuery(ast.MustParseRef("data." + benchResponse)))
		input := BuildInput(in)
		v, err := s.EvalVerdict(ctx, benchVerdict, input)
		if err != nil {
			b.Fatal(err)
		}
		responseInput := WithVerdict(input, v)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := verdictQ.Eval(ctx, rego.EvalParsedInput(input)); err != nil {
				b.Fatal(err)
			}
			if _, err := responseQ.Eval(ctx, rego.EvalParsedInput(responseInput)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeFinding is the JSON decode the speed target adds to
// the bare evaluations, for reference.
func BenchmarkDecodeFinding(b *testing.B) {
	raw := readTestdata(b, "guardduty_backdoor_dns.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerdictQueryShape is the measurement behind verdictQuery: the
// ways to get a verdict document out of a package with helper rules.
func BenchmarkVerdictQueryShape(b *testing.B) {
	ctx := context.Background()
	s := benchSet(b)
	input := BuildInput(benchInput(b))
	ref := ast.MustParseRef("data." + benchVerdict)
	shapes := []struct{ name, query string }{
		// The lower bound: the required rule alone.
		{"verdict-only", "verdict := " + ref.String() + ".verdict"},
		// What verdictQuery does.
		{"verdict+comprehension", verdictQuery(ref)},
		// One array comprehension per optional field.
		{"verdict+per-field", "verdict := " + ref.String() + ".verdict; " +
			"confidence := [x | x := " + ref.String() + ".confidence]; " +
			"reasons := [x | x := " + ref.String() + ".reasons]; " +
			"summary := [x | x := " + ref.String() + ".summary]; " +
			"root_cause := [x | x := " + ref.String() + ".root_cause]; " +
			"impact := [x | x := " + ref.String() + ".impact]"},
		// The whole package document, helpers included.
		{"whole-package", "doc := " + ref.String()},
	}
	for _, sh := range shapes {
		b.Run(sh.name, func(b *testing.B) {
			q, err := s.prepareQuery(ctx, sh.query)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := q.eval(ctx, input); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
