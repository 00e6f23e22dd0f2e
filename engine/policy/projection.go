package policy

import (
	"sort"

	"github.com/cordonhq/cordon/schema"
	"github.com/open-policy-agent/opa/v1/ast"
)

// The raw finding is most of the input document: a GuardDuty finding is
// ~40 JSON objects, and converting it costs about as much as evaluating a
// small verdict package. Policies mostly read the normalized fields and at
// most a few paths of raw, and a policy can only read input through a
// reference. So the Set works out, once, which parts of input.finding.raw
// any reference in any module can reach, and builds only those.
//
// The analysis is conservative: a reference that could reach all of raw
// (input, input.finding or input.finding.raw taken whole, a variable key
// on the way, a key that is not a string) keeps all of it below that point.
// What a policy can observe, print(), walk() and json.marshal() included,
// is therefore exactly what it would observe with the whole raw finding.

// projection is the part of a JSON document that is kept.
type projection struct {
	all  bool                   // the whole value
	keys map[string]*projection // otherwise, only these keys of an object
}

var rawPath = []string{"finding", "raw"}

// rawProjection collects the parts of input.finding.raw the rules of the
// compiled modules reference. with targets are writes, not reads, and are
// skipped; their values are not.
func rawProjection(c *ast.Compiler) *projection {
	p := &projection{}
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case *ast.With:
			vis.Walk(x.Value)
			return true
		case ast.Ref:
			p.addRef(x)
			// Refs nested in its keys are reads too; its head is not a
			// bare input.
			for _, t := range x[1:] {
				vis.Walk(t)
			}
			return true
		case ast.Var:
			if x.Equal(ast.InputRootDocument.Value) {
				p.all = true
			}
		}
		return p.all
	})
	for _, m := range c.Modules {
		for _, r := range m.Rules {
			vis.Walk(r)
		}
	}
	return p
}

// addRef widens p to what ref can read of input.finding.raw.
func (p *projection) addRef(ref ast.Ref) {
	if len(ref) == 0 || !ref[0].Equal(ast.InputRootDocument) {
		return
	}
	path := ref[1:]
	for i, want := range rawPath {
		if i >= len(path) {
			p.all = true // input or input.finding, taken whole
			return
		}
		s, ok := path[i].Value.(ast.String)
		if !ok {
			p.all = true // input[x] or input.finding[x]
			return
		}
		if string(s) != want {
			return // another part of the input
		}
	}
	node := p
	for _, t := range path[len(rawPath):] {
		if node.all {
			return
		}
		s, ok := t.Value.(ast.String)
		if !ok {
			break
		}
		child := node.keys[string(s)]
		if child == nil {
			if node.keys == nil {
				node.keys = map[string]*projection{}
			}
			child = &projection{}
			node.keys[string(s)] = child
		}
		node = child
	}
	node.all, node.keys = true, nil
}

// project converts the part of v that p keeps, nil when it keeps nothing.
func (c *converter) project(v any, p *projection) ast.Value {
	switch {
	case p == nil || p.all:
		return c.value(v)
	case len(p.keys) == 0:
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		// Not an object: the kept keys cannot be read from it, but its
		// type can be observed; it is small anyway.
		return c.value(v)
	}
	base := c.mark()
	for k, sub := range p.keys {
		if e, ok := m[k]; ok {
			if val := c.project(e, sub); val != nil {
				c.put(c.wrap(keyValue(k)), c.wrap(val))
			}
		}
	}
	return c.object(base).Value
}

// BuildInput builds the input document as the package-level BuildInput
// does, except that input.finding.raw holds only the parts the policies of
// s can read, which no policy can tell apart from the whole.
func (s *Set) BuildInput(in *Input) ast.Object {
	return buildInput(in, s.raw)
}

// RawPaths reports what of input.finding.raw the policies read: all of it,
// or the listed paths (none when no policy reads raw).
func (s *Set) RawPaths() (all bool, paths []string) {
	if s.raw == nil || s.raw.all {
		return true, nil
	}
	var walk func(prefix string, p *projection)
	walk = func(prefix string, p *projection) {
		if p.all {
			paths = append(paths, prefix)
			return
		}
		for k, sub := range p.keys {
			walk(prefix+"."+k, sub)
		}
	}
	walk("input.finding.raw", s.raw)
	sort.Strings(paths)
	return false, paths
}

// raw converts a finding's raw document through p.
func (c *converter) raw(f *schema.Finding, p *projection) ast.Value {
	if p != nil && !p.all && len(p.keys) == 0 {
		return nil // nothing reads it: do not even decode it
	}
	raw := f.Decoded()
	if raw == nil {
		return nil
	}
	return c.project(raw, p)
}
