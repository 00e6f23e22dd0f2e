// Package riverjobs is the job queue of the PostgreSQL state: the daemon's
// work (a delivery to investigate, a plan to apply) as River jobs in the
// same database, so that any `cordon serve` replica may claim any job
// (River fetches with FOR UPDATE SKIP LOCKED), and a job is inserted in the
// transaction of the state write that creates it (state.Enqueuer).
//
// Job arguments carry ids only: the state is the truth, and a job whose
// state has moved on (a delivery already processed, a plan already
// applied) does nothing.
package riverjobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/cordonhq/cordon/engine/state"
)

// InvestigateArgs is a delivery to investigate.
type InvestigateArgs struct {
	DeliveryID int64  `json:"delivery_id"`
	IncidentID string `json:"incident_id"`
}

// Kind implements river.JobArgs; it is stable: jobs in the database carry
// it.
func (InvestigateArgs) Kind() string { return "cordon.investigate" }

// ApplyArgs is an approved plan to apply.
type ApplyArgs struct {
	PlanID     string `json:"plan_id"`
	IncidentID string `json:"incident_id"`
}

// Kind implements river.JobArgs.
func (ApplyArgs) Kind() string { return "cordon.apply" }

// Enqueuer inserts state's jobs with a River client.
type Enqueuer struct {
	Client *river.Client[pgx.Tx]
}

var _ state.Enqueuer = Enqueuer{}

// Enqueue implements state.Enqueuer.
func (e Enqueuer) Enqueue(ctx context.Context, tx pgx.Tx, jobs []state.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, 0, len(jobs))
	for _, j := range jobs {
		var opts *river.InsertOpts
		if j.Delay > 0 {
			opts = &river.InsertOpts{ScheduledAt: time.Now().Add(j.Delay)}
		}
		switch j.Kind {
		case state.JobInvestigate:
			params = append(params, river.InsertManyParams{Args: InvestigateArgs{DeliveryID: j.DeliveryID, IncidentID: j.IncidentID}, InsertOpts: opts})
		case state.JobApply:
			params = append(params, river.InsertManyParams{Args: ApplyArgs{PlanID: j.PlanID, IncidentID: j.IncidentID}, InsertOpts: opts})
		default:
			return fmt.Errorf("unknown job kind %q", j.Kind)
		}
	}
	if _, err := e.Client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("queueing %d jobs: %w", len(jobs), err)
	}
	return nil
}

// NewInsertOnly returns a River client that inserts jobs and works none:
// what commands other than `cordon serve` (cordon approve) need.
func NewInsertOnly(pool *pgxpool.Pool) (*river.Client[pgx.Tx], error) {
	return river.NewClient(riverpgxv5.New(pool), &river.Config{})
}

// migrateLock is the advisory lock key that keeps two replicas from
// migrating River's tables at once (River's migrator takes none).
const migrateLock = 0x636f72645f726976 // "cord_riv"

// Migrate brings River's tables up to this River's version, once, however
// many replicas start together.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLock)); err != nil {
		return fmt.Errorf("migrating the job queue: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLock))
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating the job queue: %w", err)
	}
	return nil
}
