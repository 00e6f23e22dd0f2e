package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cordonhq/cordon/engine/plan"
)

// writeStmts are the writer's statements custody appends use, prepared
// when the store opens; the writer's cache owns and closes them.
type writeStmts struct {
	custodyLast   *sql.Stmt
	custodyInsert *sql.Stmt
}

func (w *writeStmts) prepare(ctx context.Context, c *stmtCache) (err error) {
	if w.custodyLast, err = c.prepare(ctx, sqliteCustodyLast); err != nil {
		return err
	}
	w.custodyInsert, err = c.prepare(ctx, sqliteCustodyInsert)
	return err
}

// The statements of recording an action.
const (
	sqliteApplyState   = `SELECT kind, status, pid, host FROM applies WHERE id = ?`
	sqliteActionInsert = `INSERT INTO actions (apply_id, incident_id, kind, address, action_name, action_type,
            phase, target_type, target_id, target_account, target_region, reversible, revert_of,
            before_state, config, planned, rules, result, started_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'started', ?)`
	sqliteActionFinish = `UPDATE actions SET result = ?, after_state = ?, error = ?, finished_at = ?
            WHERE id = ? AND result = 'started'`
	sqliteActionResult  = `SELECT result FROM actions WHERE id = ?`
	sqliteIncidentTouch = `UPDATE incidents SET updated_at = max(updated_at, ?)
            WHERE id = (SELECT incident_id FROM actions WHERE id = ?)`
)

// write runs fn in a write transaction (IMMEDIATE, on the writer
// connection) and returns once it is committed, or rolled back if fn
// fails. Concurrent writes share a transaction (see sqlite_group.go); fn
// must do all its writing through tx.
func (s *SQLiteStore) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	if !s.submit(r) {
		return fmt.Errorf("state database %s is closed", s.path)
	}
	return <-r.done
}

// BeginApply implements Store.
func (s *SQLiteStore) BeginApply(ctx context.Context, start ApplyStart) (int64, error) {
	if err := start.validate(); err != nil {
		return 0, err
	}
	now := formatTime(orNow(start.StartedAt))
	me := s.self()
	var id int64
	err := s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		var (
			kind                Kind
			status              ApplyStatus
			owner               string
			h                   process
			startedAt, finished sql.NullString
		)
		err := tx.QueryRowContext(ctx, `SELECT id, kind, status, owner, pid, host, boot_id, proc_start, started_at, finished_at
            FROM applies WHERE plan_id = ?`, start.PlanID).Scan(&id, &kind, &status, &owner, &h.PID, &h.Host, &h.BootID, &h.Start, &startedAt, &finished)
		pid, host := h.PID, h.Host
		if errors.Is(err, sql.ErrNoRows) {
			res, err := tx.ExecContext(ctx, `INSERT INTO applies (plan_id, kind, config_digest, cordon_version,
                owner, pid, host, boot_id, proc_start, status, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)`,
				start.PlanID, start.Kind, start.ConfigDigest, start.CordonVersion, start.Owner, me.PID, me.Host, me.BootID, me.Start, now)
			if err != nil {
				return err
			}
			id, err = res.LastInsertId()
			return err
		}
		if err != nil {
			return err
		}
		switch {
		case status != ApplyRunning:
			return fmt.Errorf("%w: plan %s was applied by %s, finished %s with status %s",
				ErrAlreadyApplied, start.PlanID, owner, finished.String, status)
		case kind != start.Kind:
			return fmt.Errorf("plan %s is recorded as kind %q, not %q", start.PlanID, kind, start.Kind)
		// This process's own apply, left running by a cancelled context
		// (a daemon draining), is resumed like a crashed one: the caller
		// holds the plan's target locks, so no other apply of it runs. A
		// record with this process's pid on this host is either that or a
		// dead process's (the pid is this process's now). Any other is
		// judged like a lock's holder: pid, boot id and start time.
		case !(host == me.Host && pid == me.PID) && liveness(me, h) == LivenessAlive:
			return fmt.Errorf("%w: plan %s is being applied by %s (pid %d on %s) since %s",
				ErrApplyInProgress, start.PlanID, owner, pid, host, startedAt.String)
		case !start.Resume:
			return fmt.Errorf("%w: plan %s: the apply %s started at %s (pid %d on %s) did not finish; apply the plan again to resume it, or run `cordon state recover`",
				ErrApplyInterrupted, start.PlanID, owner, startedAt.String, pid, host)
		}
		// Resume: the apply is now this process's.
		_, err = tx.ExecContext(ctx, `UPDATE applies SET pid = ?, host = ?, boot_id = ?, proc_start = ?, resumed_at = ? WHERE id = ?`,
			me.PID, me.Host, me.BootID, me.Start, now, id)
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// FinishApply implements Store. An apply with actions still started cannot
// finish: it would hide them from a resumed apply.
func (s *SQLiteStore) FinishApply(ctx context.Context, applyID int64, status ApplyStatus, summary json.RawMessage) error {
	switch status {
	case ApplyApplied, ApplyFailed, ApplyPartial:
	default:
		return fmt.Errorf("apply %d: %q is not a status that finishes an apply", applyID, status)
	}
	if err := checkJSON(summary); err != nil {
		return fmt.Errorf("apply %d: summary: %w", applyID, err)
	}
	ctx = withoutCancel(ctx)
	return s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		var current ApplyStatus
		var open int
		err := tx.QueryRowContext(ctx, `SELECT status,
            (SELECT count(*) FROM actions WHERE apply_id = applies.id AND result = 'started')
            FROM applies WHERE id = ?`, applyID).Scan(&current, &open)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("apply %d: %w", applyID, ErrNotFound)
		case err != nil:
			return err
		case current != ApplyRunning:
			return fmt.Errorf("apply %d is already finished (%s)", applyID, current)
		case open > 0:
			return fmt.Errorf("apply %d has %d actions still started; record their outcomes first", applyID, open)
		}
		_, err = tx.ExecContext(ctx, `UPDATE applies SET status = ?, summary = ?, finished_at = ? WHERE id = ?`,
			status, jsonArg(summary), formatTime(time.Now()), applyID)
		return err
	})
}

// PutIncident implements Store.
func (s *SQLiteStore) PutIncident(ctx context.Context, inc Incident) error {
	put, err := incidentWriter(inc)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error { return put(ctx, s.wtx(tx)) })
}

// incidentWriter checks an incident and returns the statement that
// records it, for PutIncident or another write's transaction.
func incidentWriter(inc Incident) (func(context.Context, stx) error, error) {
	if err := inc.validate(); err != nil {
		return nil, err
	}
	var digest string
	if inc.Facts != nil {
		digest = sha256Hex(inc.Facts)
	}
	if inc.FactsSHA256 != "" && inc.FactsSHA256 != digest {
		return nil, fmt.Errorf("incident %s: facts have sha256 %q, not the %s given", inc.ID, digest, inc.FactsSHA256)
	}
	matches, verdicts := inc.Matches, inc.Verdicts
	if matches == nil {
		matches = []plan.Match{}
	}
	if verdicts == nil {
		verdicts = []plan.Verdict{}
	}
	matchesJSON, err := json.Marshal(matches)
	if err != nil {
		return nil, fmt.Errorf("incident %s: matches: %w", inc.ID, err)
	}
	verdictsJSON, err := json.Marshal(verdicts)
	if err != nil {
		return nil, fmt.Errorf("incident %s: verdicts: %w", inc.ID, err)
	}
	created := orNow(inc.CreatedAt)
	updated := inc.UpdatedAt
	if updated.IsZero() {
		updated = created
	}
	f := &inc.Finding
	return func(ctx context.Context, tx stx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO incidents (id, finding_id, finding_source, finding_type,
            severity, account, region, resource_type, resource_id, finding, matches, verdicts, facts,
            facts_sha256, finding_updated_at, finding_count, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET
                finding_id = excluded.finding_id, finding_source = excluded.finding_source,
                finding_type = excluded.finding_type, severity = excluded.severity,
                account = excluded.account, region = excluded.region,
                resource_type = excluded.resource_type, resource_id = excluded.resource_id,
                finding = excluded.finding, matches = excluded.matches, verdicts = excluded.verdicts,
                facts = excluded.facts, facts_sha256 = excluded.facts_sha256,
                finding_updated_at = max(incidents.finding_updated_at, excluded.finding_updated_at),
                finding_count = max(incidents.finding_count, excluded.finding_count),
                updated_at = max(incidents.updated_at, excluded.updated_at)`,
			inc.ID, f.ID, f.Source, f.Type, f.Severity, f.Account, f.Region, f.Resource.Type, f.Resource.ID,
			jsonArg(inc.FindingData), string(matchesJSON), string(verdictsJSON), jsonArg(inc.Facts), digest,
			inc.FindingUpdatedAt, inc.FindingCount, formatTime(created), formatTime(updated))
		return err
	}, nil
}

// ActionStarted implements Store. Besides inserting the record it checks,
// in the same transaction, that the apply is running and, in a revert, that
// the action reverted is this incident's, changed its target and is not
// reverted already.
func (s *SQLiteStore) ActionStarted(ctx context.Context, start ActionStart) (int64, error) {
	if err := start.validate(); err != nil {
		return 0, err
	}
	var (
		id       int64
		withheld *WithheldError
	)
	err := s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		var kind Kind
		var status ApplyStatus
		var pid int
		var host string
		err := tx.QueryRowContext(ctx, sqliteApplyState, start.ApplyID).Scan(&kind, &status, &pid, &host)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("action %s: apply %d: %w", start.Address, start.ApplyID, ErrNotFound)
		case err != nil:
			return err
		case status != ApplyRunning:
			return fmt.Errorf("action %s: apply %d is finished (%s)", start.Address, start.ApplyID, status)
		case pid != s.pid || host != s.host:
			// Another process resumed this apply (it found this one dead):
			// the apply is no longer this process's to continue.
			return fmt.Errorf("%w: action %s: apply %d is now run by pid %d on %s", ErrApplyTakenOver, start.Address, start.ApplyID, pid, host)
		case kind == KindApply && start.RevertOf != 0:
			return fmt.Errorf("action %s: apply %d is not a revert, but the action reverts action %d", start.Address, start.ApplyID, start.RevertOf)
		case kind == KindRevert && start.RevertOf == 0:
			return fmt.Errorf("action %s: apply %d is a revert, but the action names no action it reverts", start.Address, start.ApplyID)
		case kind == KindRevert:
			if err := checkRevertable(ctx, tx, &start); err != nil {
				return err
			}
		}
		var revertOf any
		if start.RevertOf != 0 {
			revertOf = start.RevertOf
		}
		var rules any
		if len(start.Rules) > 0 {
			b, err := json.Marshal(start.Rules)
			if err != nil {
				return err
			}
			rules = string(b)
		}
		startedAt := orNow(start.StartedAt)
		if kind == KindApply && len(start.Limits) > 0 {
			over, err := ruleOverLimit(ctx, tx, start.Limits, startedAt)
			if err != nil {
				return err
			}
			if over != nil {
				id, err = insertWithheld(ctx, tx, &start, kind, rules, over, startedAt)
				if err != nil {
					return err
				}
				withheld = over
				return nil
			}
		}
		t := &start.Target
		res, err := tx.ExecContext(ctx, sqliteActionInsert,
			start.ApplyID, start.IncidentID, kind, start.Address, start.Action, start.Type, start.Phase,
			t.Type, t.ID, t.Account, t.Region, start.Reversible, revertOf,
			jsonArg(start.Before), jsonArg(start.Config), jsonArg(start.Planned), rules, formatTime(startedAt))
		if isForeignKeyError(err) {
			return fmt.Errorf("action %s: incident %s is not recorded: %w", start.Address, start.IncidentID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, err
	}
	if withheld != nil {
		return id, withheld
	}
	return id, nil
}

// countedResults are the results of actions that changed, or may have
// changed, their target: what guardrails count.
const countedResults = `('started', 'applied', 'recovered', 'failed')`

// ruleOverLimit returns the first of limits whose rule has started as many
// actions as its limit in the hour before at, or nil.
func ruleOverLimit(ctx context.Context, tx stx, limits []RuleLimit, at time.Time) (*WithheldError, error) {
	since := formatTime(at.Add(-time.Hour))
	for _, l := range limits {
		if l.PerHour <= 0 {
			continue
		}
		var n int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM actions a
            WHERE a.kind = 'apply' AND a.started_at >= ? AND a.phase <> 'notify'
            AND a.result IN `+countedResults+`
            AND EXISTS (SELECT 1 FROM json_each(a.rules) WHERE value = ?)`, since, l.Rule).Scan(&n)
		if err != nil {
			return nil, err
		}
		if n >= l.PerHour {
			return &WithheldError{Rule: l.Rule, PerHour: l.PerHour}, nil
		}
	}
	return nil, nil
}

// insertWithheld records an action a rule's limit withheld: finished,
// skipped, with the reason.
func insertWithheld(ctx context.Context, tx stx, start *ActionStart, kind Kind, rules any, w *WithheldError, at time.Time) (int64, error) {
	t := &start.Target
	now := formatTime(at)
	res, err := tx.ExecContext(ctx, `INSERT INTO actions (apply_id, incident_id, kind, address, action_name,
        action_type, phase, target_type, target_id, target_account, target_region, reversible, revert_of,
        before_state, config, planned, rules, result, error, started_at, finished_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, 'skipped', ?, ?, ?)`,
		start.ApplyID, start.IncidentID, kind, start.Address, start.Action, start.Type, start.Phase,
		t.Type, t.ID, t.Account, t.Region, start.Reversible,
		jsonArg(start.Before), jsonArg(start.Config), jsonArg(start.Planned), rules, w.Error(), now, now)
	if isForeignKeyError(err) {
		return 0, fmt.Errorf("action %s: incident %s is not recorded: %w", start.Address, start.IncidentID, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// checkRevertable checks the action a revert action undoes.
func checkRevertable(ctx context.Context, tx stx, start *ActionStart) error {
	var incident string
	var kind Kind
	var result Result
	var reverted bool
	err := tx.QueryRowContext(ctx, `SELECT incident_id, kind, result, EXISTS (
            SELECT 1 FROM actions r WHERE r.revert_of = a.id AND r.result IN ('applied', 'no_change'))
            FROM actions a WHERE id = ?`, start.RevertOf).Scan(&incident, &kind, &result, &reverted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("action %s: the action it reverts, %d: %w", start.Address, start.RevertOf, ErrNotFound)
	case err != nil:
		return err
	case incident != start.IncidentID:
		return fmt.Errorf("action %s: action %d belongs to incident %s, not %s", start.Address, start.RevertOf, incident, start.IncidentID)
	case kind != KindApply || !result.changed():
		return fmt.Errorf("action %s: action %d (%s, %s) changed nothing to revert", start.Address, start.RevertOf, kind, result)
	case reverted:
		return fmt.Errorf("action %s: action %d is already reverted", start.Address, start.RevertOf)
	}
	return nil
}

// ActionFinished implements Store. The incident's updated_at advances in
// the same transaction.
func (s *SQLiteStore) ActionFinished(ctx context.Context, actionID int64, out Outcome) error {
	if err := out.validate(actionID); err != nil {
		return err
	}
	finished := formatTime(orNow(out.FinishedAt))
	ctx = withoutCancel(ctx)
	return s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		res, err := tx.ExecContext(ctx, sqliteActionFinish,
			out.Result, jsonArg(out.After), out.Error, finished, actionID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			var current Result
			err := tx.QueryRowContext(ctx, sqliteActionResult, actionID).Scan(&current)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("action %d: %w", actionID, ErrNotFound)
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: action %d ended %s", ErrActionFinished, actionID, current)
		}
		_, err = tx.ExecContext(ctx, sqliteIncidentTouch, finished, actionID)
		return err
	})
}

// PutEvidence implements Store. A new record and its custody entry are
// inserted in one transaction; the writer serialises transactions, so the
// entry follows the incident's last one.
func (s *SQLiteStore) PutEvidence(ctx context.Context, ev Evidence) error {
	entry, err := ev.prepareCustody()
	if err != nil {
		return err
	}
	return s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		res, err := tx.ExecContext(ctx, `INSERT INTO evidence (incident_id, kind, name, sha256, size, data, meta, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (incident_id, kind, name, sha256) DO NOTHING`,
			ev.IncidentID, ev.Kind, ev.Name, ev.SHA256, ev.Size, ev.Data, jsonArg(ev.Meta),
			formatTime(ev.CreatedAt))
		if isForeignKeyError(err) {
			return fmt.Errorf("evidence %s/%s: incident %s is not recorded: %w", ev.Kind, ev.Name, ev.IncidentID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // recorded before: it is chained already
		}
		e := entry
		if e.EvidenceID, err = res.LastInsertId(); err != nil {
			return err
		}
		return sqliteAppendCustody(ctx, tx.Tx, &s.stmts, &e)
	})
}
