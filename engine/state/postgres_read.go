package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// The reads mirror sqlite_read.go. Those of several queries run in one
// read transaction (PostgresStore.read), so they see one snapshot.

const pgActionSelect = `SELECT a.id, a.apply_id, ap.plan_id, a.kind, a.incident_id, a.address, a.action_name,
    a.action_type, a.phase, a.target_type, a.target_id, a.target_account, a.target_region, a.reversible,
    a.revert_of, a.before_state, a.after_state, a.config, a.planned, a.rules, a.result, a.error, a.started_at,
    a.finished_at
    FROM actions a JOIN applies ap ON ap.id = a.apply_id`

// pgQueryActions runs a pgActionSelect query and calls fn with each
// record.
func pgQueryActions(ctx context.Context, tx pgx.Tx, fn func(ActionRecord), query string, args ...any) error {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r                  ActionRecord
			revertOf           *int64
			before, after, cfg []byte
			planned, rules     []byte
		)
		if err := rows.Scan(&r.ID, &r.ApplyID, &r.PlanID, &r.Kind, &r.IncidentID, &r.Address, &r.Action,
			&r.Type, &r.Phase, &r.Target.Type, &r.Target.ID, &r.Target.Account, &r.Target.Region, &r.Reversible,
			&revertOf, &before, &after, &cfg, &planned, &rules, &r.Result, &r.Error, &r.StartedAt, &r.FinishedAt); err != nil {
			return err
		}
		if rules != nil {
			if err := json.Unmarshal(rules, &r.Rules); err != nil {
				return fmt.Errorf("action %d: malformed rules in state: %v", r.ID, err)
			}
		}
		if revertOf != nil {
			r.RevertOf = *revertOf
		}
		r.Before, r.After, r.Config, r.Planned = before, after, cfg, planned
		fn(r)
	}
	return rows.Err()
}

func pgCollectActions(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]ActionRecord, error) {
	var out []ActionRecord
	err := pgQueryActions(ctx, tx, func(r ActionRecord) { out = append(out, r) }, query, args...)
	return out, err
}

// StartedActions implements Store.
func (s *PostgresStore) StartedActions(ctx context.Context) ([]ActionRecord, error) {
	var out []ActionRecord
	err := s.read(ctx, func(tx pgx.Tx) (err error) {
		out, err = pgCollectActions(ctx, tx, pgActionSelect+` WHERE a.result = 'started' ORDER BY a.id`)
		return err
	})
	return out, err
}

// DoneActions implements Store.
func (s *PostgresStore) DoneActions(ctx context.Context, planID string) (map[ActionKey]ActionRecord, error) {
	var out map[ActionKey]ActionRecord
	err := s.read(ctx, func(tx pgx.Tx) error {
		out = map[ActionKey]ActionRecord{}
		// In id order, so a later record of the same action replaces an
		// earlier one.
		return pgQueryActions(ctx, tx, func(r ActionRecord) { out[r.Key()] = r },
			pgActionSelect+` WHERE ap.plan_id = $1 AND a.result <> 'started' ORDER BY a.id`, planID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AppliedActions implements Store.
func (s *PostgresStore) AppliedActions(ctx context.Context, incidentID string) ([]ActionRecord, error) {
	var out []ActionRecord
	err := s.read(ctx, func(tx pgx.Tx) error {
		if err := pgIncidentExists(ctx, tx, incidentID); err != nil {
			return err
		}
		var err error
		out, err = pgCollectActions(ctx, tx, pgActionSelect+` WHERE a.incident_id = $1 AND a.kind = 'apply'
            AND a.result IN ('applied', 'recovered')
            AND NOT EXISTS (SELECT 1 FROM actions r WHERE r.revert_of = a.id AND r.result IN ('applied', 'no_change'))
            ORDER BY a.id`, incidentID)
		return err
	})
	return out, err
}

func pgIncidentExists(ctx context.Context, tx pgx.Tx, id string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM incidents WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	return err
}

const pgApplySelect = `SELECT id, plan_id, kind, config_digest, cordon_version, owner, pid, host, status,
    summary, started_at, resumed_at, finished_at FROM applies`

func pgCollectApplies(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]ApplyRecord, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ApplyRecord
	for rows.Next() {
		var a ApplyRecord
		var summary []byte
		if err := rows.Scan(&a.ID, &a.PlanID, &a.Kind, &a.ConfigDigest, &a.CordonVersion, &a.Owner, &a.PID,
			&a.Host, &a.Status, &summary, &a.StartedAt, &a.ResumedAt, &a.FinishedAt); err != nil {
			return nil, err
		}
		a.Summary = summary
		out = append(out, a)
	}
	return out, rows.Err()
}

// RunningApplies implements Store.
func (s *PostgresStore) RunningApplies(ctx context.Context) ([]ApplyRecord, error) {
	var out []ApplyRecord
	err := s.read(ctx, func(tx pgx.Tx) (err error) {
		out, err = pgCollectApplies(ctx, tx, pgApplySelect+` WHERE status = 'running' ORDER BY id`)
		return err
	})
	return out, err
}

// Incidents implements Store. As in SQLite, statuses are derived from the
// action records, so a status filter is applied after reading; without
// one the limit is pushed into the query.
func (s *PostgresStore) Incidents(ctx context.Context, f IncidentFilter) ([]IncidentSummary, error) {
	var since, limit any // NULL: no bound
	if !f.Since.IsZero() {
		since = pgSince(f.Since)
	}
	if f.Limit > 0 && len(f.Status) == 0 {
		limit = f.Limit
	}
	const selected = `SELECT id FROM incidents WHERE ($1::timestamptz IS NULL OR created_at >= $1)
        ORDER BY created_at DESC, id DESC LIMIT $2`
	var out []IncidentSummary
	err := s.read(ctx, func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, `SELECT id, finding_id, finding_source, finding_type, severity, account,
            region, resource_type, resource_id, verdicts, created_at, updated_at
            FROM incidents WHERE id IN (`+selected+`) ORDER BY created_at DESC, id DESC`, since, limit)
		if err != nil {
			return err
		}
		index := map[string]int{}
		for rows.Next() {
			var (
				is       IncidentSummary
				fs       = &is.Finding
				verdicts []byte
			)
			if err := rows.Scan(&is.ID, &fs.ID, &fs.Source, &fs.Type, &fs.Severity, &fs.Account, &fs.Region,
				&fs.Resource.Type, &fs.Resource.ID, &verdicts, &is.CreatedAt, &is.UpdatedAt); err != nil {
				rows.Close()
				return err
			}
			if err := json.Unmarshal(verdicts, &is.Verdicts); err != nil {
				rows.Close()
				return fmt.Errorf("incident %s: malformed verdicts in state: %v", is.ID, err)
			}
			index[is.ID] = len(out)
			out = append(out, is)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		recs := make([][]ActionRecord, len(out))
		rows, err = tx.Query(ctx, `SELECT id, incident_id, address, kind, result, reversible, revert_of
            FROM actions WHERE incident_id IN (`+selected+`) ORDER BY id`, since, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r ActionRecord
			var revertOf *int64
			if err := rows.Scan(&r.ID, &r.IncidentID, &r.Address, &r.Kind, &r.Result, &r.Reversible, &revertOf); err != nil {
				return err
			}
			if revertOf != nil {
				r.RevertOf = *revertOf
			}
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
func (s *PostgresStore) Incident(ctx context.Context, id string) (*IncidentDetail, error) {
	var d *IncidentDetail
	err := s.read(ctx, func(tx pgx.Tx) error {
		d = &IncidentDetail{}
		inc := &d.Incident
		f := &inc.Finding
		var finding, matches, verdicts, facts []byte
		err := tx.QueryRow(ctx, `SELECT id, finding_id, finding_source, finding_type, severity, account,
            region, resource_type, resource_id, finding, matches, verdicts, facts, facts_sha256,
            finding_updated_at, finding_count, created_at, updated_at FROM incidents WHERE id = $1`, id).Scan(
			&inc.ID, &f.ID, &f.Source, &f.Type,
			&f.Severity, &f.Account, &f.Region, &f.Resource.Type, &f.Resource.ID, &finding, &matches, &verdicts,
			&facts, &inc.FactsSHA256, &inc.FindingUpdatedAt, &inc.FindingCount, &inc.CreatedAt, &inc.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
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
		if d.Actions, err = pgCollectActions(ctx, tx, pgActionSelect+` WHERE a.incident_id = $1 ORDER BY a.id`, id); err != nil {
			return err
		}
		if d.Applies, err = pgCollectApplies(ctx, tx, pgApplySelect+` WHERE id IN (
                SELECT apply_id FROM actions WHERE incident_id = $1) ORDER BY id`, id); err != nil {
			return err
		}
		if d.Evidence, err = pgCollectEvidence(ctx, tx, false, id); err != nil {
			return err
		}
		if d.Events, err = pgCollectEvents(ctx, tx, id); err != nil {
			return err
		}
		d.Plans, err = pgCollectPlans(ctx, tx, false, `WHERE incident_id = $1 ORDER BY created_at, id`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	d.Status, _, _ = deriveStatus(d.Actions)
	return d, nil
}

// Evidence implements Store.
func (s *PostgresStore) Evidence(ctx context.Context, incidentID string) ([]Evidence, error) {
	var out []Evidence
	err := s.read(ctx, func(tx pgx.Tx) error {
		if err := pgIncidentExists(ctx, tx, incidentID); err != nil {
			return err
		}
		var err error
		out, err = pgCollectEvidence(ctx, tx, true, incidentID)
		return err
	})
	return out, err
}

// pgCollectEvidence reads an incident's evidence, with its data or
// without.
func pgCollectEvidence(ctx context.Context, tx pgx.Tx, withData bool, incidentID string) ([]Evidence, error) {
	data := "NULL::bytea"
	if withData {
		data = "data"
	}
	rows, err := tx.Query(ctx, `SELECT id, incident_id, kind, name, sha256, size, `+data+`, meta, created_at
        FROM evidence WHERE incident_id = $1 ORDER BY id`, incidentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Evidence
	for rows.Next() {
		var ev Evidence
		var meta []byte
		if err := rows.Scan(&ev.ID, &ev.IncidentID, &ev.Kind, &ev.Name, &ev.SHA256, &ev.Size, &ev.Data, &meta, &ev.CreatedAt); err != nil {
			return nil, err
		}
		ev.Meta = meta
		out = append(out, ev)
	}
	return out, rows.Err()
}

// FindingVersion implements Reader.
func (s *PostgresStore) FindingVersion(ctx context.Context, incidentID string) (string, int, bool, error) {
	var (
		updated string
		count   int
	)
	err := s.pool.QueryRow(ctx, `SELECT finding_updated_at, finding_count FROM incidents WHERE id = $1`,
		incidentID).Scan(&updated, &count)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, s.dbError(err)
	}
	return updated, count, true, nil
}

// CountActions implements Guardrails.
func (s *PostgresStore) CountActions(ctx context.Context, since time.Time, rule string) (int, error) {
	q := `SELECT count(*) FROM actions a WHERE a.kind = 'apply' AND a.started_at >= $1
        AND a.phase <> 'notify' AND a.result IN ` + countedResults
	args := []any{pgSince(since)}
	if rule != "" {
		q += ` AND a.rules @> jsonb_build_array($2::text)`
		args = append(args, rule)
	}
	var n int
	if err := s.pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, s.dbError(err)
	}
	return n, nil
}

// TargetActedOn implements Guardrails.
func (s *PostgresStore) TargetActedOn(ctx context.Context, lockKey string, since time.Time, exceptIncident string) (string, error) {
	t, ok := parseTargetLockKey(lockKey)
	if !ok {
		return "", fmt.Errorf("%q is not a target lock key", lockKey)
	}
	var incident string
	err := s.pool.QueryRow(ctx, `SELECT incident_id FROM actions
        WHERE target_account = $1 AND target_region = $2 AND target_type = $3 AND target_id = $4
        AND started_at >= $5 AND kind = 'apply' AND phase <> 'notify' AND result IN `+countedResults+`
        AND incident_id <> $6 ORDER BY id DESC LIMIT 1`,
		t[0], t[1], t[2], t[3], pgSince(since), exceptIncident).Scan(&incident)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", s.dbError(err)
	}
	return incident, nil
}
