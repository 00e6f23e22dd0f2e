// Package registry is the type registry that actions and collectors share:
// a type name to its definition, filled from init functions and read by
// the engine. Each kind keeps its own Register, which checks its own
// definitions before adding them here.
package registry

import (
	"fmt"
	"slices"
	"sync"
)

// Registry maps type names to definitions of one kind.
type Registry[D any] struct {
	kind string // "actions", "collectors": for panic messages

	mu   sync.RWMutex
	defs map[string]D
}

// New returns an empty registry for definitions of kind.
func New[D any](kind string) *Registry[D] {
	return &Registry[D]{kind: kind, defs: map[string]D{}}
}

// Add registers d as type typ. A duplicate is a programming error, caught
// by any test run: it panics.
func (r *Registry[D]) Add(typ string, d D) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.defs[typ]; dup {
		panic(fmt.Sprintf("%s: duplicate type %s", r.kind, typ))
	}
	r.defs[typ] = d
}

// Lookup returns the definition of type typ.
func (r *Registry[D]) Lookup(typ string) (D, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.defs[typ]
	return d, ok
}

// Types returns the registered type names, sorted.
func (r *Registry[D]) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.defs))
	for t := range r.defs {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
