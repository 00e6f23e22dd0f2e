package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/schema"
)

// TestFactSchemasCompile checks that the checker implements every
// keyword every facts schema uses.
func TestFactSchemasCompile(t *testing.T) {
	for _, typ := range schema.FactsSchemaTypes() {
		if s, err := factSchemaFor(typ); err != nil || s == nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
}

func TestFactSchemaCheck(t *testing.T) {
	triage, err := factSchemaFor("aws_ssm_triage")
	if err != nil {
		t.Fatal(err)
	}
	memory, err := factSchemaFor("aws_ssm_memory")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		schema *factSchema
		facts  string
		want   []string
	}{
		{"valid", triage, `{"hostname": "web-1", "processes": [{"pid": 1, "name": "init"}], "collected_at": "2025-03-14T02:11:07Z"}`, nil},
		{"the error fact", triage, `{"error": "timed out"}`, nil},
		{"a list given a string", triage, `{"processes": "oops"}`, []string{`1:15 triage.processes must be an array, not the string "oops"`}},
		{"an integer given a fraction", triage, `{"processes": [{"pid": 1.5}]}`, []string{"1:24 triage.processes[0].pid must be an integer, not the number 1.5"}},
		{"an integer written with a zero fraction", triage, `{"processes": [{"pid": 2.0}]}`, nil},
		{"an unknown fact", triage, `{"hostnam": "x"}`, []string{`1:2 triage.hostnam is not a fact of this collector (did you mean "hostname"?)`}},
		{"a key that is not an identifier", triage, `{"host name": "x"}`, []string{`1:2 triage["host name"] is not a fact of this collector`}},
		{"several errors, in file order", triage, "{\n\"kernel\": 1,\n\"hostname\": true\n}", []string{
			"2:11 triage.kernel must be a string, not the number 1", "3:13 triage.hostname must be a string, not the boolean true"}},
		{"not a date", triage, `{"collected_at": "2025-03-14"}`, []string{`1:18 triage.collected_at must be a date-time (RFC 3339, as 2024-05-01T12:00:00Z), not "2025-03-14"`}},
		{"a size below the minimum", memory, `{"size": 0}`, []string{"1:10 triage.size must be at least 1, not 0"}},
		{"a size at the minimum", memory, `{"size": 1}`, nil},
		{"a hash of the wrong shape", memory, `{"sha256": "ABC"}`, []string{`1:12 triage.sha256 must match ^[0-9a-f]{64}$, not "ABC"`}},
		{"null", triage, `{"hostname": null}`, []string{"1:14 triage.hostname must be a string, not null"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.facts)
			n, err := parseJSONPositions(data)
			if err != nil {
				t.Fatal(err)
			}
			var errs []factError
			tt.schema.check(n, "triage", &errs)
			var got []string
			for _, e := range errs {
				line, col := lineCol(data, e.off)
				got = append(got, strings.Join([]string{itoa(line) + ":" + itoa(col), e.path, e.msg}, " "))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("errors %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %q, want %q", got[i], tt.want[i])
				}
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestCompileFactSchemaRefusesUnknownKeywords: a schema that outgrows the
// checker fails loudly rather than checking less than it says.
func TestCompileFactSchemaRefusesUnknownKeywords(t *testing.T) {
	_, err := compileFactSchema(map[string]any{"type": "object", "required": []any{"x"}}, "t")
	if err == nil || !strings.Contains(err.Error(), `"required" is not supported`) {
		t.Errorf("err = %v", err)
	}
}

// FuzzParseJSONPositions: the position parser accepts exactly the JSON
// encoding/json accepts, and every offset it gives is where its value
// starts.
func FuzzParseJSONPositions(f *testing.F) {
	for _, s := range []string{`{}`, `0 ]`, `{"a": [1, "x", true, null, {"b": -2.5e3}]}`, ` [ ] `, `"x"`, `{"a":1,}`, `{"a" 1}`, `[1 2]`, `{"a":1}{}`, "{\"a\":\n\t[\"\\u00e9\"]}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseJSONPositions(data)
		if valid := json.Valid(data); (err == nil) != valid {
			t.Fatalf("parse error %v, but encoding/json says valid: %v", err, valid)
		}
		if err != nil {
			return
		}
		var walk func(n *jsonNode)
		walk = func(n *jsonNode) {
			if n.off < 0 || n.off >= len(data) {
				t.Fatalf("offset %d out of %d bytes", n.off, len(data))
			}
			c := data[n.off]
			want := map[byte]string{'o': "{", 'a': "[", 's': `"`, 'b': "tf", 'z': "n", 'n': "-0123456789"}[n.kind]
			if !strings.ContainsRune(want, rune(c)) {
				t.Fatalf("a %c value at offset %d starts with %q", n.kind, n.off, c)
			}
			for _, f := range n.fields {
				if data[f.off] != '"' {
					t.Fatalf("key %q at offset %d starts with %q", f.key, f.off, data[f.off])
				}
				walk(f.val)
			}
			for _, e := range n.elems {
				walk(e)
			}
		}
		walk(n)
	})
}
