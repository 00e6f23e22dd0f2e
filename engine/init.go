package engine

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Init writes the files of fsys (the embedded starter policy set) into
// dir. It refuses, writing nothing, if any of them already exists: init
// must never overwrite a team's policies.
func Init(dir string, fsys fs.FS) ([]string, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasSuffix(p, ".go") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var existing []string
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(f))); err == nil {
			existing = append(existing, filepath.Join(dir, filepath.FromSlash(f)))
		} else if !os.IsNotExist(err) {
			return nil, err
		}
	}
	if len(existing) > 0 {
		return nil, fmt.Errorf("refusing to overwrite existing files (nothing was written):\n  %s", strings.Join(existing, "\n  "))
	}
	var written []string
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return written, err
		}
		dst := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return written, err
		}
		// O_EXCL: a file created since the check above is still not
		// overwritten.
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return written, err
		}
		if _, err := out.Write(data); err != nil {
			out.Close()
			return written, err
		}
		if err := out.Close(); err != nil {
			return written, err
		}
		written = append(written, dst)
	}
	return written, nil
}
