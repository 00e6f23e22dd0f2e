package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// TestInputSchemaFile keeps input.schema.json, which is generated from
// finding.schema.json, up to date.
func TestInputSchemaFile(t *testing.T) {
	got, err := staticInputSchema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("input.schema.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile("input.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("input.schema.json is out of date with finding.schema.json; run go test ./schema -run TestInputSchemaFile -update")
	}
}

// testCollectors is a configuration's collectors, by block name.
var testCollectors = map[string]string{
	"triage":   "aws_ssm_triage",
	"describe": "aws_ec2_describe",
	"trail":    "aws_cloudtrail_events",
	"notes":    "file",
	"custom":   "some_future_type",
}

func compileWithSchema(t *testing.T, schema []byte, body string) ast.Errors {
	t.Helper()
	var doc any
	if err := json.Unmarshal(schema, &doc); err != nil {
		t.Fatal(err)
	}
	ss := ast.NewSchemaSet()
	ss.Put(ast.SchemaRootRef, doc)
	mod, err := ast.ParseModuleWithOpts("policy.rego", "package verdict\n\n"+body+"\n", ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatalf("parse %q: %v", body, err)
	}
	c := ast.NewCompiler().WithSchemas(ss)
	c.Compile(map[string]*ast.Module{"policy.rego": mod})
	return c.Errors
}

// TestSchemasTypeCheckPolicies checks the schemas make OPA's type checker
// catch misspelt input fields, and only those.
func TestSchemasTypeCheckPolicies(t *testing.T) {
	schema, err := InputSchema(testCollectors)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		body   string
		badRef string // the undefined ref reported; "" for none
	}{
		{`x if input.finding.severity == "high"`, ""},
		{`x if input.finding.severty == "high"`, "input.finding.severty"},
		{`x if input.finding.severity_score >= 7`, ""},
		{`x if input.finding.resource.tags.Name == "web"`, ""},
		{`x if input.resource.details.public_ip == "198.51.100.1"`, ""},
		{`x if input.resource.details.some_source_field == 1`, ""}, // details are free-form
		{`x if input.resource.detials.public_ip == "x"`, "input.resource.detials.public_ip"},
		{`x if input.finding.resources[_].type == "aws_iam_user"`, ""},
		{`x if input.finding.resources[_].typ == "aws_iam_user"`, "input.finding.resources[_].typ"},
		{`x if input.finding.network.remote_ip == "1.2.3.4"`, ""},
		{`x if input.finding.network.remote_addr == "1.2.3.4"`, "input.finding.network.remote_addr"},
		{`x if input.finding.actor.access_key_id == "AKIA"`, ""},
		{`x if input.finding.raw.anything.at.all == 1`, ""},
		{`x if input.raw.anything`, "input.raw.anything"}, // raw is the finding's
		{`x if endswith(input.facts.triage.processes[_].exe, "/xmrig")`, ""},
		{`x if input.facts.triage.procesess[_].exe == "x"`, "input.facts.triage.procesess[_].exe"},
		{`x if input.facts.triage.processes[_].exec == "x"`, "input.facts.triage.processes[_].exec"},
		{`x if input.facts.triage.error`, ""},
		{`x if input.facts.describe.iam_instance_profile.role_name == "r"`, ""},
		{`x if input.facts.describe.tags.Name == "web"`, ""},
		{`x if input.facts.trail.events[_].event_name == "StopLogging"`, ""},
		{`x if input.facts.notes.whatever.nested`, ""},
		{`x if input.facts.custom.whatever`, ""},
		{`x if input.facts.unconfigured.whatever`, "input.facts.unconfigured.whatever"},
		{`x if input.scope.name == "prod"`, ""},
		{`x if "isolate" in input.rule.actions`, ""},
		{`x if input.verdict.verdict == "malicious"`, ""},
		{`x if input.verdict.verdit == "malicious"`, "input.verdict.verdit"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			errs := compileWithSchema(t, schema, tt.body)
			if tt.badRef == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("want one type error for %s, got %v", tt.badRef, errs)
			}
			e := errs[0]
			if e.Code != ast.TypeErr || !strings.Contains(e.Message, tt.badRef) {
				t.Errorf("error = %v, want a type error naming %s", e, tt.badRef)
			}
			if e.Location == nil || e.Location.File != "policy.rego" || e.Location.Row != 3 {
				t.Errorf("error location = %v, want policy.rego row 3", e.Location)
			}
		})
	}
}

// matchSchema validates doc against schema with OPA's own JSON Schema
// validator (json.match_schema): the one OPA reads schemas with, so no
// second validator and its dialect differences.
func matchSchema(t *testing.T, doc any, schema []byte) []string {
	t.Helper()
	var s any
	if err := json.Unmarshal(schema, &s); err != nil {
		t.Fatal(err)
	}
	rs, err := rego.New(
		rego.Query("r := json.match_schema(input.doc, input.schema)"),
		rego.Input(map[string]any{"doc": doc, "schema": s}),
	).Eval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("json.match_schema gave %d results", len(rs))
	}
	r := rs[0].Bindings["r"].([]any)
	if r[0].(bool) {
		return nil
	}
	var msgs []string
	for _, e := range r[1].([]any) {
		b, _ := json.Marshal(e)
		msgs = append(msgs, string(b))
	}
	return msgs
}

// asJSON round-trips v through JSON, as policies see it.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFindingSchemaValidatesFindings validates every normalized sample
// finding (raw included) against finding.schema.json, and a policy input
// built from it against the input schema.
func TestFindingSchemaValidatesFindings(t *testing.T) {
	input, err := InputSchema(map[string]string{"triage": "aws_ssm_triage"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, file := range fixtureFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := Parse(file, data)
		if err != nil {
			continue // rejected samples are TestGolden's
		}
		for _, f := range fs {
			n++
			if errs := matchSchema(t, asJSON(t, f), findingSchema); errs != nil {
				t.Errorf("%s: finding %s does not match finding.schema.json: %v", file, f.ID, errs)
			}
			doc := map[string]any{
				"finding":  f,
				"resource": f.Resource,
				"facts":    map[string]any{"triage": map[string]any{"hostname": "web-1", "processes": []any{map[string]any{"pid": 1, "exe": "/sbin/init"}}}},
				"scope":    map[string]any{"name": "prod"},
				"rule":     map[string]any{"name": "r", "actions": []string{"isolate"}},
				"verdict":  map[string]any{"verdict": "malicious", "reasons": []string{"r"}},
			}
			if errs := matchSchema(t, asJSON(t, doc), input); errs != nil {
				t.Errorf("%s: policy input does not match the input schema: %v", file, errs)
			}
		}
	}
	if n == 0 {
		t.Fatal("no findings validated")
	}
}

// TestSchemasRejectBadDocuments checks the schemas are not vacuous.
func TestSchemasRejectBadDocuments(t *testing.T) {
	good := func() map[string]any {
		return map[string]any{
			"id": "1", "source": "guardduty", "type": "T", "severity": "high", "severity_score": 8, "count": 1,
			"resource":  map[string]any{"type": "aws_instance", "id": "i-1", "tags": map[string]any{}, "details": map[string]any{"public_ip": "1.2.3.4", "extra": true}},
			"resources": []any{map[string]any{"type": "aws_instance", "id": "i-1", "tags": map[string]any{}, "details": map[string]any{}}},
			"raw":       map[string]any{"anything": []any{1, "x"}},
		}
	}
	if errs := matchSchema(t, good(), findingSchema); errs != nil {
		t.Fatalf("good finding rejected: %v", errs)
	}
	bad := map[string]func(map[string]any){
		"unknown key":       func(f map[string]any) { f["severty"] = "high" },
		"bad severity":      func(f map[string]any) { f["severity"] = "severe" },
		"bad source":        func(f map[string]any) { f["source"] = "splunk" },
		"score over 10":     func(f map[string]any) { f["severity_score"] = 11 },
		"missing resource":  func(f map[string]any) { delete(f, "resource") },
		"no resources":      func(f map[string]any) { f["resources"] = []any{} },
		"tag not a string":  func(f map[string]any) { f["resource"].(map[string]any)["tags"] = map[string]any{"k": 1} },
		"detail wrong type": func(f map[string]any) { f["resource"].(map[string]any)["details"] = map[string]any{"public_ip": 1} },
		"bad timestamp":     func(f map[string]any) { f["created_at"] = "yesterday" },
		"network key":       func(f map[string]any) { f["network"] = map[string]any{"remote_addr": "x"} },
	}
	for name, mutate := range bad {
		f := good()
		mutate(f)
		if matchSchema(t, f, findingSchema) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestFactsSchemas checks every collector type's schema accepts an error
// and an empty object (a collector the facts file lacks), and rejects a
// misspelt field.
func TestFactsSchemas(t *testing.T) {
	types := FactsSchemaTypes()
	want := []string{"aws_cloudtrail_events", "aws_ebs_acquire", "aws_ec2_console", "aws_ec2_describe",
		"aws_guardduty_related", "aws_ssm_memory", "aws_ssm_triage", "file"}
	if !slices.Equal(types, want) {
		t.Fatalf("facts schemas = %v, want %v", types, want)
	}
	examples := map[string]any{
		"aws_ec2_describe": map[string]any{
			"instance_id": "i-1", "state": "running", "disable_api_termination": false,
			"iam_instance_profile": map[string]any{"arn": "arn:aws:iam::1:instance-profile/x", "id": "AIPA", "role_name": "x-role"},
			"network_interfaces":   []any{map[string]any{"id": "eni-1", "security_groups": []any{"sg-1"}, "device_index": 0}},
			"volumes":              []any{map[string]any{"id": "vol-1", "device": "/dev/xvda", "size_gb": 8, "encrypted": false}},
			"tags":                 map[string]any{"Name": "web"}, "target_groups": []any{"arn:aws:elasticloadbalancing:x"},
		},
		"aws_ssm_triage": map[string]any{
			"hostname": "web-1", "collected_at": "2025-01-01T00:00:00Z", "truncated": false,
			"processes":   []any{map[string]any{"pid": 1, "ppid": 0, "exe": "/sbin/init", "start_time": "2025-01-01T00:00:00Z"}},
			"connections": []any{map[string]any{"pid": 1, "protocol": "tcp", "state": "LISTEN", "local_port": 22}},
			"logins":      []any{map[string]any{"user": "root", "success": true, "time": "2025-01-01T00:00:00Z"}},
		},
		"aws_cloudtrail_events": map[string]any{"events": []any{map[string]any{"event_name": "StopLogging", "read_only": false, "resources": []any{"arn:x"}}}, "truncated": true},
		"aws_guardduty_related": map[string]any{"findings": []any{map[string]any{"id": "1", "severity": "high", "severity_score": 8.0}}},
		"aws_ebs_acquire":       map[string]any{"snapshots": []any{map[string]any{"snapshot_id": "snap-1", "volume_id": "vol-1"}}},
		"aws_ec2_console":       map[string]any{"output": "boot", "output_truncated": false, "screenshot_bytes": 10},
		"aws_ssm_memory":        map[string]any{"bucket": "b", "key": "k", "size": 1, "tool": "avml"},
		"file":                  map[string]any{"anything": map[string]any{"at": "all"}},
	}
	for _, typ := range types {
		s, ok := FactsSchema(typ)
		if !ok {
			t.Fatalf("FactsSchema(%q) missing", typ)
		}
		for name, doc := range map[string]any{"empty": map[string]any{}, "error": map[string]any{"error": "timed out"}, "example": examples[typ]} {
			if errs := matchSchema(t, asJSON(t, doc), s); errs != nil {
				t.Errorf("%s: %s facts rejected: %v", typ, name, errs)
			}
		}
		if typ == "file" {
			continue
		}
		if matchSchema(t, map[string]any{"eror": "typo"}, s) == nil {
			t.Errorf("%s: misspelt field accepted", typ)
		}
		if matchSchema(t, map[string]any{"error": 1}, s) == nil {
			t.Errorf("%s: non-string error accepted", typ)
		}
	}
	if _, ok := FactsSchema("nope"); ok {
		t.Error("FactsSchema of an unknown type")
	}
	if _, ok := FactsSchema("../finding"); ok {
		t.Error("FactsSchema reads outside facts/")
	}
}

func TestInputSchemaErrors(t *testing.T) {
	if _, err := InputSchema(map[string]string{"": "file"}); err == nil {
		t.Error("empty collector name accepted")
	}
	if _, err := InputSchema(nil); err != nil {
		t.Errorf("no collectors: %v", err)
	}
}

// TestDetailKeys checks DetailKeys, the schema's details properties and
// the parsers' output agree.
func TestDetailKeys(t *testing.T) {
	var doc struct {
		Definitions struct {
			Details struct {
				Properties map[string]any `json:"properties"`
			} `json:"details"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(findingSchema, &doc); err != nil {
		t.Fatal(err)
	}
	props := doc.Definitions.Details.Properties
	for typ, keys := range detailKeys {
		for _, k := range keys {
			if _, ok := props[k]; !ok {
				t.Errorf("detail key %s of %s is not in finding.schema.json", k, typ)
			}
		}
	}
	if got := DetailKeys(ResourceInstance); !slices.Contains(got, "public_ip") || !slices.Contains(got, "security_groups") {
		t.Errorf("DetailKeys(aws_instance) = %v", got)
	}
	if got := DetailKeys("aws_security_group"); got != nil {
		t.Errorf("DetailKeys of a free-form type = %v, want nil", got)
	}
	DetailKeys(ResourceInstance)[0] = "mutated"
	if DetailKeys(ResourceInstance)[0] == "mutated" {
		t.Error("DetailKeys returns the shared slice")
	}

	// Every details key the parsers give a fixed-shape type is listed.
	for _, file := range fixtureFiles(t) {
		data, _ := os.ReadFile(file)
		fs, err := Parse(file, data)
		if err != nil {
			continue
		}
		for _, f := range fs {
			for _, r := range f.Resources {
				keys, fixed := detailKeys[r.Type]
				if !fixed {
					continue
				}
				for k := range r.Details {
					if !slices.Contains(keys, k) {
						t.Errorf("%s: %s has detail %s not in DetailKeys", file, r.Type, k)
					}
				}
			}
		}
	}
}

func TestFindingKeys(t *testing.T) {
	want := []string{"id", "source", "type", "title", "description", "severity", "severity_score", "account",
		"region", "partition", "created_at", "updated_at", "count", "sample", "resource", "resources", "network", "actor", "raw"}
	if got := FindingKeys(); !slices.Equal(got, want) {
		t.Errorf("FindingKeys() = %v, want %v", got, want)
	}
	var doc struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(findingSchema, &doc); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(doc.Properties)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("finding.schema.json properties = %v, want %v", got, want)
	}
}
