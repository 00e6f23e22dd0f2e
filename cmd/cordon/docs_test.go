package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/cordonhq/cordon/policies"
)

// repoRoot is the repository's root, from this package's directory.
const repoRoot = "../.."

// forbiddenInRepo are strings no file of the repository may hold: the
// repository stands alone, so nothing may point at files beside it or at
// a machine's paths. They are built here so that this file holds none.
var forbiddenInRepo = []string{
	"../" + "shared", // the authors' files beside the repository
	"/" + "work/",    // the authors' machine
}

// specFile is the contract's file name, which no file may name unless
// the repository holds it.
var specFile = "SPEC" + ".md"

// specSection is how a comment cites one of the contract's sections.
var specSection = "SPEC" + " §"

// repoFiles lists the repository's files as git does, untracked files
// that are not ignored included (a file about to be committed is checked
// before it is). It fails the test where git cannot list them.
func repoFiles(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(repoRoot, ".git")); err != nil {
		t.Skipf("not a git checkout (%v): the files of the repository are what git lists", err)
	}
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f == "" {
			continue
		}
		// A file deleted in the working tree is listed until committed.
		if _, err := os.Lstat(filepath.Join(repoRoot, f)); err == nil {
			files = append(files, f)
		}
	}
	if len(files) < 100 {
		t.Fatalf("git ls-files listed %d files: not this repository", len(files))
	}
	return files
}

// TestRepositoryStandsAlone: no file in the repository, and no file
// `cordon init` writes, points outside it or names a machine's paths.
func TestRepositoryStandsAlone(t *testing.T) {
	files := repoFiles(t)
	haveSpec := false
	for _, f := range files {
		if path.Base(f) == specFile {
			haveSpec = true
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		checkStandsAlone(t, f, data, haveSpec)
	}
	// What cordon init writes into a user's directory.
	err := fs.WalkDir(policies.Starter(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(policies.Starter(), p)
		if err != nil {
			return err
		}
		checkStandsAlone(t, "cordon init's "+p, data, false)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkStandsAlone(t *testing.T, name string, data []byte, haveSpec bool) {
	t.Helper()
	for _, s := range forbiddenInRepo {
		if i := bytes.Index(data, []byte(s)); i >= 0 {
			t.Errorf("%s:%d: %q points outside the repository", name, lineOf(data, i), s)
		}
	}
	if i := bytes.Index(data, []byte(specFile)); i >= 0 && !haveSpec {
		t.Errorf("%s:%d: names %s, which is not in the repository", name, lineOf(data, i), specFile)
	}
	// Its sections too: the docs page that describes a part is what a
	// reader of this repository can open.
	if i := bytes.Index(data, []byte(specSection)); i >= 0 && !haveSpec {
		t.Errorf("%s:%d: cites a section of %s, which is not in the repository: name the docs page instead", name, lineOf(data, i), specFile)
	}
}

func lineOf(data []byte, offset int) int { return bytes.Count(data[:offset], []byte("\n")) + 1 }

// TestDocsLinks: every link of the README, the changelog and docs/
// resolves to a file of the repository (and a heading of it, for an
// anchor); none points outside it.
func TestDocsLinks(t *testing.T) {
	files := repoFiles(t)
	inRepo := map[string]bool{}
	for _, f := range files {
		inRepo[f] = true
		for d := path.Dir(f); d != "."; d = path.Dir(d) {
			inRepo[d] = true
		}
	}
	var docs []string
	for _, f := range files {
		if f == "README.md" || f == "CHANGELOG.md" || (strings.HasPrefix(f, "docs/") && strings.HasSuffix(f, ".md")) {
			docs = append(docs, f)
		}
	}
	if len(docs) < 10 {
		t.Fatalf("only %v: the README and docs/ are missing", docs)
	}
	anchors := map[string]map[string]bool{}
	anchorsOf := func(f string) map[string]bool {
		if a, ok := anchors[f]; ok {
			return a
		}
		data, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		anchors[f] = headingAnchors(string(data))
		return anchors[f]
	}
	for _, f := range docs {
		data, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range markdownLinks(string(data)) {
			target, anchor, _ := strings.Cut(l.target, "#")
			where := f + ":" + strconv.Itoa(l.line)
			switch {
			case regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:|^//`).MatchString(l.target):
				t.Errorf("%s: link %q points outside the repository", where, l.target)
				continue
			case target == "":
				if !anchorsOf(f)[anchor] {
					t.Errorf("%s: link %q: no heading of %s has that anchor", where, l.target, f)
				}
				continue
			}
			resolved := path.Clean(path.Join(path.Dir(f), target))
			if resolved == ".." || strings.HasPrefix(resolved, "../") || path.IsAbs(target) {
				t.Errorf("%s: link %q points outside the repository", where, l.target)
				continue
			}
			if !inRepo[resolved] {
				t.Errorf("%s: link %q: %s is not a file of the repository", where, l.target, resolved)
				continue
			}
			if anchor != "" && strings.HasSuffix(resolved, ".md") && !anchorsOf(resolved)[anchor] {
				t.Errorf("%s: link %q: no heading of %s has the anchor #%s", where, l.target, resolved, anchor)
			}
		}
	}
}

type mdLink struct {
	target string
	line   int
}

var (
	inlineLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	refLink    = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s+(\S+)`)
	codeSpan   = regexp.MustCompile("`[^`]*`")
)

// markdownLinks returns the inline and reference link targets of a
// Markdown document, outside code blocks and code spans.
func markdownLinks(doc string) []mdLink {
	var links []mdLink
	fence := ""
	for i, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		line = codeSpan.ReplaceAllString(line, "``")
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			links = append(links, mdLink{m[1], i + 1})
		}
		if m := refLink.FindStringSubmatch(line); m != nil {
			links = append(links, mdLink{m[1], i + 1})
		}
	}
	return links
}

// headingAnchors returns the anchors GitHub gives a document's headings:
// lower case, punctuation dropped, spaces as hyphens, a repeat numbered.
func headingAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fence := ""
	for _, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		if !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

func TestHeadingAnchors(t *testing.T) {
	got := headingAnchors("# cordon\n## Quick start: from the demo to an account\n```sh\n# not a heading\n```\n" +
		"## `cordon emulator`\n### Isolation in every VPC\n## Notes\n## Notes\n")
	for _, want := range []string{"cordon", "quick-start-from-the-demo-to-an-account", "cordon-emulator", "isolation-in-every-vpc", "notes", "notes-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Errorf("a comment in a code block is not a heading: %v", got)
	}
	links := markdownLinks("see [a](docs/a.md) and `[b](not/a/link)`\n```\n[c](nor/this)\n```\n[d]: https://example.com\n")
	if len(links) != 2 || links[0].target != "docs/a.md" || links[1].target != "https://example.com" || links[1].line != 5 {
		t.Errorf("links: %+v", links)
	}
}
