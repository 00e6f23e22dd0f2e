package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// read runs fn in a read transaction on the read pool: every query in it
// sees the same snapshot of the database.
func (s *SQLiteStore) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return s.dbError(err)
	}
	// Runs after the rollback, with the connection back in the pool.
	defer s.rs.prepareMissed(ctx)
	defer tx.Rollback()
	return s.dbError(fn(tx))
}

const actionSelect = `SELECT a.id, a.apply_id, ap.plan_id, a.kind, a.incident_id, a.address, a.action_name,
    a.action_type, a.phase, a.target_type, a.target_id, a.target_account, a.target_region, a.reversible,
    a.revert_of, a.before_state, a.after_state, a.config, a.planned, a.rules, a.result, a.error, a.started_at,
    a.finished_at
    FROM actions a JOIN applies ap ON ap.id = a.apply_id`

// queryActions runs an actionSelect query and calls fn with each record.
func queryActions(ctx context.Context, tx stx, fn func(ActionRecord), query string, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r                  ActionRecord
			revertOf           sql.NullInt64
			started            string
			finished           sql.NullString
			before, after, cfg []byte
			planned, rules     []byte
		)
		if err := rows.Scan(&r.ID, &r.ApplyID, &r.PlanID, &r.Kind, &r.IncidentID, &r.Address, &r.Action,
			&r.Type, &r.Phase, &r.Target.Type, &r.Target.ID, &r.Target.Account, &r.Target.Region, &r.Reversible,
			&revertOf, &before, &after, &cfg, &planned, &rules, &r.Result, &r.Error, &started, &finished); err != nil {
			return err
		}
		if rules != nil {
			if err := json.Unmarshal(rules, &r.Rules); err != nil {
				return fmt.Errorf("action %d: malformed rules in state: %v", r.ID, err)
			}
		}
		r.RevertOf = revertOf.Int64
		r.Before, r.After, r.Config, r.Planned = before, after, cfg, planned
		if r.StartedAt, err = parseTime(started); err != nil {
			return err
		}
		if r.FinishedAt, err = parseNullTime(finished); err != nil {
			return err
		}
		fn(r)
	}
	return rows.Err()
}

func collectActions(ctx context.Context, tx stx, query string, args ...any) ([]ActionRecord, error) {
	var out []ActionRecord
	err := queryActions(ctx, tx, func(r ActionRecord) { out = append(out, r) }, query, args...)
	return out, err
}

// StartedActions implements Store.
func (s *SQLiteStore) StartedActions(ctx context.Context) ([]ActionRecord, error) {
	var out []ActionRecord
	err := s.read(ctx, func(sqlTx *sql.Tx) (err error) {
		tx := s.rtx(sqlTx)
		out, err = collectActions(ctx, tx, actionSelect+` WHERE a.result = 'started' ORDER BY a.id`)
		return err
	})
	return out, err
}

// DoneActions implements Store.
func (s *SQLiteStore) DoneActions(ctx context.Context, planID string) (map[ActionKey]ActionRecord, error) {
	out := map[ActionKey]ActionRecord{}
	err := s.read(ctx, func(sqlTx *sql.Tx) error {
		tx := s.rtx(sqlTx)
		// In id order, so a later record of the same action replaces an
		// earlier one.
		return queryActions(ctx, tx, func(r ActionRecord) { out[r.Key()] = r },
			actionSelect+` WHERE ap.plan_id = ? AND a.result <> 'started' ORDER BY a.id`, planID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AppliedActions implements Store.
func (s *SQLiteStore) AppliedActions(ctx context.Context, incidentID string) ([]ActionRecord, error) {
	var out []ActionRecord
	err := s.read(ctx, func(sqlTx *sql.Tx) error {
		tx := s.rtx(sqlTx)
		if err := incidentExists(ctx, tx.Tx, incidentID); err != nil {
			return err
		}
		var err error
		out, err = collectActions(ctx, tx, actionSelect+` WHERE a.incident_id = ? AND a.kind = 'apply'
            AND a.result IN ('applied', 'recovered')
            AND NOT EXISTS (SELECT 1 FROM actions r WHERE r.revert_of = a.id AND r.result IN ('applied', 'no_change'))
            ORDER BY a.id`, incidentID)
		return err
	})
	return out, err
}

func incidentExists(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM incidents WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	return err
}

const applySelect = `SELECT id, plan_id, kind, config_digest, cordon_version, owner, pid, host, status,
    summary, started_at, resumed_at, finished_at FROM applies`

func collectApplies(ctx context.Context, tx stx, query string, args ...any) ([]ApplyRecord, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ApplyRecord
	for rows.Next() {
		var (
			a                 ApplyRecord
			summary           []byte
			started           string
			resumed, finished sql.NullString
		)
		if err := rows.Scan(&a.ID, &a.PlanID, &a.Kind, &a.ConfigDigest, &a.CordonVersion, &a.Owner, &a.PID,
			&a.Host, &a.Status, &summary, &started, &resumed, &finished); err != nil {
			return nil, err
		}
		a.Summary = summary
		if a.StartedAt, err = parseTime(started); err != nil {
			return nil, err
		}
		if a.ResumedAt, err = parseNullTime(resumed); err != nil {
			return nil, err
		}
		if a.FinishedAt, err = parseNullTime(finished); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RunningApplies implements Store.
func (s *SQLiteStore) RunningApplies(ctx context.Context) ([]ApplyRecord, error) {
	var out []ApplyRecord
	err := s.read(ctx, func(sqlTx *sql.Tx) (err error) {
		tx := s.rtx(sqlTx)
		out, err = collectApplies(ctx, tx, applySelect+` WHERE status = 'running' ORDER BY id`)
		return err
	})
	return out, err
}

// Incidents implements Store. Statuses are derived from the action records
// (deriveStatus), so a status filter is applied after reading; without one
// the limit is pushed into the query.
func (s *SQLiteStore) Incidents(ctx context.Context, f IncidentFilter) ([]IncidentSummary, error) {
	since := ""
	if !f.Since.IsZero() {
		since = formatTime(f.Since)
	}
	limit := -1 // SQLite: no limit
	if f.Limit > 0 && len(f.Status) == 0 {
		limit = f.Limit
	}
	const selected = `SELECT id FROM incidents WHERE created_at >= ? ORDER BY created_at DESC, id DESC LIMIT ?`
	var out []IncidentSummary
	err := s.read(ctx, func(sqlTx *sql.Tx) error {
		tx := s.rtx(sqlTx)
		rows, err := tx.QueryContext(ctx, `SELECT id, finding_id, finding_source, finding_type, severity, account,
            region, resource_type, resource_id, verdicts, created_at, updated_at
            FROM incidents WHERE id IN (`+selected+`) ORDER BY created_at DESC, id DESC`, since, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		index := map[string]int{}
		for rows.Next() {
			var (
				is               IncidentSummary
				fs               = &is.Finding
				verdicts         []byte
				created, updated string
			)
			if err := rows.Scan(&is.ID, &fs.ID, &fs.Source, &fs.Type, &fs.Severity, &fs.Account, &fs.Region,
				&fs.Resource.Type, &fs.Resource.ID, &verdicts, &created, &updated); err != nil {
				return err
			}
			if err := json.Unmarshal(verdicts, &is.Verdicts); err != nil {
				return fmt.Errorf("incident %s: malformed verdicts in state: %v", is.ID, err)
			}
			if is.CreatedAt, err = parseTime(created); err != nil {
				return err
			}
			if is.UpdatedAt, err = parseTime(updated); err != nil {
				return err
			}
			index[is.ID] = len(out)
			out = append(out, is)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()

		recs := make([][]ActionRecord, len(out))
		rows, err = tx.QueryContext(ctx, `SELECT id, incident_id, address, kind, result, reversible, revert_of
            FROM actions WHERE incident_id IN (`+selected+`) ORDER BY id`, since, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r ActionRecord
			var revertOf sql.NullInt64
			if err := rows.Scan(&r.ID, &r.IncidentID, &r.Address, &r.Kind, &r.Result, &r.Reversible, &revertOf); err != nil {
				return err
			}
			r.RevertOf = revertOf.Int64
			i := index[r.IncidentID]
			recs[i] = append(recs[i], r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range out {
			out[i].Status, out[i].Actions, out[i].Reverted = deriveStatus(recs[i])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(f.Status) > 0 {
		out = slices.DeleteFunc(out, func(is IncidentSummary) bool { return !slices.Contains(f.Status, is.Status) })
		if f.Limit > 0 && len(out) > f.Limit {
			out = out[:f.Limit]
		}
	}
	return out, nil
}

// Incident implements Store.
func (s *SQLiteStore) Incident(ctx context.Context, id string) (*IncidentDetail, error) {
	d := &IncidentDetail{}
	err := s.read(ctx, func(sqlTx *sql.Tx) error {
		tx := s.rtx(sqlTx)
		inc := &d.Incident
		f := &inc.Finding
		var (
			finding, matches, verdicts, facts []byte
			created, updated                  string
		)
		err := tx.QueryRowContext(ctx, `SELECT id, finding_id, finding_source, finding_type, severity, account,
            region, resource_type, resource_id, finding, matches, verdicts, facts, facts_sha256,
            finding_updated_at, finding_count, created_at, updated_at FROM incidents WHERE id = ?`, id).Scan(
			&inc.ID, &f.ID, &f.Source, &f.Type,
			&f.Severity, &f.Account, &f.Region, &f.Resource.Type, &f.Resource.ID, &finding, &matches, &verdicts,
			&facts, &inc.FactsSHA256, &inc.FindingUpdatedAt, &inc.FindingCount, &created, &updated)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("incident %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		inc.FindingData, inc.Facts = finding, facts
		if err := json.Unmarshal(matches, &inc.Matches); err != nil {
			return fmt.Errorf("incident %s: malformed matches in state: %v", id, err)
		}
		if err := json.Unmarshal(verdicts, &inc.Verdicts); err != nil {
			return fmt.Errorf("incident %s: malformed verdicts in state: %v", id, err)
		}
		if inc.CreatedAt, err = parseTime(created); err != nil {
			return err
		}
		if inc.UpdatedAt, err = parseTime(updated); err != nil {
			return err
		}
		if d.Actions, err = collectActions(ctx, tx, actionSelect+` WHERE a.incident_id = ? ORDER BY a.id`, id); err != nil {
			return err
		}
		if d.Applies, err = collectApplies(ctx, tx, applySelect+` WHERE id IN (
                SELECT apply_id FROM actions WHERE incident_id = ?) ORDER BY id`, id); err != nil {
			return err
		}
		if d.Evidence, err = collectEvidence(ctx, tx, false, id); err != nil {
			return err
		}
		if d.Events, err = collectEvents(ctx, tx, id); err != nil {
			return err
		}
		d.Plans, err = collectPlans(ctx, tx, `WHERE incident_id = ? ORDER BY created_at, id`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	d.Status, _, _ = deriveStatus(d.Actions)
	return d, nil
}

// Evidence implements Store.
func (s *SQLiteStore) Evidence(ctx context.Context, incidentID string) ([]Evidence, error) {
	var out []Evidence
	err := s.read(ctx, func(sqlTx *sql.Tx) error {
		tx := s.rtx(sqlTx)
		if err := incidentExists(ctx, tx.Tx, incidentID); err != nil {
			return err
		}
		var err error
		out, err = collectEvidence(ctx, tx, true, incidentID)
		return err
	})
	return out, err
}

// collectEvidence reads an incident's evidence, with its data or without.
func collectEvidence(ctx context.Context, tx stx, withData bool, incidentID string) ([]Evidence, error) {
	data := "NULL"
	if withData {
		data = "data"
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, incident_id, kind, name, sha256, size, `+data+`, meta, created_at
        FROM evidence WHERE incident_id = ? ORDER BY id`, incidentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Evidence
	for rows.Next() {
		var ev Evidence
		var meta []byte
		var created string
		if err := rows.Scan(&ev.ID, &ev.IncidentID, &ev.Kind, &ev.Name, &ev.SHA256, &ev.Size, &ev.Data, &meta, &created); err != nil {
			return nil, err
		}
		ev.Meta = meta
		if ev.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}
