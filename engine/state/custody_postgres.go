package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The custody log in PostgreSQL (see custody.go). Replicas append to one
// incident's log concurrently, so an append first takes a
// transaction-level advisory lock on the incident's log, held to the
// commit: appends to one incident run one at a time across every process,
// and each reads the last entry the one before it committed (READ
// COMMITTED takes a snapshot per statement, after the lock is granted).
// The primary key (incident_id, seq) stands behind the lock.

// lockCustody takes the advisory lock on an incident's custody log for the
// rest of tx.
func (s *PostgresStore) lockCustody(ctx context.Context, tx pgx.Tx, incidentID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, s.advisoryName("custody", incidentID))
	return err
}

// pgAppendCustody appends e to its incident's log in tx, which holds the
// log's lock: it reads the last entry, links e after it and inserts it.
func pgAppendCustody(ctx context.Context, tx pgx.Tx, e *CustodyEntry) error {
	var (
		seq  int64
		prev string
	)
	err := tx.QueryRow(ctx, `SELECT seq, hash FROM custody WHERE incident_id = $1 ORDER BY seq DESC LIMIT 1`,
		e.IncidentID).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	e.link(seq, prev)
	return pgInsertCustody(ctx, tx, e)
}

func pgInsertCustody(ctx context.Context, tx pgx.Tx, e *CustodyEntry) error {
	var evidenceID any
	if e.EvidenceID != 0 {
		evidenceID = e.EvidenceID
	}
	var meta any
	if e.Meta != "" {
		meta = e.Meta
	}
	_, err := tx.Exec(ctx, `INSERT INTO custody (incident_id, seq, kind, name, sha256, size, in_state, meta, at,
        prev_hash, hash, evidence_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		e.IncidentID, e.Seq, e.Kind, e.Name, e.SHA256, e.Size, e.InState, meta, e.At,
		e.PrevHash, e.Hash, evidenceID)
	if isPgForeignKeyError(err) {
		return fmt.Errorf("custody entry %s/%s: incident %s is not recorded: %w", e.Kind, e.Name, e.IncidentID, ErrNotFound)
	}
	return err
}

// AppendCustody implements Journal.
func (s *PostgresStore) AppendCustody(ctx context.Context, e CustodyEntry) (CustodyEntry, error) {
	if err := e.prepare(); err != nil {
		return CustodyEntry{}, err
	}
	var out CustodyEntry
	err := s.write(ctx, func(tx pgx.Tx) error {
		out = e
		if err := s.lockCustody(ctx, tx, e.IncidentID); err != nil {
			return err
		}
		return pgAppendCustody(ctx, tx, &out)
	})
	if err != nil {
		return CustodyEntry{}, err
	}
	return out, nil
}

// Custody implements Reader.
func (s *PostgresStore) Custody(ctx context.Context, incidentID string) ([]CustodyEntry, error) {
	var out []CustodyEntry
	err := s.read(ctx, func(tx pgx.Tx) error {
		out = nil
		if err := pgIncidentExists(ctx, tx, incidentID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT incident_id, seq, kind, name, sha256, size, in_state, meta::text, at,
            prev_hash, hash, evidence_id FROM custody WHERE incident_id = $1 ORDER BY seq`, incidentID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				e          CustodyEntry
				meta       *string
				evidenceID *int64
			)
			if err := rows.Scan(&e.IncidentID, &e.Seq, &e.Kind, &e.Name, &e.SHA256, &e.Size, &e.InState, &meta, &e.At,
				&e.PrevHash, &e.Hash, &evidenceID); err != nil {
				return err
			}
			if meta != nil {
				e.Meta = *meta
			}
			if evidenceID != nil {
				e.EvidenceID = *evidenceID
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

// pgChainEvidence chains the evidence recorded before the custody log
// existed, in the migration's transaction (which holds the migration's
// lock, so no store of this version writes meanwhile): each incident's
// records in the order they were recorded (by id), as PutEvidence would
// have appended them.
func pgChainEvidence(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT id, incident_id, kind, name, sha256, size, data IS NOT NULL, meta::text, created_at
        FROM evidence ORDER BY id`)
	if err != nil {
		return err
	}
	var entries []CustodyEntry
	for rows.Next() {
		var (
			e    CustodyEntry
			meta *string
		)
		if err := rows.Scan(&e.EvidenceID, &e.IncidentID, &e.Kind, &e.Name, &e.SHA256, &e.Size, &e.InState, &meta, &e.At); err != nil {
			rows.Close()
			return err
		}
		if meta != nil {
			e.Meta = *meta
		}
		entries = append(entries, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	type last struct {
		seq  int64
		hash string
	}
	heads := map[string]last{}
	for i := range entries {
		e := &entries[i]
		h := heads[e.IncidentID]
		e.link(h.seq, h.hash)
		if err := pgInsertCustody(ctx, tx, e); err != nil {
			return fmt.Errorf("chaining evidence %d: %w", e.EvidenceID, err)
		}
		heads[e.IncidentID] = last{e.Seq, e.Hash}
	}
	return nil
}
