package engine

import (
	"fmt"
	"os"
	"sort"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/schema"
)

// FindingsFile is a findings file split into records, not yet parsed:
// parsing happens in the planning workers, so a large NDJSON file is
// normalized on every core and never held decoded all at once.
type FindingsFile struct {
	Name    string
	Records []schema.Record
}

// ReadFindings reads and splits findings files. A missing, empty or
// malformed file is an error naming it.
func ReadFindings(paths []string) ([]*FindingsFile, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var out []*FindingsFile
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read findings file", Detail: err.Error()})
			continue
		}
		ff, err := SplitFindings(p, data)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid findings file", Detail: err.Error()})
			continue
		}
		out = append(out, ff)
	}
	return out, diags
}

// SplitFindings splits findings file bytes (name is used in errors).
func SplitFindings(name string, data []byte) (*FindingsFile, error) {
	recs, err := schema.SplitRecords(name, data)
	if err != nil {
		return nil, err
	}
	return &FindingsFile{Name: name, Records: recs}, nil
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
