package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"sync"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/schema"
)

// FindingsFile is a findings file to plan, split into records but not
// parsed: parsing happens in the planning workers, so a large NDJSON file
// is normalized on every core and never held decoded all at once. A file
// from ReadFindings is read as it is planned, a record at a time, so a
// plan of any number of findings holds no more of them than it keeps;
// one from SplitFindings (or built with Records) is held whole.
type FindingsFile struct {
	Name    string
	Records []schema.Record
	// path, when set, is read by Plan (within limits) instead of Records.
	path   string
	limits schema.Limits
}

// ReadFindings checks findings files, for Plan to read as it plans them.
// A missing, empty or malformed file is an error naming it; a record past
// a bound of schema.DefaultLimits is not (Plan rejects it alone).
func ReadFindings(paths []string) ([]*FindingsFile, hcl.Diagnostics) {
	return ReadFindingsLimits(paths, schema.DefaultLimits())
}

// ReadFindingsLimits is ReadFindings within other bounds (tests make them
// small).
func ReadFindingsLimits(paths []string, lim schema.Limits) ([]*FindingsFile, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var out []*FindingsFile
	for _, p := range paths {
		ff, err := readFindingsFile(p, lim)
		if err != nil {
			diags = append(diags, findingsFileDiag(err))
			continue
		}
		out = append(out, ff)
	}
	return out, diags
}

// readFindingsFile reads a file through once: one that is not findings
// (truncated, not JSON) is refused before anything is planned, as when it
// was read whole, and collectors run for none of its findings. A regular
// file is read again as it is planned; anything else (a pipe,
// /dev/stdin) cannot be, and is kept as it is read.
func readFindingsFile(path string, lim schema.Limits) (*FindingsFile, error) {
	ff := &FindingsFile{Name: path, path: path, limits: lim}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	regular := info.Mode().IsRegular()
	err = ff.each(func(rec schema.Record) bool {
		if !regular {
			ff.Records = append(ff.Records, rec)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if !regular {
		ff.path = ""
	}
	return ff, nil
}

// findingsFileDiag reports a findings file that cannot be read.
func findingsFileDiag(err error) *hcl.Diagnostic {
	var pe *schema.ParseError
	if errors.As(err, &pe) {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid findings file", Detail: err.Error()}
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read findings file", Detail: err.Error()}
}

// SplitFindings splits findings file bytes (name is used in errors),
// within schema.DefaultLimits. A record past a bound is kept with its Err
// (schema.ParseRecord returns it).
func SplitFindings(name string, data []byte) (*FindingsFile, error) {
	recs, err := schema.SplitRecords(name, data)
	if err != nil {
		return nil, err
	}
	return &FindingsFile{Name: name, Records: recs}, nil
}

// each calls fn with every record of the file, in order, until it returns
// false. The error is the file's: it cannot be opened or read, or is not
// findings (*schema.ParseError).
func (f *FindingsFile) each(fn func(schema.Record) bool) error {
	if f.path == "" {
		for _, r := range f.Records {
			if !fn(r) {
				return nil
			}
		}
		return nil
	}
	file, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer file.Close()
	s := schema.NewSplitter(f.Name, file, f.limits)
	for {
		rec, err := s.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !fn(rec) {
			return nil
		}
	}
}

// planned is what planning one record gave: its findings' outcomes, or
// why it was not read (a *schema.ParseError naming the record).
type planned struct {
	outs []outcome
	err  error
}

// planRecords plans every record of files with planRecord, on workers
// goroutines (default GOMAXPROCS), and returns what each gave in input
// order. Records are read as the workers take them. A file that cannot be
// read to its end (it changed since ReadFindings read it) is an error
// diagnostic; its records before the error are planned.
func planRecords(files []*FindingsFile, workers int, planRecord func(file string, rec schema.Record) ([]outcome, error)) ([]*planned, hcl.Diagnostics) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	held, streamed := 0, false
	for _, f := range files {
		held += len(f.Records)
		streamed = streamed || f.path != ""
	}
	if !streamed {
		workers = min(workers, max(held, 1))
	}
	var (
		results []*planned
		diags   hcl.Diagnostics
	)
	type item struct {
		file string
		rec  schema.Record
		out  *planned
	}
	do := func(it item) {
		it.out.outs, it.out.err = planRecord(it.file, it.rec)
	}
	feed := func(send func(item)) {
		for _, f := range files {
			err := f.each(func(rec schema.Record) bool {
				out := &planned{}
				results = append(results, out)
				send(item{file: f.Name, rec: rec, out: out})
				return true
			})
			if err != nil {
				diags = append(diags, findingsFileDiag(err))
			}
		}
	}
	if workers == 1 {
		// No goroutine: a fresh one would grow its stack through OPA's
		// deep evaluation again on every call (the daemon plans findings
		// one at a time).
		feed(do)
		return results, diags
	}
	next := make(chan item)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				do(it)
			}
		}()
	}
	feed(func(it item) { next <- it })
	close(next)
	wg.Wait()
	return results, diags
}

// rejectedRecord lists a record that was not planned (docs/plan-and-apply.md: it is an
// error, and the others are planned): as unmatched, with why.
func rejectedRecord(err error) *plan.Unmatched {
	id := "(a record that could not be read)"
	var pe *schema.ParseError
	if errors.As(err, &pe) && pe.Record > 0 {
		id = fmt.Sprintf("(record %d of %s)", pe.Record, pe.File)
	}
	return &plan.Unmatched{FindingID: id, Reason: "rejected: " + err.Error()}
}

func suggestPackage(pkg string, pkgs []string) string {
	best, bestDist := "", len(pkg)/3+2
	sorted := append([]string(nil), pkgs...)
	sort.Strings(sorted)
	for _, p := range sorted {
		if d := levenshtein.Distance(pkg, p, nil); d < bestDist {
			best, bestDist = p, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" Did you mean %q?", best)
	}
	if len(sorted) > 0 && len(sorted) <= 10 {
		return " Defined packages: " + joinQuoted(sorted) + "."
	}
	return ""
}

func joinQuoted(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%q", s)
	}
	return out
}
