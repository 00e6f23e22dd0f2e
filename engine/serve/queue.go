package serve

import (
	"context"
	"sync"
	"time"
)

// workQueue is how the daemon's work is claimed and run: by the local
// dispatcher over the SQLite inbox (one daemon per state), or by River on
// PostgreSQL (any number of replicas). Both call the same worker code,
// investigate and applyPlan.
type workQueue interface {
	// start starts claiming and running work until stop.
	start(ctx context.Context) error
	// notify says there is new work (a delivery committed, a plan
	// approved) to look for at once.
	notify()
	// stop stops taking work and waits for what runs to finish until
	// deadline; then it cancels it. What was not finished stays in state
	// (or in the job queue) for the next start or another replica.
	stop(deadline time.Time) (clean bool)
	// claimPlan lets the worker that made an approved plan apply it at
	// once: ok is true when it may (release ends the claim), false when the
	// queue gives the plan's own job to a worker instead. backup is how
	// long the plan's own job waits, as the safety net should this process
	// die before it has applied the plan.
	claimPlan(id string) (release func(), ok bool)
	backup() time.Duration
}

// localQueue runs the dispatcher and its workers in this process.
type localQueue struct {
	p       *dispatcher
	workers int

	cancelWork     context.CancelFunc
	cancelDispatch context.CancelFunc
	wg             sync.WaitGroup
}

func (q *localQueue) start(ctx context.Context) error {
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	dispatchCtx, cancelDispatch := context.WithCancel(workCtx)
	q.cancelWork, q.cancelDispatch = cancelWork, cancelDispatch
	go q.p.run(dispatchCtx)
	for range q.workers {
		q.wg.Add(1)
		go q.p.worker(workCtx, &q.wg)
	}
	return nil
}

func (q *localQueue) notify() { q.p.notify() }

// backup is zero: the local dispatcher finds an approved plan in state.
func (q *localQueue) backup() time.Duration { return 0 }

func (q *localQueue) claimPlan(id string) (func(), bool) {
	q.p.mu.Lock()
	defer q.p.mu.Unlock()
	if q.p.plans[id] {
		return nil, false
	}
	q.p.plans[id] = true
	return func() { q.p.release(task{planID: id}) }, true
}

func (q *localQueue) stop(deadline time.Time) bool {
	q.cancelDispatch()
	finished := make(chan struct{})
	go func() { q.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		q.cancelWork()
		return true
	case <-time.After(time.Until(deadline)):
		q.cancelWork()
		<-finished
		return false
	}
}
