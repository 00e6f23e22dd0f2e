package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// splitWhole splits data held whole, as SplitRecords does, within lim.
func splitWhole(name string, data []byte, lim Limits) ([]Record, error) {
	s := newSplitter(name, nil, lim)
	s.buf, s.eof = data, true
	return drain(s)
}

// splitStream splits what r reads, asking for at least minRead bytes at a
// time, so that records and tokens straddle reads.
func splitStream(name string, r io.Reader, lim Limits, minRead int) ([]Record, error) {
	s := newSplitter(name, r, lim)
	s.minRead = minRead
	return drain(s)
}

func drain(s *Splitter) ([]Record, error) {
	var recs []Record
	for {
		rec, err := s.Next()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// sameSplit reports how two splits of one input differ, if they do.
func sameSplit(wantRecs []Record, wantErr error, gotRecs []Record, gotErr error) string {
	if errString(gotErr) != errString(wantErr) {
		return fmt.Sprintf("error %q, want %q", errString(gotErr), errString(wantErr))
	}
	if wantErr != nil {
		// SplitRecords returns no records with an error; a stream returns
		// those before it, which must be a prefix of the whole split's.
		return ""
	}
	if len(gotRecs) != len(wantRecs) {
		return fmt.Sprintf("%d records, want %d", len(gotRecs), len(wantRecs))
	}
	for i := range gotRecs {
		g, w := gotRecs[i], wantRecs[i]
		if g.Index != w.Index || g.Line != w.Line || g.Column != w.Column || !bytes.Equal(g.Raw, w.Raw) || errString(g.Err) != errString(w.Err) {
			return fmt.Sprintf("record %d = {%d %d:%d %.60q %v}, want {%d %d:%d %.60q %v}", i, g.Index, g.Line, g.Column, g.Raw, g.Err, w.Index, w.Line, w.Column, w.Raw, w.Err)
		}
	}
	return ""
}

// nested returns an object nested depth levels deep: {"a":{"a":…1…}}.
func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}

// splitCorpus is inputs whose stream split must equal their whole split:
// every shape, bound and error the splitter knows.
func splitCorpus(t testing.TB) map[string][]byte {
	corpus := map[string][]byte{}
	entries, err := os.ReadDir(findingsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(findingsDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		corpus[e.Name()] = data
	}
	big := `{"a":"` + strings.Repeat("x", 100) + `"}`
	for name, s := range map[string]string{
		"NDJSON":                 gdCamel + "\n" + asffMin + "\r\n\n  " + ocsfMin + "\n",
		"array":                  "[\n " + gdCamel + ",\n " + asffMin + "\n]\n",
		"arrays":                 "[1,2]\n[]\n[3]\n{}",
		"BOM":                    "\xef\xbb\xbf\n" + gdCamel,
		"BOM only":               "\xef\xbb\xbf",
		"empty":                  "",
		"whitespace":             " \n\t\r\n",
		"scalars":                `1 -2.5e3 "s" true false null 12345678901234567890`,
		"list object":            `{"ResponseMetadata":{"r":[1,2]},"Findings":[` + gdCamel + `,` + asffMin + `],"NextToken":"t"}` + "\n" + gdCamel,
		"list object then more":  `{"Findings":[1,2],"other":true}` + "\n" + `{"findings":[3]}`,
		"list object twice":      `{"Findings":[1],"findings":[2]}`,
		"not a list object":      `{"Findings":{"a":[1]}} {"x":1,"Findings":[1]}`,
		"deep among good":        "{\"a\":1}\n" + nested(150) + "\n{\"b\":2}\n[" + nested(120) + ",{\"c\":3}]",
		"large among good":       "{\"a\":1}\n" + big + "\n" + `"` + strings.Repeat("y", 100) + `"` + "\n" + strings.Repeat("7", 100) + "\n[" + big + ",1]",
		"large list element":     `{"Findings":[1,` + big + `,2],"NextToken":"t"}`,
		"syntax error":           "{\"a\":1}\n{\"b\" 2}\n",
		"syntax error in array":  "[\n {\"a\":1},\n {\"a\": tru }\n]",
		"missing comma":          `[{"a":1} {"b":2}]`,
		"trailing comma":         `[1,]`,
		"truncated array":        "[\n" + gdCamel + ",\n" + gdCamel[:100],
		"truncated after comma":  "[" + gdCamel + ",",
		"truncated after value":  "[" + gdCamel,
		"truncated object":       `{"a": {"b": 1}`,
		"truncated number":       `[1.`,
		"truncated list object":  `{"Findings":[1,2],"NextToken":"t"`,
		"truncated large record": "1\n" + big[:90],
		"bad tail":               `{"Findings":[1] "x":1}`,
		"stray bracket":          "{}\n]",
	} {
		corpus[name] = []byte(s)
	}
	return corpus
}

// TestSplitterStreamsAsWhole checks a file read from a stream, in reads of
// every size, splits exactly as the file held whole: the same records at
// the same positions, the same rejections and errors.
func TestSplitterStreamsAsWhole(t *testing.T) {
	limits := map[string]Limits{
		"default": DefaultLimits(),
		"small":   {MaxDepth: 5, MaxRecordBytes: 80, MaxRecords: 6},
	}
	readers := map[string]func([]byte) io.Reader{
		"bytes":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"half":     func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
		"data EOF": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
	}
	for name, data := range splitCorpus(t) {
		for lname, lim := range limits {
			wantRecs, wantErr := splitWhole(name, data, lim)
			for rname, reader := range readers {
				for _, minRead := range []int{1, 2, 3, 7, 64, readSize} {
					gotRecs, gotErr := splitStream(name, reader(data), lim, minRead)
					if diff := sameSplit(wantRecs, wantErr, gotRecs, gotErr); diff != "" {
						t.Errorf("%s, %s limits, %s reader, reads of %d: %s", name, lname, rname, minRead, diff)
					}
				}
			}
		}
	}
}

// TestSplitterBounds checks each bound rejects the record past it, with an
// error naming the file, record, position and bound, and that the records
// around it are read.
func TestSplitterBounds(t *testing.T) {
	bigString := `{"a":"` + strings.Repeat("x", 2<<20) + `"}`
	tests := []struct {
		name    string
		in      string
		lim     Limits
		want    []string // Raw of each record; "!substring" for a rejected one
		wantErr string   // the rejection's whole error, when checked
	}{
		{
			name:    "9,998 deep among good ones",
			in:      "{\"a\":1}\n" + nested(9998) + "\n{\"b\":2}\n",
			want:    []string{`{"a":1}`, "!nests deeper than 100 levels", `{"b":2}`},
			wantErr: "in.ndjson:2:1: record 2: the record nests deeper than 100 levels, the bound on one finding record (published findings nest about 10); it is not read",
		},
		{
			name: "deep element of an array",
			in:   "[{\"a\":1},\n " + nested(101) + ",\n{\"b\":2}]",
			want: []string{`{"a":1}`, "!nests deeper than 100 levels", `{"b":2}`},
		},
		{
			name: "at the depth bound",
			in:   nested(100),
			want: []string{nested(100)},
		},
		{
			name:    "2 MiB record",
			in:      "{\"a\":1}\n" + bigString + "\n{\"b\":2}",
			want:    []string{`{"a":1}`, "!the record is 2.0 MiB", `{"b":2}`},
			wantErr: "in.ndjson:2:1: record 2: the record is 2.0 MiB, over the bound of 1.0 MiB on one finding record; it is not read",
		},
		{
			name: "large string and number",
			in:   `"` + strings.Repeat("s", 300) + "\" 1 " + strings.Repeat("9", 300) + " 2",
			lim:  Limits{MaxRecordBytes: 256},
			want: []string{"!the record is 302 bytes, over the bound of 256 bytes", "1", "!the record is 300 bytes", "2"},
		},
		{
			name: "large element of a list object",
			in:   `{"Findings":[1,` + bigString + `,2],"NextToken":"t"}`,
			want: []string{"1", "!the record is 2.0 MiB", "2"},
		},
		{
			name:    "more records than the bound",
			in:      "1\n2\n3\n4\n5\n",
			lim:     Limits{MaxRecords: 3},
			want:    []string{"1", "2", "3", "!more than 3 records"},
			wantErr: "in.ndjson:4:1: record 4: the file has more than 3 records, the bound on one findings file; this record and those after it are not read (split the file)",
		},
		{
			name: "as many records as the bound",
			in:   "[1,2,3]",
			lim:  Limits{MaxRecords: 3},
			want: []string{"1", "2", "3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, streamed := range []bool{false, true} {
				var (
					recs []Record
					err  error
				)
				if streamed {
					recs, err = splitStream("in.ndjson", iotest.HalfReader(strings.NewReader(tt.in)), tt.lim, 4<<10)
				} else {
					recs, err = splitWhole("in.ndjson", []byte(tt.in), tt.lim)
				}
				if err != nil {
					t.Fatalf("streamed %v: %v", streamed, err)
				}
				if len(recs) != len(tt.want) {
					t.Fatalf("streamed %v: %d records, want %d", streamed, len(recs), len(tt.want))
				}
				for i, w := range tt.want {
					rec := recs[i]
					if rest, rejected := strings.CutPrefix(w, "!"); rejected {
						var pe *ParseError
						if !errors.As(rec.Err, &pe) || pe.File != "in.ndjson" || pe.Record != i+1 || pe.Line == 0 || !strings.Contains(pe.Reason, rest) || rec.Raw != nil {
							t.Errorf("streamed %v: record %d: err %v, raw %.20q; want a rejection saying %q", streamed, i+1, rec.Err, rec.Raw, rest)
						}
						if _, perr := ParseRecord("in.ndjson", rec); perr != rec.Err {
							t.Errorf("ParseRecord of a rejected record: %v, want its Err", perr)
						}
						if tt.wantErr != "" && rec.Err.Error() != tt.wantErr {
							t.Errorf("streamed %v: error\n %s\nwant\n %s", streamed, rec.Err, tt.wantErr)
						}
						continue
					}
					if rec.Err != nil || string(rec.Raw) != w {
						t.Errorf("streamed %v: record %d = %.40q, %v; want %.40q", streamed, i+1, rec.Raw, rec.Err, w)
					}
				}
			}
		})
	}
}

// endless reads NDJSON records forever, counting what it gave.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	const line = "{\"id\":\"x\"}\n"
	i := 0
	for ; i < len(p); i++ {
		p[i] = line[(e.n+int64(i))%int64(len(line))]
	}
	e.n += int64(i)
	return i, nil
}

// TestSplitterStopsAtRecordBound checks a file past the record bound is
// not read further: an endless stream ends at the bound.
func TestSplitterStopsAtRecordBound(t *testing.T) {
	r := &endless{}
	recs, err := splitStream("endless.ndjson", r, Limits{MaxRecords: 1000}, readSize)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1001 || recs[999].Err != nil || recs[1000].Err == nil {
		t.Fatalf("%d records; the last: %v", len(recs), recs[len(recs)-1].Err)
	}
	if got, want := recs[1000].Err.Error(), "endless.ndjson:1001:1: record 1001: the file has more than 1000 records"; !strings.HasPrefix(got, want) {
		t.Errorf("error %q, want it to start %q", got, want)
	}
	if r.n > 2*readSize {
		t.Errorf("read %d bytes of an endless file for 1,001 records", r.n)
	}
}

// TestSplitterListObject checks a {"Findings": […]} list larger than a
// record is split as it is read, and what may follow its list.
func TestSplitterListObject(t *testing.T) {
	lim := Limits{MaxRecordBytes: 64}
	elems := strings.Repeat(`{"id":"abcdefgh"},`, 20) + `{"id":"last"}`
	tests := []struct {
		name    string
		in      string
		records int
		wantErr string
	}{
		{"list with paging", `{"NextToken":"a","Findings":[` + elems + `],"NextToken":"b","ResponseMetadata":{}}`, 21, ""},
		{"list with another member", `{"Findings":[` + elems + `],"Other":1}`, 0,
			`in.json:1:389: the list of findings opened at line 1, column 1 is larger than the bound on one record (64 bytes), so it must hold only Findings, NextToken and ResponseMetadata; it also has "Other"`},
		{"list with a second list", `{"Findings":[` + elems + `],"findings":[]}`, 0, `it also has "findings"`},
		{"large member after the list", `{"Findings":[1],"NextToken":"` + strings.Repeat("t", 100) + `"}`, 0,
			"in.json:1:16: a member of the list of findings is larger than the bound on one record (64 bytes)"},
		{"unclosed", `{"Findings":[` + elems + `]`, 0, "truncated file: unexpected end of file; the object opened at line 1, column 1 is not closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := splitStream("in.json", iotest.OneByteReader(strings.NewReader(tt.in)), lim, 8)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tt.records {
				t.Fatalf("%d records, want %d", len(recs), tt.records)
			}
			for _, r := range recs {
				if r.Err != nil {
					t.Errorf("record %d: %v", r.Index+1, r.Err)
				}
			}
		})
	}
}

// TestSplitterReadError checks a failing read ends the file with an error
// naming it, after the records read before it.
func TestSplitterReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("{\"a\":1}\n{\"b\":"), iotest.ErrReader(boom))
	recs, err := splitStream("f.ndjson", r, Limits{}, 4)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "reading f.ndjson") {
		t.Errorf("error %v", err)
	}
	if len(recs) != 1 || string(recs[0].Raw) != `{"a":1}` {
		t.Errorf("records before the error: %+v", recs)
	}
}

// TestSplitterLargeStream checks a large NDJSON stream, with findings of
// every format, splits and parses as the whole file does.
func TestSplitterLargeStream(t *testing.T) {
	var b bytes.Buffer
	for i := range 5000 {
		fmt.Fprintf(&b, "%s\n", strings.Replace([]string{gdCamel, asffMin, ocsfMin}[i%3], `"t"`, fmt.Sprintf(`"t%d"`, i), 1))
	}
	data := b.Bytes()
	want, err := SplitRecords("big.ndjson", data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := splitStream("big.ndjson", iotest.HalfReader(bytes.NewReader(data)), DefaultLimits(), readSize)
	if diff := sameSplit(want, nil, got, err); diff != "" {
		t.Fatal(diff)
	}
	for i := range got {
		if _, err := ParseRecord("big.ndjson", got[i]); err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
	}
}

// FuzzSplitter checks a stream splits as the whole input does whatever the
// input and the size of reads, and that every record it accepts is one
// JSON value.
func FuzzSplitter(f *testing.F) {
	for _, data := range splitCorpus(f) {
		f.Add(data, uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		lim := Limits{MaxDepth: 8, MaxRecordBytes: 200, MaxRecords: 50}
		wantRecs, wantErr := splitWhole("fuzz.json", data, lim)
		if wantErr != nil {
			var pe *ParseError
			if !errors.As(wantErr, &pe) || pe.File != "fuzz.json" || pe.Reason == "" {
				t.Fatalf("error %T %v is not a complete *ParseError", wantErr, wantErr)
			}
		}
		for i, rec := range wantRecs {
			if rec.Index != i || rec.Line < 1 || rec.Column < 1 {
				t.Fatalf("record %d at index %d, %d:%d", i, rec.Index, rec.Line, rec.Column)
			}
			if rec.Err != nil {
				continue
			}
			if len(rec.Raw) > lim.MaxRecordBytes {
				t.Fatalf("record %d of %d bytes passed the bound", i+1, len(rec.Raw))
			}
			if _, err := decodeJSON(rec.Raw); err != nil {
				t.Fatalf("record %d %q is not JSON: %v", i+1, rec.Raw, err)
			}
		}
		var r io.Reader = bytes.NewReader(data)
		if chunk%2 == 0 {
			r = iotest.OneByteReader(r)
		}
		gotRecs, gotErr := splitStream("fuzz.json", r, lim, int(chunk%16)+1)
		if diff := sameSplit(wantRecs, wantErr, gotRecs, gotErr); diff != "" {
			t.Fatal(diff)
		}
	})
}

// BenchmarkSplitterStream splits 10,000 GuardDuty findings of NDJSON from
// a reader: its bytes/op are the splitter's memory, a small multiple of
// the input's size because each record is its own copy, and no more
// than that held at once.
func BenchmarkSplitterStream(b *testing.B) {
	var buf bytes.Buffer
	for range 10000 {
		buf.WriteString(gdCamel)
		buf.WriteByte('\n')
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s := NewSplitter("bench.ndjson", bytes.NewReader(data), Limits{})
		n := 0
		for {
			_, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 10000 {
			b.Fatalf("%d records", n)
		}
	}
}
