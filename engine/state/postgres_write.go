package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cordonhq/cordon/engine/plan"
)

// pgSince is a lower bound on stored times as PostgreSQL compares it:
// timestamptz keeps microseconds, so t is rounded up to the next one, and
// "stored >= pgSince(t)" holds exactly when the stored time is at or after
// t (pgx would truncate it, counting times just before t).
func pgSince(t time.Time) time.Time {
	if r := t.Truncate(time.Microsecond); !r.Equal(t) {
		return r.Add(time.Microsecond)
	}
	return t
}

// BeginApply implements Store. The plan's row is inserted, or, when it
// exists, locked (FOR UPDATE) before it is judged: two processes
// beginning the same plan at once are serialised on it, and the second
// finds the first's apply.
func (s *PostgresStore) BeginApply(ctx context.Context, start ApplyStart) (int64, error) {
	if err := start.validate(); err != nil {
		return 0, err
	}
	now := orNow(start.StartedAt)
	me := s.self()
	var id int64
	err := s.write(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO applies (plan_id, kind, config_digest, cordon_version, owner,
            pid, host, boot_id, proc_start, status, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'running', $10)
            ON CONFLICT (plan_id) DO NOTHING RETURNING id`,
			start.PlanID, start.Kind, start.ConfigDigest, start.CordonVersion, start.Owner,
			me.PID, me.Host, me.BootID, me.Start, now).Scan(&id)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var (
			kind      Kind
			status    ApplyStatus
			owner     string
			h         process
			startedAt time.Time
			finished  *time.Time
		)
		if err := tx.QueryRow(ctx, `SELECT id, kind, status, owner, pid, host, boot_id, proc_start, started_at, finished_at
            FROM applies WHERE plan_id = $1 FOR UPDATE`, start.PlanID).Scan(&id, &kind, &status, &owner,
			&h.PID, &h.Host, &h.BootID, &h.Start, &startedAt, &finished); err != nil {
			return err
		}
		pid, host := h.PID, h.Host
		switch {
		case status != ApplyRunning:
			return fmt.Errorf("%w: plan %s was applied by %s, finished %s with status %s",
				ErrAlreadyApplied, start.PlanID, owner, formatNullTime(finished), status)
		case kind != start.Kind:
			return fmt.Errorf("plan %s is recorded as kind %q, not %q", start.PlanID, kind, start.Kind)
		// The caller holds the plan's target locks, which are database
		// sessions' locks: a live apply of the plan would hold them, so a
		// running one is a crashed one, or one whose lock sessions were
		// lost (a database restart). Resuming makes this process its
		// owner, which fences the old one off (see ActionStarted).
		case !start.Resume:
			return fmt.Errorf("%w: plan %s: the apply %s started at %s (pid %d on %s) did not finish; apply the plan again to resume it, or run `cordon state recover`",
				ErrApplyInterrupted, start.PlanID, owner, formatTime(startedAt), pid, host)
		}
		_, err = tx.Exec(ctx, `UPDATE applies SET pid = $1, host = $2, boot_id = $3, proc_start = $4, resumed_at = $5 WHERE id = $6`,
			me.PID, me.Host, me.BootID, me.Start, now, id)
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

func formatNullTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return formatTime(*t)
}

// FinishApply implements Store. The apply's row is locked FOR UPDATE
// before its started actions are counted; ActionStarted holds it FOR
// SHARE while it inserts, so no action can start in the apply between the
// count and the update.
func (s *PostgresStore) FinishApply(ctx context.Context, applyID int64, status ApplyStatus, summary json.RawMessage) error {
	switch status {
	case ApplyApplied, ApplyFailed, ApplyPartial:
	default:
		return fmt.Errorf("apply %d: %q is not a status that finishes an apply", applyID, status)
	}
	if err := checkJSON(summary); err != nil {
		return fmt.Errorf("apply %d: summary: %w", applyID, err)
	}
	ctx = withoutCancel(ctx)
	return s.write(ctx, func(tx pgx.Tx) error {
		var current ApplyStatus
		err := tx.QueryRow(ctx, `SELECT status FROM applies WHERE id = $1 FOR UPDATE`, applyID).Scan(&current)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("apply %d: %w", applyID, ErrNotFound)
		case err != nil:
			return err
		case current != ApplyRunning:
			return fmt.Errorf("apply %d is already finished (%s)", applyID, current)
		}
		var open int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM actions WHERE apply_id = $1 AND result = 'started'`, applyID).Scan(&open); err != nil {
			return err
		}
		if open > 0 {
			return fmt.Errorf("apply %d has %d actions still started; record their outcomes first", applyID, open)
		}
		_, err = tx.Exec(ctx, `UPDATE applies SET status = $1, summary = $2, finished_at = $3 WHERE id = $4`,
			status, jsonArg(summary), time.Now(), applyID)
		return err
	})
}

// PutIncident implements Store. It is one upsert: PostgreSQL locks the
// row it updates, and the times and counts that only move forward are
// taken with GREATEST against the row as committed.
func (s *PostgresStore) PutIncident(ctx context.Context, inc Incident) error {
	put, err := pgIncidentWriter(inc)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx pgx.Tx) error { return put(ctx, tx) })
}

// pgIncidentWriter checks an incident and returns the statement that
// records it, for PutIncident or another write's transaction.
func pgIncidentWriter(inc Incident) (func(context.Context, pgx.Tx) error, error) {
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
	return func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO incidents (id, finding_id, finding_source, finding_type,
            severity, account, region, resource_type, resource_id, finding, matches, verdicts, facts,
            facts_sha256, finding_updated_at, finding_count, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
            ON CONFLICT (id) DO UPDATE SET
                finding_id = excluded.finding_id, finding_source = excluded.finding_source,
                finding_type = excluded.finding_type, severity = excluded.severity,
                account = excluded.account, region = excluded.region,
                resource_type = excluded.resource_type, resource_id = excluded.resource_id,
                finding = excluded.finding, matches = excluded.matches, verdicts = excluded.verdicts,
                facts = excluded.facts, facts_sha256 = excluded.facts_sha256,
                finding_updated_at = GREATEST(incidents.finding_updated_at, excluded.finding_updated_at),
                finding_count = GREATEST(incidents.finding_count, excluded.finding_count),
                updated_at = GREATEST(incidents.updated_at, excluded.updated_at)`,
			inc.ID, f.ID, f.Source, f.Type, f.Severity, f.Account, f.Region, f.Resource.Type, f.Resource.ID,
			jsonArg(inc.FindingData), string(matchesJSON), string(verdictsJSON), jsonArg(inc.Facts), digest,
			inc.FindingUpdatedAt, inc.FindingCount, created, updated)
		return err
	}, nil
}

// ActionStarted implements Store. The apply's row is held FOR SHARE for
// the transaction, so the apply cannot finish (FinishApply locks it FOR
// UPDATE) while an action starts in it. With limits, a transaction-level
// advisory lock per limited rule, taken in sorted order, is held from
// before the count to the commit: actions of one rule start one at a
// time across every process sharing the database, and each count sees
// the actions committed before it (READ COMMITTED takes a snapshot per
// statement, after the lock is granted).
func (s *PostgresStore) ActionStarted(ctx context.Context, start ActionStart) (int64, error) {
	if err := start.validate(); err != nil {
		return 0, err
	}
	var rules any
	if len(start.Rules) > 0 {
		b, err := json.Marshal(start.Rules)
		if err != nil {
			return 0, err
		}
		rules = string(b)
	}
	startedAt := orNow(start.StartedAt)
	var (
		id       int64
		withheld *WithheldError
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		id, withheld = 0, nil
		var kind Kind
		var status ApplyStatus
		var owner process
		err := tx.QueryRow(ctx, `SELECT kind, status, pid, host, boot_id, proc_start FROM applies WHERE id = $1 FOR SHARE`,
			start.ApplyID).Scan(&kind, &status, &owner.PID, &owner.Host, &owner.BootID, &owner.Start)
		me := s.self()
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("action %s: apply %d: %w", start.Address, start.ApplyID, ErrNotFound)
		case err != nil:
			return err
		case status != ApplyRunning:
			return fmt.Errorf("action %s: apply %d is finished (%s)", start.Address, start.ApplyID, status)
		case owner.PID != me.PID || owner.Host != me.Host || owner.BootID != me.BootID || owner.Start != me.Start:
			// Another replica resumed this apply holding its target locks
			// (this one's lock session was lost, to a database restart or
			// a network failure): the record is the fencing token, and
			// this process must not go on acting for it.
			return fmt.Errorf("%w: action %s: apply %d is now run by pid %d on %s", ErrApplyTakenOver, start.Address, start.ApplyID, owner.PID, owner.Host)
		case kind == KindApply && start.RevertOf != 0:
			return fmt.Errorf("action %s: apply %d is not a revert, but the action reverts action %d", start.Address, start.ApplyID, start.RevertOf)
		case kind == KindRevert && start.RevertOf == 0:
			return fmt.Errorf("action %s: apply %d is a revert, but the action names no action it reverts", start.Address, start.ApplyID)
		case kind == KindRevert:
			if err := pgCheckRevertable(ctx, tx, &start); err != nil {
				return err
			}
		}
		if kind == KindApply && len(start.Limits) > 0 {
			over, err := s.ruleOverLimit(ctx, tx, start.Limits, startedAt)
			if err != nil {
				return err
			}
			if over != nil {
				id, err = pgInsertWithheld(ctx, tx, &start, kind, rules, over, startedAt)
				if err != nil {
					return err
				}
				withheld = over
				return nil
			}
		}
		var revertOf any
		if start.RevertOf != 0 {
			revertOf = start.RevertOf
		}
		t := &start.Target
		err = tx.QueryRow(ctx, `INSERT INTO actions (apply_id, incident_id, kind, address, action_name, action_type,
            phase, target_type, target_id, target_account, target_region, reversible, revert_of,
            before_state, config, planned, rules, result, started_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 'started', $18)
            RETURNING id`,
			start.ApplyID, start.IncidentID, kind, start.Address, start.Action, start.Type, start.Phase,
			t.Type, t.ID, t.Account, t.Region, start.Reversible, revertOf,
			jsonArg(start.Before), jsonArg(start.Config), jsonArg(start.Planned), rules, startedAt).Scan(&id)
		if isPgForeignKeyError(err) {
			return fmt.Errorf("action %s: incident %s is not recorded: %w", start.Address, start.IncidentID, ErrNotFound)
		}
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

// ruleOverLimit returns the first of limits whose rule has started as many
// actions as its limit in the hour before at, or nil. It first takes the
// rules' advisory locks (see ActionStarted).
func (s *PostgresStore) ruleOverLimit(ctx context.Context, tx pgx.Tx, limits []RuleLimit, at time.Time) (*WithheldError, error) {
	var names []string
	for _, l := range limits {
		if l.PerHour > 0 {
			names = append(names, l.Rule)
		}
	}
	slices.Sort(names)
	for _, rule := range slices.Compact(names) {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, s.advisoryName("rule", rule)); err != nil {
			return nil, err
		}
	}
	since := pgSince(at.Add(-time.Hour))
	for _, l := range limits {
		if l.PerHour <= 0 {
			continue
		}
		var n int
		err := tx.QueryRow(ctx, `SELECT count(*) FROM actions a
            WHERE a.kind = 'apply' AND a.started_at >= $1 AND a.phase <> 'notify'
            AND a.result IN `+countedResults+` AND a.rules @> jsonb_build_array($2::text)`, since, l.Rule).Scan(&n)
		if err != nil {
			return nil, err
		}
		if n >= l.PerHour {
			return &WithheldError{Rule: l.Rule, PerHour: l.PerHour}, nil
		}
	}
	return nil, nil
}

// advisoryName is the name whose hash is the advisory lock of what (a
// "lock" key, a "rule"): the schema is part of it, so states in two
// schemas of one database do not share locks.
func (s *PostgresStore) advisoryName(what, name string) string {
	return "cordon/" + s.schema + "/" + what + "/" + name
}

// pgInsertWithheld records an action a rule's limit withheld: finished,
// skipped, with the reason.
func pgInsertWithheld(ctx context.Context, tx pgx.Tx, start *ActionStart, kind Kind, rules any, w *WithheldError, at time.Time) (int64, error) {
	t := &start.Target
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO actions (apply_id, incident_id, kind, address, action_name,
        action_type, phase, target_type, target_id, target_account, target_region, reversible, revert_of,
        before_state, config, planned, rules, result, error, started_at, finished_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, $13, $14, $15, $16, 'skipped', $17, $18, $18)
        RETURNING id`,
		start.ApplyID, start.IncidentID, kind, start.Address, start.Action, start.Type, start.Phase,
		t.Type, t.ID, t.Account, t.Region, start.Reversible,
		jsonArg(start.Before), jsonArg(start.Config), jsonArg(start.Planned), rules, w.Error(), at).Scan(&id)
	if isPgForeignKeyError(err) {
		return 0, fmt.Errorf("action %s: incident %s is not recorded: %w", start.Address, start.IncidentID, ErrNotFound)
	}
	return id, err
}

// pgCheckRevertable checks the action a revert action undoes. A revert of
// it finishing meanwhile is ordered after this transaction, as SQLite's
// writer would order it: the check reads the committed records when it
// runs.
func pgCheckRevertable(ctx context.Context, tx pgx.Tx, start *ActionStart) error {
	var incident string
	var kind Kind
	var result Result
	var reverted bool
	err := tx.QueryRow(ctx, `SELECT incident_id, kind, result, EXISTS (
            SELECT 1 FROM actions r WHERE r.revert_of = a.id AND r.result IN ('applied', 'no_change'))
            FROM actions a WHERE id = $1`, start.RevertOf).Scan(&incident, &kind, &result, &reverted)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
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

// ActionFinished implements Store. The update is conditional on the
// record being started, which PostgreSQL re-checks against the row once
// it holds its lock: of two finishes, one updates and the other finds it
// finished. The incident's updated_at advances in the same transaction.
func (s *PostgresStore) ActionFinished(ctx context.Context, actionID int64, out Outcome) error {
	if err := out.validate(actionID); err != nil {
		return err
	}
	finished := orNow(out.FinishedAt)
	ctx = withoutCancel(ctx)
	return s.write(ctx, func(tx pgx.Tx) error {
		var incident string
		err := tx.QueryRow(ctx, `UPDATE actions SET result = $1, after_state = $2, error = $3, finished_at = $4
            WHERE id = $5 AND result = 'started' RETURNING incident_id`,
			out.Result, jsonArg(out.After), out.Error, finished, actionID).Scan(&incident)
		if errors.Is(err, pgx.ErrNoRows) {
			var current Result
			err := tx.QueryRow(ctx, `SELECT result FROM actions WHERE id = $1`, actionID).Scan(&current)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("action %d: %w", actionID, ErrNotFound)
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: action %d ended %s", ErrActionFinished, actionID, current)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE incidents SET updated_at = GREATEST(updated_at, $1) WHERE id = $2`, finished, incident)
		return err
	})
}

// PutEvidence implements Store. It takes the incident's custody lock (see
// custody_postgres.go) before the insert, so a new record and its custody
// entry are appended in one transaction, after the incident's last entry,
// whatever other replica records evidence of it; the same item recorded
// concurrently waits for the lock, then finds the record and does
// nothing.
func (s *PostgresStore) PutEvidence(ctx context.Context, ev Evidence) error {
	entry, err := ev.prepareCustody()
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if err := s.lockCustody(ctx, tx, ev.IncidentID); err != nil {
			return err
		}
		e := entry
		err := tx.QueryRow(ctx, `INSERT INTO evidence (incident_id, kind, name, sha256, size, data, meta, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (incident_id, kind, name, sha256) DO NOTHING
            RETURNING id`,
			ev.IncidentID, ev.Kind, ev.Name, ev.SHA256, ev.Size, ev.Data, jsonArg(ev.Meta), ev.CreatedAt).Scan(&e.EvidenceID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // recorded before: it is chained already
		}
		if isPgForeignKeyError(err) {
			return fmt.Errorf("evidence %s/%s: incident %s is not recorded: %w", ev.Kind, ev.Name, ev.IncidentID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return pgAppendCustody(ctx, tx, &e)
	})
}
