package schema

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Record is one top-level JSON value of an input file: an element of a JSON
// array, one NDJSON line, or the whole file. Not yet decoded.
type Record struct {
	Index int // position in the file, from 0
	Line  int // line of the record's first byte, from 1 (0: unknown)
	// Column is the column (byte in its line, from 1) of the record's first
	// byte; 0 when unknown.
	Column int
	// Raw is the record's JSON, a sub-slice of the file's bytes.
	Raw []byte
}

// ParseError is a findings file that cannot be read as findings, with the
// position of the problem as far as it is known.
type ParseError struct {
	File   string
	Line   int // from 1; 0 when unknown
	Column int // from 1; 0 when unknown
	Record int // the record's Index + 1; 0 when not about one record
	Reason string
}

// Error formats the error as "f.json:3:7: record 2: reason", leaving out
// the parts that are unknown.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	if e.Record > 0 {
		fmt.Fprintf(&b, ": record %d", e.Record)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// SplitRecords splits a findings file into records without normalizing
// them, so the engine can parse records concurrently. The file is NDJSON
// (or any whitespace-separated sequence of JSON values), a JSON array, or a
// single JSON value: a file that is one array has its elements as records,
// and so has a file that is one {"Findings": […]} list (a GetFindings
// response, a BatchImportFindings body); any other file has its top-level
// values as records.
//
// Records are checked for JSON syntax here, so a syntax error names its
// line and column in the file, but not decoded. Raw of each record is a
// sub-slice of data. Errors (empty file, invalid JSON, truncated file) are
// *ParseError.
func SplitRecords(name string, data []byte) ([]Record, error) {
	s := splitter{name: name, data: data, line: 1}
	d := &s.d
	d.data = data
	if bytes.HasPrefix(data, utf8BOM) {
		d.pos = len(utf8BOM)
		s.lineStart = d.pos
	}
	d.skipSpace()
	if d.pos == len(data) {
		reason := "empty file: no findings"
		if len(data) > 0 {
			reason = "file holds only whitespace: no findings"
		}
		return nil, &ParseError{File: name, Reason: reason}
	}

	var (
		records  []Record
		elements []Record // the first value's elements when it is an array
		isArray  bool
		first    = d.pos // offset of the first value
	)
	for d.pos < len(data) {
		start := d.pos
		rec := s.record(len(records), start) // positions are counted in order
		if len(records) == 0 && data[start] == '[' {
			var err error
			if elements, err = s.splitArray(); err != nil {
				return nil, err
			}
			isArray = true
		} else if err := d.skip(); err != nil {
			return nil, s.syntaxErr(err, len(records), start)
		}
		rec.Raw = data[start:d.pos]
		records = append(records, rec)
		d.skipSpace()
	}
	if len(records) == 1 {
		if isArray {
			return elements, nil
		}
		if elems, ok, err := s.findingsList(first); ok || err != nil {
			return elems, err
		}
	}
	return records, nil
}

// listKeys are the members of a file that is a list of findings in an
// object: a BatchImportFindings body, a GetFindings response (boto3's
// PascalCase or the API's camelCase) with its paging and metadata.
var listKeys = map[string]bool{
	"Findings": true, "findings": true,
	"NextToken": true, "nextToken": true, "ResponseMetadata": true,
}

// findingsList splits a file that is one such list object (at offset
// start) into its findings, so that a large export is parsed in parallel
// and its errors are positioned like an array's. ok is false when the
// value is anything else (ParseRecord then reads it whole).
func (s *splitter) findingsList(start int) (elems []Record, ok bool, err error) {
	if s.data[start] != '{' {
		return nil, false, nil
	}
	d := decoder{data: s.data, pos: start + 1}
	list := -1
	for {
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			break
		}
		key, err := d.key()
		if err != nil || !listKeys[key] {
			return nil, false, nil
		}
		d.skipSpace()
		d.pos++ // ':'
		d.skipSpace()
		if key == "Findings" || key == "findings" {
			if list >= 0 || d.data[d.pos] != '[' {
				return nil, false, nil
			}
			list = d.pos
		}
		if d.skip() != nil {
			return nil, false, nil
		}
		d.skipSpace()
		if d.pos < len(d.data) && d.data[d.pos] == ',' {
			d.pos++
		}
	}
	if list < 0 {
		return nil, false, nil
	}
	s.d.pos = list
	elems, err = s.splitArray()
	return elems, true, err
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// splitter tracks lines while a file is split, counting each byte's line
// breaks once.
type splitter struct {
	name      string
	data      []byte
	d         decoder
	line      int // line of data[counted]
	counted   int // bytes before this offset have been counted
	lineStart int // offset of the first byte of the current line
}

// position returns the line and column of the byte at off, which must not
// be before the last position asked for.
func (s *splitter) position(off int) (line, col int) {
	chunk := s.data[s.counted:off]
	if n := bytes.Count(chunk, newline); n > 0 {
		s.line += n
		s.lineStart = s.counted + bytes.LastIndexByte(chunk, '\n') + 1
	}
	s.counted = off
	return s.line, off - s.lineStart + 1
}

var newline = []byte{'\n'}

// record returns the record at index starting at offset start, without
// its Raw yet.
func (s *splitter) record(index, start int) Record {
	line, col := s.position(start)
	return Record{Index: index, Line: line, Column: col}
}

// splitArray splits the array at d.pos into element records, checking
// their syntax, and leaves d.pos after the array.
func (s *splitter) splitArray() ([]Record, error) {
	d := &s.d
	open := d.pos
	d.pos++
	d.skipSpace()
	var elems []Record
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return elems, nil
	}
	for {
		start := d.pos
		rec := s.record(len(elems), start)
		if err := d.skip(); err != nil {
			return nil, s.arrayErr(err, len(elems), start, open)
		}
		rec.Raw = d.data[start:d.pos]
		elems = append(elems, rec)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, s.arrayErr(d.eof(), len(elems), d.pos, open)
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.skipSpace()
		case ']':
			d.pos++
			return elems, nil
		default:
			err := d.errorf("invalid character %s after array element", quoteChar(d.data[d.pos]))
			return nil, s.arrayErr(err, len(elems)-1, start, open)
		}
	}
}

// arrayErr reports err met in element index (starting at offset start) of
// the array opened at offset open; an end of input there means the file is
// truncated.
func (s *splitter) arrayErr(err error, index, start, open int) error {
	var se *syntaxError
	if errors.As(err, &se) && se.Offset >= len(s.data) {
		line, col := lineCol(s.data, len(s.data))
		ol, oc := lineCol(s.data, open)
		pe := &ParseError{File: s.name, Line: line, Column: col,
			Reason: fmt.Sprintf("truncated file: unexpected end of file; the array opened at line %d, column %d is not closed", ol, oc)}
		if start < len(s.data) {
			pe.Record = index + 1
		}
		return pe
	}
	return s.syntaxErr(err, index, start)
}

// syntaxErr turns a syntax error in the record at index (starting at
// offset start) into a ParseError at the offending byte. Errors are rare,
// so positions are computed from scratch.
func (s *splitter) syntaxErr(err error, index, start int) error {
	var se *syntaxError
	if !errors.As(err, &se) {
		return &ParseError{File: s.name, Record: index + 1, Reason: err.Error()}
	}
	line, col := lineCol(s.data, se.Offset)
	if se.Offset >= len(s.data) {
		sl, sc := lineCol(s.data, start)
		return &ParseError{File: s.name, Line: line, Column: col, Record: index + 1,
			Reason: fmt.Sprintf("truncated file: unexpected end of file in the value that starts at line %d, column %d", sl, sc)}
	}
	return &ParseError{File: s.name, Line: line, Column: col, Record: index + 1, Reason: "invalid JSON: " + se.msg}
}

// lineCol computes the line and column of offset off in data from scratch.
func lineCol(data []byte, off int) (line, col int) {
	off = min(off, len(data))
	line = 1 + bytes.Count(data[:off], newline)
	return line, off - (bytes.LastIndexByte(data[:off], '\n') + 1) + 1
}
