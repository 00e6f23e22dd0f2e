package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// evaluateLocals evaluates every local value after the ones it refers to.
// Local values may be spread over several locals blocks and files; a name
// must be unique across all of them. A cycle is an error and its members
// (and anything using them) are left unknown.
func (l *loader) evaluateLocals() {
	defs := map[string]*hcl.Attribute{}
	var order []string
	for _, b := range l.blocks["locals"] {
		attrs, diags := b.Body.JustAttributes()
		l.diags = append(l.diags, diags...)
		list := make([]*hcl.Attribute, 0, len(attrs))
		for _, a := range attrs {
			list = append(list, a)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Range.Start.Byte < list[j].Range.Start.Byte })
		for _, a := range list {
			if prev, dup := defs[a.Name]; dup {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate local value definition",
					Detail:   fmt.Sprintf("A local value named %q was already defined at %s. Local value names must be unique.", a.Name, prev.Range.String()),
					Subject:  a.Range.Ptr(),
				})
				continue
			}
			defs[a.Name] = a
			order = append(order, a.Name)
		}
	}

	position := make(map[string]int, len(order))
	for i, n := range order {
		position[n] = i
	}
	deps := func(name string) []string {
		var out []string
		for _, t := range defs[name].Expr.Variables() {
			if t.RootName() != "local" {
				continue
			}
			if dep, _, ok := stepName(t, 1); ok && defs[dep] != nil {
				out = append(out, dep)
			}
		}
		return out
	}

	const (
		visiting = 1
		done     = 2
	)
	var (
		state  = map[string]int{}
		failed = map[string]bool{}
		values = map[string]cty.Value{}
		stack  []string
		visit  func(string)
	)
	visit = func(name string) {
		state[name] = visiting
		stack = append(stack, name)
		for _, dep := range deps(name) {
			switch state[dep] {
			case visiting:
				for i, n := range stack {
					if n == dep {
						l.reportCycle(stack[i:], defs, position, failed)
						break
					}
				}
			case 0:
				visit(dep)
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		if failed[name] {
			values[name] = cty.DynamicVal
			return
		}
		l.setObject("local", values)
		v, diags := defs[name].Expr.Value(l.ctx)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() {
			v = cty.DynamicVal
		}
		values[name] = v
	}
	for _, name := range order {
		if state[name] == 0 {
			visit(name)
		}
	}
	l.setObject("local", values)
	for k, v := range values {
		l.cfg.Locals[k] = v
	}
}

// reportCycle reports a cycle of local values (each referring to the
// next, the last to the first) once, at its first member in source order.
func (l *loader) reportCycle(cycle []string, defs map[string]*hcl.Attribute, position map[string]int, failed map[string]bool) {
	first := 0
	for i, n := range cycle {
		if position[n] < position[cycle[first]] {
			first = i
		}
	}
	reported := false
	for _, n := range cycle {
		reported = reported || failed[n]
		failed[n] = true
	}
	if reported {
		return // through another cycle sharing a member
	}
	ordered := append(append([]string{}, cycle[first:]...), cycle[:first]...)
	var detail string
	if len(ordered) == 1 {
		detail = fmt.Sprintf("local.%s refers to itself.", ordered[0])
	} else {
		parts := make([]string, 0, len(ordered)+1)
		for _, n := range append(ordered, ordered[0]) {
			parts = append(parts, "local."+n)
		}
		detail = "The local values refer to each other: " + strings.Join(parts, " → ") + "."
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Cycle in local values",
		Detail:   detail + " A local value cannot depend on its own value.",
		Subject:  defs[ordered[0]].Range.Ptr(),
	})
}
