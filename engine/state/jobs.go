package state

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Job is work a state change creates for the daemon: a delivery to
// investigate, a plan to apply. With PostgreSQL, several `cordon serve`
// replicas claim jobs through a job queue in the same database (River);
// the store inserts each job in the transaction of the write that creates
// it, so a job exists exactly when the state it acts on does: a delivery
// accepted, a plan stored approved, a plan approved by a person.
//
// The SQLite store creates no jobs: its single daemon finds the same work
// by reading state (queued deliveries, approved plans).
type Job struct {
	Kind JobKind
	// DeliveryID is the delivery to investigate (JobInvestigate).
	DeliveryID int64
	// PlanID is the plan to apply (JobApply).
	PlanID string
	// IncidentID is the incident the work is about.
	IncidentID string
	// Delay holds the job back for a while after its commit (zero: it may
	// run at once).
	Delay time.Duration
}

// JobKind is what a job does.
type JobKind string

// Job kinds.
const (
	JobInvestigate JobKind = "investigate"
	JobApply       JobKind = "apply"
)

// Enqueuer inserts jobs in the transaction of the PostgreSQL state write
// that creates them.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx pgx.Tx, jobs []Job) error
}
