package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/schema"
)

// findingLine returns a sample finding as one NDJSON line.
func findingLine(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(identityFindings, name))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

const (
	iamFinding = "cordon_guardduty_Stealth_IAMUser_CloudTrailLoggingDisabled.json"
	ec2Finding = "guardduty_eventbridge_detail_only_UnauthorizedAccess_EC2_SSHBruteForce.json"
)

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func basicEngine(t testing.TB) *engine.Engine {
	t.Helper()
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/basic"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return e
}

func planJSON(t testing.TB, p *plan.Plan) string {
	t.Helper()
	var b bytes.Buffer
	if err := p.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestPlanRejectsOneRecord checks one hostile record does not sink a
// batch: a finding nested 9,998 deep, a 2 MiB one and one of an unknown
// shape are each an error naming the file, record, line and why, listed
// as unmatched, and the findings around them are planned as without them.
func TestPlanRejectsOneRecord(t *testing.T) {
	good1, good2 := findingLine(t, iamFinding), findingLine(t, ec2Finding)
	deep := strings.Repeat(`{"a":`, 9998) + "1" + strings.Repeat("}", 9998)
	large := `{"id":"` + strings.Repeat("x", 2<<20) + `"}`
	path := writeFile(t, "batch.ndjson", strings.Join([]string{good1, deep, large, `{"hello":"world"}`, good2}, "\n")+"\n")
	clean := writeFile(t, "clean.ndjson", good1+"\n"+good2+"\n")

	e := basicEngine(t)
	files, diags := engine.ReadFindings([]string{path})
	if diags.HasErrors() {
		t.Fatalf("a bad record is not the file's error: %v", diags)
	}
	for _, workers := range []int{1, 3} {
		res, diags := e.Plan(context.Background(), files, engine.PlanOptions{Workers: workers, KeepData: true})
		if res == nil {
			t.Fatalf("workers %d: no plan: %v", workers, diags)
		}
		wantErrs := []string{
			path + ":2:1: record 2: the record nests deeper than 100 levels, the bound on one finding record",
			path + ":3:1: record 3: the record is 2.0 MiB, over the bound of 1.0 MiB on one finding record; it is not read",
			path + ":4:1: record 4: unrecognized finding format",
		}
		var errs []*hcl.Diagnostic
		for _, d := range diags {
			if d.Severity == hcl.DiagError {
				errs = append(errs, d)
			}
		}
		if len(errs) != len(wantErrs) {
			t.Fatalf("workers %d: %d errors, want %d: %v", workers, len(errs), len(wantErrs), diags)
		}
		p := res.Plan
		var rejected []*plan.Unmatched
		for _, u := range p.Unmatched {
			if strings.HasPrefix(u.Reason, "rejected: ") {
				rejected = append(rejected, u)
			}
		}
		for i, want := range wantErrs {
			if errs[i].Summary != "Invalid finding" || !strings.HasPrefix(errs[i].Detail, want) {
				t.Errorf("workers %d: error %d = %s: %s\nwant it to start %s", workers, i, errs[i].Summary, errs[i].Detail, want)
			}
			if i >= len(rejected) || rejected[i].FindingID != "(record "+string(rune('2'+i))+" of "+path+")" || !strings.HasPrefix(rejected[i].Reason, "rejected: "+want) {
				t.Errorf("workers %d: rejected records listed %+v", workers, rejected)
			}
		}
		if p.Summary.Findings != 5 || p.Summary.Unmatched != len(p.Unmatched) {
			t.Errorf("workers %d: summary %+v", workers, p.Summary)
		}

		// The others are planned as they are alone.
		cleanFiles, _ := engine.ReadFindings([]string{clean})
		alone, diags := e.Plan(context.Background(), cleanFiles, engine.PlanOptions{Workers: workers, KeepData: true})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		got, want := p.Incidents, alone.Plan.Incidents
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(want)
		if len(got) == 0 || !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("workers %d: incidents beside the bad records\n%s\nwant\n%s", workers, gotJSON, wantJSON)
		}
		if len(res.Data) != len(alone.Data) {
			t.Errorf("workers %d: data of %d incidents, want %d", workers, len(res.Data), len(alone.Data))
		}
	}
}

// TestPlanRecordBound checks a file past the bound on records has those
// within it planned, and the next one rejected as the last read.
func TestPlanRecordBound(t *testing.T) {
	line := findingLine(t, iamFinding)
	path := writeFile(t, "many.ndjson", strings.Repeat(line+"\n", 5))
	files, diags := engine.ReadFindingsLimits([]string{path}, schema.Limits{MaxRecords: 3})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res, diags := basicEngine(t).Plan(context.Background(), files, engine.PlanOptions{})
	if res == nil || res.Plan.Summary.Findings != 4 || len(diags) == 0 {
		t.Fatalf("plan: %v, %v", res, diags)
	}
	last := res.Plan.Unmatched[len(res.Plan.Unmatched)-1]
	want := "rejected: " + path + ":4:1: record 4: the file has more than 3 records, the bound on one findings file"
	if last.FindingID != "(record 4 of "+path+")" || !strings.HasPrefix(last.Reason, want) {
		t.Errorf("last unmatched %+v, want %q", last, want)
	}
	if errs := diags.Errs(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "more than 3 records") {
		t.Errorf("diagnostics: %v", diags)
	}
}

// TestReadFindingsErrors checks a file that is not findings is refused
// before anything is planned, naming it.
func TestReadFindingsErrors(t *testing.T) {
	line := findingLine(t, iamFinding)
	dir := t.TempDir()
	tests := []struct {
		name, path, summary, detail string
	}{
		{"missing", filepath.Join(dir, "nope.json"), "Cannot read findings file", "no such file or directory"},
		{"directory", dir, "Cannot read findings file", "is a directory"},
		{"empty", writeFile(t, "empty.json", ""), "Invalid findings file", "empty.json: empty file: no findings"},
		{"truncated at the end", writeFile(t, "cut.ndjson", strings.Repeat(line+"\n", 3)+line[:200]),
			"Invalid findings file", "cut.ndjson:4:201: record 4: truncated file"},
		{"not JSON", writeFile(t, "text.json", line+"\nhello\n"), "Invalid findings file", "text.json:2:1: record 2: invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, diags := engine.ReadFindings([]string{tt.path})
			if len(files) != 0 || len(diags) != 1 || diags[0].Summary != tt.summary || !strings.Contains(diags[0].Detail, tt.detail) {
				t.Errorf("files %d, diagnostics %v; want %q saying %q", len(files), diags, tt.summary, tt.detail)
			}
		})
	}
}

// TestPlanStreamedAsHeld checks a file read as it is planned gives the
// plan the same file held whole does.
func TestPlanStreamedAsHeld(t *testing.T) {
	forms := identityForms(t)
	var b strings.Builder
	b.WriteString("[\n")
	for i := range 200 {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString([]string{forms["native"], findingLine(t, ec2Finding), forms["asff"], forms["ocsf"], `{"x":1}`}[i%5])
	}
	b.WriteString("\n]\n")
	path := writeFile(t, "mixed.json", b.String())
	e := basicEngine(t)

	streamed, diags := engine.ReadFindings([]string{path})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	held, err := engine.SplitFindings(path, []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	want, wantDiags := e.Plan(context.Background(), []*engine.FindingsFile{held}, engine.PlanOptions{Workers: 2})
	got, gotDiags := e.Plan(context.Background(), streamed, engine.PlanOptions{Workers: 2})
	if got == nil || want == nil || planJSON(t, got.Plan) != planJSON(t, want.Plan) {
		t.Errorf("streamed plan differs from the held file's")
	}
	if len(gotDiags) != len(wantDiags) || len(gotDiags.Errs()) != 40 {
		t.Errorf("diagnostics: streamed %d, held %d, want 40 errors for the unknown records", len(gotDiags), len(wantDiags))
	}
}

// TestDeepestFindingReadsBack checks what the depth bound is for: a
// finding nested as deep as a record may be is planned, and the plan file
// holding it reads back (encoding/json stops at 10,000 levels, which a
// finding of 9,998 passed).
func TestDeepestFindingReadsBack(t *testing.T) {
	var finding map[string]any
	if err := json.Unmarshal([]byte(findingLine(t, iamFinding)), &finding); err != nil {
		t.Fatal(err)
	}
	// The finding is level 1, service 2: additionalInfo's value takes the
	// rest.
	nest := func(levels int) json.RawMessage {
		return json.RawMessage(strings.Repeat(`{"a":`, levels) + "1" + strings.Repeat("}", levels))
	}
	finding["service"].(map[string]any)["additionalInfo"] = nest(schema.DefaultMaxDepth - 2)
	line, err := json.Marshal(finding)
	if err != nil {
		t.Fatal(err)
	}
	e := basicEngine(t)
	files, diags := engine.ReadFindings([]string{writeFile(t, "deepest.json", string(line))})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res, diags := e.Plan(context.Background(), files, engine.PlanOptions{KeepData: true})
	if diags.HasErrors() || len(res.Plan.Incidents) != 1 || len(res.Data) != 1 {
		t.Fatalf("plan of the deepest finding: %v", diags)
	}
	data, err := plan.Encode(res.File(e, "2024-01-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Decode(data); err != nil {
		t.Errorf("the plan file of the deepest finding does not read back: %v", err)
	}

	// One level more is refused.
	finding["service"].(map[string]any)["additionalInfo"] = nest(schema.DefaultMaxDepth - 1)
	line, _ = json.Marshal(finding)
	files, _ = engine.ReadFindings([]string{writeFile(t, "deeper.json", string(line))})
	if res, diags := e.Plan(context.Background(), files, engine.PlanOptions{}); !diags.HasErrors() || len(res.Plan.Incidents) != 0 {
		t.Errorf("a finding one level deeper than the bound was planned")
	}
}
