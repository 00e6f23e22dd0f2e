package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// decodeJSON decodes exactly one JSON value (surrounding whitespace allowed)
// into the generic values encoding/json produces with UseNumber:
// map[string]any, []any, string, json.Number, bool and nil. Numbers stay
// json.Number, the form OPA's ast conversion takes without loss.
//
// It is a hand-written parser because decoding is most of the cost of
// normalizing a finding: encoding/json scans every value twice and goes
// through reflection, about 4× slower on a GuardDuty finding. The result is
// the same as encoding/json's, down to invalid UTF-8 becoming U+FFFD and
// the last of duplicate keys winning; FuzzDecodeJSON checks that.
func decodeJSON(data []byte) (any, error) {
	d := decoders.Get().(*decoder)
	defer d.release()
	d.data, d.pos, d.depth = data, 0, 0
	d.skipSpace()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos < len(d.data) {
		return nil, d.errorf("invalid character %s after top-level value", quoteChar(d.data[d.pos]))
	}
	return v, nil
}

// decoders keeps decoders' scratch stacks between calls.
var decoders = sync.Pool{New: func() any { return new(decoder) }}

// release returns d to the pool, dropping its references to decoded
// values so the pool does not keep them alive.
func (d *decoder) release() {
	clear(d.members[:cap(d.members)])
	clear(d.elems[:cap(d.elems)])
	d.members, d.elems, d.data = d.members[:0], d.elems[:0], nil
	if cap(d.buf) > 64<<10 {
		d.buf = nil
	}
	decoders.Put(d)
}

// syntaxError is a JSON syntax error at a byte offset of the decoded data.
type syntaxError struct {
	msg    string
	Offset int // byte offset of the offending byte (len(data) at end of input)
	// tooDeep marks the value nesting deeper than the decoder's limit:
	// valid JSON past a bound rather than a syntax error.
	tooDeep bool
}

func (e *syntaxError) Error() string { return e.msg }

// maxDepth bounds nesting as encoding/json does, so hostile input cannot
// exhaust the stack.
const maxDepth = 10000

type decoder struct {
	data  []byte
	pos   int
	depth int
	// limit bounds nesting in skip, when lower than maxDepth: the
	// splitter's bound on one record (Limits.MaxDepth).
	limit int
	buf   []byte // scratch for unescaping strings
	// Stacks of the members and elements of the objects and arrays being
	// decoded, so each map and slice is made once at its final size.
	members []member
	elems   []any
}

type member struct {
	key string
	val any
}

func (d *decoder) errorf(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), Offset: d.pos}
}

func (d *decoder) eof() error {
	return &syntaxError{msg: "unexpected end of JSON input", Offset: len(d.data)}
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// value decodes the value at d.pos (whitespace already skipped).
func (d *decoder) value() (any, error) {
	if d.pos >= len(d.data) {
		return nil, d.eof()
	}
	switch c := d.data[d.pos]; c {
	case '{':
		return d.object()
	case '[':
		return d.array()
	case '"':
		return d.str()
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case 'n':
		return nil, d.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			start := d.pos
			if err := d.number(); err != nil {
				return nil, err
			}
			return json.Number(string(d.data[start:d.pos])), nil
		}
		return nil, d.errorf("invalid character %s looking for beginning of value", quoteChar(c))
	}
}

func (d *decoder) object() (any, error) {
	if d.depth++; d.depth > maxDepth {
		return nil, d.errorf("exceeded max depth")
	}
	d.pos++ // '{'
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		return map[string]any{}, nil
	}
	mark := len(d.members)
	for {
		if d.pos >= len(d.data) {
			return nil, d.eof()
		}
		if d.data[d.pos] != '"' {
			return nil, d.errorf("invalid character %s looking for beginning of object key string", quoteChar(d.data[d.pos]))
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.eof()
		}
		if d.data[d.pos] != ':' {
			return nil, d.errorf("invalid character %s after object key", quoteChar(d.data[d.pos]))
		}
		d.pos++
		d.skipSpace()
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		d.members = append(d.members, member{k, v})
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.eof()
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.skipSpace()
		case '}':
			d.pos++
			d.depth--
			ms := d.members[mark:]
			m := make(map[string]any, len(ms))
			for _, kv := range ms {
				m[kv.key] = kv.val
			}
			clear(ms)
			d.members = d.members[:mark]
			return m, nil
		default:
			return nil, d.errorf("invalid character %s after object key:value pair", quoteChar(d.data[d.pos]))
		}
	}
}

func (d *decoder) array() (any, error) {
	if d.depth++; d.depth > maxDepth {
		return nil, d.errorf("exceeded max depth")
	}
	d.pos++ // '['
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		return []any{}, nil
	}
	mark := len(d.elems)
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		d.elems = append(d.elems, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.eof()
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.skipSpace()
		case ']':
			d.pos++
			d.depth--
			es := d.elems[mark:]
			a := make([]any, len(es))
			copy(a, es)
			clear(es)
			d.elems = d.elems[:mark]
			return a, nil
		default:
			return nil, d.errorf("invalid character %s after array element", quoteChar(d.data[d.pos]))
		}
	}
}

func (d *decoder) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if d.pos >= len(d.data) {
			return d.eof()
		}
		if d.data[d.pos] != lit[i] {
			return d.errorf("invalid character %s in literal %s (expecting %s)", quoteChar(d.data[d.pos]), lit, quoteChar(lit[i]))
		}
		d.pos++
	}
	return nil
}

// number scans a JSON number at d.pos, checking the grammar.
func (d *decoder) number() error {
	data := d.data
	if data[d.pos] == '-' {
		d.pos++
	}
	if d.pos >= len(data) {
		return d.eof()
	}
	switch c := data[d.pos]; {
	case c == '0':
		d.pos++
	case c >= '1' && c <= '9':
		for d.pos < len(data) && data[d.pos] >= '0' && data[d.pos] <= '9' {
			d.pos++
		}
	default:
		return d.errorf("invalid character %s in numeric literal", quoteChar(c))
	}
	if d.pos < len(data) && data[d.pos] == '.' {
		d.pos++
		if err := d.digits(); err != nil {
			return err
		}
	}
	if d.pos < len(data) && (data[d.pos] == 'e' || data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(data) && (data[d.pos] == '+' || data[d.pos] == '-') {
			d.pos++
		}
		if err := d.digits(); err != nil {
			return err
		}
	}
	return nil
}

// digits scans one or more decimal digits.
func (d *decoder) digits() error {
	if d.pos >= len(d.data) {
		return d.eof()
	}
	if c := d.data[d.pos]; c < '0' || c > '9' {
		return d.errorf("invalid character %s in numeric literal", quoteChar(c))
	}
	for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
		d.pos++
	}
	return nil
}

// str decodes the string value at d.pos ('"').
func (d *decoder) str() (any, error) {
	s, err := d.key()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// key decodes the string at d.pos ('"'), returning common finding keys
// interned, which saves most key allocations.
func (d *decoder) key() (string, error) {
	start := d.pos + 1
	end, plain, err := d.scanString()
	if err != nil {
		return "", err
	}
	raw := d.data[start:end]
	if !plain {
		d.buf = unquoteInto(d.buf[:0], raw)
		return string(d.buf), nil
	}
	if s, ok := internedKeys[string(raw)]; ok {
		return s, nil
	}
	// The string shares the input's memory instead of copying it: input
	// bytes are never modified once decoded (the finding keeps them as
	// Raw), so the string is as immutable as Go requires. This halves the
	// allocations of a decode.
	return unsafe.String(unsafe.SliceData(raw), len(raw)), nil
}

// scanString finds the end of the string starting at d.pos, checking its
// escapes, and leaves d.pos after the closing quote. It returns the index
// of the closing quote and whether the contents can be used as they are
// (no escapes, valid UTF-8).
func (d *decoder) scanString() (end int, plain bool, err error) {
	data := d.data
	i := d.pos + 1
	plain = true
	for {
		// Fast path over plain ASCII.
		for i < len(data) {
			c := data[i]
			if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				break
			}
			i++
		}
		if i >= len(data) {
			d.pos = len(data)
			return 0, false, d.eof()
		}
		switch c := data[i]; {
		case c == '"':
			d.pos = i + 1
			return i, plain, nil
		case c == '\\':
			plain = false
			i++
			if i >= len(data) {
				d.pos = len(data)
				return 0, false, d.eof()
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for j := 0; j < 4; j++ {
					if i >= len(data) {
						d.pos = len(data)
						return 0, false, d.eof()
					}
					if !isHex(data[i]) {
						d.pos = i
						return 0, false, d.errorf("invalid character %s in \\u hexadecimal character escape", quoteChar(data[i]))
					}
					i++
				}
			default:
				d.pos = i
				return 0, false, d.errorf("invalid character %s in string escape code", quoteChar(data[i]))
			}
		case c < 0x20:
			d.pos = i
			return 0, false, d.errorf("invalid character %s in string literal", quoteChar(c))
		default: // non-ASCII
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				plain = false
			}
			i += size
		}
	}
}

// unquoteInto appends the unescaped contents of a scanned string (without
// quotes) to dst, as encoding/json does: invalid UTF-8 and unpaired
// surrogates become U+FFFD.
func unquoteInto(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			esc := s[i+1]
			i += 2
			switch esc {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(s[i:])
				i += 4
				if utf16.IsSurrogate(r) {
					// A surrogate pair is two escapes; anything else
					// leaves the first half unpaired.
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, hex4(s[i+2:])); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
			default: // '"', '\\', '/'
				dst = append(dst, esc)
			}
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
		}
	}
	return dst
}

// hex4 decodes four hex digits (already checked by scanString).
func hex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// skip checks the value at d.pos without building it and leaves d.pos after
// it: SplitRecords uses it to find record boundaries and report syntax
// errors with their position, before any record is decoded.
func (d *decoder) skip() error {
	if d.pos >= len(d.data) {
		return d.eof()
	}
	switch c := d.data[d.pos]; c {
	case '{', '[':
		if d.depth++; d.depth > maxDepth || (d.limit > 0 && d.depth > d.limit) {
			return &syntaxError{msg: "exceeded max depth", Offset: d.pos, tooDeep: true}
		}
		isObj := c == '{'
		closing := byte(']')
		if isObj {
			closing = '}'
		}
		d.pos++
		d.skipSpace()
		if d.pos < len(d.data) && d.data[d.pos] == closing {
			d.pos++
			d.depth--
			return nil
		}
		for {
			if isObj {
				if d.pos >= len(d.data) {
					return d.eof()
				}
				if d.data[d.pos] != '"' {
					return d.errorf("invalid character %s looking for beginning of object key string", quoteChar(d.data[d.pos]))
				}
				if _, _, err := d.scanString(); err != nil {
					return err
				}
				d.skipSpace()
				if d.pos >= len(d.data) {
					return d.eof()
				}
				if d.data[d.pos] != ':' {
					return d.errorf("invalid character %s after object key", quoteChar(d.data[d.pos]))
				}
				d.pos++
				d.skipSpace()
			}
			if err := d.skip(); err != nil {
				return err
			}
			d.skipSpace()
			if d.pos >= len(d.data) {
				return d.eof()
			}
			switch d.data[d.pos] {
			case ',':
				d.pos++
				d.skipSpace()
			case closing:
				d.pos++
				d.depth--
				return nil
			default:
				if isObj {
					return d.errorf("invalid character %s after object key:value pair", quoteChar(d.data[d.pos]))
				}
				return d.errorf("invalid character %s after array element", quoteChar(d.data[d.pos]))
			}
		}
	case '"':
		_, _, err := d.scanString()
		return err
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return d.number()
		}
		return d.errorf("invalid character %s looking for beginning of value", quoteChar(c))
	}
}

// compactJSON returns the valid JSON value data without the whitespace
// outside strings; every token stays byte for byte as it was. Data holding
// no line break is returned as it is: NDJSON lines, the common case, cost
// nothing, and an occasional `{"a": 1}` keeps its spaces.
func compactJSON(data []byte) []byte {
	if !hasLineBreak(data) {
		return data
	}
	// Copy runs rather than bytes: strings up to their closing quote (past
	// escapes), and the structure between whitespace.
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); {
		switch c := data[i]; c {
		case ' ', '\t', '\n', '\r':
			i++
		case '"':
			j := i + 1
			for j < len(data) {
				k := bytes.IndexAny(data[j:], `"\`)
				if k < 0 {
					j = len(data)
					break
				}
				j += k
				if data[j] == '"' {
					j++
					break
				}
				j += 2 // a backslash and the byte it escapes
			}
			j = min(j, len(data))
			out = append(out, data[i:j]...)
			i = j
		default:
			j := i + 1
			for j < len(data) {
				if c := data[j]; c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' {
					break
				}
				j++
			}
			out = append(out, data[i:j]...)
			i = j
		}
	}
	return out
}

func hasLineBreak(data []byte) bool {
	return bytes.IndexByte(data, '\n') >= 0 || bytes.IndexByte(data, '\r') >= 0
}

// quoteChar formats c as encoding/json does in its error messages.
func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}
