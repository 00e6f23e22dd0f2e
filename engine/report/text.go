package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/cordonhq/cordon/internal/ui"
)

// Bounds on the text a report carries from facts. A process's cmdline or a
// user agent is attacker-controlled and can be megabytes long; the full
// value stays in state, the report shows enough to read it.
const (
	maxTitle  = 300
	maxDetail = 2000
)

// clean makes attacker-controlled text safe to show anywhere: it is cut
// to max runes with an ellipsis, and ui.Safe turns invalid UTF-8, control
// characters (terminal escapes, NULs, line breaks that would forge report
// lines), bidi overrides and invisible characters into visible escapes
// like \x1b, \n and \u202e.
func clean(s string, max int) string {
	if len(s) <= max {
		return ui.Safe(s)
	}
	end, n := 0, 0
	for end < len(s) && n < max {
		_, size := utf8.DecodeRuneInString(s[end:])
		end += size
		n++
	}
	if end == len(s) {
		return ui.Safe(s)
	}
	return ui.Safe(s[:end]) + "…"
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
