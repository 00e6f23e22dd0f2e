package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Bounds on the text a report carries from facts. A process's cmdline or a
// user agent is attacker-controlled and can be megabytes long; the full
// value stays in state, the report shows enough to read it.
const (
	maxTitle  = 300
	maxDetail = 2000
)

// clean makes attacker-controlled text safe to show anywhere: invalid
// UTF-8 becomes U+FFFD, control characters (terminal escapes, NULs, line
// breaks that would forge report lines) become visible escapes like \x1b
// and \n, and the text is cut to max runes with an ellipsis.
func clean(s string, max int) string {
	if s == "" {
		return ""
	}
	if len(s) <= max && printableASCII(s) {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if n >= max {
			b.WriteString("…")
			break
		}
		n++
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		case r == '\u2028' || r == '\u2029' || r == '\u202e' || r == '\u202d':
			// Line separators and bidi overrides disguise text.
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// printableASCII reports whether s is printable ASCII only, which clean
// returns as it is.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// Field is one named detail of a timeline entry.
type Field struct {
	Name  string
	Value string
}

// Fields are an entry's details in the order they read best. Their JSON
// is an object whose keys keep that order.
type Fields []Field

// MarshalJSON writes the fields as one JSON object, in order.
func (fs Fields) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Name)
		v, _ := json.Marshal(f.Value)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object of string values, keeping its key order.
func (fs *Fields) UnmarshalJSON(data []byte) error {
	d := json.NewDecoder(bytes.NewReader(data))
	t, err := d.Token()
	if err != nil {
		return err
	}
	if t != json.Delim('{') {
		return fmt.Errorf("details: expected an object")
	}
	*fs = (*fs)[:0]
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return err
		}
		var v string
		if err := d.Decode(&v); err != nil {
			return fmt.Errorf("details.%v: %w", k, err)
		}
		*fs = append(*fs, Field{Name: k.(string), Value: v})
	}
	_, err = d.Token()
	return err
}

// fieldList builds Fields, skipping empty values so an entry lists only
// what its source had.
type fieldList Fields

func (l *fieldList) add(name, value string) {
	if value != "" {
		*l = append(*l, Field{Name: name, Value: clean(value, maxDetail)})
	}
}

func (l *fieldList) addInt(name string, v int64) {
	if v != 0 {
		*l = append(*l, Field{Name: name, Value: fmt.Sprint(v)})
	}
}
