package demo

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // the driver cordon's state uses
)

// custodyEdit is what tamperMemoryImage changed.
type custodyEdit struct {
	Seq      int64
	Name     string
	Was, Now string
}

// tamperMemoryImage edits an incident's custody log the way someone who
// can write the state file, and is not cordon, would: with SQLite alone,
// it drops the trigger that refuses updates of the log, rewrites the
// SHA-256 recorded for the incident's memory image, as if the image had
// been swapped for a doctored one, and puts the trigger back as it was,
// in one transaction. Only the chain can tell.
func tamperMemoryImage(ctx context.Context, dbPath, incidentID string) (edit custodyEdit, err error) {
	db, err := openRaw(dbPath)
	if err != nil {
		return edit, err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return edit, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	err = tx.QueryRowContext(ctx, `SELECT seq, name, sha256 FROM custody WHERE incident_id = ? AND kind = 'memory_image' ORDER BY seq LIMIT 1`,
		incidentID).Scan(&edit.Seq, &edit.Name, &edit.Was)
	if errors.Is(err, sql.ErrNoRows) {
		return edit, fmt.Errorf("incident %s has no memory image in its custody log", incidentID)
	}
	if err != nil {
		return edit, fmt.Errorf("reading the custody log of %s: %w", dbPath, err)
	}
	var trigger string
	if err = tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'custody_no_update'`).Scan(&trigger); err != nil {
		return edit, fmt.Errorf("reading the custody log's trigger: %w", err)
	}
	doctored := sha256.Sum256([]byte("a doctored image in place of " + edit.Was))
	edit.Now = hex.EncodeToString(doctored[:])
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{`DROP TRIGGER custody_no_update`, nil},
		{`UPDATE custody SET sha256 = ? WHERE incident_id = ? AND seq = ?`, []any{edit.Now, incidentID, edit.Seq}},
		{trigger, nil},
	} {
		if _, err = tx.ExecContext(ctx, stmt.sql, stmt.args...); err != nil {
			return edit, fmt.Errorf("editing %s: %w", dbPath, err)
		}
	}
	return edit, tx.Commit()
}

// openRaw opens the state file with SQLite alone, waiting for a lock as
// the store does.
func openRaw(dbPath string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+(&url.URL{Path: dbPath}).EscapedPath()+"?_pragma=busy_timeout(5000)")
}
