//go:build unix

package state

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The state directory is 0700 and the database and its -wal and -shm files
// 0600 whatever the umask: one that would widen them (0) and one that would
// leave the owner unable to write (0277). Not parallel: the umask is the
// process's.
func TestFileModes(t *testing.T) {
	for _, umask := range []int{0, 0o022, 0o277} {
		t.Run(fmt.Sprintf("umask %04o", umask), func(t *testing.T) {
			// The temporary directory first: made under the umask,
			// it would be unwritable under 0277.
			dir := filepath.Join(t.TempDir(), "project", ".cordon")
			old := syscall.Umask(umask)
			defer syscall.Umask(old)

			path := filepath.Join(dir, "state.db")
			s, err := OpenSQLite(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// A write while open, so the -wal and -shm files exist.
			putIncident(t, s, testIncident("inc-1", "i-1"))

			for _, tc := range []struct {
				path string
				want fs.FileMode
			}{
				{filepath.Dir(dir), 0o700}, // "project" was created too
				{dir, 0o700},
				{path, 0o600},
				{path + "-wal", 0o600},
				{path + "-shm", 0o600},
			} {
				fi, err := os.Stat(tc.path)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != tc.want {
					t.Errorf("%s: mode %04o, want %04o", filepath.Base(tc.path), got, tc.want)
				}
			}
		})
	}
}

// An existing directory keeps its mode: it is the user's.
func TestFileModesExistingDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("existing directory's mode changed to %04o", fi.Mode().Perm())
	}
}
