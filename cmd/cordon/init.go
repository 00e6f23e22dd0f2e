package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/internal/ui"
	"github.com/cordonhq/cordon/policies"
)

// gitignoreEntries keep what must not be committed out of the
// configuration's repository: the state (and the key that signs plans)
// and saved plans, which hold findings and facts.
var gitignoreEntries = []string{".cordon/", "*.plan"}

// initDocument is `cordon init -json`.
type initDocument struct {
	FormatVersion string   `json:"format_version"`
	Dir           string   `json:"dir"`
	Created       []string `json:"created"`
	Overwritten   []string `json:"overwritten"`
	Gitignore     string   `json:"gitignore"`
}

func runInit(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("init [DIR] [-force]", "init [DIR] [options]")
	force := fs.Bool("force", false, "overwrite the starter files that exist already (other files are left alone)")
	m.outputFlags(fs)
	m.jsonFlag(fs, "list what was written as JSON")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		fmt.Fprintln(m.stderr, "cordon init: expected at most one DIR")
		fs.Usage()
		return 1
	}
	dir := "."
	if len(pos) == 1 {
		dir = pos[0]
	}
	doc := initDocument{FormatVersion: ui.FormatVersion, Dir: dir, Created: []string{}, Overwritten: []string{}}
	var err error
	if *force {
		doc.Created, doc.Overwritten, err = initForce(dir, policies.Starter())
	} else {
		doc.Created, err = engine.Init(dir, policies.Starter())
	}
	if err != nil {
		if !*force {
			err = fmt.Errorf("%w\nRun cordon init -force to overwrite them with the starter files", err)
		}
		return m.fail("Cannot initialize "+dir, err)
	}
	if doc.Gitignore, err = writeGitignore(dir); err != nil {
		return m.fail("Cannot write "+filepath.Join(dir, ".gitignore"), err)
	}
	if m.jsonOut {
		m.writeJSON(doc)
		return 0
	}
	for _, w := range doc.Created {
		fmt.Fprintf(m.stdout, "  created %s\n", w)
	}
	for _, w := range doc.Overwritten {
		fmt.Fprintf(m.stdout, "  overwrote %s\n", w)
	}
	if doc.Gitignore != "" {
		fmt.Fprintf(m.stdout, "  %s %s (%s)\n", doc.Gitignore, filepath.Join(dir, ".gitignore"), strings.Join(gitignoreEntries, ", "))
	}
	fmt.Fprintf(m.stdout, "\ncordon has been initialized in %s with the starter policies.\n\nNext:\n  cordon validate -config %s\n  cordon plan -config %s -finding FINDING.json\n", dir, dir, dir)
	return 0
}

// initForce writes every starter file into dir, overwriting those that
// exist, and returns those it created and those it overwrote.
func initForce(dir string, fsys fs.FS) (created, overwritten []string, err error) {
	var files []string
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasSuffix(p, ".go") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(files)
	created, overwritten = []string{}, []string{}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return created, overwritten, err
		}
		dst := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return created, overwritten, err
		}
		_, statErr := os.Lstat(dst)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return created, overwritten, err
		}
		if statErr == nil {
			overwritten = append(overwritten, dst)
		} else {
			created = append(created, dst)
		}
	}
	return created, overwritten, nil
}

// writeGitignore adds gitignoreEntries to dir's .gitignore, creating it
// if needed, and says what it did ("created", "updated", or "" when every
// entry was there).
func writeGitignore(dir string) (string, error) {
	path := filepath.Join(dir, ".gitignore")
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	existed := err == nil
	have := map[string]bool{}
	for _, line := range strings.Split(string(old), "\n") {
		have[strings.TrimSpace(line)] = true
	}
	var missing []string
	for _, e := range gitignoreEntries {
		if !have[e] {
			missing = append(missing, e)
		}
	}
	if len(missing) == 0 {
		return "", nil
	}
	var b bytes.Buffer
	b.Write(old)
	if len(old) > 0 && !bytes.HasSuffix(old, []byte("\n")) {
		b.WriteByte('\n')
	}
	if len(old) > 0 {
		b.WriteByte('\n')
	}
	b.WriteString("# cordon: the state (and the key that signs plans) and saved plans,\n# which hold findings and facts.\n")
	for _, e := range missing {
		b.WriteString(e + "\n")
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return "", err
	}
	if existed {
		return "updated", nil
	}
	return "created", nil
}
