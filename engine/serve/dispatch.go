package serve

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cordonhq/cordon/engine/state"
)

// dispatcher hands the inbox's deliveries and the approved plans to a
// fixed pool of workers (serve's max_concurrent). Work is found in state,
// never only in memory: a notification wakes the dispatcher at once, and
// a periodic scan finds whatever a notification missed (a delivery a
// failed write left queued, a plan approved by `cordon approve` from
// another process). Two deliveries of one incident never run at once, so
// an older update cannot overtake a newer one mid-investigation.
type dispatcher struct {
	d     *Daemon
	wake  chan struct{}
	work  chan task
	scan  time.Duration
	retry time.Duration

	mu        sync.Mutex
	inFlight  map[int64]bool    // deliveries queued or running
	plans     map[string]bool   // plans queued or running
	incidents map[string]bool   // incidents with a delivery running
	deferred  map[string][]task // deliveries waiting for their incident
	ready     []task            // deliveries whose incident became free
	lastID    int64             // highest delivery id handed out
}

// task is one unit of work: a delivery to investigate or a plan to apply.
type task struct {
	delivery state.Delivery // without its record; the worker reads it
	planID   string
}

func newDispatcher(d *Daemon, workers int) *dispatcher {
	return &dispatcher{
		d: d, wake: make(chan struct{}, 1), work: make(chan task, workers),
		scan: time.Second, retry: 30 * time.Second,
		inFlight: map[int64]bool{}, plans: map[string]bool{}, incidents: map[string]bool{},
		deferred: map[string][]task{},
	}
}

// notify wakes the dispatcher: new deliveries, or a plan approved.
func (p *dispatcher) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run hands out work until ctx is done; then it stops handing out, and
// closes the work channel so the workers end when they finish.
func (p *dispatcher) run(ctx context.Context) {
	defer close(p.work)
	scan := time.NewTicker(p.scan)
	defer scan.Stop()
	lastFull := time.Time{}
	for {
		full := time.Since(lastFull) >= p.retry
		if full {
			lastFull = time.Now()
		}
		if err := p.fill(ctx, full); err != nil && ctx.Err() == nil {
			p.d.log.Error("reading the inbox failed; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-scan.C:
		}
	}
}

// fill hands out the queued deliveries and approved plans not yet handed
// out. A full pass reads the inbox from its start, to pick up deliveries
// whose processing failed and was not finished.
func (p *dispatcher) fill(ctx context.Context, full bool) error {
	p.mu.Lock()
	ready := p.ready
	p.ready = nil
	p.mu.Unlock()
	for i, t := range ready {
		if !p.send(ctx, t) {
			for _, rest := range ready[i+1:] {
				p.release(rest)
			}
			return nil
		}
	}
	plans, err := p.d.store.Plans(ctx, state.PlanFilter{Status: []state.PlanStatus{state.PlanApproved}})
	if err != nil {
		return err
	}
	for _, pl := range plans {
		if !p.d.retries.due(pl.ID, p.d.now()) {
			continue // put off: it found no AWS access (retry.go)
		}
		p.mu.Lock()
		busy := p.plans[pl.ID]
		if !busy {
			p.plans[pl.ID] = true
		}
		p.mu.Unlock()
		if !busy && !p.send(ctx, task{planID: pl.ID}) {
			return nil
		}
	}
	p.mu.Lock()
	after := p.lastID
	p.mu.Unlock()
	if full {
		after = 0
	}
	for {
		batch, err := p.d.store.QueuedDeliveries(ctx, after, 256)
		if err != nil {
			return err
		}
		for _, dl := range batch {
			after = dl.ID
			dl.Record = nil // the worker reads it again; the queue stays small
			p.mu.Lock()
			if dl.ID > p.lastID {
				p.lastID = dl.ID
			}
			if p.inFlight[dl.ID] {
				p.mu.Unlock()
				continue
			}
			p.inFlight[dl.ID] = true
			if p.incidents[dl.IncidentID] {
				p.deferred[dl.IncidentID] = append(p.deferred[dl.IncidentID], task{delivery: dl})
				p.mu.Unlock()
				continue
			}
			p.incidents[dl.IncidentID] = true
			p.mu.Unlock()
			if !p.send(ctx, task{delivery: dl}) {
				return nil
			}
		}
		if len(batch) < 256 {
			return nil
		}
	}
}

// send hands a task to a worker, waiting for one to be free.
func (p *dispatcher) send(ctx context.Context, t task) bool {
	select {
	case p.work <- t:
		return true
	case <-ctx.Done():
		p.release(t)
		return false
	}
}

// release forgets a finished (or abandoned) task. The next delivery of
// the same incident that waited for it now owns the incident and is made
// ready; the dispatcher hands it out (a worker never sends to the work
// channel itself, which could fill up with every worker blocked on it).
func (p *dispatcher) release(t task) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.planID != "" {
		delete(p.plans, t.planID)
		return
	}
	delete(p.inFlight, t.delivery.ID)
	inc := t.delivery.IncidentID
	if waiting := p.deferred[inc]; len(waiting) > 0 {
		p.ready = append(p.ready, waiting[0])
		if len(waiting) == 1 {
			delete(p.deferred, inc)
		} else {
			p.deferred[inc] = waiting[1:]
		}
		p.notifyLocked()
		return
	}
	delete(p.incidents, inc)
}

func (p *dispatcher) notifyLocked() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// worker runs tasks until the work channel closes.
func (p *dispatcher) worker(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	for t := range p.work {
		p.runTask(ctx, t)
		p.release(t)
	}
}

func (p *dispatcher) runTask(ctx context.Context, t task) {
	defer func() {
		if r := recover(); r != nil {
			p.d.log.Error("internal error; the work stays queued", "panic", r, "delivery", t.delivery.ID, "plan", t.planID)
		}
	}()
	var err error
	if t.planID != "" {
		err = p.d.applyPlan(ctx, t.planID)
	} else {
		err = p.d.investigate(ctx, t.delivery.ID)
	}
	if _, later := retryAt(err); later {
		return // logged where it was put off
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		p.d.log.Error("processing failed; it will be retried", "delivery", t.delivery.ID, "plan", t.planID, "error", err)
	}
}
