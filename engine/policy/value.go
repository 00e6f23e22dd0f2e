package policy

import (
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
)

// ToValue converts generic decoded JSON (map[string]any, []any, json.Number,
// float64, string, bool, nil) to an OPA value, without the reflection and
// error checks of ast.InterfaceToValue. []string, map[string]string and Go
// integers are converted directly too; other Go values take a JSON round
// trip, and values JSON cannot represent (a channel, NaN) become null. A
// json.Number whose exponent OPA refuses becomes its literal string.
func ToValue(v any) ast.Value {
	switch v.(type) {
	case map[string]any, []any:
		return newConverter().value(v)
	}
	return scalarValue(v)
}

// converter builds OPA values with few allocations: terms come out of
// blocks allocated termBlock at a time, and object entries are staged on a
// stack that ast.NewObject copies from. Building an object is mark, put
// its entries (children put theirs above and pop them when done), object.
type converter struct {
	terms []ast.Term
	kvs   [][2]*ast.Term
}

const termBlock = 128

func newConverter() *converter {
	return &converter{kvs: make([][2]*ast.Term, 0, 32)}
}

// take returns n fresh terms.
func (c *converter) take(n int) []ast.Term {
	if n > len(c.terms) {
		c.terms = make([]ast.Term, max(n, termBlock))
	}
	t := c.terms[:n:n]
	c.terms = c.terms[n:]
	return t
}

func (c *converter) wrap(v ast.Value) *ast.Term {
	t := &c.take(1)[0]
	t.Value = v
	return t
}

func (c *converter) str(s string) *ast.Term { return c.wrap(ast.String(s)) }

func (c *converter) mark() int { return len(c.kvs) }

func (c *converter) put(k, v *ast.Term) { c.kvs = append(c.kvs, [2]*ast.Term{k, v}) }

// putString puts a string entry unless it is empty, as omitempty does.
func (c *converter) putString(k *ast.Term, v string) {
	if v != "" {
		c.put(k, c.str(v))
	}
}

// putInt puts a number entry unless it is zero, as omitempty does.
func (c *converter) putInt(k *ast.Term, v int) {
	if v != 0 {
		c.put(k, ast.InternedTerm(v))
	}
}

// object pops the entries put since mark into an object term.
func (c *converter) object(mark int) *ast.Term {
	obj := ast.NewObject(c.kvs[mark:]...)
	clear(c.kvs[mark:])
	c.kvs = c.kvs[:mark]
	return c.wrap(obj)
}

func (c *converter) value(v any) ast.Value {
	switch x := v.(type) {
	case map[string]any:
		base := c.mark()
		for k, e := range x {
			c.put(c.wrap(keyValue(k)), c.wrap(c.value(e)))
		}
		obj := ast.NewObject(c.kvs[base:]...)
		clear(c.kvs[base:])
		c.kvs = c.kvs[:base]
		return obj
	case []any:
		elems := make([]*ast.Term, len(x))
		for i, e := range x {
			elems[i] = c.wrap(c.value(e))
		}
		return ast.NewArray(elems...)
	}
	return scalarValue(v)
}

// scalarValue converts everything but generic JSON objects and arrays.
func scalarValue(v any) ast.Value {
	switch x := v.(type) {
	case nil:
		return ast.NullValue
	case string:
		return ast.String(x)
	case json.Number:
		if t := ast.InternedIntNumberTermFromString(string(x)); t != nil {
			return t.Value
		}
		n, err := ast.NumberChecked(string(x))
		if err != nil {
			return ast.String(x)
		}
		return n
	case bool:
		return ast.InternedValue(x)
	case float64:
		return floatValue(x)
	case float32:
		return floatValue(float64(x))
	case int:
		return ast.InternedValue(x)
	case int64:
		return ast.InternedValue(x)
	case int32:
		return ast.InternedValue(x)
	case uint32:
		return ast.InternedValue(x)
	case uint64:
		return ast.Number(strconv.FormatUint(x, 10))
	case map[string]any, []any:
		return ToValue(x)
	case map[string]string:
		return stringMapValue(x)
	case []string:
		terms := make([]ast.Term, len(x))
		elems := make([]*ast.Term, len(x))
		for i, s := range x {
			terms[i].Value = ast.String(s)
			elems[i] = &terms[i]
		}
		return ast.NewArray(elems...)
	case ast.Value:
		return x
	case *ast.Term:
		if x == nil {
			return ast.NullValue
		}
		return x.Value
	}
	if val, err := ast.InterfaceToValue(v); err == nil {
		return val
	}
	return ast.NullValue
}

func stringMapValue(m map[string]string) ast.Value {
	terms := make([]ast.Term, 2*len(m))
	kvs := make([][2]*ast.Term, len(m))
	i := 0
	for k, v := range m {
		kt, vt := &terms[2*i], &terms[2*i+1]
		kt.Value = keyValue(k)
		vt.Value = ast.String(v)
		kvs[i] = [2]*ast.Term{kt, vt}
		i++
	}
	return ast.NewObject(kvs...)
}

// Object keys are interned: they come from a small vocabulary (the fields
// of GuardDuty, ASFF, OCSF and the facts schemas) that repeats in every
// finding, and a boxed string per key is a third of a raw finding's
// allocations. The table is bounded so that keys that are data (tag names,
// say) cannot grow it without end.
var (
	keyValues  sync.Map // string → ast.Value
	keysStored atomic.Int32
)

const maxInternedKeys = 4096

func keyValue(k string) ast.Value {
	if v, ok := keyValues.Load(k); ok {
		return v.(ast.Value)
	}
	v := ast.Value(ast.String(k))
	if keysStored.Load() < maxInternedKeys {
		if _, loaded := keyValues.LoadOrStore(k, v); !loaded {
			keysStored.Add(1)
		}
	}
	return v
}

func floatValue(f float64) ast.Value {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return ast.NullValue
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return ast.InternedValue(int(f))
	}
	return ast.Number(strconv.FormatFloat(f, 'g', -1, 64))
}
