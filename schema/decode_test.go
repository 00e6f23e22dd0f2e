package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// stdDecode is what decodeJSON must match: encoding/json with UseNumber,
// rejecting anything after the value.
func stdDecode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("data after value")
	}
	if !json.Valid(data) {
		return nil, errors.New("invalid")
	}
	return v, nil
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    any
		wantErr string
	}{
		{`{"a":1,"b":[true,false,null],"c":"x"}`, map[string]any{"a": json.Number("1"), "b": []any{true, false, nil}, "c": "x"}, ""},
		{` [ ] `, []any{}, ""},
		{`{}`, map[string]any{}, ""},
		{`-0.5e+10`, json.Number("-0.5e+10"), ""},
		{`"\u00e9\ud83d\ude00\n\/\"\\"`, "é😀\n/\"\\", ""},
		{`"\ud83d x"`, "\ufffd x", ""},    // unpaired surrogate
		{`"\ud83d\u0041"`, "\ufffdA", ""}, // surrogate followed by a non-surrogate
		{"\"a\xffb\"", "a\ufffdb", ""},    // invalid UTF-8
		{`{"a":1,"a":2}`, map[string]any{"a": json.Number("2")}, ""},
		{`{"a":1,}`, nil, "invalid character '}' looking for beginning of object key string"},
		{`[1,]`, nil, "invalid character ']' looking for beginning of value"},
		{`{"a" 1}`, nil, "invalid character '1' after object key"},
		{`{"a":1 "b":2}`, nil, `invalid character '"' after object key:value pair`},
		{`[1 2]`, nil, "invalid character '2' after array element"},
		{`01`, nil, "invalid character '1' after top-level value"},
		{`1.`, nil, "unexpected end of JSON input"},
		{`-`, nil, "unexpected end of JSON input"},
		{`1.e5`, nil, "invalid character 'e' in numeric literal"},
		{`tru`, nil, "unexpected end of JSON input"},
		{`trux`, nil, "invalid character 'x' in literal true (expecting 'e')"},
		{`"a` + "\x01" + `"`, nil, `invalid character '\x01' in string literal`},
		{`"\x"`, nil, "invalid character 'x' in string escape code"},
		{`"\u12g4"`, nil, `invalid character 'g' in \u hexadecimal character escape`},
		{`{"a":[1,{"b":`, nil, "unexpected end of JSON input"},
		{``, nil, "unexpected end of JSON input"},
		{`{} {}`, nil, "invalid character '{' after top-level value"},
		{strings.Repeat("[", maxDepth+1), nil, "exceeded max depth"},
	}
	for _, tt := range tests {
		got, err := decodeJSON([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("decodeJSON(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("decodeJSON(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
}

// TestDecodeJSONMatchesEncodingJSON decodes every sample with both.
func TestDecodeJSONMatchesEncodingJSON(t *testing.T) {
	for _, file := range fixtureFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		checkDecodeMatches(t, data)
	}
}

func checkDecodeMatches(t *testing.T, data []byte) {
	t.Helper()
	want, werr := stdDecode(data)
	got, gerr := decodeJSON(data)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("decodeJSON(%q) error = %v, encoding/json error = %v", data, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeJSON(%q) = %#v, encoding/json = %#v", data, got, want)
	}
	// skip must agree with decode on validity and the value's end.
	d := decoder{data: data}
	d.skipSpace()
	serr := d.skip()
	if serr == nil {
		d.skipSpace()
		if d.pos != len(data) {
			serr = errors.New("data after value")
		}
	}
	if (serr == nil) != (gerr == nil) {
		t.Fatalf("skip(%q) error = %v, decode error = %v", data, serr, gerr)
	}
	if gerr == nil {
		c := compactJSON(data)
		var buf bytes.Buffer
		json.Compact(&buf, data)
		if hasLineBreak(data) && !bytes.Equal(c, buf.Bytes()) {
			t.Fatalf("compactJSON(%q) = %q, want %q", data, c, buf.Bytes())
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-3,"x\u00e9"],"b":{"c":null}}`, `"\ud800\udc00"`, "[\n true ,\tfalse]", `-0`, `{"a":1,"a":{}}`} {
		f.Add([]byte(s))
	}
	files, _ := os.ReadDir(findingsDir)
	for _, e := range files {
		if data, err := os.ReadFile(findingsDir + "/" + e.Name()); err == nil && strings.HasSuffix(e.Name(), ".json") {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeMatches(t, data)
	})
}
