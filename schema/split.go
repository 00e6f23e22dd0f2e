package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Record is one finding record of an input file: an element of a
// top-level JSON array or {"Findings": […]} list, or another top-level
// value (one NDJSON line, or the whole file). Not yet decoded.
type Record struct {
	Index int // position in the file, from 0
	Line  int // line of the record's first byte, from 1 (0: unknown)
	// Column is the column (byte in its line, from 1) of the record's first
	// byte; 0 when unknown.
	Column int
	// Raw is the record's JSON: a sub-slice of the file's bytes when they
	// were split whole, the record's own copy when read from a stream.
	Raw []byte
	// Err, when set, is why the record is not read: it passes one of the
	// Limits. It is a *ParseError naming the file, record, position and
	// bound; Raw is then nil. ParseRecord returns it.
	Err error
}

// Limits bound one findings file. A record past MaxDepth or
// MaxRecordBytes is rejected alone (Record.Err) and the records around it
// are read; records past MaxRecords are not read. They keep one hostile
// record from exhausting memory, or from nesting so deep that a plan file
// holding it cannot be read back (encoding/json stops at 10,000 levels).
// A zero field means its default.
type Limits struct {
	// MaxDepth bounds how deeply the objects and arrays of one record
	// nest; the record itself is level 1.
	MaxDepth int
	// MaxRecordBytes bounds the size of one record.
	MaxRecordBytes int
	// MaxRecords bounds the records of one file.
	MaxRecords int
}

// The default Limits. The published findings cordon reads nest at most 9
// levels deep and weigh a few KiB (GuardDuty's largest tens of KiB), so
// the bounds leave an order of magnitude of headroom and more.
const (
	DefaultMaxDepth       = 100
	DefaultMaxRecordBytes = 1 << 20
	DefaultMaxRecords     = 1_000_000
)

// DefaultLimits returns the default bounds.
func DefaultLimits() Limits {
	return Limits{MaxDepth: DefaultMaxDepth, MaxRecordBytes: DefaultMaxRecordBytes, MaxRecords: DefaultMaxRecords}
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if l.MaxRecords <= 0 {
		l.MaxRecords = DefaultMaxRecords
	}
	return l
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

// SplitRecords splits a whole findings file into records with the default
// Limits, as a Splitter does a stream; Raw of each record is a sub-slice
// of data. A file error (empty file, invalid JSON, truncated file) is a
// *ParseError; a record past a bound is returned with its Err set.
func SplitRecords(name string, data []byte) ([]Record, error) {
	s := newSplitter(name, nil, DefaultLimits())
	s.buf, s.eof = data, true
	var recs []Record
	for {
		rec, err := s.Next()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
}

// Splitter splits a findings file into records as it reads it, without
// normalizing them, so the engine can parse records concurrently and a
// file of any size is read in bounded memory: a record (at most
// MaxRecordBytes) and a read buffer.
//
// The file is NDJSON (or any whitespace-separated sequence of JSON
// values), a JSON array, or a single JSON value. The elements of a
// top-level array are records, and so are those of a top-level
// {"Findings": […]} list (a GetFindings response, a BatchImportFindings
// body: an object of Findings, NextToken and ResponseMetadata); any other
// top-level value is one record.
//
// Records are checked for JSON syntax here, so a syntax error names its
// line and column in the file, but not decoded.
type Splitter struct {
	name string
	r    io.Reader // nil: buf is the whole input
	lim  Limits

	buf     []byte // input from offset base; buf[pos:] is not consumed yet
	base    int64
	pos     int
	eof     bool // buf holds the rest of the input
	minRead int  // the least a read asks for (tests make it small)

	// Line counting: bytes before counted have been counted; line is the
	// line of counted, lineStart the offset of its first byte.
	counted, lineStart int64
	line               int

	state      splitState
	values     int  // top-level values met
	index      int  // records met
	bomChecked bool // a byte order mark at the start was skipped
	first      bool // the array being split has no element yet
	// open is the array being split: its offset and position.
	openLine, openCol int
	obj               listObject

	ready []Record // records to return, in order, from head
	head  int
	err   error // the file's error, returned after ready
	done  bool
}

type splitState int

const (
	atTop      splitState = iota // between top-level values
	inArray                      // in a top-level array
	inList                       // in the list of a top-level {"Findings": […]}
	inListTail                   // in that object, after its list
)

// listObject is the top-level object whose list is being split. While it
// is no larger than a record may be (held), its records are pending: an
// object that turns out to have other members is one record after all,
// as ParseRecord reads it whole.
type listObject struct {
	start            int64
	line, col, index int
	held             bool
	pending          []Record
}

// NewSplitter returns a splitter reading the findings file name from r
// within lim (zero fields: the defaults).
func NewSplitter(name string, r io.Reader, lim Limits) *Splitter {
	return newSplitter(name, r, lim)
}

func newSplitter(name string, r io.Reader, lim Limits) *Splitter {
	return &Splitter{name: name, r: r, lim: lim.withDefaults(), line: 1, minRead: readSize}
}

// Next returns the next record, and io.EOF after the last. A file error
// (empty file, invalid JSON, truncated file, a read error) is returned
// once every record before it has been, and ends the file; errors about
// the file's content are *ParseError. A record past a bound has its Err
// set and splitting goes on, except past MaxRecords: that record is the
// last returned.
func (s *Splitter) Next() (Record, error) {
	for {
		if s.head < len(s.ready) {
			rec := s.ready[s.head]
			s.ready[s.head] = Record{}
			if s.head++; s.head == len(s.ready) {
				s.ready, s.head = s.ready[:0], 0
			}
			if rec.Index >= s.lim.MaxRecords {
				s.ready, s.head, s.err, s.done = nil, 0, nil, true
				rec.Raw = nil
				rec.Err = &ParseError{File: s.name, Line: rec.Line, Column: rec.Column, Record: rec.Index + 1,
					Reason: fmt.Sprintf("the file has more than %d records, the bound on one findings file; this record and those after it are not read (split the file)", s.lim.MaxRecords)}
			}
			return rec, nil
		}
		if s.err != nil {
			err := s.err
			s.err, s.done = nil, true
			return Record{}, err
		}
		if s.done {
			return Record{}, io.EOF
		}
		s.step()
	}
}

// step reads the file until it has a record, an error or the end.
func (s *Splitter) step() {
	if !s.bomChecked {
		if !s.skipBOM() {
			return
		}
	}
	c, ok := s.peek()
	if !ok {
		if s.err != nil {
			return
		}
		switch s.state {
		case atTop:
			if s.values == 0 {
				reason := "empty file: no findings"
				if s.abs(len(s.buf)) > 0 {
					reason = "file holds only whitespace: no findings"
				}
				s.err = &ParseError{File: s.name, Reason: reason}
			}
			s.done = true
		case inArray, inList:
			s.err = s.unclosed(s.openLine, s.openCol)
		case inListTail:
			s.err = s.unclosed(s.obj.line, s.obj.col)
		}
		return
	}
	switch s.state {
	case atTop:
		s.values++
		switch c {
		case '[':
			s.openArray(inArray)
		case '{':
			if !s.startList() {
				s.record(false)
			}
		default:
			s.record(false)
		}
	case inArray, inList:
		if s.first {
			s.first = false
			if c == ']' {
				s.pos++
				s.closeArray()
				return
			}
			s.record(true)
			return
		}
		switch c {
		case ',':
			s.pos++
			if _, ok := s.peek(); !ok {
				if s.err == nil {
					s.err = s.unclosed(s.openLine, s.openCol)
				}
				return
			}
			s.record(true)
		case ']':
			s.pos++
			s.closeArray()
		default:
			line, col := s.position(s.abs(s.pos))
			s.err = &ParseError{File: s.name, Line: line, Column: col, Record: s.index,
				Reason: "invalid JSON: invalid character " + quoteChar(c) + " after array element"}
		}
	case inListTail:
		s.listTail(c)
	}
}

// skipBOM skips a UTF-8 byte order mark at the start of the input. Columns
// on the first line count from after it.
func (s *Splitter) skipBOM() bool {
	for len(s.buf)-s.pos < len(utf8BOM) && !s.eof {
		if !s.fill() {
			return false
		}
	}
	if bytes.HasPrefix(s.buf[s.pos:], utf8BOM) {
		s.pos += len(utf8BOM)
		s.counted, s.lineStart = int64(len(utf8BOM)), int64(len(utf8BOM))
	}
	s.bomChecked = true
	return true
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// peek skips whitespace and returns the next byte; false at the end of the
// input or on a read error (s.err).
func (s *Splitter) peek() (byte, bool) {
	for {
		for s.pos < len(s.buf) {
			switch c := s.buf[s.pos]; c {
			case ' ', '\t', '\n', '\r':
				s.pos++
			default:
				return c, true
			}
		}
		if s.eof || !s.fill() {
			return 0, false
		}
	}
}

// openArray enters the array at s.pos, whose elements are records.
func (s *Splitter) openArray(state splitState) {
	s.openLine, s.openCol = s.position(s.abs(s.pos))
	s.pos++
	s.state, s.first = state, true
}

func (s *Splitter) closeArray() {
	if s.state == inList {
		s.state = inListTail
		return
	}
	s.state = atTop
}

// record splits the value at s.pos as the next record.
func (s *Splitter) record(inArray bool) {
	start := s.abs(s.pos)
	line, col := s.position(start)
	rec := Record{Index: s.index, Line: line, Column: col}
	s.index++
	raw, reason, err := s.scanValue()
	if err != nil {
		s.err = s.valueErr(err, rec, inArray)
		return
	}
	if reason != "" {
		rec.Err = &ParseError{File: s.name, Line: line, Column: col, Record: rec.Index + 1, Reason: reason}
	} else {
		rec.Raw = raw
	}
	if s.state == inList && s.holding() {
		// Raw stays a sub-slice of the buffer, which keeps the object.
		s.obj.pending = append(s.obj.pending, rec)
		return
	}
	rec.Raw = s.own(rec.Raw)
	s.ready = append(s.ready, rec)
}

// own returns raw as a record keeps it: the input's own bytes when the
// input is one slice, else a copy, as the buffer is reused.
func (s *Splitter) own(raw []byte) []byte {
	if s.r == nil || raw == nil {
		return raw
	}
	return bytes.Clone(raw)
}

// splitErr is a problem found while scanning, at an offset of the input.
type splitErr struct {
	msg       string
	off       int64
	truncated bool
}

func (e *splitErr) Error() string { return e.msg }

// scanValue finds the end of the JSON value at s.pos, reading more input
// as needed, checks its syntax and leaves s.pos after it. It returns the
// value's bytes (valid until the next read), or the reason it passes a
// bound (and is skipped), or a *splitErr.
//
// Only the first MaxRecordBytes+1 bytes of the value are checked, however
// much of it is buffered: so a value is judged the same read whole or in
// pieces. It is scanned from its start again after each read, and reads at
// least double what is buffered of it, so that costs linear time.
func (s *Splitter) scanValue() (raw []byte, reason string, err error) {
	start := s.abs(s.pos)
	for {
		i := int(start - s.base)
		window := s.buf[i:min(len(s.buf), i+s.lim.MaxRecordBytes+1)]
		d := decoder{data: window, limit: s.lim.MaxDepth}
		serr := d.skip()
		end := i + d.pos
		se, _ := serr.(*syntaxError) // skip returns no other error
		switch {
		case serr == nil && d.pos > s.lim.MaxRecordBytes:
			return s.skipLarge(start)
		case serr == nil && (s.eof || end < len(s.buf)):
			// (A value ending at the end of the buffer may be a number
			// that goes on.)
			s.pos = end
			return s.buf[i:end], "", nil
		case serr == nil:
		case se != nil && se.tooDeep:
			if _, err := s.skipValue(start); err != nil {
				return nil, "", err
			}
			return nil, fmt.Sprintf("the record nests deeper than %d levels, the bound on one finding record (published findings nest about 10); it is not read", s.lim.MaxDepth), nil
		case se != nil && se.Offset >= len(window) && len(window) > s.lim.MaxRecordBytes:
			return s.skipLarge(start)
		case se != nil && se.Offset >= len(window) && !s.eof:
		case se != nil:
			return nil, "", &splitErr{msg: se.msg, off: start + int64(se.Offset), truncated: se.Offset >= len(window)}
		default:
			return nil, "", serr
		}
		if !s.fill() {
			return nil, "", s.err
		}
	}
}

// skipLarge skips the value at offset start, larger than a record may be.
func (s *Splitter) skipLarge(start int64) ([]byte, string, error) {
	n, err := s.skipValue(start)
	if err != nil {
		return nil, "", err
	}
	return nil, s.tooLarge(n), nil
}

func (s *Splitter) tooLarge(n int64) string {
	return fmt.Sprintf("the record is %s, over the bound of %s on one finding record; it is not read", byteSize(n), byteSize(int64(s.lim.MaxRecordBytes)))
}

// byteSize formats n bytes for a person: "2.0 MiB", "512 KiB", "17 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// skipValue moves past the value starting at offset start without keeping
// it, for a record past a bound, and returns its size. It follows only
// strings and nesting: the record is rejected whatever its syntax, and a
// mistake in it shows as a syntax error of what follows.
func (s *Splitter) skipValue(start int64) (int64, error) {
	s.pos = int(start - s.base)
	var (
		depth            int64
		inString, escape bool
		scalar           bool
	)
	switch s.buf[s.pos] {
	case '{', '[':
	case '"':
		inString = true
		s.pos++
	default:
		scalar = true
	}
	for {
		for s.pos < len(s.buf) {
			c := s.buf[s.pos]
			switch {
			case inString:
				switch {
				case escape:
					escape = false
				case c == '\\':
					escape = true
				case c == '"':
					inString = false
					if depth == 0 {
						s.pos++
						return s.abs(s.pos) - start, nil
					}
				}
			case scalar:
				switch c {
				case ' ', '\t', '\n', '\r', ',', ']', '}', '[', '{', '"':
					return s.abs(s.pos) - start, nil
				}
			default:
				switch c {
				case '"':
					inString = true
				case '{', '[':
					depth++
				case '}', ']':
					if depth--; depth == 0 {
						s.pos++
						return s.abs(s.pos) - start, nil
					}
				}
			}
			s.pos++
		}
		if s.eof {
			if scalar {
				return s.abs(s.pos) - start, nil
			}
			return 0, &splitErr{msg: "unexpected end of JSON input", off: s.abs(s.pos), truncated: true}
		}
		if !s.fill() {
			return 0, s.err
		}
	}
}

// valueErr turns a scanning error in rec into the file's error.
func (s *Splitter) valueErr(err error, rec Record, inArray bool) error {
	var se *splitErr
	if !errors.As(err, &se) {
		return err // a read error
	}
	line, col := s.position(se.off)
	pe := &ParseError{File: s.name, Line: line, Column: col, Record: rec.Index + 1, Reason: "invalid JSON: " + se.msg}
	switch {
	case se.truncated && inArray:
		pe.Reason = fmt.Sprintf("truncated file: unexpected end of file; the array opened at line %d, column %d is not closed", s.openLine, s.openCol)
	case se.truncated:
		pe.Reason = fmt.Sprintf("truncated file: unexpected end of file in the value that starts at line %d, column %d", rec.Line, rec.Column)
	}
	return pe
}

// unclosed is the error of a file that ends inside the array or object
// opened at line, column.
func (s *Splitter) unclosed(line, col int) error {
	el, ec := s.position(s.abs(len(s.buf)))
	what := "array"
	if s.state == inListTail {
		what = "object"
	}
	return &ParseError{File: s.name, Line: el, Column: ec,
		Reason: fmt.Sprintf("truncated file: unexpected end of file; the %s opened at line %d, column %d is not closed", what, line, col)}
}

// listKeys are the members of a file that is a list of findings in an
// object: a BatchImportFindings body, a GetFindings response (boto3's
// PascalCase or the API's camelCase) with its paging and metadata.
var listKeys = map[string]bool{
	"Findings": true, "findings": true,
	"NextToken": true, "nextToken": true, "ResponseMetadata": true,
}

func isListKey(k string) bool { return k == "Findings" || k == "findings" }

// startList enters the top-level object at s.pos when it starts as a list
// of findings: members of listKeys up to the Findings list. Its records
// are pending until the object turns out to be one (or is too large to be
// one record).
func (s *Splitter) startList() bool {
	start := s.abs(s.pos)
	for {
		i := int(start - s.base)
		d := decoder{data: s.buf[i:min(len(s.buf), i+s.lim.MaxRecordBytes+1)], pos: 1}
		list, more := listPrefix(&d)
		switch {
		case list:
			s.obj = listObject{start: start, index: s.index, held: true}
			s.obj.line, s.obj.col = s.position(start)
			s.pos = i + d.pos
			s.openArray(inList)
			return true
		case !more || s.eof || len(d.data) > s.lim.MaxRecordBytes:
			return false
		}
		if !s.fill() {
			return true // s.err is the file's error
		}
	}
}

// listPrefix reads an object's members from after its '{' up to the
// Findings list, leaving d.pos at the list's '['. more means the input
// ended first.
func listPrefix(d *decoder) (list, more bool) {
	for {
		d.skipSpace()
		if d.pos >= len(d.data) {
			return false, true
		}
		if d.data[d.pos] != '"' {
			return false, false
		}
		key, err := d.key()
		if err != nil || !listKeys[key] {
			return false, err != nil && d.pos >= len(d.data)
		}
		d.skipSpace()
		if d.pos >= len(d.data) {
			return false, true
		}
		if d.data[d.pos] != ':' {
			return false, false
		}
		d.pos++
		d.skipSpace()
		if d.pos >= len(d.data) {
			return false, true
		}
		if isListKey(key) {
			return d.data[d.pos] == '[', false
		}
		if err := d.skip(); err != nil {
			se, _ := err.(*syntaxError)
			return false, se != nil && se.Offset >= len(d.data)
		}
		d.skipSpace()
		if d.pos >= len(d.data) {
			return false, true
		}
		if d.data[d.pos] != ',' {
			return false, false
		}
		d.pos++
	}
}

// listTail reads the members of a list object after its list (c is the
// next byte). Others than NextToken and ResponseMetadata make the object
// one record, as ParseRecord would read it whole; past the bound on a
// record, that is an error.
func (s *Splitter) listTail(c byte) {
	switch c {
	case '}':
		s.pos++
		s.state = atTop
		s.release()
		return
	case ',':
	default:
		s.tailErr(s.abs(s.pos), "invalid character "+quoteChar(c)+" after object key:value pair")
		return
	}
	member := s.abs(s.pos)
	for {
		// As for a record, only so much of a member is looked at.
		i := int(member - s.base)
		window := s.buf[i:min(len(s.buf), i+s.lim.MaxRecordBytes+1)]
		d := decoder{data: window, pos: 1, limit: s.lim.MaxDepth}
		key, err := tailMember(&d)
		se, _ := err.(*syntaxError) // the decoder returns no other error
		switch {
		case err == nil && d.pos > s.lim.MaxRecordBytes,
			se != nil && se.Offset >= len(window) && len(window) > s.lim.MaxRecordBytes:
			line, col := s.position(member)
			s.err = &ParseError{File: s.name, Line: line, Column: col,
				Reason: fmt.Sprintf("a member of the list of findings is larger than the bound on one record (%s)", byteSize(int64(s.lim.MaxRecordBytes)))}
			return
		case err == nil && !s.eof && i+d.pos == len(s.buf):
			// (The member's value may be a number that goes on.)
		case err == nil && (!listKeys[key] || isListKey(key)):
			if s.holding() {
				s.oneRecord()
				return
			}
			line, col := s.position(member + 1)
			s.err = &ParseError{File: s.name, Line: line, Column: col,
				Reason: fmt.Sprintf("the list of findings opened at line %d, column %d is larger than the bound on one record (%s), so it must hold only Findings, NextToken and ResponseMetadata; it also has %q",
					s.obj.line, s.obj.col, byteSize(int64(s.lim.MaxRecordBytes)), key)}
			return
		case err == nil:
			s.pos = i + d.pos
			return
		case se != nil && se.Offset >= len(window) && !s.eof:
		case se != nil && se.Offset >= len(window):
			s.err = s.unclosed(s.obj.line, s.obj.col)
			return
		case se != nil:
			s.tailErr(member+int64(se.Offset), se.msg)
			return
		default:
			s.err = err
			return
		}
		if !s.fill() {
			return
		}
	}
}

// tailMember reads one member (from the ',' before it) and returns its
// key; d.pos is left after it.
func tailMember(d *decoder) (string, error) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return "", d.eof()
	}
	if d.data[d.pos] != '"' {
		return "", d.errorf("invalid character %s looking for beginning of object key string", quoteChar(d.data[d.pos]))
	}
	key, err := d.key()
	if err != nil {
		return "", err
	}
	key = strings.Clone(key) // it may share the buffer
	d.skipSpace()
	if d.pos >= len(d.data) {
		return "", d.eof()
	}
	if d.data[d.pos] != ':' {
		return "", d.errorf("invalid character %s after object key", quoteChar(d.data[d.pos]))
	}
	d.pos++
	d.skipSpace()
	if err := d.skip(); err != nil {
		return "", err
	}
	return key, nil
}

func (s *Splitter) tailErr(off int64, msg string) {
	line, col := s.position(off)
	s.err = &ParseError{File: s.name, Line: line, Column: col, Reason: "invalid JSON: " + msg}
}

// holding reports whether a list object is held: no larger, up to what
// has been split of it, than one record may be. Past that it is released:
// a list of findings it must be.
func (s *Splitter) holding() bool {
	if s.obj.held && s.abs(s.pos)-s.obj.start > int64(s.lim.MaxRecordBytes) {
		s.release()
	}
	return s.obj.held
}

// release makes a list object's pending records ready: it is a list of
// findings, or too large to be one record.
func (s *Splitter) release() {
	if !s.obj.held {
		return
	}
	for _, rec := range s.obj.pending {
		rec.Raw = s.own(rec.Raw)
		s.ready = append(s.ready, rec)
	}
	s.obj.pending, s.obj.held = nil, false
}

// oneRecord splits a held list object again as one record: it has other
// members than a list's.
func (s *Splitter) oneRecord() {
	s.obj.pending, s.obj.held = nil, false
	s.pos = int(s.obj.start - s.base)
	s.index = s.obj.index
	s.state = atTop
	rec := Record{Index: s.index, Line: s.obj.line, Column: s.obj.col}
	s.index++
	raw, reason, err := s.scanValue()
	switch {
	case err != nil:
		s.err = s.valueErr(err, rec, false)
	case reason != "":
		rec.Err = &ParseError{File: s.name, Line: rec.Line, Column: rec.Column, Record: rec.Index + 1, Reason: reason}
		s.ready = append(s.ready, rec)
	default:
		rec.Raw = s.own(raw)
		s.ready = append(s.ready, rec)
	}
}

// abs returns the input offset of buffer index i.
func (s *Splitter) abs(i int) int64 { return s.base + int64(i) }

// position returns the line and column of the byte at input offset off,
// which must not be before the last position asked for.
func (s *Splitter) position(off int64) (line, col int) {
	s.countTo(off)
	return s.line, int(off-s.lineStart) + 1
}

// countTo counts the line breaks before offset off, each once.
func (s *Splitter) countTo(off int64) {
	if off <= s.counted {
		return
	}
	chunk := s.buf[s.counted-s.base : off-s.base]
	if n := bytes.Count(chunk, newline); n > 0 {
		s.line += n
		s.lineStart = s.counted + int64(bytes.LastIndexByte(chunk, '\n')) + 1
	}
	s.counted = off
}

var newline = []byte{'\n'}

// readSize is the least a read asks for.
const readSize = 64 << 10

// fill reads more input, dropping what is no longer needed: everything
// before s.pos, except a held list object. It reads at least as much as it
// keeps. It returns false on a read error (s.err).
func (s *Splitter) fill() bool {
	if s.eof {
		return true
	}
	keep := s.abs(s.pos)
	if s.holding() {
		keep = min(keep, s.obj.start)
	}
	want := max(s.minRead, len(s.buf)-int(keep-s.base))
	if drop := int(keep - s.base); drop > 0 || cap(s.buf)-len(s.buf) < want {
		s.countTo(keep)
		kept := s.buf[drop:]
		buf := s.buf
		if s.obj.held || cap(buf) < len(kept)+want {
			// Pending records point into the old buffer: leave it be.
			buf = make([]byte, 0, len(kept)+want)
		}
		s.buf = append(buf[:0], kept...)
		s.base = keep
		s.pos -= drop
	}
	for got, empty := 0, 0; got < want; {
		n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		got += n
		switch {
		case err == io.EOF:
			s.eof = true
			return true
		case err != nil:
			s.err = fmt.Errorf("reading %s: %w", s.name, err)
			return false
		case n == 0:
			if empty++; empty >= 100 {
				s.err = fmt.Errorf("reading %s: %w", s.name, io.ErrNoProgress)
				return false
			}
		}
	}
	return true
}

// lineCol computes the line and column of offset off in data from scratch.
func lineCol(data []byte, off int) (line, col int) {
	off = min(off, len(data))
	line = 1 + bytes.Count(data[:off], newline)
	return line, off - (bytes.LastIndexByte(data[:off], '\n') + 1) + 1
}
