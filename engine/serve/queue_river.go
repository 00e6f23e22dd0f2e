package serve

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/engine/state/riverjobs"
)

// DefaultRescueAfter is how long a job may run before it is presumed dead:
// River cancels it where it runs and gives it to another replica (River's
// rescuer runs every 30 s on the elected leader). It must be longer than
// the longest investigation (its collectors' timeouts) and apply. Running
// a job twice is safe: a delivery's investigation holds its incident's
// lock and finds the delivery processed; a plan's apply holds its targets'
// locks and the apply journal skips what is done.
const DefaultRescueAfter = 15 * time.Minute

// riverQueue claims the daemon's work through River on the PostgreSQL
// state. Jobs are inserted by the state store in the transactions that
// create the work; River's LISTEN/NOTIFY wakes a replica at once, and
// FOR UPDATE SKIP LOCKED gives each job to one replica.
type riverQueue struct {
	d      *Daemon
	client *river.Client[pgx.Tx]
}

// pooled is a state backend on a PostgreSQL pool that takes an enqueuer.
type pooled interface {
	Pool() *pgxpool.Pool
	SetEnqueuer(state.Enqueuer)
}

// riverQueue returns the River work queue when the state is PostgreSQL.
func (d *Daemon) riverQueue(ctx context.Context) (workQueue, bool, error) {
	p, ok := d.store.(pooled)
	if !ok {
		return nil, false, nil
	}
	pool := p.Pool()
	if err := riverjobs.Migrate(ctx, pool); err != nil {
		return nil, false, err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &investigateWorker{d: d})
	river.AddWorker(workers, &applyWorker{d: d})
	rescue := d.opts.RescueAfter
	if rescue <= 0 {
		rescue = DefaultRescueAfter
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: d.engine().Config().Serve.MaxConcurrent}},
		Workers: workers,
		// River rescues only a job that ran longer than its timeout (an
		// infinite one never), so the two are one bound.
		JobTimeout:           rescue,
		RescueStuckJobsAfter: rescue,
		FetchCooldown:        time.Millisecond,
		// LISTEN/NOTIFY wakes a replica as a job is inserted; polling is
		// the fallback (a lost notification, a reconnect).
		FetchPollInterval: 200 * time.Millisecond,
		Logger:            d.log.With("component", "river"),
		SoftStopTimeout:   d.opts.ShutdownTimeout,
	})
	if err != nil {
		return nil, false, err
	}
	p.SetEnqueuer(riverjobs.Enqueuer{Client: client})
	var longest time.Duration
	for _, c := range d.engine().Config().Collectors {
		longest = max(longest, c.Timeout)
	}
	if longest >= rescue {
		d.log.Warn("a collector's timeout is not below -rescue-after: its investigations may be cancelled and retried", "collector_timeout", longest, "rescue_after", rescue)
	}
	return &riverQueue{d: d, client: client}, true, nil
}

func (q *riverQueue) start(ctx context.Context) error {
	return q.client.Start(context.WithoutCancel(ctx))
}

// notify does nothing: River hears of new jobs through the database.
func (q *riverQueue) notify() {}

// claimPlan accepts: the replica that made the plan applies it at once.
// The plan's apply job, inserted with it, waits (backup) and then finds
// the plan applied, or applies it if this replica died before it did.
func (q *riverQueue) claimPlan(string) (func(), bool) { return func() {}, true }

// applyBackup is how long a plan's apply job waits behind the replica that
// applies the plan itself. When it runs while that apply holds the
// targets' locks, it is put back for a while (lockBusySnooze) rather than
// holding a worker while it waits.
const (
	applyBackup    = 2 * time.Second
	lockBusySnooze = 5 * time.Second
)

func (q *riverQueue) backup() time.Duration { return applyBackup }

func (q *riverQueue) stop(deadline time.Time) bool {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := q.client.Stop(ctx); err != nil {
		q.d.log.Warn("stopping the job queue", "error", err)
		q.client.StopAndCancel(context.Background())
		return false
	}
	return true
}

// incidentLockWait bounds how long an investigation waits for another
// replica's investigation of the same incident.
const incidentLockWait = 10 * time.Minute

type investigateWorker struct {
	river.WorkerDefaults[riverjobs.InvestigateArgs]
	d *Daemon
}

// Work investigates one delivery, holding its incident's lock: two
// replicas never investigate two updates of one incident at once, so an
// older update cannot overtake a newer one mid-investigation.
func (w *investigateWorker) Work(ctx context.Context, job *river.Job[riverjobs.InvestigateArgs]) error {
	d := w.d
	release, err := d.store.Lock(ctx, []string{"incident/" + job.Args.IncidentID}, ownerName(), incidentLockWait)
	if err != nil {
		return err
	}
	defer release()
	err = d.investigate(ctx, job.Args.DeliveryID)
	if errors.Is(err, state.ErrNotFound) {
		return river.JobCancel(err)
	}
	return err
}

type applyWorker struct {
	river.WorkerDefaults[riverjobs.ApplyArgs]
	d *Daemon
}

// Work applies one approved plan, or puts the job back while another
// apply holds its targets.
func (w *applyWorker) Work(ctx context.Context, job *river.Job[riverjobs.ApplyArgs]) error {
	err := w.d.applyPlanWaiting(ctx, job.Args.PlanID, 0)
	var le *state.LockError
	switch {
	case errors.As(err, &le):
		return river.JobSnooze(lockBusySnooze)
	case errors.Is(err, state.ErrNotFound):
		return river.JobCancel(err)
	}
	if at, later := retryAt(err); later {
		// No AWS access: put off, not failed (retry.go).
		return river.JobSnooze(max(time.Until(at), time.Second))
	}
	return err
}
