package serve

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cordonhq/cordon/engine/state"
)

// An apply that finds no AWS access (an STS outage, a role's trust policy
// edited, credentials rotated under the daemon) changes nothing and
// records nothing, so it can be tried again; a containment lost to a
// minute's outage would otherwise wait for the finding to recur. The plan
// stays approved and is tried again after a growing wait, for as long as
// an unapproved plan would wait (serve.approval_timeout from its making or
// its approval): past that, it fails, as a plan never applies late.

// DefaultAccessRetry is the first wait before an apply that found no AWS
// access is tried again; each next wait doubles, up to maxAccessRetry.
const DefaultAccessRetry = 5 * time.Second

const maxAccessRetry = 5 * time.Minute

// errRetryLater is an apply put off until at: the plan stays approved.
type errRetryLater struct {
	at  time.Time
	err error
}

func (e *errRetryLater) Error() string {
	return fmt.Sprintf("%v (tried again at %s)", e.err, e.at.UTC().Format(time.RFC3339))
}

func (e *errRetryLater) Unwrap() error { return e.err }

// accessRetries remembers, per plan, the applies that found no AWS access.
// It is in memory: after a restart a plan is tried at once, then waits
// again from the first step.
type accessRetries struct {
	mu    sync.Mutex
	first time.Duration
	plans map[string]*accessRetry
}

type accessRetry struct {
	attempts int
	at       time.Time
}

func newAccessRetries(first time.Duration) *accessRetries {
	if first <= 0 {
		first = DefaultAccessRetry
	}
	return &accessRetries{first: first, plans: map[string]*accessRetry{}}
}

// failed notes that plan rec found no AWS access at now. It returns when
// to try again and whether this was the plan's first such failure, or
// ok false when the plan is past deadline and must fail.
func (r *accessRetries) failed(rec *state.PlanRecord, now time.Time, window time.Duration) (at time.Time, first, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.plans[rec.ID]
	if p == nil {
		p = &accessRetry{}
		r.plans[rec.ID] = p
	}
	p.attempts++
	wait := r.first << min(p.attempts-1, 16)
	wait = min(wait, maxAccessRetry)
	p.at = now.Add(wait)
	if p.at.After(retryDeadline(rec, window)) {
		delete(r.plans, rec.ID)
		return time.Time{}, false, false
	}
	return p.at, p.attempts == 1, true
}

// retryDeadline is when a plan that finds no AWS access stops being
// tried: window after it was made or, for one approved by a person, after
// it was approved.
func retryDeadline(rec *state.PlanRecord, window time.Duration) time.Time {
	from := rec.CreatedAt
	if rec.DecidedAt != nil && rec.DecidedAt.After(from) {
		from = *rec.DecidedAt
	}
	return from.Add(window)
}

// due reports whether plan id may be tried now.
func (r *accessRetries) due(id string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.plans[id]
	return p == nil || !now.Before(p.at)
}

// forget drops plan id: it was applied, or failed for another reason.
func (r *accessRetries) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.plans, id)
}

// retryAt returns when an error of applyFile asks to try the plan again.
func retryAt(err error) (time.Time, bool) {
	var rl *errRetryLater
	if errors.As(err, &rl) {
		return rl.at, true
	}
	return time.Time{}, false
}
