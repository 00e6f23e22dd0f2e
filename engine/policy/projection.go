package policy

import (
	"sort"

	"github.com/cordonhq/cordon/schema"
	"github.com/open-policy-agent/opa/v1/ast"
)

// The input document is mostly data no policy reads: the raw finding is
// ~40 JSON objects, the resource details nest interfaces and groups, and
// converting them costs about as much as evaluating a small verdict
// package. A policy can only read input through a reference, so the Set
// works out, once, which parts of the input any reference in any module
// can reach, and builds only those.
//
// The analysis is conservative: a reference that could reach a whole value
// (input, input.finding or input.resource.details taken whole) keeps all of
// it, and a key that is not a constant string (input.resource.tags[k],
// input.finding.resources[_]) keeps every key or element, each cut by
// what the rest of the reference reads. What a policy can observe,
// print(), walk() and json.marshal() included, is therefore exactly what
// it would observe with the whole document.

// projection is the part of a JSON document that is kept.
type projection struct {
	all  bool                   // the whole value
	keys map[string]*projection // these keys of an object
	// star, when set, keeps every key of an object or element of an array,
	// each as star says (a variable key in a reference). A key also in
	// keys is kept as both say: finish merges star into keys.
	star *projection
}

// inputProjection collects the parts of the input document the rules of
// the compiled modules reference. with targets are writes, not reads, and
// are skipped; their values are not.
func inputProjection(c *ast.Compiler) *projection {
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
	p.finish()
	return p
}

// addRef widens p to what ref can read of the input.
func (p *projection) addRef(ref ast.Ref) {
	if len(ref) == 0 || !ref[0].Equal(ast.InputRootDocument) {
		return
	}
	node := p
	for _, t := range ref[1:] {
		if node.all {
			return
		}
		var next *projection
		if s, ok := t.Value.(ast.String); ok {
			if node.keys == nil {
				node.keys = map[string]*projection{}
			}
			if next = node.keys[string(s)]; next == nil {
				next = &projection{}
				node.keys[string(s)] = next
			}
		} else {
			if node.star == nil {
				node.star = &projection{}
			}
			next = node.star
		}
		node = next
	}
	node.all, node.keys, node.star = true, nil, nil
}

// finish merges each node's star into its keys, so a key is kept as both
// a constant and a variable key reading it say.
func (p *projection) finish() {
	if p == nil || p.all {
		return
	}
	p.star.finish()
	for k, c := range p.keys {
		if p.star != nil {
			p.keys[k] = union(c, p.star)
		}
		p.keys[k].finish()
	}
}

// union returns a projection keeping what a or b keeps.
func union(a, b *projection) *projection {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.all || b.all:
		return &projection{all: true}
	}
	u := &projection{star: union(a.star, b.star), keys: map[string]*projection{}}
	for k, c := range a.keys {
		u.keys[k] = c
	}
	for k, c := range b.keys {
		u.keys[k] = union(u.keys[k], c)
	}
	return u
}

// child returns what p keeps of key k, and whether it keeps anything.
// A nil projection with ok means all of it.
func (p *projection) child(k string) (*projection, bool) {
	switch {
	case p == nil || p.all:
		return nil, true
	case p.keys[k] != nil:
		return p.keys[k], true
	case p.star != nil:
		return p.star, true
	}
	return nil, false
}

// has reports whether p keeps anything of key k.
func (p *projection) has(k string) bool {
	_, ok := p.child(k)
	return ok
}

// project converts the part of v that p keeps, nil when it keeps nothing.
func (c *converter) project(v any, p *projection) ast.Value {
	if p == nil || p.all {
		return c.value(v)
	}
	switch v := v.(type) {
	case map[string]any:
		if len(p.keys) == 0 && p.star == nil {
			return nil
		}
		base := c.mark()
		if p.star != nil {
			for k, e := range v {
				sub, _ := p.child(k)
				if val := c.project(e, sub); val != nil {
					c.put(c.wrap(keyValue(k)), c.wrap(val))
				}
			}
		} else {
			for k, sub := range p.keys {
				if e, ok := v[k]; ok {
					if val := c.project(e, sub); val != nil {
						c.put(c.wrap(keyValue(k)), c.wrap(val))
					}
				}
			}
		}
		return c.object(base).Value
	case []any:
		if p.star == nil {
			// Only string keys read it, which never index an array; its
			// elements cannot be observed, but keep them: arrays here are
			// small, and the analysis stays obviously conservative.
			return c.value(v)
		}
		elems := make([]*ast.Term, 0, len(v))
		for _, e := range v {
			val := c.project(e, p.star)
			if val == nil {
				val = ast.NewObject()
			}
			elems = append(elems, c.wrap(val))
		}
		return ast.NewArray(elems...)
	}
	// A scalar: the kept keys cannot be read from it, but its type can be
	// observed.
	return c.value(v)
}

// BuildInput builds the input document as the package-level BuildInput
// does, except that it holds only the parts the policies of s can read,
// which no policy can tell apart from the whole.
func (s *Set) BuildInput(in *Input) ast.Object {
	return buildInput(in, s.input)
}

// RawPaths reports what of input.finding.raw the policies read: all of it,
// or the listed paths (none when no policy reads raw).
func (s *Set) RawPaths() (all bool, paths []string) {
	f, ok := s.input.child("finding")
	if !ok {
		return false, nil
	}
	raw, ok := f.child("raw")
	if !ok {
		return false, nil
	}
	if raw == nil || raw.all {
		return true, nil
	}
	var walk func(prefix string, p *projection)
	walk = func(prefix string, p *projection) {
		if p.all {
			paths = append(paths, prefix)
			return
		}
		if p.star != nil {
			walk(prefix+"[_]", p.star)
		}
		for k, sub := range p.keys {
			walk(prefix+"."+k, sub)
		}
	}
	walk("input.finding.raw", raw)
	sort.Strings(paths)
	return false, paths
}

// raw converts a finding's raw document through p.
func (c *converter) raw(f *schema.Finding, p *projection) ast.Value {
	if p != nil && !p.all && len(p.keys) == 0 && p.star == nil {
		return nil // nothing reads it: do not even decode it
	}
	raw := f.Decoded()
	if raw == nil {
		return nil
	}
	return c.project(raw, p)
}
