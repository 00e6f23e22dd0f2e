package registry

import (
	"slices"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := New[int]("things")
	r.Add("b", 2)
	r.Add("a", 1)
	if d, ok := r.Lookup("a"); !ok || d != 1 {
		t.Errorf("Lookup(a) = %v, %v", d, ok)
	}
	if _, ok := r.Lookup("c"); ok {
		t.Error("Lookup(c) found an unregistered type")
	}
	if got := r.Types(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Types() = %v", got)
	}
	defer func() {
		if p := recover(); p != "things: duplicate type a" {
			t.Errorf("a duplicate panicked with %v", p)
		}
	}()
	r.Add("a", 3)
}
