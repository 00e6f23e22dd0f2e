package policy

import (
	"fmt"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// Policies arrive in pull requests, so one evaluation must not be able to
// take the process down: a comprehension over numbers.range(1, 2e8) grows
// the heap by gigabytes in seconds. Every evaluation therefore runs under a
// time limit and a bound on how much the heap may grow while it runs; one
// that exceeds either is cancelled and fails with a *LimitError, which the
// planner reports as that finding's investigation error while the other
// findings go on.
//
// OPA checks its Cancel flag before every expression and inside the
// built-ins that build large values (numbers.range, net.cidr_expand,
// concat, replace), so setting it stops a runaway evaluation within
// microseconds. Setting it is the job of one watchdog goroutine, shared by
// every evaluation of the process: it wakes every watchTick while
// evaluations are running, cancels those past their deadline, and reads the
// heap from runtime/metrics (no stop-the-world) to cancel one whose heap
// growth went over its bound. An evaluation itself does no more than link
// a small record into the watchdog's list and unlink it after: no timer, no
// goroutine, no clock reading, no metrics read. Typical evaluations take
// tens of microseconds and finish before the watchdog ever sees them.

const (
	// DefaultEvalTimeout bounds one evaluation of a package. Real policies
	// take well under a millisecond.
	DefaultEvalTimeout = 5 * time.Second
	// DefaultEvalMemory bounds how much the heap may grow while one
	// evaluation runs. The plan of 10,000 findings fits in 200 MB whole.
	DefaultEvalMemory = 256 << 20

	// watchTick is how often the watchdog looks while evaluations run: the
	// granularity of the time limit, and what bounds the overshoot of the
	// memory limit (a runaway allocates on the order of 100 MB/s).
	watchTick = 10 * time.Millisecond
	// watchIdleTicks is how many ticks with no evaluation running the
	// watchdog waits before its goroutine exits; the next evaluation starts
	// it again.
	watchIdleTicks = 100

	heapMetric = "/memory/classes/heap/objects:bytes"
)

// evalLimits are the bounds evaluations of a Set run under; zero means
// unbounded.
type evalLimits struct {
	timeout time.Duration
	memory  uint64
}

func newEvalLimits(opts Options) evalLimits {
	var l evalLimits
	switch {
	case opts.EvalTimeout == 0:
		l.timeout = DefaultEvalTimeout
	case opts.EvalTimeout > 0:
		l.timeout = opts.EvalTimeout
	}
	switch {
	case opts.EvalMemory == 0:
		l.memory = DefaultEvalMemory
	case opts.EvalMemory > 0:
		l.memory = uint64(opts.EvalMemory)
	}
	return l
}

// LimitError is an evaluation cancelled because it exceeded its time limit
// or its memory bound (Options.EvalTimeout, Options.EvalMemory).
type LimitError struct {
	// Timeout is the time limit, when that is what was exceeded.
	Timeout time.Duration
	// Memory is the bound on heap growth, when that is what was exceeded,
	// and Grown how much the heap had grown when the evaluation was
	// cancelled.
	Memory, Grown uint64
}

func (e *LimitError) Error() string {
	if e.Timeout > 0 {
		return fmt.Sprintf("evaluation exceeded the time limit of %s and was stopped", e.Timeout)
	}
	return fmt.Sprintf("evaluation exceeded the memory limit and was stopped: the heap grew by %s while it ran, over the %s allowed",
		mebibytes(e.Grown), mebibytes(e.Memory))
}

// mebibytes rounds up, so that growth just over a bound does not print as
// the bound itself.
func mebibytes(n uint64) string {
	return fmt.Sprintf("%d MiB", (n+(1<<20)-1)>>20)
}

// Why the watchdog cancelled an evaluation.
const (
	tripNone uint32 = iota
	tripTime
	tripMemory
)

// evalGuard is one running evaluation. It is the topdown.Cancel OPA
// checks, set by the caller's context or by the watchdog.
type evalGuard struct {
	cancelled atomic.Bool
	trip      atomic.Uint32 // tripTime or tripMemory; stored after grown
	grown     uint64        // heap growth at a memory trip

	limits evalLimits

	// The watchdog's, under its mutex. The deadline and the heap baseline
	// are taken when the watchdog first sees the evaluation, at most a
	// tick after it started, so that starting one reads no clock.
	seen       bool
	deadline   time.Time
	baseline   uint64
	prev, next *evalGuard
}

func (g *evalGuard) Cancel()         { g.cancelled.Store(true) }
func (g *evalGuard) Cancelled() bool { return g.cancelled.Load() }

// exceeded returns the limit the watchdog cancelled the evaluation for,
// nil if it did not.
func (g *evalGuard) exceeded() *LimitError {
	switch g.trip.Load() {
	case tripTime:
		return &LimitError{Timeout: g.limits.timeout}
	case tripMemory:
		return &LimitError{Memory: g.limits.memory, Grown: g.grown}
	}
	return nil
}

// evalWatchdog holds the running evaluations, oldest first, and the
// goroutine that watches them while there are any.
type evalWatchdog struct {
	mu         sync.Mutex
	head, tail *evalGuard
	running    bool
}

var watchdog evalWatchdog

// watch registers an evaluation under limits; release must follow.
func (w *evalWatchdog) watch(limits evalLimits) *evalGuard {
	g := &evalGuard{limits: limits}
	if limits == (evalLimits{}) {
		return g
	}
	w.mu.Lock()
	g.prev = w.tail
	if w.tail != nil {
		w.tail.next = g
	} else {
		w.head = g
	}
	w.tail = g
	if !w.running {
		w.running = true
		go w.loop()
	}
	w.mu.Unlock()
	return g
}

// release unregisters an evaluation that has returned.
func (w *evalWatchdog) release(g *evalGuard) {
	if g.limits == (evalLimits{}) {
		return
	}
	w.mu.Lock()
	if g.prev != nil {
		g.prev.next = g.next
	} else {
		w.head = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	} else {
		w.tail = g.prev
	}
	g.prev, g.next = nil, nil
	w.mu.Unlock()
}

func (w *evalWatchdog) loop() {
	t := time.NewTicker(watchTick)
	defer t.Stop()
	sample := []metrics.Sample{{Name: heapMetric}}
	idle := 0
	for now := range t.C {
		w.mu.Lock()
		if w.head == nil {
			idle++
			if idle >= watchIdleTicks {
				w.running = false
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			continue
		}
		idle = 0
		metrics.Read(sample)
		w.check(now, heapBytes(sample[0]))
		w.mu.Unlock()
	}
}

func heapBytes(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}

// check cancels the evaluations past their deadline and, of those whose
// heap growth is over their bound, the oldest.
//
// Growth is measured from the lowest heap seen while the evaluation ran:
// the heap includes garbage not yet collected, and measuring from a
// baseline full of garbage would let a runaway grow by that much more once
// a collection frees it. The heap is the process's, shared by every
// evaluation running, so growth cannot be attributed to one: the oldest is
// the likeliest culprit, since an ordinary evaluation lives for
// microseconds. Once it is cancelled its garbage stays on the heap until
// the next collection, so the others' baselines move up to the current
// heap rather than count that garbage as their own growth. Called with
// w.mu held.
func (w *evalWatchdog) check(now time.Time, heap uint64) {
	var over *evalGuard
	for g := w.head; g != nil; g = g.next {
		if g.Cancelled() {
			continue
		}
		if !g.seen {
			g.seen = true
			if g.limits.timeout > 0 {
				g.deadline = now.Add(g.limits.timeout)
			}
			g.baseline = heap
			continue
		}
		if g.limits.timeout > 0 && !now.Before(g.deadline) {
			g.trip.Store(tripTime)
			g.Cancel()
			continue
		}
		if heap < g.baseline {
			g.baseline = heap
		}
		if over == nil && g.limits.memory > 0 && heap > g.baseline && heap-g.baseline > g.limits.memory {
			over = g
		}
	}
	if over == nil {
		return
	}
	over.grown = heap - over.baseline
	over.trip.Store(tripMemory)
	over.Cancel()
	for g := w.head; g != nil; g = g.next {
		if g != over {
			g.baseline = max(g.baseline, heap)
		}
	}
}
