package state

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

var _ PlanKeys = (*PostgresStore)(nil)

// PlanKey implements PlanKeys: the key is the one row of plan_key, so
// every replica and command sharing the database shares it. Created, it
// is inserted with ON CONFLICT DO NOTHING and read back in the same
// transaction: processes creating it at once agree on the first one
// committed.
func (s *PostgresStore) PlanKey(ctx context.Context, create bool) ([]byte, error) {
	var key []byte
	err := s.write(ctx, func(tx pgx.Tx) error {
		if create {
			fresh := make([]byte, PlanKeySize)
			if _, err := rand.Read(fresh); err != nil {
				return fmt.Errorf("creating the plan key: %w", err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO plan_key (id, key, created_at) VALUES (1, $1, now())
                ON CONFLICT (id) DO NOTHING`, fresh); err != nil {
				return err
			}
		}
		err := tx.QueryRow(ctx, `SELECT key FROM plan_key WHERE id = 1`).Scan(&key)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w (no plan key in %s)", ErrNoPlanKey, s.desc)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(key) != PlanKeySize {
		return nil, fmt.Errorf("the plan key in %s is corrupt: %d bytes, not %d", s.desc, len(key), PlanKeySize)
	}
	return key, nil
}
