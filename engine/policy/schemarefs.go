package policy

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A `# METADATA` block's schemas annotation may give a JSON Schema inline
// (`- input.x: {"$ref": …}`), and OPA's type checker compiles it while the
// policies compile, resolving its references: a file:// $ref is read from
// the local disk whatever allow_net says. A policy in a pull request could
// so read, or probe for, any file of the machine running `cordon validate`
// or `cordon test` (the contents surface in type errors, their existence in
// whether the load fails). The check runs before type checking and rejects
// every reference that could leave the schema it is written in, and the
// cycles of references that crash OPA's type checker.

// schemaRefStageName names the stage in OPA's compiler metrics.
const schemaRefStageName = "CordonCheckSchemaRefs"

// schemaAnnotationError starts the stage's error messages.
const schemaAnnotationError = "schemas annotation"

// withSchemaRefCheck adds the check to a compiler, ahead of the type
// checker that would load the schemas. `cordon test` compiles with the
// same compiler (Set.NewCompiler), so test files are checked too.
func withSchemaRefCheck(c *ast.Compiler) *ast.Compiler {
	return c.WithStageAfterID(ast.StageSetAnnotationSet, ast.CompilerStageDefinition{
		Name:       schemaRefStageName,
		MetricName: "compile_stage_cordon_check_schema_refs",
		Stage:      checkSchemaRefs,
	})
}

// checkSchemaRefs is the compiler stage: the first inline annotation schema,
// in file order, that refers outside itself is an error at its METADATA
// block. One error stops compilation, so nothing is loaded after it.
func checkSchemaRefs(c *ast.Compiler) *ast.Error {
	names := make([]string, 0, len(c.Modules))
	for n := range c.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, a := range c.Modules[n].Annotations {
			for _, s := range a.Schemas {
				if s.Definition == nil {
					// A reference into the schema set (schema.input): cordon's own.
					continue
				}
				if why := badSchemaRef(*s.Definition); why != "" {
					return ast.NewError(ast.CompileErr, a.Location,
						"%s for %v: %s; a schema in a policy may refer only inside itself (\"$ref\": \"#/definitions/…\"), never to a file or URL",
						schemaAnnotationError, s.Path, why)
				}
			}
		}
	}
	return nil
}

// schemaRef is a $ref found in a schema: where it is (a JSON pointer's
// tokens) and what it points to.
type schemaRef struct {
	at     []string
	ref    string
	target []string // nil until resolved
}

// badSchemaRef describes the first reference in an inline annotation schema
// that OPA must not be given, or returns "" when there is none:
//
//   - a $ref that is not a fragment of the same document ("#/…"), or an
//     id/$id, which would change the base URI fragments resolve against.
//     With neither, every reference resolves to a node of the schema
//     itself, and the loader never fetches a document.
//   - a $ref that does not resolve inside the schema, and a cycle of
//     references: OPA's schema type parser recurses through some cycles
//     (`"$ref": "#"` under properties, items or allOf) until the stack
//     overflows, which kills the process instead of failing the load.
//
// It walks the schema as OPA's loader (gojsonschema) does: every value is
// a schema except under const and enum, which are data, and properties,
// patternProperties and dependencies map names to schemas, so their keys
// are names (a property called "$ref" is fine) and their values schemas.
func badSchemaRef(doc any) string {
	var refs []*schemaRef
	if why := walkSchema(doc, nil, &refs); why != "" {
		return why
	}
	for _, r := range refs {
		u, err := url.Parse(r.ref)
		if err != nil {
			return fmt.Sprintf("$ref %q is not a valid reference", r.ref)
		}
		// The loader reads the fragment as a JSON pointer, unescaped as a
		// URL fragment and then ~1 → /, ~0 → ~ per token.
		frag := u.Fragment
		if frag != "" && !strings.HasPrefix(frag, "/") {
			return fmt.Sprintf("$ref %q is not a JSON pointer (\"#/definitions/…\")", r.ref)
		}
		target := []string{}
		if frag != "" {
			target = strings.Split(frag[1:], "/")
			for i, tok := range target {
				target[i] = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			}
		}
		if !resolves(doc, target) {
			return fmt.Sprintf("$ref %q does not point into the schema", r.ref)
		}
		r.target = target
	}
	if r := refCycle(refs); r != nil {
		return fmt.Sprintf("$ref %q is part of a cycle of references (a recursive schema), which OPA's type checker cannot handle", r.ref)
	}
	return ""
}

func walkSchema(node any, at []string, refs *[]*schemaRef) string {
	child := func(tok string) []string {
		return append(at[:len(at):len(at)], tok)
	}
	switch v := node.(type) {
	case []any:
		for i, e := range v {
			if why := walkSchema(e, child(strconv.Itoa(i)), refs); why != "" {
				return why
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys) // the first of several, reproducibly
		for _, k := range keys {
			val := v[k]
			switch k {
			case "$ref":
				if s, ok := val.(string); ok {
					if !strings.HasPrefix(s, "#") {
						return fmt.Sprintf("$ref %q points outside the schema", s)
					}
					*refs = append(*refs, &schemaRef{at: at, ref: s})
				}
			case "$id", "id":
				if s, ok := val.(string); ok {
					return fmt.Sprintf("%s %q sets a base URI that references would resolve against", k, s)
				}
			case "const", "enum":
				continue
			case "properties", "patternProperties", "dependencies":
				if m, ok := val.(map[string]any); ok {
					names := make([]string, 0, len(m))
					for n := range m {
						names = append(names, n)
					}
					sort.Strings(names)
					for _, n := range names {
						if why := walkSchema(m[n], append(child(k), n), refs); why != "" {
							return why
						}
					}
					continue
				}
			}
			if why := walkSchema(val, child(k), refs); why != "" {
				return why
			}
		}
	}
	return ""
}

// resolves reports whether a JSON pointer's tokens lead to a node of doc,
// read as the loader reads them.
func resolves(doc any, tokens []string) bool {
	node := doc
	for _, tok := range tokens {
		switch v := node.(type) {
		case map[string]any:
			n, ok := v[tok]
			if !ok {
				return false
			}
			node = n
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return false
			}
			node = v[i]
		default:
			return false
		}
	}
	return true
}

// refCycle returns a reference on a cycle of references, or nil.
// Following a reference means going to its target and on to every
// reference inside the target, wherever it is.
func refCycle(refs []*schemaRef) *schemaRef {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(refs))
	var visit func(i int) *schemaRef
	visit = func(i int) *schemaRef {
		switch state[i] {
		case visiting:
			return refs[i]
		case done:
			return nil
		}
		state[i] = visiting
		for j, r := range refs {
			if hasPrefix(r.at, refs[i].target) {
				if on := visit(j); on != nil {
					return on
				}
			}
		}
		state[i] = done
		return nil
	}
	for i := range refs {
		if on := visit(i); on != nil {
			return on
		}
	}
	return nil
}

func hasPrefix(path, prefix []string) bool {
	if len(prefix) > len(path) {
		return false
	}
	for i, p := range prefix {
		if path[i] != p {
			return false
		}
	}
	return true
}
