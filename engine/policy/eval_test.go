package policy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func ptr[T any](v T) *T { return &v }

func TestEvalVerdict(t *testing.T) {
	s := loadEval(t, Options{})
	input := testInput(t)
	ctx := context.Background()

	tests := []struct {
		pkg     string
		want    *Verdict
		wantErr string // the whole message
	}{
		{pkg: "cordon.ec2.verdict", want: &Verdict{
			Verdict:    "malicious",
			Confidence: ptr(0.9),
			Reasons: []string{
				"Backdoor:EC2/C&CActivity.B!DNS finding of high severity",
				"instance has a public IP address",
				"instance is running",
				"queried GeneratedFindingDomainName",
				"seen 3 times",
				"threat intelligence lists GeneratedFindingThreatName",
			},
			Summary:   "Backdoor:EC2/C&CActivity.B!DNS on i-99999999",
			RootCause: "instance contacted a command and control server",
			Impact:    "possible remote control of the instance",
		}},
		{pkg: "verdict.full", want: &Verdict{
			Verdict: "malicious", Confidence: ptr(0.75),
			Reasons: []string{"a first", "b second"}, // a set: sorted
			Summary: "s", RootCause: "rc", Impact: "im",
		}},
		{pkg: "verdict.minimal", want: &Verdict{Verdict: "benign"}},
		{pkg: "verdict.array_reasons", want: &Verdict{
			Verdict: "suspicious",
			Reasons: []string{"z last", "a first", "z last"}, // an array: as given
		}},
		{pkg: "verdict.empty_reasons", want: &Verdict{Verdict: "benign", Reasons: []string{}}},
		{pkg: "verdict.confidence_zero", want: &Verdict{Verdict: "benign", Confidence: ptr(0.0)}},
		{pkg: "verdict.confidence_one", want: &Verdict{Verdict: "malicious", Confidence: ptr(1.0)}},
		{pkg: "verdict.helper_error", want: &Verdict{Verdict: "benign"}},

		{pkg: "verdict.undefined", wantErr: `policy verdict.undefined: verdict is undefined for this input: no verdict rule applies (a default rule, such as default verdict := "inconclusive", covers every input)`},
		{pkg: "verdict.norule", wantErr: `policy verdict.norule: verdict is undefined: the package has no verdict rule`},
		{pkg: "verdict.evil", wantErr: `policy verdict.evil: verdict "evil" is not one of malicious, suspicious, benign, inconclusive (cfg/eval/verdict_evil.rego:4)`},
		{pkg: "verdict.evil_else", wantErr: `policy verdict.evil_else: verdict "evil" is not one of malicious, suspicious, benign, inconclusive (cfg/eval/verdict_evil_else.rego:5)`},
		{pkg: "verdict.number", wantErr: `policy verdict.number: verdict must be a string, one of malicious, suspicious, benign, inconclusive; got number 3 (cfg/eval/verdict_number.rego:3)`},
		{pkg: "verdict.confidence_high", wantErr: `policy verdict.confidence_high: confidence must be between 0 and 1; got 1.5 (cfg/eval/verdict_confidence_high.rego:5)`},
		{pkg: "verdict.confidence_negative", wantErr: `policy verdict.confidence_negative: confidence must be between 0 and 1; got -0.1 (cfg/eval/verdict_confidence_negative.rego:5)`},
		{pkg: "verdict.confidence_string", wantErr: `policy verdict.confidence_string: confidence must be a number between 0 and 1; got string "high" (cfg/eval/verdict_confidence_string.rego:5)`},
		{pkg: "verdict.reasons_number", wantErr: `policy verdict.reasons_number: reasons must hold only strings; got number 3 (cfg/eval/verdict_reasons_number.rego:7)`},
		{pkg: "verdict.reasons_object", wantErr: `policy verdict.reasons_object: reasons must be a set or array of strings; got object {"a": 1} (cfg/eval/verdict_reasons_object.rego:5)`},
		{pkg: "verdict.summary_number", wantErr: `policy verdict.summary_number: summary must be a string; got number 42 (cfg/eval/verdict_summary_number.rego:5)`},
		{pkg: "verdict.root_cause_bool", wantErr: `policy verdict.root_cause_bool: root_cause must be a string; got boolean true (cfg/eval/verdict_root_cause_bool.rego:5)`},
		{pkg: "verdict.impact_array", wantErr: `policy verdict.impact_array: impact must be a string; got array ["a"] (cfg/eval/verdict_impact_array.rego:5)`},
		{pkg: "verdict.conflict", wantErr: "policy verdict.conflict: rule data.verdict.conflict.verdict produced conflicting values:\n  \"malicious\" at cfg/eval/verdict_conflict.rego:3\n  \"benign\" at cfg/eval/verdict_conflict.rego:5"},
		{pkg: "verdict.builtin_error", wantErr: `policy verdict.builtin_error: to_number: strconv.ParseFloat: parsing "Backdoor:EC2/C&CActivity.B!DNS": invalid syntax (cfg/eval/verdict_builtin_error.rego:3)`},
		{pkg: "verdict.nosuch", wantErr: `policy verdict.nosuch: no policy declares package verdict.nosuch`},
		{pkg: "verdict.bad-name", wantErr: `invalid policy package name "verdict.bad-name": a package name is dot-separated identifiers, such as cordon.verdict`},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			got, err := s.EvalVerdict(ctx, tt.pkg, input)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("got %+v, want error %q", got, tt.wantErr)
				}
				if err.Error() != tt.wantErr {
					t.Fatalf("error\n got: %s\nwant: %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("verdict\n got: %s\nwant: %s", fmtVerdict(got), fmtVerdict(tt.want))
			}
		})
	}
}

func fmtVerdict(v *Verdict) string {
	c := "nil"
	if v.Confidence != nil {
		c = fmt.Sprint(*v.Confidence)
	}
	return fmt.Sprintf("%s confidence=%s reasons=%q summary=%q root_cause=%q impact=%q", v.Verdict, c, v.Reasons, v.Summary, v.RootCause, v.Impact)
}

func TestEvalErrorType(t *testing.T) {
	s := loadEval(t, Options{})
	_, err := s.EvalVerdict(context.Background(), "verdict.evil", testInput(t))
	var ee *EvalError
	if !errors.As(err, &ee) {
		t.Fatalf("error %T is not an *EvalError", err)
	}
	if ee.Package != "verdict.evil" || ee.File != "cfg/eval/verdict_evil.rego" || ee.Line != 4 {
		t.Errorf("got package %q at %s:%d", ee.Package, ee.File, ee.Line)
	}
}

func TestEvalCancelled(t *testing.T) {
	s := loadEval(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.EvalVerdict(ctx, "cordon.ec2.verdict", testInput(t))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want an error wrapping context.Canceled", err)
	}
}

func TestEvalResponse(t *testing.T) {
	s := loadEval(t, Options{})
	ctx := context.Background()
	input := testInput(t)
	v, err := s.EvalVerdict(ctx, "cordon.ec2.verdict", input)
	if err != nil {
		t.Fatal(err)
	}
	input = WithVerdict(input, v)

	tests := []struct {
		pkg     string
		want    []ResponseAction
		wantErr string
	}{
		{pkg: "cordon.ec2.response", want: []ResponseAction{
			{Action: "isolate", Target: "i-99999999"},
			{Action: "notify", Reason: "Backdoor:EC2/C&CActivity.B!DNS on i-99999999"},
			{Action: "snapshot", Reason: "preserve evidence"},
		}},
		{pkg: "response.set", want: []ResponseAction{
			{Action: "isolate"},
			{Action: "notify", Target: "i-99999999", Reason: "a"},
			{Action: "notify", Target: "i-99999999", Reason: "b"},
			{Action: "snapshot", Target: "i-99999999", Reason: "evidence"},
		}},
		{pkg: "response.array", want: []ResponseAction{
			{Action: "isolate", Target: "i-0"},
			{Action: "isolate", Target: "i-1"},
			{Action: "stop", Target: "i-2"}, // twice in the array, once here
		}},
		{pkg: "response.missing", want: nil},
		{pkg: "response.undefined", want: nil},
		{pkg: "response.empty", want: []ResponseAction{}},

		{pkg: "response.non_object", wantErr: `policy response.non_object: actions entries must be objects {action, target, reason}; got string "isolate" (cfg/eval/response_non_object.rego:3)`},
		{pkg: "response.no_action", wantErr: `policy response.no_action: actions entry {"target": "i-1"} has no action; it must name an action block (cfg/eval/response_no_action.rego:3)`},
		{pkg: "response.empty_action", wantErr: `policy response.empty_action: actions entry {"action": ""} has no action; it must name an action block (cfg/eval/response_empty_action.rego:3)`},
		{pkg: "response.bad_type", wantErr: `policy response.bad_type: actions entry {"action": "isolate", "target": 7}: target must be a string; got number 7 (cfg/eval/response_bad_type.rego:3)`},
		{pkg: "response.unknown_key", wantErr: `policy response.unknown_key: actions entry {"action": "isolate", "targte": "i-1"} has unknown key "targte"; an entry has action, target and reason (cfg/eval/response_unknown_key.rego:3)`},
		{pkg: "response.not_collection", wantErr: `policy response.not_collection: actions must be a set or array of objects; got string "isolate" (cfg/eval/response_not_collection.rego:3)`},
		{pkg: "response.array_bad", wantErr: `policy response.array_bad: actions entry {"action": 1}: action must be a string; got number 1 (cfg/eval/response_array_bad.rego:3)`},
		{pkg: "response.conflict", wantErr: "policy response.conflict: rule data.response.conflict.actions produced conflicting values:\n  [] at cfg/eval/response_conflict.rego:3\n  [{\"action\": \"isolate\"}] at cfg/eval/response_conflict.rego:5"},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			got, err := s.EvalResponse(ctx, tt.pkg, input)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("got %+v, want error %q", got, tt.wantErr)
				}
				if err.Error() != tt.wantErr {
					t.Fatalf("error\n got: %s\nwant: %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("actions\n got: %#v\nwant: %#v", got, tt.want)
			}
		})
	}
}

func TestResponseSeesVerdict(t *testing.T) {
	s := loadEval(t, Options{})
	ctx := context.Background()
	input := testInput(t)
	for _, tt := range []struct {
		verdict string
		want    []string
	}{
		{"malicious", []string{"isolate", "notify", "snapshot"}},
		{"suspicious", []string{"notify"}},
		{"benign", nil},
	} {
		got, err := s.EvalResponse(ctx, "cordon.ec2.response", WithVerdict(input, &Verdict{Verdict: tt.verdict, Summary: "x"}))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range got {
			names = append(names, a.Action)
		}
		if !reflect.DeepEqual(names, tt.want) {
			t.Errorf("verdict %s: got actions %q, want %q", tt.verdict, names, tt.want)
		}
	}
}

func TestLocate(t *testing.T) {
	s := loadEval(t, Options{})
	ctx := context.Background()
	input := testInput(t)
	tests := []struct {
		pkg    string
		action ResponseAction
		line   int    // 0: not found
		file   string // default: the package name's file
	}{
		{"response.locate", ResponseAction{Action: "snapshot"}, 5, ""},
		{"response.locate", ResponseAction{Action: "isolate", Target: "i-99999999"}, 7, ""},
		{"response.locate", ResponseAction{Action: "stop", Target: "i-2", Reason: "stopped"}, 11, ""},
		{"response.locate", ResponseAction{Action: "stop", Target: "i-1", Reason: "stopped"}, 11, ""},
		// The rule exists but does not fire for this input.
		{"response.locate", ResponseAction{Action: "isolate", Target: "i-other"}, 0, ""},
		{"response.locate", ResponseAction{Action: "nope"}, 0, ""},
		// An entry of an array built by one complete rule.
		{"response.array", ResponseAction{Action: "stop", Target: "i-2"}, 3, ""},
		{"response.nosuch", ResponseAction{Action: "stop"}, 0, ""},
		// One package in two files.
		{"response.split", ResponseAction{Action: "snapshot"}, 3, "cfg/eval/response_split_1.rego"},
		{"response.split", ResponseAction{Action: "stop"}, 4, "cfg/eval/response_split_2.rego"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%s", tt.pkg, tt.action.Action, tt.action.Target), func(t *testing.T) {
			file, line, ok := s.Locate(ctx, tt.pkg, input, tt.action)
			if tt.line == 0 {
				if ok {
					t.Fatalf("got %s:%d, want not found", file, line)
				}
				return
			}
			wantFile := tt.file
			if wantFile == "" {
				wantFile = "cfg/eval/" + strings.ReplaceAll(tt.pkg, ".", "_") + ".rego"
			}
			if !ok || file != wantFile || line != tt.line {
				t.Fatalf("got %s:%d (found %v), want %s:%d", file, line, ok, wantFile, tt.line)
			}
		})
	}
}

// TestConcurrentEval runs verdicts and responses from several goroutines
// over distinct inputs (run it with -race).
func TestConcurrentEval(t *testing.T) {
	s := loadEval(t, Options{})
	ctx := context.Background()
	if err := s.Prepare(ctx, []string{"cordon.ec2.verdict", "cordon.ec2.response"}); err != nil {
		t.Fatal(err)
	}
	shared := testInput(t)
	want, err := s.EvalVerdict(ctx, "cordon.ec2.verdict", shared)
	if err != nil {
		t.Fatal(err)
	}
	wantActions, err := s.EvalResponse(ctx, "cordon.ec2.response", WithVerdict(shared, want))
	if err != nil {
		t.Fatal(err)
	}

	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				input := shared
				if (w+i)%2 == 0 {
					input = testInput(t) // a fresh input half of the time
				}
				v, err := s.EvalVerdict(ctx, "cordon.ec2.verdict", input)
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(v, want) {
					errs <- fmt.Errorf("worker %d: verdict %s, want %s", w, fmtVerdict(v), fmtVerdict(want))
					return
				}
				acts, err := s.EvalResponse(ctx, "cordon.ec2.response", WithVerdict(input, v))
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(acts, wantActions) {
					errs <- fmt.Errorf("worker %d: actions %v, want %v", w, acts, wantActions)
					return
				}
				// Lazily prepared packages race with the prepared ones.
				if _, err := s.EvalVerdict(ctx, "verdict.full", input); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPrepare(t *testing.T) {
	s := loadEval(t, Options{})
	ctx := context.Background()
	if err := s.Prepare(ctx, []string{"cordon.ec2.verdict", "verdict.full"}); err != nil {
		t.Fatal(err)
	}
	if got := len(*s.prepared.Load()); got != 2 {
		t.Errorf("prepared %d packages, want 2", got)
	}
	// Preparing again is a no-op, and evaluation uses what was prepared.
	before := (*s.prepared.Load())["verdict.full"]
	if err := s.Prepare(ctx, []string{"verdict.full"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EvalVerdict(ctx, "verdict.full", testInput(t)); err != nil {
		t.Fatal(err)
	}
	if (*s.prepared.Load())["verdict.full"] != before {
		t.Error("verdict.full was prepared twice")
	}
	err := s.Prepare(ctx, []string{"nope.missing", "bad..name"})
	if err == nil || !strings.Contains(err.Error(), "no policy declares package nope.missing") || !strings.Contains(err.Error(), `invalid policy package name "bad..name"`) {
		t.Errorf("got %v, want errors for both packages", err)
	}
}

func TestPackageRef(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"cordon.verdict", true},
		{"cordon.ec2.verdict", true},
		{"a", true},
		{"_x.y9", true},
		{"", false},
		{"cordon.", false},
		{".cordon", false},
		{"cordon..verdict", false},
		{"cordon.9lives", false},
		{"cordon.ver-dict", false},
		{`cordon["verdict"]`, false},
	} {
		ref, err := packageRef(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("packageRef(%q): error %v, want ok=%v", tt.name, err, tt.ok)
			continue
		}
		if tt.ok && packageName(ref) != tt.name {
			t.Errorf("packageRef(%q) = %v, which names %q", tt.name, ref, packageName(ref))
		}
	}
}

func TestEvalOnFailedSet(t *testing.T) {
	s, diags := Load(osDir(t), displayDir, []string{"errors/typo"}, Options{InputSchema: readTestdata(t, "input.schema.json")})
	if !diags.HasErrors() {
		t.Fatal("want errors")
	}
	if _, err := s.EvalVerdict(context.Background(), "cordon.verdict", ast.NewObject()); err == nil {
		t.Fatal("evaluating a set that failed to compile must fail")
	}
}
