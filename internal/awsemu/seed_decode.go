package awsemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// strictDecode decodes JSON into v (a pointer to a struct) strictly: an
// unknown or duplicate key, a value of the wrong type or trailing data is
// an error naming the JSON path and its line and column. It records the
// byte offset of every value by path, so that later validation errors can
// point at the value they are about.
func strictDecode(data []byte, v any, pos map[string]int) error {
	d := &decoder{data: data, dec: json.NewDecoder(bytes.NewReader(data)), pos: pos}
	d.dec.UseNumber()
	if err := d.value(reflect.ValueOf(v).Elem(), ""); err != nil {
		return err
	}
	if tok, err := d.dec.Token(); err != io.EOF {
		if err != nil {
			return d.syntax(err)
		}
		return d.errAt(int(d.dec.InputOffset()), "", fmt.Sprintf("unexpected %v after the top-level value", tokenKind(tok)))
	}
	return nil
}

type decoder struct {
	data []byte
	dec  *json.Decoder
	pos  map[string]int
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// start is the offset of the next value: past the separators the decoder
// has not consumed yet.
func (d *decoder) start() int {
	off := int(d.dec.InputOffset())
	for off < len(d.data) && strings.IndexByte(" \t\r\n,:", d.data[off]) >= 0 {
		off++
	}
	return off
}

func (d *decoder) value(v reflect.Value, path string) error {
	at := d.start()
	if d.pos != nil {
		d.pos[path] = at
	}
	if v.Type() == rawType {
		if err := d.skip(); err != nil {
			return err
		}
		end := int(d.dec.InputOffset())
		v.SetBytes(append(json.RawMessage(nil), d.data[at:end]...))
		return nil
	}
	tok, err := d.dec.Token()
	if err != nil {
		return d.syntax(err)
	}
	if tok == nil {
		switch v.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			v.SetZero()
			return nil
		}
		return d.errAt(at, path, "must not be null")
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if err := d.scalarOrComposite(tok, p.Elem(), path, at); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	return d.scalarOrComposite(tok, v, path, at)
}

// scalarOrComposite fills v from tok, the first token of its value.
func (d *decoder) scalarOrComposite(tok json.Token, v reflect.Value, path string, at int) error {
	if v.Type() == timeType {
		s, ok := tok.(string)
		if !ok {
			return d.errAt(at, path, "expected an RFC 3339 timestamp string, got "+tokenKind(tok))
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return d.errAt(at, path, fmt.Sprintf("%q is not an RFC 3339 timestamp", s))
		}
		v.Set(reflect.ValueOf(t.UTC()))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		s, ok := tok.(string)
		if !ok {
			return d.errAt(at, path, "expected a string, got "+tokenKind(tok))
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := tok.(bool)
		if !ok {
			return d.errAt(at, path, "expected true or false, got "+tokenKind(tok))
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := tok.(json.Number)
		if !ok {
			return d.errAt(at, path, "expected an integer, got "+tokenKind(tok))
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil || v.OverflowInt(i) {
			return d.errAt(at, path, fmt.Sprintf("%s is not an integer in range", n))
		}
		v.SetInt(i)
	case reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			return d.errAt(at, path, "expected a number, got "+tokenKind(tok))
		}
		f, err := n.Float64()
		if err != nil {
			return d.errAt(at, path, fmt.Sprintf("%s is not a number in range", n))
		}
		v.SetFloat(f)
	case reflect.Slice:
		if tok != json.Delim('[') {
			return d.errAt(at, path, "expected an array, got "+tokenKind(tok))
		}
		s := reflect.MakeSlice(v.Type(), 0, 0)
		for i := 0; d.dec.More(); i++ {
			e := reflect.New(v.Type().Elem()).Elem()
			if err := d.value(e, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
			s = reflect.Append(s, e)
		}
		if _, err := d.dec.Token(); err != nil {
			return d.syntax(err)
		}
		v.Set(s)
	case reflect.Map:
		if tok != json.Delim('{') {
			return d.errAt(at, path, "expected an object, got "+tokenKind(tok))
		}
		m := reflect.MakeMap(v.Type())
		for d.dec.More() {
			keyAt := d.start()
			k, err := d.dec.Token()
			if err != nil {
				return d.syntax(err)
			}
			key := k.(string)
			kp := join(path, key)
			if m.MapIndex(reflect.ValueOf(key)).IsValid() {
				return d.errAt(keyAt, kp, "duplicate key")
			}
			e := reflect.New(v.Type().Elem()).Elem()
			if err := d.value(e, kp); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(key), e)
		}
		if _, err := d.dec.Token(); err != nil {
			return d.syntax(err)
		}
		v.Set(m)
	case reflect.Struct:
		if tok != json.Delim('{') {
			return d.errAt(at, path, "expected an object, got "+tokenKind(tok))
		}
		fields := jsonFields(v.Type())
		seen := map[string]bool{}
		for d.dec.More() {
			keyAt := d.start()
			k, err := d.dec.Token()
			if err != nil {
				return d.syntax(err)
			}
			key := k.(string)
			kp := join(path, key)
			idx, ok := fields[key]
			if !ok {
				return d.errAt(keyAt, kp, unknownKey(key, fields))
			}
			if seen[key] {
				return d.errAt(keyAt, kp, "duplicate key")
			}
			seen[key] = true
			if err := d.value(v.Field(idx), kp); err != nil {
				return err
			}
		}
		if _, err := d.dec.Token(); err != nil {
			return d.syntax(err)
		}
	default:
		return d.errAt(at, path, "cannot decode into "+v.Type().String())
	}
	return nil
}

// skip consumes one value.
func (d *decoder) skip() error {
	depth := 0
	for {
		tok, err := d.dec.Token()
		if err != nil {
			return d.syntax(err)
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jsonFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		out[name] = i
	}
	return out
}

func unknownKey(key string, fields map[string]int) string {
	best, bestD := "", 3
	for f := range fields {
		if d := editDistance(key, f); d < bestD || (d == bestD && f < best) {
			best, bestD = f, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key (did you mean %q?)", best)
	}
	return "unknown key"
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return "'" + t.String() + "'"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

func (d *decoder) syntax(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return d.errAt(int(se.Offset), "", se.Error())
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return d.errAt(len(d.data), "", "unexpected end of JSON input")
	}
	return d.errAt(int(d.dec.InputOffset()), "", err.Error())
}

func (d *decoder) errAt(off int, path, msg string) error {
	line, col := lineCol(d.data, off)
	return &SeedError{Line: line, Column: col, Path: path, Message: msg}
}

// lineCol converts a byte offset to a 1-based line and column (in bytes).
func lineCol(data []byte, off int) (int, int) {
	off = min(max(off, 0), len(data))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}
