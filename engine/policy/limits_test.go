package policy

import (
	"context"
	"errors"
	"regexp"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Policies that never finish in reasonable time or memory, and one that
// does, loaded together as one configuration.
var limitPolicies = fstest.MapFS{
	// The review's reproduction: 2e8 numbers, then a set of them. Unbounded
	// it needs tens of gigabytes.
	"policies/huge.rego": {Data: []byte(`package verdict.huge

verdict := "malicious" if count({x | some x in numbers.range(1, 2e8)}) > 0
`)},
	// Over a hundred million iterations that allocate next to nothing: only
	// the time limit stops it.
	"policies/spin.rego": {Data: []byte(`package verdict.spin

r := numbers.range(1, 500)

default verdict := "benign"

verdict := "malicious" if {
	some a in r
	some b in r
	some c in r
	a + b + c == 0
}
`)},
	"policies/huge_response.rego": {Data: []byte(`package response.huge

actions contains {"action": "notify", "reason": sprintf("%d", [count(xs)])} if {
	xs := {x | some x in numbers.range(1, 2e8)}
}
`)},
	"policies/ok.rego": {Data: []byte(`package verdict.ok

verdict := "benign" if input.finding.severity == "high"
`)},
}

func loadLimits(t *testing.T, opts Options) *Set {
	t.Helper()
	opts.InputSchema = readTestdata(t, "input.schema.json")
	s, diags := Load(limitPolicies, displayDir, []string{"policies"}, opts)
	if diags.HasErrors() {
		t.Fatal(diagsString(diags))
	}
	return s
}

var limitMessage = regexp.MustCompile(`^policy (verdict|response)\.\w+: evaluation exceeded the (time limit of \S+|memory limit) and was stopped`)

// checkLimitError checks err is a limit error in every form callers see:
// an *EvalError naming the package, wrapping a *LimitError.
func checkLimitError(t *testing.T, err error) *LimitError {
	t.Helper()
	if err == nil {
		t.Fatal("the evaluation succeeded")
	}
	var lim *LimitError
	var ee *EvalError
	if !errors.As(err, &lim) || !errors.As(err, &ee) {
		t.Fatalf("error %q (%T) is not an *EvalError wrapping a *LimitError", err, err)
	}
	if !limitMessage.MatchString(err.Error()) {
		t.Errorf("error %q does not match %s", err, limitMessage)
	}
	return lim
}

// TestEvalLimitsDefault runs the review's runaway under the default limits:
// it is stopped, well before it could exhaust memory, with a clear error,
// and the next finding's evaluation, in the same Set, still works.
func TestEvalLimitsDefault(t *testing.T) {
	s := loadLimits(t, Options{})
	ctx := context.Background()
	input := testInput(t)

	start := time.Now()
	_, err := s.EvalVerdict(ctx, "verdict.huge", input)
	elapsed := time.Since(start)
	lim := checkLimitError(t, err)
	t.Logf("%v after %v", err, elapsed)
	if elapsed > DefaultEvalTimeout+2*time.Second {
		t.Errorf("stopped after %v, past the %v time limit", elapsed, DefaultEvalTimeout)
	}
	if lim.Memory != 0 && lim.Memory != DefaultEvalMemory {
		t.Errorf("memory limit %d, want the default %d", lim.Memory, DefaultEvalMemory)
	}
	if lim.Timeout != 0 && lim.Timeout != DefaultEvalTimeout {
		t.Errorf("time limit %v, want the default %v", lim.Timeout, DefaultEvalTimeout)
	}

	v, err := s.EvalVerdict(ctx, "verdict.ok", input)
	if err != nil || v.Verdict != "benign" {
		t.Fatalf("the next evaluation: %+v, %v", v, err)
	}
}

func TestEvalLimitMemory(t *testing.T) {
	const bound = 32 << 20
	s := loadLimits(t, Options{EvalMemory: bound, EvalTimeout: time.Minute})
	ctx := context.Background()
	input := testInput(t)
	for _, ev := range []struct {
		name string
		eval func() error
	}{
		{"verdict", func() error { _, err := s.EvalVerdict(ctx, "verdict.huge", input); return err }},
		{"response", func() error { _, err := s.EvalResponse(ctx, "response.huge", input); return err }},
	} {
		t.Run(ev.name, func(t *testing.T) {
			lim := checkLimitError(t, ev.eval())
			if lim.Memory != bound || lim.Timeout != 0 {
				t.Fatalf("got %+v, want the memory limit", lim)
			}
			// The watchdog looks every 10ms; a runaway cannot get far past
			// the bound in that time.
			if lim.Grown <= bound || lim.Grown > bound+256<<20 {
				t.Errorf("stopped when the heap had grown by %d bytes; the bound is %d", lim.Grown, bound)
			}
			if !strings.Contains(ev.eval().Error(), "over the 32 MiB allowed") {
				t.Error("the message does not give the bound")
			}
		})
	}
}

func TestEvalLimitTime(t *testing.T) {
	const limit = 200 * time.Millisecond
	s := loadLimits(t, Options{EvalTimeout: limit, EvalMemory: -1})
	start := time.Now()
	_, err := s.EvalVerdict(context.Background(), "verdict.spin", testInput(t))
	elapsed := time.Since(start)
	lim := checkLimitError(t, err)
	if lim.Timeout != limit || lim.Memory != 0 {
		t.Fatalf("got %+v, want the time limit", lim)
	}
	if !strings.Contains(err.Error(), "time limit of 200ms") {
		t.Errorf("error %q does not give the limit", err)
	}
	if elapsed < limit || elapsed > limit+2*time.Second {
		t.Errorf("stopped after %v with a limit of %v", elapsed, limit)
	}
}

// TestEvalLimitsOff: with both limits off, the caller's context still
// interrupts a long evaluation, and the error says so rather than
// naming a limit.
func TestEvalLimitsOff(t *testing.T) {
	s := loadLimits(t, Options{EvalTimeout: -1, EvalMemory: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := s.EvalVerdict(ctx, "verdict.spin", testInput(t))
	var lim *LimitError
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &lim) {
		t.Fatalf("got %v, want the context's deadline", err)
	}
	if v, err := s.EvalVerdict(context.Background(), "verdict.ok", testInput(t)); err != nil || v.Verdict != "benign" {
		t.Fatalf("got %+v, %v", v, err)
	}
}

// TestEvalLimitsConcurrent runs a runaway alongside ordinary evaluations,
// as the planner's workers do: the heap is the process's, but only the
// runaway is stopped.
func TestEvalLimitsConcurrent(t *testing.T) {
	s := loadLimits(t, Options{EvalMemory: 32 << 20, EvalTimeout: time.Minute})
	ctx := context.Background()
	input := testInput(t)
	done := make(chan struct{})
	var wg sync.WaitGroup
	var ordinary, failed int
	var mu sync.Mutex
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				_, err := s.EvalVerdict(ctx, "verdict.ok", input)
				mu.Lock()
				ordinary++
				if err != nil {
					failed++
					t.Errorf("an ordinary evaluation failed: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	_, err := s.EvalVerdict(ctx, "verdict.huge", input)
	close(done)
	wg.Wait()
	checkLimitError(t, err)
	if ordinary == 0 {
		t.Error("no ordinary evaluation ran alongside the runaway")
	}
	t.Logf("%d ordinary evaluations alongside, %d failed", ordinary, failed)
}

func TestNewEvalLimits(t *testing.T) {
	tests := []struct {
		opts Options
		want evalLimits
	}{
		{Options{}, evalLimits{timeout: DefaultEvalTimeout, memory: DefaultEvalMemory}},
		{Options{EvalTimeout: time.Second, EvalMemory: 1 << 20}, evalLimits{timeout: time.Second, memory: 1 << 20}},
		{Options{EvalTimeout: -1}, evalLimits{memory: DefaultEvalMemory}},
		{Options{EvalMemory: -1}, evalLimits{timeout: DefaultEvalTimeout}},
		{Options{EvalTimeout: -1, EvalMemory: -1}, evalLimits{}},
	}
	for _, tt := range tests {
		if got := newEvalLimits(tt.opts); got != tt.want {
			t.Errorf("newEvalLimits(%v, %v) = %+v, want %+v", tt.opts.EvalTimeout, tt.opts.EvalMemory, got, tt.want)
		}
	}
}

// TestUnboundedCallsRemoved: the built-ins that can allocate without bound
// in one call, before the limits could stop them, do not compile.
func TestUnboundedCallsRemoved(t *testing.T) {
	for _, call := range []string{
		`bits.lsh(1, 1e12)`,
		`strings.render_template("{{range 100000}}{{range 100000}}x{{end}}{{end}}", {})`,
	} {
		t.Run(call, func(t *testing.T) {
			fsys := fstest.MapFS{"policies/p.rego": {Data: []byte("package verdict.big\n\nverdict := \"benign\" if count(" + call + ") > 0\n")}}
			_, diags := Load(fsys, displayDir, []string{"policies"}, Options{})
			name := call[:strings.Index(call, "(")]
			checkDiags(t, diags, []wantDiag{{
				file: "cfg/policies/p.rego", line: 3, col: 30,
				summary:          "Undefined function",
				detailSubstrings: []string{"cordon policies cannot call " + name + " because one call can allocate without bound", "an evaluation must stay within its time and memory limits"},
			}})
		})
	}
}

// TestShortString: messages about a policy's values render them only when
// short, deciding so without expanding a value whose parts are shared,
// whose text would be exponentially long.
func TestShortString(t *testing.T) {
	shared := ast.ArrayTerm(ast.StringTerm("abcdefgh"))
	for range 60 {
		shared = ast.ArrayTerm(shared, shared) // 2^60 leaves, 61 nodes
	}
	start := time.Now()
	if got := describe(shared); got != "array" {
		t.Errorf("describe = %q", got)
	}
	if got := show(shared); got != "(array too long to show)" {
		t.Errorf("show = %q", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
	for _, tt := range []struct {
		term           *ast.Term
		describe, show string
	}{
		{ast.StringTerm("high"), `string "high"`, `"high"`},
		{ast.MustParseTerm(`{"a": 1}`), `object {"a": 1}`, `{"a": 1}`},
		{ast.MustParseTerm(`{"x", "y"}`), `set {"x", "y"}`, `{"x", "y"}`},
		{ast.StringTerm(strings.Repeat("x", 100)), "string", `"` + strings.Repeat("x", 100) + `"`},
		{ast.StringTerm(strings.Repeat("x", 1000)), "string", "(string too long to show)"},
	} {
		if got := describe(tt.term); got != tt.describe {
			t.Errorf("describe(%v) = %q, want %q", tt.term, got, tt.describe)
		}
		if got := show(tt.term); got != tt.show {
			t.Errorf("show(%v) = %q, want %q", tt.term, got, tt.show)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		s    string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"0123456789abc", 10, "0123456789… (3 bytes more)"},
		{"aaaaaaaaé", 9, "aaaaaaaa… (2 bytes more)"}, // é is two bytes: not cut in half
	} {
		if got := truncate(tt.s, tt.max); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
	}
}

// TestLongBuiltinError: OPA quotes the value at fault in a built-in's
// error; a long one is cut so as not to carry megabytes into the plan.
func TestLongBuiltinError(t *testing.T) {
	fsys := fstest.MapFS{"policies/p.rego": {Data: []byte(`package verdict.long

s0 := "abcdefghij"
s1 := concat("", [s0, s0, s0, s0, s0, s0, s0, s0, s0, s0])
s2 := concat("", [s1, s1, s1, s1, s1, s1, s1, s1, s1, s1])
s3 := concat("", [s2, s2, s2, s2, s2, s2, s2, s2, s2, s2])

verdict := "benign" if to_number(s3) > 0
`)}}
	s, diags := Load(fsys, displayDir, []string{"policies"}, Options{})
	if diags.HasErrors() {
		t.Fatal(diagsString(diags))
	}
	_, err := s.EvalVerdict(context.Background(), "verdict.long", testInput(t))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if len(msg) > maxMessage+200 || !strings.Contains(msg, "to_number") || !strings.Contains(msg, "bytes more)") || !strings.HasSuffix(msg, "(cfg/policies/p.rego:8)") {
		t.Errorf("%d-byte error: %.300s…", len(msg), msg)
	}
}

// BenchmarkEvalGuard is what the limits add to every evaluation: linking
// its record into the watchdog's list and unlinking it.
func BenchmarkEvalGuard(b *testing.B) {
	limits := newEvalLimits(Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			watchdog.release(watchdog.watch(limits))
		}
	})
}

// BenchmarkWatchdogTick is the watchdog's work per tick while evaluations
// run: one metrics read and a pass over the running evaluations.
func BenchmarkWatchdogTick(b *testing.B) {
	sample := []metrics.Sample{{Name: heapMetric}}
	w := &evalWatchdog{}
	for range 4 {
		g := &evalGuard{limits: newEvalLimits(Options{})}
		g.prev = w.tail
		if w.tail != nil {
			w.tail.next = g
		} else {
			w.head = g
		}
		w.tail = g
	}
	b.ReportAllocs()
	for b.Loop() {
		metrics.Read(sample)
		w.mu.Lock()
		w.check(time.Now(), heapBytes(sample[0]))
		w.mu.Unlock()
	}
}
