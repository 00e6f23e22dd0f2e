package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The custody log in SQLite (see custody.go). The store's single writer
// runs every write transaction in turn, so reading an incident's last
// entry and inserting the next cannot interleave with another append; the
// primary key (incident_id, seq) stands behind that all the same.

const (
	sqliteCustodyLast   = `SELECT seq, hash FROM custody WHERE incident_id = ? ORDER BY seq DESC LIMIT 1`
	sqliteCustodyInsert = `INSERT INTO custody (incident_id, seq, kind, name, sha256, size, in_state, meta, at,
        prev_hash, hash, evidence_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// sqliteAppendCustody appends e to its incident's log in tx, with the
// writer's prepared statements: it reads the last entry, links e after it
// and inserts it.
func sqliteAppendCustody(ctx context.Context, tx *sql.Tx, stmts *writeStmts, e *CustodyEntry) error {
	var (
		seq  int64
		prev string
	)
	err := tx.StmtContext(ctx, stmts.custodyLast).QueryRowContext(ctx, e.IncidentID).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	e.link(seq, prev)
	return sqliteInsertCustody(ctx, tx, tx.StmtContext(ctx, stmts.custodyInsert), e)
}

// sqliteInsertCustody inserts a linked entry with insert, a
// sqliteCustodyInsert statement.
func sqliteInsertCustody(ctx context.Context, tx *sql.Tx, insert *sql.Stmt, e *CustodyEntry) error {
	var evidenceID any
	if e.EvidenceID != 0 {
		evidenceID = e.EvidenceID
	}
	var meta any
	if e.Meta != "" {
		meta = e.Meta
	}
	_, err := insert.ExecContext(ctx, e.IncidentID, e.Seq, e.Kind, e.Name, e.SHA256, e.Size, e.InState, meta, custodyTimeText(e.At),
		e.PrevHash, e.Hash, evidenceID)
	if isForeignKeyError(err) {
		return fmt.Errorf("custody entry %s/%s: incident %s is not recorded: %w", e.Kind, e.Name, e.IncidentID, ErrNotFound)
	}
	return err
}

// AppendCustody implements Journal.
func (s *SQLiteStore) AppendCustody(ctx context.Context, e CustodyEntry) (CustodyEntry, error) {
	if err := e.prepare(); err != nil {
		return CustodyEntry{}, err
	}
	err := s.write(ctx, func(tx *sql.Tx) error { return sqliteAppendCustody(ctx, tx, &s.stmts, &e) })
	if err != nil {
		return CustodyEntry{}, err
	}
	return e, nil
}

// Custody implements Reader.
func (s *SQLiteStore) Custody(ctx context.Context, incidentID string) ([]CustodyEntry, error) {
	var out []CustodyEntry
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := incidentExists(ctx, tx, incidentID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT incident_id, seq, kind, name, sha256, size, in_state, meta, at,
            prev_hash, hash, evidence_id FROM custody WHERE incident_id = ? ORDER BY seq`, incidentID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				e          CustodyEntry
				meta       sql.NullString
				at         string
				evidenceID sql.NullInt64
			)
			if err := rows.Scan(&e.IncidentID, &e.Seq, &e.Kind, &e.Name, &e.SHA256, &e.Size, &e.InState, &meta, &at,
				&e.PrevHash, &e.Hash, &evidenceID); err != nil {
				return err
			}
			if e.At, err = parseTime(at); err != nil {
				return err
			}
			e.Meta, e.EvidenceID = meta.String, evidenceID.Int64
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

// sqliteChainEvidence chains the evidence recorded before the custody log
// existed, in the migration's transaction: each incident's records in the
// order they were recorded (by id), as PutEvidence would have appended
// them. Their time is the record's, to the microsecond.
func sqliteChainEvidence(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, incident_id, kind, name, sha256, size, data IS NOT NULL, meta, created_at
        FROM evidence ORDER BY id`)
	if err != nil {
		return err
	}
	var entries []CustodyEntry
	for rows.Next() {
		var (
			e    CustodyEntry
			meta sql.NullString
			at   string
		)
		if err := rows.Scan(&e.EvidenceID, &e.IncidentID, &e.Kind, &e.Name, &e.SHA256, &e.Size, &e.InState, &meta, &at); err != nil {
			rows.Close()
			return err
		}
		t, err := parseTime(at)
		if err != nil {
			rows.Close()
			return fmt.Errorf("evidence %d: %w", e.EvidenceID, err)
		}
		e.Meta, e.At = meta.String, t
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
	insert, err := tx.PrepareContext(ctx, sqliteCustodyInsert)
	if err != nil {
		return err
	}
	defer insert.Close()
	heads := map[string]last{}
	for i := range entries {
		e := &entries[i]
		h := heads[e.IncidentID]
		e.link(h.seq, h.hash)
		if err := sqliteInsertCustody(ctx, tx, insert, e); err != nil {
			return fmt.Errorf("chaining evidence %d: %w", e.EvidenceID, err)
		}
		heads[e.IncidentID] = last{e.Seq, e.Hash}
	}
	return nil
}
