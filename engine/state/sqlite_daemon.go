package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// AcceptDeliveries implements Inbox.
func (s *SQLiteStore) AcceptDeliveries(ctx context.Context, ds []Delivery, cursor *Cursor) ([]Accepted, error) {
	for i := range ds {
		if err := ds[i].validate(); err != nil {
			return nil, err
		}
	}
	if cursor != nil && cursor.Name == "" {
		return nil, errors.New("cursor: name is empty")
	}
	out := make([]Accepted, len(ds))
	err := s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		for i := range ds {
			d := &ds[i]
			received := formatTime(orNow(d.ReceivedAt))
			var id int64
			err := tx.QueryRowContext(ctx, `INSERT INTO deliveries (delivery_key, source, incident_id, finding_id,
                finding_source, finding_type, finding_updated_at, record, status, received_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)
                ON CONFLICT (delivery_key) DO NOTHING RETURNING id`,
				d.Key, d.Source, d.IncidentID, d.FindingID, d.FindingSource, d.FindingType, d.FindingUpdatedAt,
				string(d.Record), received).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				if err := tx.QueryRowContext(ctx, `UPDATE deliveries SET duplicates = duplicates + 1
                    WHERE delivery_key = ? RETURNING id`, d.Key).Scan(&id); err != nil {
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
			return setCursor(ctx, tx, *cursor)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func setCursor(ctx context.Context, tx stx, c Cursor) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		c.Name, c.Value, formatTime(time.Now()))
	return err
}

// SetCursor implements Inbox.
func (s *SQLiteStore) SetCursor(ctx context.Context, c Cursor) error {
	if c.Name == "" {
		return errors.New("cursor: name is empty")
	}
	return s.write(ctx, func(tx *sql.Tx) error { return setCursor(ctx, s.wtx(tx), c) })
}

// Cursor implements Inbox.
func (s *SQLiteStore) Cursor(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.read(ctx, func(sqlTx *sql.Tx) error {
		tx := s.rtx(sqlTx)
		return tx.QueryRowContext(ctx, `SELECT value FROM cursors WHERE name = ?`, name).Scan(&v)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return v, true, nil
}

const deliverySelect = `SELECT id, delivery_key, source, incident_id, finding_id, finding_source, finding_type,
    finding_updated_at, %s, status, outcome, plan_id, error, attempts, duplicates, received_at, finished_at
    FROM deliveries`

func collectDeliveries(ctx context.Context, tx stx, withRecord bool, where string, args ...any) ([]Delivery, error) {
	rec := "NULL"
	if withRecord {
		rec = "record"
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(deliverySelect, rec)+" "+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var (
			d                  Delivery
			record, planID     sql.NullString
			received           string
			finished           sql.NullString
			status, outcomeStr string
		)
		if err := rows.Scan(&d.ID, &d.Key, &d.Source, &d.IncidentID, &d.FindingID, &d.FindingSource, &d.FindingType,
			&d.FindingUpdatedAt, &record, &status, &outcomeStr, &planID, &d.Error, &d.Attempts, &d.Duplicates,
			&received, &finished); err != nil {
			return nil, err
		}
		d.Status, d.Outcome, d.PlanID = DeliveryStatus(status), DeliveryOutcome(outcomeStr), planID.String
		if record.Valid {
			d.Record = json.RawMessage(record.String)
		}
		if d.ReceivedAt, err = parseTime(received); err != nil {
			return nil, err
		}
		if d.FinishedAt, err = parseNullTime(finished); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// QueuedDeliveries implements Inbox.
func (s *SQLiteStore) QueuedDeliveries(ctx context.Context, afterID int64, limit int) ([]Delivery, error) {
	if limit <= 0 {
		limit = -1
	}
	var out []Delivery
	err := s.read(ctx, func(sqlTx *sql.Tx) (err error) {
		tx := s.rtx(sqlTx)
		out, err = collectDeliveries(ctx, tx, true, `WHERE status = 'queued' AND id > ? ORDER BY id LIMIT ?`, afterID, limit)
		return err
	})
	return out, err
}

// Delivery implements Inbox.
func (s *SQLiteStore) Delivery(ctx context.Context, id int64) (*Delivery, error) {
	var out []Delivery
	err := s.read(ctx, func(sqlTx *sql.Tx) (err error) {
		tx := s.rtx(sqlTx)
		out, err = collectDeliveries(ctx, tx, true, `WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("delivery %d: %w", id, ErrNotFound)
	}
	return &out[0], nil
}

// Deliveries implements Inbox.
func (s *SQLiteStore) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	var (
		conds []string
		args  []any
	)
	if f.IncidentID != "" {
		conds = append(conds, "incident_id = ?")
		args = append(args, f.IncidentID)
	}
	if f.Status != "" {
		conds = append(conds, "status = ?")
		args = append(args, string(f.Status))
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	limit := -1
	if f.Limit > 0 {
		limit = f.Limit
	}
	args = append(args, limit)
	var out []Delivery
	err := s.read(ctx, func(sqlTx *sql.Tx) (err error) {
		tx := s.rtx(sqlTx)
		out, err = collectDeliveries(ctx, tx, false, where+" ORDER BY id DESC LIMIT ?", args...)
		return err
	})
	return out, err
}

// StartDelivery implements Inbox.
func (s *SQLiteStore) StartDelivery(ctx context.Context, id int64) (int, error) {
	var attempts int
	err := s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		err := tx.QueryRowContext(ctx, `UPDATE deliveries SET attempts = attempts + 1
            WHERE id = ? AND status = 'queued' RETURNING attempts`, id).Scan(&attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return deliveryNotQueued(ctx, tx, id)
		}
		return err
	})
	return attempts, err
}

// deliveryNotQueued explains why a delivery could not be updated.
func deliveryNotQueued(ctx context.Context, tx stx, id int64) error {
	var status, outcome string
	err := tx.QueryRowContext(ctx, `SELECT status, outcome FROM deliveries WHERE id = ?`, id).Scan(&status, &outcome)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("delivery %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("delivery %d is already processed (%s)", id, outcome)
}

// FinishDelivery implements Inbox.
func (s *SQLiteStore) FinishDelivery(ctx context.Context, id int64, res DeliveryResult, p *PlanRecord) error {
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
	var putIncident func(context.Context, stx) error
	if res.Incident != nil {
		var err error
		if putIncident, err = incidentWriter(*res.Incident); err != nil {
			return err
		}
	}
	finished := formatTime(orNow(res.FinishedAt))
	ctx = withoutCancel(ctx)
	return s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		if putIncident != nil {
			if err := putIncident(ctx, tx); err != nil {
				return err
			}
		}
		for _, ev := range res.Events {
			if err := insertEvent(ctx, tx, ev); err != nil {
				return err
			}
		}
		if p != nil {
			p.DeliveryID = id
			if err := insertPlan(ctx, tx, p); err != nil {
				return err
			}
		}
		var planID any
		if res.PlanID != "" {
			planID = res.PlanID
		}
		r, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'done', outcome = ?, plan_id = ?, error = ?,
            finished_at = ? WHERE id = ? AND status = 'queued'`, res.Outcome, planID, res.Error, finished, id)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return deliveryNotQueued(ctx, tx, id)
		}
		return nil
	})
}

// RecordRejection implements Inbox.
func (s *SQLiteStore) RecordRejection(ctx context.Context, r Rejection) (int64, error) {
	if r.Source == "" || r.Reason == "" {
		return 0, errors.New("rejection: source and reason are required")
	}
	excerpt := r.Excerpt
	if len(excerpt) > MaxRejectionExcerpt {
		excerpt = excerpt[:MaxRejectionExcerpt]
	}
	var id int64
	err := s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		res, err := tx.ExecContext(ctx, `INSERT INTO rejections (source, reason, excerpt, size, received_at)
            VALUES (?, ?, ?, ?, ?)`, r.Source, r.Reason, excerpt, r.Size, formatTime(orNow(r.ReceivedAt)))
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, err
}

// Rejections implements Inbox.
func (s *SQLiteStore) Rejections(ctx context.Context, limit int) ([]Rejection, error) {
	if limit <= 0 {
		limit = -1
	}
	var out []Rejection
	err := s.read(ctx, func(sqlTx *sql.Tx) error {
		tx := s.rtx(sqlTx)
		rows, err := tx.QueryContext(ctx, `SELECT id, source, reason, excerpt, size, received_at
            FROM rejections ORDER BY id DESC LIMIT ?`, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Rejection
			var received string
			if err := rows.Scan(&r.ID, &r.Source, &r.Reason, &r.Excerpt, &r.Size, &received); err != nil {
				return err
			}
			if r.ReceivedAt, err = parseTime(received); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}

// FindingVersion implements Reader.
func (s *SQLiteStore) FindingVersion(ctx context.Context, incidentID string) (string, int, bool, error) {
	var (
		updated string
		count   int
	)
	err := s.read(ctx, func(sqlTx *sql.Tx) error {
		tx := s.rtx(sqlTx)
		return tx.QueryRowContext(ctx, `SELECT finding_updated_at, finding_count FROM incidents WHERE id = ?`,
			incidentID).Scan(&updated, &count)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, err
	}
	return updated, count, true, nil
}

// AddIncidentEvent implements Journal.
func (s *SQLiteStore) AddIncidentEvent(ctx context.Context, ev IncidentEvent) error {
	return s.write(ctx, func(tx *sql.Tx) error { return insertEvent(ctx, s.wtx(tx), ev) })
}

func insertEvent(ctx context.Context, tx stx, ev IncidentEvent) error {
	if ev.IncidentID == "" || ev.Kind == "" {
		return errors.New("incident event: incident and kind are required")
	}
	if err := checkJSON(ev.Detail); err != nil {
		return fmt.Errorf("incident event %s: detail: %w", ev.Kind, err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO incident_events (incident_id, kind, summary, detail, at)
        VALUES (?, ?, ?, ?, ?)`, ev.IncidentID, ev.Kind, ev.Summary, jsonArg(ev.Detail), formatTime(orNow(ev.At)))
	if isForeignKeyError(err) {
		return fmt.Errorf("incident event %s: incident %s is not recorded: %w", ev.Kind, ev.IncidentID, ErrNotFound)
	}
	return err
}

func collectEvents(ctx context.Context, tx stx, incidentID string) ([]IncidentEvent, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, incident_id, kind, summary, detail, at FROM incident_events
        WHERE incident_id = ? ORDER BY id`, incidentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []IncidentEvent{}
	for rows.Next() {
		var ev IncidentEvent
		var detail []byte
		var at string
		if err := rows.Scan(&ev.ID, &ev.IncidentID, &ev.Kind, &ev.Summary, &detail, &at); err != nil {
			return nil, err
		}
		ev.Detail = detail
		if ev.At, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

func insertPlan(ctx context.Context, tx stx, p *PlanRecord) error {
	var delivery, expires any
	if p.DeliveryID != 0 {
		delivery = p.DeliveryID
	}
	if p.ExpiresAt != nil {
		expires = formatTime(*p.ExpiresAt)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO plans (id, incident_id, delivery_id, status, reason, config_digest,
        actions, file, created_at, expires_at, decided_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO NOTHING`,
		p.ID, p.IncidentID, delivery, p.Status, p.Reason, p.ConfigDigest, p.Actions, p.File,
		formatTime(orNow(p.CreatedAt)), expires, p.DecidedBy)
	if isForeignKeyError(err) {
		return fmt.Errorf("plan %s: incident %s is not recorded: %w", p.ID, p.IncidentID, ErrNotFound)
	}
	return err
}

// PutPlan implements Approvals.
func (s *SQLiteStore) PutPlan(ctx context.Context, p PlanRecord) error {
	if err := p.validate(); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error { return insertPlan(ctx, s.wtx(tx), &p) })
}

const planSelect = `SELECT id, incident_id, delivery_id, status, reason, config_digest, actions, %s, created_at,
    expires_at, decided_at, decided_by, note, apply_id, finished_at FROM plans`

func collectPlansWith(ctx context.Context, tx stx, withFile bool, where string, args ...any) ([]PlanRecord, error) {
	file := "NULL"
	if withFile {
		file = "file"
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(planSelect, file)+" "+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []PlanRecord{}
	for rows.Next() {
		var (
			p                          PlanRecord
			delivery, applyID          sql.NullInt64
			created                    string
			expires, decided, finished sql.NullString
		)
		if err := rows.Scan(&p.ID, &p.IncidentID, &delivery, &p.Status, &p.Reason, &p.ConfigDigest, &p.Actions,
			&p.File, &created, &expires, &decided, &p.DecidedBy, &p.Note, &applyID, &finished); err != nil {
			return nil, err
		}
		p.DeliveryID, p.ApplyID = delivery.Int64, applyID.Int64
		if p.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if p.ExpiresAt, err = parseNullTime(expires); err != nil {
			return nil, err
		}
		if p.DecidedAt, err = parseNullTime(decided); err != nil {
			return nil, err
		}
		if p.FinishedAt, err = parseNullTime(finished); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func collectPlans(ctx context.Context, tx stx, where string, args ...any) ([]PlanRecord, error) {
	return collectPlansWith(ctx, tx, false, where, args...)
}

// Plan implements Approvals.
func (s *SQLiteStore) Plan(ctx context.Context, id string) (*PlanRecord, error) {
	var out []PlanRecord
	err := s.read(ctx, func(sqlTx *sql.Tx) (err error) {
		tx := s.rtx(sqlTx)
		out, err = collectPlansWith(ctx, tx, true, `WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("plan %s: %w", id, ErrNotFound)
	}
	return &out[0], nil
}

// Plans implements Approvals.
func (s *SQLiteStore) Plans(ctx context.Context, f PlanFilter) ([]PlanRecord, error) {
	var (
		conds []string
		args  []any
	)
	if len(f.Status) > 0 {
		marks := make([]string, len(f.Status))
		for i, st := range f.Status {
			marks[i] = "?"
			args = append(args, string(st))
		}
		conds = append(conds, "status IN ("+strings.Join(marks, ", ")+")")
	}
	if f.IncidentID != "" {
		conds = append(conds, "incident_id = ?")
		args = append(args, f.IncidentID)
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	limit := -1
	if f.Limit > 0 {
		limit = f.Limit
	}
	args = append(args, limit)
	var out []PlanRecord
	err := s.read(ctx, func(sqlTx *sql.Tx) (err error) {
		tx := s.rtx(sqlTx)
		out, err = collectPlans(ctx, tx, where+" ORDER BY created_at, id LIMIT ?", args...)
		return err
	})
	return out, err
}

// DecidePlan implements Approvals.
func (s *SQLiteStore) DecidePlan(ctx context.Context, id string, d PlanDecision) (*PlanRecord, error) {
	if err := d.validate(id); err != nil {
		return nil, err
	}
	at := orNow(d.At)
	var out *PlanRecord
	err := s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		res, err := tx.ExecContext(ctx, `UPDATE plans SET status = ?, decided_at = ?, decided_by = ?, note = ?
            WHERE id = ? AND status = 'pending'`, d.Status, formatTime(at), d.By, d.Note, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		plans, err := collectPlans(ctx, tx, `WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if len(plans) == 0 {
			return fmt.Errorf("plan %s: %w", id, ErrNotFound)
		}
		p := plans[0]
		if n == 0 {
			return fmt.Errorf("%w: plan %s is %s%s", ErrPlanDecided, id, p.Status, decidedBy(p))
		}
		out = &p
		detail, _ := json.Marshal(map[string]string{"plan_id": id, "by": d.By, "note": d.Note})
		summary := fmt.Sprintf("plan %s %s by %s", id, d.Status, d.By)
		if d.Note != "" {
			summary += ": " + d.Note
		}
		return insertEvent(ctx, tx, IncidentEvent{IncidentID: p.IncidentID, Kind: d.eventKind(), Summary: summary, Detail: detail, At: at})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func decidedBy(p PlanRecord) string {
	if p.DecidedBy == "" {
		return ""
	}
	s := " (by " + p.DecidedBy
	if p.DecidedAt != nil {
		s += " at " + p.DecidedAt.UTC().Format(time.RFC3339)
	}
	return s + ")"
}

// FinishPlan implements Approvals.
func (s *SQLiteStore) FinishPlan(ctx context.Context, id string, status PlanStatus, applyID int64, note string) error {
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
	return s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		res, err := tx.ExecContext(ctx, `UPDATE plans SET status = ?, apply_id = ?, finished_at = ?,
            note = CASE WHEN ? = '' THEN note ELSE ? END
            WHERE id = ? AND status IN ('approved', 'pending')`, status, apply, formatTime(time.Now()), note, note, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			plans, err := collectPlans(ctx, tx, `WHERE id = ?`, id)
			if err != nil {
				return err
			}
			if len(plans) == 0 {
				return fmt.Errorf("plan %s: %w", id, ErrNotFound)
			}
			return fmt.Errorf("%w: plan %s is %s", ErrPlanDecided, id, plans[0].Status)
		}
		return nil
	})
}

// CountActions implements Guardrails.
func (s *SQLiteStore) CountActions(ctx context.Context, since time.Time, rule string) (int, error) {
	var n int
	err := s.read(ctx, func(sqlTx *sql.Tx) error {
		tx := s.rtx(sqlTx)
		q := `SELECT count(*) FROM actions a WHERE a.kind = 'apply' AND a.started_at >= ?
            AND a.phase <> 'notify' AND a.result IN ` + countedResults
		args := []any{formatTime(since)}
		if rule != "" {
			q += ` AND EXISTS (SELECT 1 FROM json_each(a.rules) WHERE value = ?)`
			args = append(args, rule)
		}
		return tx.QueryRowContext(ctx, q, args...).Scan(&n)
	})
	return n, err
}

// TargetActedOn implements Guardrails.
func (s *SQLiteStore) TargetActedOn(ctx context.Context, lockKey string, since time.Time, exceptIncident string) (string, error) {
	t, ok := parseTargetLockKey(lockKey)
	if !ok {
		return "", fmt.Errorf("%q is not a target lock key", lockKey)
	}
	var incident string
	err := s.read(ctx, func(sqlTx *sql.Tx) error {
		tx := s.rtx(sqlTx)
		return tx.QueryRowContext(ctx, `SELECT incident_id FROM actions
            WHERE target_account = ? AND target_region = ? AND target_type = ? AND target_id = ?
            AND started_at >= ? AND kind = 'apply' AND phase <> 'notify' AND result IN `+countedResults+`
            AND incident_id <> ? ORDER BY id DESC LIMIT 1`,
			t[0], t[1], t[2], t[3], formatTime(since), exceptIncident).Scan(&incident)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return incident, err
}

// parseTargetLockKey splits a TargetLockKey into account, region, type and
// id (an id may itself contain slashes: an ARN).
func parseTargetLockKey(k string) ([4]string, bool) {
	rest, ok := strings.CutPrefix(k, "target/")
	if !ok {
		return [4]string{}, false
	}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) != 4 {
		return [4]string{}, false
	}
	return [4]string{parts[0], parts[1], parts[2], parts[3]}, true
}
