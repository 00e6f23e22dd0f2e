package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/pmezard/go-difflib/difflib"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/config"
)

// runFmt behaves as `terraform fmt`: it lists the files it changed, and
// with -check changes nothing and exits 3 when any file needs formatting.
func runFmt(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("fmt [options] [TARGET…]", "fmt [options] [DIR|FILE|-]…")
	m.outputFlags(fs)
	var check, diff, recursive, list, write bool
	fs.BoolVar(&check, "check", false, "check formatting only; exit 3 if any file needs it")
	fs.BoolVar(&diff, "diff", false, "show the formatting changes as a diff")
	fs.BoolVar(&recursive, "recursive", false, "also format files in subdirectories")
	fs.BoolVar(&list, "list", true, "list the files that need or got formatting")
	fs.BoolVar(&write, "write", true, "write the formatted files (false with -check)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if check {
		write = false
	}
	targets := fs.Args()
	if len(targets) == 0 {
		targets = []string{"."}
	}
	if len(targets) == 1 && targets[0] == "-" {
		return m.fmtStdin()
	}

	results, diags := engine.FormatTargets(targets, recursive)
	if diags.HasErrors() {
		m.files = map[string]*hcl.File{}
		for _, d := range diags {
			if d.Subject != nil {
				if src, err := os.ReadFile(d.Subject.Filename); err == nil {
					m.files[d.Subject.Filename] = &hcl.File{Bytes: src}
				}
			}
		}
		m.showDiags(diags)
		return 1
	}
	changed := 0
	for _, r := range results {
		if !r.Changed() {
			continue
		}
		changed++
		if list {
			fmt.Fprintln(m.stdout, r.Path)
		}
		if diff {
			writeDiff(m.stdout, r.Path, r.Original, r.Formatted)
		}
		if write {
			info, err := os.Stat(r.Path)
			if err != nil {
				return m.fail("Cannot write "+r.Path, err)
			}
			if err := os.WriteFile(r.Path, r.Formatted, info.Mode().Perm()); err != nil {
				return m.fail("Cannot write "+r.Path, err)
			}
		}
	}
	if check && changed > 0 {
		return 3
	}
	return 0
}

func (m *meta) fmtStdin() int {
	src, err := io.ReadAll(m.stdin)
	if err != nil {
		return m.fail("Cannot read standard input", err)
	}
	out, diags := config.Format("<stdin>", src)
	if diags.HasErrors() {
		m.files = map[string]*hcl.File{"<stdin>": {Bytes: src}}
		m.showDiags(diags)
		return 1
	}
	m.stdout.Write(out)
	return 0
}

func writeDiff(w io.Writer, name string, a, b []byte) {
	text, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(string(a)),
		B:        difflib.SplitLines(string(b)),
		FromFile: "old/" + name,
		ToFile:   "new/" + name,
		Context:  3,
	})
	fmt.Fprint(w, text)
}
