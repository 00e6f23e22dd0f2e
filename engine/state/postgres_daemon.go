package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// enqueue hands the jobs a write creates to the Enqueuer, in the write's
// transaction; without one it does nothing.
func (s *PostgresStore) enqueue(ctx context.Context, tx pgx.Tx, jobs []Job) error {
	e := s.enq.Load()
	if e == nil || len(jobs) == 0 {
		return nil
	}
	if err := e.Enqueue(ctx, tx, jobs); err != nil {
		return fmt.Errorf("enqueuing %d jobs: %w", len(jobs), err)
	}
	return nil
}

// AcceptDeliveries implements Inbox. Each delivery is one INSERT … ON
// CONFLICT (delivery_key) DO NOTHING: a concurrent insert of the same key
// makes it wait for that transaction, then find the key taken, so of many
// replicas accepting one delivery exactly one stores it and the others
// count a duplicate. Keys are inserted in sorted order, so two batches
// sharing keys wait for each other rather than deadlock. A JobInvestigate
// per delivery stored, and the cursor, go in the same transaction.
func (s *PostgresStore) AcceptDeliveries(ctx context.Context, ds []Delivery, cursor *Cursor) ([]Accepted, error) {
	for i := range ds {
		if err := ds[i].validate(); err != nil {
			return nil, err
		}
	}
	if cursor != nil && cursor.Name == "" {
		return nil, errors.New("cursor: name is empty")
	}
	order := make([]int, len(ds))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(ds[a].Key, ds[b].Key) })
	var out []Accepted
	err := s.write(ctx, func(tx pgx.Tx) error {
		out = make([]Accepted, len(ds))
		for _, i := range order {
			d := &ds[i]
			var id int64
			err := tx.QueryRow(ctx, `INSERT INTO deliveries (delivery_key, source, incident_id, finding_id,
                finding_source, finding_type, finding_updated_at, record, status, received_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9)
                ON CONFLICT (delivery_key) DO NOTHING RETURNING id`,
				d.Key, d.Source, d.IncidentID, d.FindingID, d.FindingSource, d.FindingType, d.FindingUpdatedAt,
				string(d.Record), orNow(d.ReceivedAt)).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				if err := tx.QueryRow(ctx, `UPDATE deliveries SET duplicates = duplicates + 1
                    WHERE delivery_key = $1 RETURNING id`, d.Key).Scan(&id); err != nil {
					return err
				}
				out[i] = Accepted{ID: id, Duplicate: true}
				continue
			}
			if err != nil {
				return err
			}
			out[i] = Accepted{ID: id}
		}
		if cursor != nil {
			if err := pgSetCursor(ctx, tx, *cursor); err != nil {
				return err
			}
		}
		// A job per delivery stored, in the order they came.
		var jobs []Job
		for i, a := range out {
			if !a.Duplicate {
				jobs = append(jobs, Job{Kind: JobInvestigate, DeliveryID: a.ID, IncidentID: ds[i].IncidentID})
			}
		}
		return s.enqueue(ctx, tx, jobs)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func pgSetCursor(ctx context.Context, tx pgx.Tx, c Cursor) error {
	_, err := tx.Exec(ctx, `INSERT INTO cursors (name, value, updated_at) VALUES ($1, $2, $3)
        ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		c.Name, c.Value, time.Now())
	return err
}

// SetCursor implements Inbox: one upsert.
func (s *PostgresStore) SetCursor(ctx context.Context, c Cursor) error {
	if c.Name == "" {
		return errors.New("cursor: name is empty")
	}
	return s.write(ctx, func(tx pgx.Tx) error { return pgSetCursor(ctx, tx, c) })
}

// Cursor implements Inbox.
func (s *PostgresStore) Cursor(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM cursors WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, s.dbError(err)
	}
	return v, true, nil
}

const pgDeliverySelect = `SELECT id, delivery_key, source, incident_id, finding_id, finding_source, finding_type,
    finding_updated_at, %s, status, outcome, plan_id, error, attempts, duplicates, received_at, finished_at
    FROM deliveries`

func (s *PostgresStore) collectDeliveries(ctx context.Context, withRecord bool, where string, args ...any) ([]Delivery, error) {
	rec := "NULL::json"
	if withRecord {
		rec = "record"
	}
	rows, err := s.pool.Query(ctx, fmt.Sprintf(pgDeliverySelect, rec)+" "+where, args...)
	if err != nil {
		return nil, s.dbError(err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var (
			d      Delivery
			record []byte
			planID *string
		)
		if err := rows.Scan(&d.ID, &d.Key, &d.Source, &d.IncidentID, &d.FindingID, &d.FindingSource, &d.FindingType,
			&d.FindingUpdatedAt, &record, &d.Status, &d.Outcome, &planID, &d.Error, &d.Attempts, &d.Duplicates,
			&d.ReceivedAt, &d.FinishedAt); err != nil {
			return nil, s.dbError(err)
		}
		if record != nil {
			d.Record = record
		}
		if planID != nil {
			d.PlanID = *planID
		}
		out = append(out, d)
	}
	return out, s.dbError(rows.Err())
}

// pgLimit is a LIMIT argument: NULL (no limit) for n <= 0.
func pgLimit(n int) any {
	if n <= 0 {
		return nil
	}
	return n
}

// QueuedDeliveries implements Inbox.
func (s *PostgresStore) QueuedDeliveries(ctx context.Context, afterID int64, limit int) ([]Delivery, error) {
	return s.collectDeliveries(ctx, true, `WHERE status = 'queued' AND id > $1 ORDER BY id LIMIT $2`, afterID, pgLimit(limit))
}

// Delivery implements Inbox.
func (s *PostgresStore) Delivery(ctx context.Context, id int64) (*Delivery, error) {
	out, err := s.collectDeliveries(ctx, true, `WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("delivery %d: %w", id, ErrNotFound)
	}
	return &out[0], nil
}

// Deliveries implements Inbox.
func (s *PostgresStore) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	var (
		conds []string
		args  []any
	)
	if f.IncidentID != "" {
		args = append(args, f.IncidentID)
		conds = append(conds, fmt.Sprintf("incident_id = $%d", len(args)))
	}
	if f.Status != "" {
		args = append(args, string(f.Status))
		conds = append(conds, fmt.Sprintf("status = $%d", len(args)))
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, pgLimit(f.Limit))
	return s.collectDeliveries(ctx, false, where+fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args)), args...)
}

// StartDelivery implements Inbox. It is one conditional UPDATE: the row
// lock serialises concurrent attempts, and each counts one.
func (s *PostgresStore) StartDelivery(ctx context.Context, id int64) (int, error) {
	var attempts int
	err := s.write(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE deliveries SET attempts = attempts + 1
            WHERE id = $1 AND status = 'queued' RETURNING attempts`, id).Scan(&attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return pgDeliveryNotQueued(ctx, tx, id)
		}
		return err
	})
	return attempts, err
}

// pgDeliveryNotQueued explains why a delivery could not be updated.
func pgDeliveryNotQueued(ctx context.Context, tx pgx.Tx, id int64) error {
	var outcome string
	err := tx.QueryRow(ctx, `SELECT outcome FROM deliveries WHERE id = $1`, id).Scan(&outcome)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("delivery %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("delivery %d is already processed (%s)", id, outcome)
}

// FinishDelivery implements Inbox. Everything is recorded in one
// transaction that ends with the delivery's UPDATE, conditional on it
// being queued: of two processes finishing one delivery, the second waits
// on the row, finds it done, and rolls back all it recorded. A plan
// stored approved gets its JobApply in the same transaction.
func (s *PostgresStore) FinishDelivery(ctx context.Context, id int64, res DeliveryResult, p *PlanRecord) error {
	if err := res.validate(id); err != nil {
		return err
	}
	if p != nil {
		if err := p.validate(); err != nil {
			return err
		}
		if res.PlanID == "" {
			res.PlanID = p.ID
		}
	}
	var putIncident func(context.Context, pgx.Tx) error
	if res.Incident != nil {
		var err error
		if putIncident, err = pgIncidentWriter(*res.Incident); err != nil {
			return err
		}
	}
	for _, ev := range res.Events {
		if err := ev.validate(); err != nil {
			return err
		}
	}
	finished := orNow(res.FinishedAt)
	ctx = withoutCancel(ctx)
	return s.write(ctx, func(tx pgx.Tx) error {
		if putIncident != nil {
			if err := putIncident(ctx, tx); err != nil {
				return err
			}
		}
		for _, ev := range res.Events {
			if err := pgInsertEvent(ctx, tx, ev); err != nil {
				return err
			}
		}
		var jobs []Job
		if p != nil {
			rec := *p
			rec.DeliveryID = id
			inserted, err := pgInsertPlan(ctx, tx, &rec)
			if err != nil {
				return err
			}
			if inserted && rec.Status == PlanApproved {
				jobs = append(jobs, Job{Kind: JobApply, PlanID: rec.ID, IncidentID: rec.IncidentID, Delay: res.ApplyJobDelay})
			}
		}
		var planID any
		if res.PlanID != "" {
			planID = res.PlanID
		}
		tag, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'done', outcome = $1, plan_id = $2, error = $3,
            finished_at = $4 WHERE id = $5 AND status = 'queued'`, res.Outcome, planID, res.Error, finished, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgDeliveryNotQueued(ctx, tx, id)
		}
		return s.enqueue(ctx, tx, jobs)
	})
}

// RecordRejection implements Inbox: one insert.
func (s *PostgresStore) RecordRejection(ctx context.Context, r Rejection) (int64, error) {
	if r.Source == "" || r.Reason == "" {
		return 0, errors.New("rejection: source and reason are required")
	}
	excerpt := r.Excerpt
	if len(excerpt) > MaxRejectionExcerpt {
		excerpt = excerpt[:MaxRejectionExcerpt]
	}
	var id int64
	err := s.write(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO rejections (source, reason, excerpt, size, received_at)
            VALUES ($1, $2, $3, $4, $5) RETURNING id`, r.Source, r.Reason, excerpt, r.Size, orNow(r.ReceivedAt)).Scan(&id)
	})
	return id, err
}

// Rejections implements Inbox.
func (s *PostgresStore) Rejections(ctx context.Context, limit int) ([]Rejection, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, source, reason, excerpt, size, received_at
        FROM rejections ORDER BY id DESC LIMIT $1`, pgLimit(limit))
	if err != nil {
		return nil, s.dbError(err)
	}
	defer rows.Close()
	var out []Rejection
	for rows.Next() {
		var r Rejection
		if err := rows.Scan(&r.ID, &r.Source, &r.Reason, &r.Excerpt, &r.Size, &r.ReceivedAt); err != nil {
			return nil, s.dbError(err)
		}
		out = append(out, r)
	}
	return out, s.dbError(rows.Err())
}

// AddIncidentEvent implements Journal: one insert.
func (s *PostgresStore) AddIncidentEvent(ctx context.Context, ev IncidentEvent) error {
	if err := ev.validate(); err != nil {
		return err
	}
	return s.write(ctx, func(tx pgx.Tx) error { return pgInsertEvent(ctx, tx, ev) })
}

// validate checks an incident event as SQLite's insertEvent does.
func (ev *IncidentEvent) validate() error {
	if ev.IncidentID == "" || ev.Kind == "" {
		return errors.New("incident event: incident and kind are required")
	}
	if err := checkJSON(ev.Detail); err != nil {
		return fmt.Errorf("incident event %s: detail: %w", ev.Kind, err)
	}
	return nil
}

func pgInsertEvent(ctx context.Context, tx pgx.Tx, ev IncidentEvent) error {
	if err := ev.validate(); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO incident_events (incident_id, kind, summary, detail, at)
        VALUES ($1, $2, $3, $4, $5)`, ev.IncidentID, ev.Kind, ev.Summary, jsonArg(ev.Detail), orNow(ev.At))
	if isPgForeignKeyError(err) {
		return fmt.Errorf("incident event %s: incident %s is not recorded: %w", ev.Kind, ev.IncidentID, ErrNotFound)
	}
	return err
}

func pgCollectEvents(ctx context.Context, tx pgx.Tx, incidentID string) ([]IncidentEvent, error) {
	rows, err := tx.Query(ctx, `SELECT id, incident_id, kind, summary, detail, at FROM incident_events
        WHERE incident_id = $1 ORDER BY id`, incidentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []IncidentEvent{}
	for rows.Next() {
		var ev IncidentEvent
		var detail []byte
		if err := rows.Scan(&ev.ID, &ev.IncidentID, &ev.Kind, &ev.Summary, &detail, &ev.At); err != nil {
			return nil, err
		}
		ev.Detail = detail
		out = append(out, ev)
	}
	return out, rows.Err()
}

// pgInsertPlan stores a plan unless one with its id is stored, and says
// whether it stored it.
func pgInsertPlan(ctx context.Context, tx pgx.Tx, p *PlanRecord) (bool, error) {
	var delivery any
	if p.DeliveryID != 0 {
		delivery = p.DeliveryID
	}
	tag, err := tx.Exec(ctx, `INSERT INTO plans (id, incident_id, delivery_id, status, reason, config_digest,
        actions, file, created_at, expires_at, decided_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (id) DO NOTHING`,
		p.ID, p.IncidentID, delivery, p.Status, p.Reason, p.ConfigDigest, p.Actions, p.File,
		orNow(p.CreatedAt), p.ExpiresAt, p.DecidedBy)
	if isPgForeignKeyError(err) {
		return false, fmt.Errorf("plan %s: incident %s is not recorded: %w", p.ID, p.IncidentID, ErrNotFound)
	}
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// PutPlan implements Approvals: one insert, which does nothing for a plan
// id stored already (a concurrent insert of it waits, then does nothing).
// A plan stored approved gets its JobApply in the same transaction.
func (s *PostgresStore) PutPlan(ctx context.Context, p PlanRecord) error {
	if err := p.validate(); err != nil {
		return err
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		inserted, err := pgInsertPlan(ctx, tx, &p)
		if err != nil || !inserted || p.Status != PlanApproved {
			return err
		}
		return s.enqueue(ctx, tx, []Job{{Kind: JobApply, PlanID: p.ID, IncidentID: p.IncidentID}})
	})
}

const pgPlanSelect = `SELECT id, incident_id, delivery_id, status, reason, config_digest, actions, %s, created_at,
    expires_at, decided_at, decided_by, note, apply_id, finished_at FROM plans`

// pgQuerier is what reads plans: the pool, or a transaction.
type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func pgCollectPlans(ctx context.Context, q pgQuerier, withFile bool, where string, args ...any) ([]PlanRecord, error) {
	file := "NULL::bytea"
	if withFile {
		file = "file"
	}
	rows, err := q.Query(ctx, fmt.Sprintf(pgPlanSelect, file)+" "+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []PlanRecord{}
	for rows.Next() {
		var p PlanRecord
		var delivery, applyID *int64
		if err := rows.Scan(&p.ID, &p.IncidentID, &delivery, &p.Status, &p.Reason, &p.ConfigDigest, &p.Actions,
			&p.File, &p.CreatedAt, &p.ExpiresAt, &p.DecidedAt, &p.DecidedBy, &p.Note, &applyID, &p.FinishedAt); err != nil {
			return nil, err
		}
		if delivery != nil {
			p.DeliveryID = *delivery
		}
		if applyID != nil {
			p.ApplyID = *applyID
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Plan implements Approvals.
func (s *PostgresStore) Plan(ctx context.Context, id string) (*PlanRecord, error) {
	out, err := pgCollectPlans(ctx, s.pool, true, `WHERE id = $1`, id)
	if err != nil {
		return nil, s.dbError(err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("plan %s: %w", id, ErrNotFound)
	}
	return &out[0], nil
}

// Plans implements Approvals.
func (s *PostgresStore) Plans(ctx context.Context, f PlanFilter) ([]PlanRecord, error) {
	var (
		conds []string
		args  []any
	)
	if len(f.Status) > 0 {
		st := make([]string, len(f.Status))
		for i, v := range f.Status {
			st[i] = string(v)
		}
		args = append(args, st)
		conds = append(conds, fmt.Sprintf("status = ANY($%d)", len(args)))
	}
	if f.IncidentID != "" {
		args = append(args, f.IncidentID)
		conds = append(conds, fmt.Sprintf("incident_id = $%d", len(args)))
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, pgLimit(f.Limit))
	out, err := pgCollectPlans(ctx, s.pool, false, where+fmt.Sprintf(" ORDER BY created_at, id LIMIT $%d", len(args)), args...)
	return out, s.dbError(err)
}

// DecidePlan implements Approvals. The decision is one UPDATE conditional
// on the plan being pending, which PostgreSQL re-checks once it holds the
// row: of two people deciding at once, one decides and the other gets
// ErrPlanDecided naming the first's decision. An approval's JobApply is
// enqueued in the same transaction.
func (s *PostgresStore) DecidePlan(ctx context.Context, id string, d PlanDecision) (*PlanRecord, error) {
	if err := d.validate(id); err != nil {
		return nil, err
	}
	at := orNow(d.At)
	var out *PlanRecord
	err := s.write(ctx, func(tx pgx.Tx) error {
		out = nil
		tag, err := tx.Exec(ctx, `UPDATE plans SET status = $1, decided_at = $2, decided_by = $3, note = $4
            WHERE id = $5 AND status = 'pending'`, d.Status, at, d.By, d.Note, id)
		if err != nil {
			return err
		}
		plans, err := pgCollectPlans(ctx, tx, false, `WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if len(plans) == 0 {
			return fmt.Errorf("plan %s: %w", id, ErrNotFound)
		}
		p := plans[0]
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: plan %s is %s%s", ErrPlanDecided, id, p.Status, decidedBy(p))
		}
		detail, _ := json.Marshal(map[string]string{"plan_id": id, "by": d.By, "note": d.Note})
		summary := fmt.Sprintf("plan %s %s by %s", id, d.Status, d.By)
		if d.Note != "" {
			summary += ": " + d.Note
		}
		if err := pgInsertEvent(ctx, tx, IncidentEvent{IncidentID: p.IncidentID, Kind: d.eventKind(), Summary: summary, Detail: detail, At: at}); err != nil {
			return err
		}
		if d.Status == PlanApproved {
			if err := s.enqueue(ctx, tx, []Job{{Kind: JobApply, PlanID: id, IncidentID: p.IncidentID}}); err != nil {
				return err
			}
		}
		out = &p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FinishPlan implements Approvals: one UPDATE conditional on the plan's
// status, re-checked by PostgreSQL against the locked row.
func (s *PostgresStore) FinishPlan(ctx context.Context, id string, status PlanStatus, applyID int64, note string) error {
	switch status {
	case PlanApplied, PlanFailed, PlanStale:
	default:
		return fmt.Errorf("plan %s: %q does not finish a plan", id, status)
	}
	var apply any
	if applyID != 0 {
		apply = applyID
	}
	ctx = withoutCancel(ctx)
	return s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE plans SET status = $1, apply_id = $2, finished_at = $3,
            note = CASE WHEN $4 = '' THEN note ELSE $4 END
            WHERE id = $5 AND status IN ('approved', 'pending')`, status, apply, time.Now(), note, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			return nil
		}
		plans, err := pgCollectPlans(ctx, tx, false, `WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if len(plans) == 0 {
			return fmt.Errorf("plan %s: %w", id, ErrNotFound)
		}
		return fmt.Errorf("%w: plan %s is %s", ErrPlanDecided, id, plans[0].Status)
	})
}
