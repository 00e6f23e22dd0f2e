package schema

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// The JSON Schemas are draft-07, the newest draft OPA's type checker
// reads. Objects list their properties with additionalProperties false,
// so that OPA reports a misspelt field (input.finding.severty) as an
// undefined ref when policies are validated.
var (
	//go:embed finding.schema.json
	findingSchema []byte
	//go:embed facts/*.schema.json
	factsFS embed.FS
)

// FindingSchema returns the JSON Schema of the normalized finding.
func FindingSchema() []byte { return bytes.Clone(findingSchema) }

// FactsSchema returns the JSON Schema of the facts a collector type
// gathers, and whether the type has one.
func FactsSchema(collectorType string) ([]byte, bool) {
	if collectorType == "" || strings.ContainsAny(collectorType, "/.\\") {
		return nil, false
	}
	b, err := factsFS.ReadFile("facts/" + collectorType + ".schema.json")
	if err != nil {
		return nil, false
	}
	return b, true
}

// FactsSchemaTypes lists the collector types that have a facts schema.
func FactsSchemaTypes() []string {
	entries, _ := factsFS.ReadDir("facts")
	var types []string
	for _, e := range entries {
		types = append(types, strings.TrimSuffix(e.Name(), ".schema.json"))
	}
	return types
}

// InputSchema returns the policy input schema (docs/policies.md) with input.facts
// typed: one property per collector block name, typed by its collector
// type's schema (a type without one: any object). facts then has
// additionalProperties false, so a policy naming a collector the
// configuration lacks fails validation. (OPA's type checker treats an
// object without properties as open, so with no collectors at all facts
// is unchecked.)
func InputSchema(collectors map[string]string) ([]byte, error) {
	props := make(map[string]any, len(collectors))
	for name, typ := range collectors {
		if name == "" {
			return nil, errors.New("input schema: a collector has an empty name")
		}
		s := map[string]any{
			"type":        "object",
			"description": fmt.Sprintf("Facts of collector %q, of type %q, which has no facts schema.", name, typ),
		}
		if raw, ok := FactsSchema(typ); ok {
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, fmt.Errorf("input schema: facts schema of %s: %w", typ, err)
			}
			delete(s, "$schema")
			delete(s, "$id")
			s["description"] = fmt.Sprintf("Facts of collector %q (%s): %s", name, typ, s["description"])
		}
		props[name] = s
	}
	facts := map[string]any{
		"description":          "Facts gathered by the rule's collectors, by collector block name.",
		"type":                 "object",
		"additionalProperties": false,
		"properties":           props,
	}
	doc, err := inputSchemaDoc(facts)
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// inputSchemaDoc builds the policy input schema around a schema of facts.
// The finding's schema is embedded from finding.schema.json, its
// definitions becoming the input schema's.
func inputSchemaDoc(facts map[string]any) (map[string]any, error) {
	var finding map[string]any
	if err := json.Unmarshal(findingSchema, &finding); err != nil {
		return nil, fmt.Errorf("input schema: finding schema: %w", err)
	}
	defs, _ := finding["definitions"].(map[string]any)
	if defs == nil {
		return nil, errors.New("input schema: finding schema has no definitions")
	}
	for _, k := range []string{"definitions", "$schema", "$id"} {
		delete(finding, k)
	}
	defs["finding"] = finding
	str := map[string]any{"type": "string"}
	closed := func(desc string, required []string, props map[string]any) map[string]any {
		o := map[string]any{
			"description":          desc,
			"type":                 "object",
			"additionalProperties": false,
			"properties":           props,
		}
		if required != nil {
			o["required"] = required
		}
		return o
	}
	return map[string]any{
		"$schema":              "http://json-schema.org/draft-07/schema#",
		"$id":                  "https://cordon.dev/schema/input.schema.json",
		"title":                "cordon policy input",
		"description":          "The input document of the verdict and response packages (docs/policies.md). Generated from finding.schema.json and facts/*.schema.json; cordon types input.facts by the configuration's collectors.",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"finding", "resource", "facts", "scope", "rule"},
		"properties": map[string]any{
			"finding":  map[string]any{"$ref": "#/definitions/finding"},
			"resource": map[string]any{"$ref": "#/definitions/resource", "description": "The primary resource of the investigation."},
			"facts":    facts,
			"scope":    closed("The scope that matched.", []string{"name"}, map[string]any{"name": str}),
			"rule": closed("The automation rule that matched.", []string{"name", "actions"}, map[string]any{
				"name":    str,
				"actions": map[string]any{"type": "array", "items": str, "description": "The rule's action block names."},
			}),
			"verdict": closed("The verdict package's document; present for the response package only.", []string{"verdict"}, map[string]any{
				"verdict":    map[string]any{"type": "string", "enum": []string{"malicious", "suspicious", "benign", "inconclusive"}},
				"confidence": map[string]any{"type": "number", "minimum": 0, "maximum": 1},
				"reasons":    map[string]any{"type": "array", "items": str},
				"summary":    str,
				"root_cause": str,
				"impact":     str,
			}),
		},
		"definitions": defs,
	}, nil
}

// staticInputSchema is the input schema of input.schema.json: facts of any
// collector, untyped.
func staticInputSchema() ([]byte, error) {
	doc, err := inputSchemaDoc(map[string]any{
		"description":          "Facts gathered by the rule's collectors, by collector block name; typed per configuration by InputSchema.",
		"type":                 "object",
		"additionalProperties": map[string]any{"type": "object"},
	})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// FindingKeys lists the normalized finding's top-level JSON keys, in the
// order of docs/findings.md.
func FindingKeys() []string { return slices.Clone(findingKeys()) }

var findingKeys = sync.OnceValue(func() []string {
	t := reflect.TypeFor[Finding]()
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
})
