package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// PlanKeys is where a state backend keeps its plan key: the secret that
// signs the plan files `cordon plan -out` writes and that `cordon apply`
// checks them with, so that a plan file is applied only with the state it
// was made with, and a forged or edited one is refused (see
// plan.File.Verify).
//
// The key belongs to the state, not to the machine or the user: every
// process sharing a state shares its key, and a plan made with one state
// does not apply with another.
//
// The SQLite backend keeps the key in a file beside the database
// (FilePlanKey). A PostgreSQL backend keeps it in the database, readable
// only by cordon's role, in a one-row table:
//
//	CREATE TABLE plan_key (
//	    id         INTEGER PRIMARY KEY CHECK (id = 1),
//	    key        BYTEA NOT NULL CHECK (length(key) = 32),
//	    created_at TIMESTAMPTZ NOT NULL
//	);
//
// with PlanKey(ctx, true) inserting a fresh random key with ON CONFLICT
// (id) DO NOTHING and then selecting it, in one transaction, so that
// daemons and commands using the key for the first time at once agree on
// one key.
type PlanKeys interface {
	// PlanKey returns the state's plan key. When there is none yet, it
	// creates one if create is set (a plan being written), and otherwise
	// fails with ErrNoPlanKey (a plan being checked: this state signed
	// none).
	PlanKey(ctx context.Context, create bool) ([]byte, error)
}

// ErrNoPlanKey is PlanKey's error when the state has no plan key and
// create is not set.
var ErrNoPlanKey = errors.New("the state has no plan key")

// PlanKeySize is the length of a plan key in bytes (256 bits).
const PlanKeySize = 32

// FilePlanKey keeps a plan key in a file: 64 hex digits and a newline,
// mode 0600 in a directory created 0700, as the SQLite database beside it.
type FilePlanKey struct {
	Path string
}

var _ PlanKeys = FilePlanKey{}

// PlanKey implements PlanKeys. Two processes creating the key at once
// agree on one: each writes its own key to a temporary file and links it
// into place, which fails for the second, who reads the first's.
func (k FilePlanKey) PlanKey(_ context.Context, create bool) ([]byte, error) {
	key, err := k.read()
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if !create {
		return nil, fmt.Errorf("%w (no %s)", ErrNoPlanKey, k.Path)
	}
	if err := k.create(); err != nil {
		return nil, err
	}
	return k.read()
}

func (k FilePlanKey) read() ([]byte, error) {
	fi, err := os.Lstat(k.Path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("plan key %s is not a regular file", k.Path)
	}
	// Windows has no such mode bits to check.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("plan key %s can be read by others (mode %#o): anyone who reads it can sign plan files; make it private with chmod 600", k.Path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(k.Path)
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != PlanKeySize {
		return nil, fmt.Errorf("plan key %s is corrupt: it must hold %d hex digits; delete it to make a new key (plan files signed with the old one will then be refused)", k.Path, 2*PlanKeySize)
	}
	return key, nil
}

func (k FilePlanKey) create() error {
	dir := filepath.Dir(k.Path)
	if err := mkdirPrivate(dir); err != nil {
		return fmt.Errorf("creating the plan key: %w", err)
	}
	key := make([]byte, PlanKeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("creating the plan key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".plan.key-*")
	if err != nil {
		return fmt.Errorf("creating the plan key: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.WriteString(hex.EncodeToString(key) + "\n")
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("creating the plan key: %w", err)
	}
	if err := os.Link(tmp.Name(), k.Path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating the plan key: %w", err)
	}
	return syncDir(dir)
}

// mkdirPrivate creates dir and its missing parents with mode 0700, set
// with chmod rather than left to the umask; existing directories are left
// as they are.
func mkdirPrivate(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		} else if err == nil {
			if err := os.Chmod(missing[i], 0o700); err != nil {
				return err
			}
		}
	}
	return nil
}
