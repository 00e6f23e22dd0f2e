package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agext/levenshtein"

	"github.com/cordonhq/cordon/schema"
)

// A facts file is checked against the JSON Schema of each collector's
// facts (schema/facts/*.schema.json), so that facts of the wrong shape
// ("processes": "oops") are an error naming the place, not evidence that
// silently vanishes from the policies' view. The schemas use a small part
// of draft-07 (type, properties, additionalProperties, items, enum, minimum,
// pattern and the date-time format), which factSchema implements; a keyword outside it
// fails loading the schema, so a schema cannot outgrow the checker
// unnoticed.

// jsonNode is a JSON value with the byte offset where it starts, so that
// an error can name its line and column.
type jsonNode struct {
	off    int
	kind   byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	fields []jsonField
	elems  []*jsonNode
	str    string
	num    json.Number
	b      bool
}

type jsonField struct {
	key string
	off int
	val *jsonNode
}

// field returns an object's member by key (the last, as encoding/json
// keeps the last of duplicate keys).
func (n *jsonNode) field(key string) *jsonNode {
	var v *jsonNode
	for _, f := range n.fields {
		if f.key == key {
			v = f.val
		}
	}
	return v
}

// parseJSONPositions parses one JSON value, keeping each value's offset.
func parseJSONPositions(data []byte) (*jsonNode, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := &jsonParser{data: data, dec: dec}
	n, err := p.value()
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return n, nil
}

type jsonParser struct {
	data  []byte
	dec   *json.Decoder
	depth int
}

// start is where the next token begins: past the whitespace and the
// separators the decoder has not consumed yet.
func (p *jsonParser) start() int {
	off := int(p.dec.InputOffset())
	for off < len(p.data) {
		switch p.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

func (p *jsonParser) value() (*jsonNode, error) {
	off := p.start()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	return p.node(off, tok)
}

func (p *jsonParser) node(off int, tok json.Token) (*jsonNode, error) {
	n := &jsonNode{off: off}
	switch t := tok.(type) {
	case json.Delim:
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > 1000 {
			return nil, errors.New("JSON nested too deeply")
		}
		switch t {
		case '{':
			n.kind = 'o'
			for p.dec.More() {
				koff := p.start()
				k, err := p.dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := k.(string)
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				n.fields = append(n.fields, jsonField{key: key, off: koff, val: v})
			}
		case '[':
			n.kind = 'a'
			for p.dec.More() {
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				n.elems = append(n.elems, v)
			}
		}
		if _, err := p.dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
	case string:
		n.kind, n.str = 's', t
	case json.Number:
		n.kind, n.num = 'n', t
	case bool:
		n.kind, n.b = 'b', t
	case nil:
		n.kind = 'z'
	}
	return n, nil
}

// factSchema is a compiled facts schema (the part of draft-07 the facts
// schemas use).
type factSchema struct {
	types      []string
	properties map[string]*factSchema
	// additional: nil allows any member, closed forbids every member not in
	// properties, and a schema checks them.
	additional *factSchema
	closed     bool
	items      *factSchema
	enum       []any
	format     string
	minimum    *float64
	pattern    *regexp.Regexp
}

// Keywords that only document a schema.
var annotationKeywords = map[string]bool{"$schema": true, "$id": true, "title": true, "description": true, "$comment": true, "examples": true, "default": true}

func compileFactSchema(doc any, where string) (*factSchema, error) {
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: a schema must be an object", where)
	}
	s := &factSchema{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		switch k {
		case "type":
			switch t := v.(type) {
			case string:
				s.types = []string{t}
			case []any:
				for _, e := range t {
					name, ok := e.(string)
					if !ok {
						return nil, fmt.Errorf("%s: type must name types", where)
					}
					s.types = append(s.types, name)
				}
			default:
				return nil, fmt.Errorf("%s: type must be a string or a list", where)
			}
		case "properties":
			props, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: properties must be an object", where)
			}
			s.properties = map[string]*factSchema{}
			for name, sub := range props {
				c, err := compileFactSchema(sub, where+"."+name)
				if err != nil {
					return nil, err
				}
				s.properties[name] = c
			}
		case "additionalProperties":
			switch a := v.(type) {
			case bool:
				s.closed = !a
			default:
				c, err := compileFactSchema(a, where+".*")
				if err != nil {
					return nil, err
				}
				s.additional = c
			}
		case "items":
			c, err := compileFactSchema(v, where+"[]")
			if err != nil {
				return nil, err
			}
			s.items = c
		case "enum":
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: enum must be a list", where)
			}
			s.enum = list
		case "format":
			s.format, _ = v.(string)
		case "pattern":
			src, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%s: pattern must be a string", where)
			}
			re, err := regexp.Compile(src)
			if err != nil {
				return nil, fmt.Errorf("%s: pattern: %w", where, err)
			}
			s.pattern = re
		case "minimum":
			f, ok := v.(float64)
			if !ok {
				return nil, fmt.Errorf("%s: minimum must be a number", where)
			}
			s.minimum = &f
		default:
			if !annotationKeywords[k] {
				return nil, fmt.Errorf("%s: schema keyword %q is not supported by cordon's facts checker", where, k)
			}
		}
	}
	return s, nil
}

var factSchemas sync.Map // collector type → *factSchema, or error

// factSchemaFor returns the compiled facts schema of a collector type, nil
// when the type has none.
func factSchemaFor(collectorType string) (*factSchema, error) {
	if v, ok := factSchemas.Load(collectorType); ok {
		if err, isErr := v.(error); isErr {
			return nil, err
		}
		return v.(*factSchema), nil
	}
	raw, ok := schema.FactsSchema(collectorType)
	if !ok {
		return nil, nil
	}
	var doc any
	var s *factSchema
	err := json.Unmarshal(raw, &doc)
	if err == nil {
		s, err = compileFactSchema(doc, collectorType)
	}
	if err != nil {
		err = fmt.Errorf("facts schema of %s: %w", collectorType, err)
		factSchemas.Store(collectorType, err)
		return nil, err
	}
	factSchemas.Store(collectorType, s)
	return s, nil
}

// factError is one place where facts do not match their schema.
type factError struct {
	off  int
	path string
	msg  string
}

// check validates n against s, appending each mismatch (up to a few: the
// first ones are what a person fixes first).
func (s *factSchema) check(n *jsonNode, path string, errs *[]factError) {
	const maxErrors = 10
	if len(*errs) >= maxErrors {
		return
	}
	fail := func(off int, format string, args ...any) {
		*errs = append(*errs, factError{off: off, path: path, msg: fmt.Sprintf(format, args...)})
	}
	if len(s.types) > 0 && !slices.ContainsFunc(s.types, func(t string) bool { return n.is(t) }) {
		fail(n.off, "must be %s, not %s", typeList(s.types), n.describe())
		return
	}
	if len(s.enum) > 0 && !slices.ContainsFunc(s.enum, n.equals) {
		var vals []string
		for _, e := range s.enum {
			b, _ := json.Marshal(e)
			vals = append(vals, string(b))
		}
		fail(n.off, "must be one of %s, not %s", strings.Join(vals, ", "), n.describe())
		return
	}
	if s.format == "date-time" && n.kind == 's' {
		if _, err := time.Parse(time.RFC3339Nano, n.str); err != nil {
			fail(n.off, "must be a date-time (RFC 3339, as 2024-05-01T12:00:00Z), not %q", n.str)
		}
	}
	if s.pattern != nil && n.kind == 's' && !s.pattern.MatchString(n.str) {
		fail(n.off, "must match %s, not %q", s.pattern, n.str)
	}
	if s.minimum != nil && n.kind == 'n' {
		if f, err := n.num.Float64(); err == nil && f < *s.minimum {
			fail(n.off, "must be at least %v, not %s", *s.minimum, n.num)
		}
	}
	switch n.kind {
	case 'o':
		for _, f := range n.fields {
			sub := path + "." + f.key
			if !isIdentifierKey(f.key) {
				sub = path + "[" + strconv.Quote(f.key) + "]"
			}
			if ps, ok := s.properties[f.key]; ok {
				ps.check(f.val, sub, errs)
				continue
			}
			switch {
			case s.additional != nil:
				s.additional.check(f.val, sub, errs)
			case s.closed:
				*errs = append(*errs, factError{off: f.off, path: sub, msg: "is not a fact of this collector" + suggestProperty(f.key, s.properties)})
			}
		}
	case 'a':
		if s.items != nil {
			for i, e := range n.elems {
				s.items.check(e, fmt.Sprintf("%s[%d]", path, i), errs)
			}
		}
	}
}

func (n *jsonNode) is(t string) bool {
	switch t {
	case "object":
		return n.kind == 'o'
	case "array":
		return n.kind == 'a'
	case "string":
		return n.kind == 's'
	case "boolean":
		return n.kind == 'b'
	case "null":
		return n.kind == 'z'
	case "number":
		return n.kind == 'n'
	case "integer":
		if n.kind != 'n' {
			return false
		}
		f, err := n.num.Float64()
		return err == nil && f == math.Trunc(f)
	}
	return false
}

func (n *jsonNode) equals(v any) bool {
	switch e := v.(type) {
	case string:
		return n.kind == 's' && n.str == e
	case bool:
		return n.kind == 'b' && n.b == e
	case float64:
		f, err := n.num.Float64()
		return n.kind == 'n' && err == nil && f == e
	case nil:
		return n.kind == 'z'
	}
	return false
}

// describe names a value's type, quoting a short string: what a person
// wrote, so they can find it.
func (n *jsonNode) describe() string {
	switch n.kind {
	case 'o':
		return "an object"
	case 'a':
		return "an array"
	case 's':
		if len(n.str) <= 40 {
			return "the string " + strconv.Quote(n.str)
		}
		return "a string"
	case 'n':
		return "the number " + n.num.String()
	case 'b':
		return "the boolean " + strconv.FormatBool(n.b)
	}
	return "null"
}

func typeList(types []string) string {
	words := make([]string, len(types))
	for i, t := range types {
		words[i] = article(t) + " " + t
	}
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// article is "a" or "an" for the word that follows it.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

func isIdentifierKey(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func suggestProperty(key string, props map[string]*factSchema) string {
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	best, bestDist := "", 3
	for _, n := range names {
		if d := levenshtein.Distance(key, n, nil); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}
