package state

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestFilePlanKey(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), ".cordon")
	k := FilePlanKey{Path: filepath.Join(dir, "plan.key")}

	// Checking a plan with a state that never signed one.
	if _, err := k.PlanKey(ctx, false); !errors.Is(err, ErrNoPlanKey) {
		t.Fatalf("no key: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("looking for the key created its directory: %v", err)
	}

	key, err := k.PlanKey(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != PlanKeySize || bytes.Equal(key, make([]byte, PlanKeySize)) {
		t.Fatalf("key %x", key)
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(k.Path)
		di, _ := os.Stat(dir)
		if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
			t.Errorf("key %v, directory %v", fi.Mode(), di.Mode())
		}
	}
	again, err := k.PlanKey(ctx, false)
	if err != nil || !bytes.Equal(again, key) {
		t.Errorf("read back %x %v, want %x", again, err, key)
	}
	if again, _ := k.PlanKey(ctx, true); !bytes.Equal(again, key) {
		t.Error("creating an existing key replaced it")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
}

// Processes using a new state at once agree on one key.
func TestFilePlanKeyConcurrentCreation(t *testing.T) {
	k := FilePlanKey{Path: filepath.Join(t.TempDir(), "plan.key")}
	keys := make([][]byte, 8)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = k.PlanKey(context.Background(), true)
		}()
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || !bytes.Equal(keys[i], keys[0]) {
			t.Errorf("creator %d: %x %v, first %x", i, keys[i], errs[i], keys[0])
		}
	}
}

func TestFilePlanKeyRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"corrupt", "not hex\n", 0o600, "is corrupt"},
		{"short", "00ff\n", 0o600, "is corrupt"},
		{"readable by others", strings.Repeat("ab", PlanKeySize) + "\n", 0o644, "can be read by others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mode&0o077 != 0 && runtime.GOOS == "windows" {
				t.Skip("no such modes")
			}
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tc.mode)
			_, err := FilePlanKey{Path: path}.PlanKey(context.Background(), true)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want %q naming the file", err, tc.want)
			}
		})
	}
	if err := os.Mkdir(filepath.Join(dir, "a directory"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := (FilePlanKey{Path: filepath.Join(dir, "a directory")}).PlanKey(context.Background(), true); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
}
