package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// accepted names the input formats, for errors about anything else.
const accepted = `accepted: GuardDuty finding (GetFindings, boto3 or EventBridge "GuardDuty Finding"), ` +
	`Security Hub ASFF finding or EventBridge "Security Hub Findings - Imported" event, ` +
	`OCSF Detection Finding (2004) or Security Finding (2001)`

// Parse splits a findings file and normalizes every record: SplitRecords
// followed by ParseRecord. The first error is returned.
func Parse(name string, data []byte) ([]*Finding, error) {
	recs, err := SplitRecords(name, data)
	if err != nil {
		return nil, err
	}
	var out []*Finding
	for _, r := range recs {
		fs, err := ParseRecord(name, r)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

// ParseRecord detects the format of one record and normalizes it (docs/findings.md).
// An envelope (an EventBridge "Security Hub Findings - Imported" or
// "- Custom Action" event, a {"Findings": […]} list such as a
// BatchImportFindings body or a GetFindings response, a JSON array) yields
// several findings; an empty one yields none. Each finding's Raw is its own
// JSON as it appears in the record (the array element, the event's
// detail), without line breaks and indentation. Errors are *ParseError;
// a record the splitter rejected (Record.Err) returns its error.
func ParseRecord(name string, rec Record) ([]*Finding, error) {
	if rec.Err != nil {
		return nil, rec.Err
	}
	v, err := decodeJSON(rec.Raw)
	if err != nil {
		return nil, recordSyntaxError(name, rec, err)
	}
	var p parser
	if err := p.value(v, bytes.Trim(rec.Raw, " \t\r\n"), "", 0); err != nil {
		return nil, &ParseError{File: name, Line: rec.Line, Column: rec.Column, Record: rec.Index + 1, Reason: err.Error()}
	}
	return p.findings, nil
}

// recordSyntaxError positions a syntax error inside a record in the file,
// from the record's own position.
func recordSyntaxError(name string, rec Record, err error) error {
	pe := &ParseError{File: name, Record: rec.Index + 1, Reason: "invalid JSON: " + err.Error()}
	var se *syntaxError
	if !errors.As(err, &se) {
		return pe
	}
	if se.Offset >= len(rec.Raw) {
		pe.Reason = "truncated record: " + err.Error()
	}
	line, col := lineCol(rec.Raw, se.Offset)
	if rec.Line > 0 {
		pe.Line = rec.Line + line - 1
		if line > 1 {
			pe.Column = col
		} else if rec.Column > 0 {
			pe.Column = rec.Column + col - 1
		}
	}
	return pe
}

// maxNesting bounds how deep lists of findings may nest (an array of
// {"Findings": […]} bodies is two levels).
const maxNesting = 3

// parser collects the findings of one record.
type parser struct {
	findings []*Finding
}

// value reads v, whose JSON text is raw; where locates it in the record
// for errors ("detail.findings[2]").
func (p *parser) value(v any, raw []byte, where string, depth int) error {
	switch x := v.(type) {
	case map[string]any:
		return p.object(x, raw, where, depth)
	case []any:
		if depth >= maxNesting {
			return locate(where, errors.New("findings nested too deep in arrays; "+accepted))
		}
		spans := elementSpans(raw)
		for i, e := range x {
			if err := p.value(e, spanAt(spans, i), where+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
		return nil
	default:
		return locate(where, fmt.Errorf("a JSON %s is not a finding; %s", jsonKind(v), accepted))
	}
}

func (p *parser) object(m map[string]any, raw []byte, where string, depth int) error {
	if detail, ok := m["detail"].(map[string]any); ok {
		return p.event(m, detail, raw, where)
	}
	if class, ok := ocsfClass(m); ok {
		if class != ocsfDetectionFinding && class != ocsfSecurityFinding {
			name := str(m, "class_name")
			if name == "" {
				name = "class " + strconv.Itoa(class)
			}
			return locate(where, fmt.Errorf("this is an OCSF %s event (class_uid %d), not a finding; %s", name, class, accepted))
		}
		f, err := parseOCSF(m)
		return p.add(f, err, m, raw, where)
	}
	if isASFF(m) {
		f, err := parseASFF(m)
		return p.add(f, err, m, raw, where)
	}
	if isGuardDuty(m) {
		f, err := parseGuardDuty(m, "")
		return p.add(f, err, m, raw, where)
	}
	for _, key := range [...]string{"Findings", "findings"} {
		list, ok := m[key].([]any)
		if !ok {
			continue
		}
		if depth >= maxNesting {
			return locate(where, errors.New("findings nested too deep; "+accepted))
		}
		spans := elementSpans(memberSpan(raw, key))
		for i, e := range list {
			if err := p.value(e, spanAt(spans, i), joinWhere(where, key)+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return locate(where, rejection(m))
}

// event reads an EventBridge event (or the partial {"detail": …} some
// tools send): a GuardDuty finding in detail, or Security Hub findings in
// detail.findings.
func (p *parser) event(m, detail map[string]any, raw []byte, where string) error {
	detailType := str(m, "detail-type")
	detailRaw := memberSpan(raw, "detail")
	detailWhere := joinWhere(where, "detail")
	findings, hasFindings := detail["findings"].([]any)
	switch {
	case detailType == "GuardDuty Finding" || (detailType == "" && isGuardDuty(detail)):
		if !isGuardDuty(detail) {
			return locate(detailWhere, errors.New(`the "GuardDuty Finding" event's detail is not a GuardDuty finding`))
		}
		f, err := parseGuardDuty(detail, str(m, "region"))
		return p.add(f, err, detail, detailRaw, detailWhere)
	case strings.HasPrefix(detailType, "Security Hub Findings - ") || (detailType == "" && hasFindings):
		if !hasFindings {
			return locate(detailWhere, fmt.Errorf("the %q event has no detail.findings list", detailType))
		}
		spans := elementSpans(memberSpan(detailRaw, "findings"))
		for i, e := range findings {
			w := detailWhere + ".findings[" + strconv.Itoa(i) + "]"
			fm, ok := e.(map[string]any)
			if !ok || !isASFF(fm) {
				return locate(w, errors.New("not a Security Hub (ASFF) finding"))
			}
			f, err := parseASFF(fm)
			if err := p.add(f, err, fm, spanAt(spans, i), w); err != nil {
				return err
			}
		}
		return nil
	case isCloudTrail(detail):
		return locate(where, errors.New("this is an EventBridge event of a CloudTrail record, not a finding; "+accepted))
	case detailType != "":
		return locate(where, fmt.Errorf("this is an EventBridge %q event, not a finding; %s", detailType, accepted))
	}
	return locate(where, errors.New("unrecognized finding format (an event whose detail is no known finding); "+accepted))
}

// add records a parsed finding with its raw JSON and decoded value.
func (p *parser) add(f *Finding, err error, decoded map[string]any, raw []byte, where string) error {
	if err != nil {
		return locate(where, err)
	}
	if raw == nil {
		// Cannot happen for JSON the decoder accepted; re-encoding keeps
		// the finding usable if it ever does.
		raw, _ = json.Marshal(decoded)
	}
	f.Raw = compactJSON(raw)
	f.decoded = decoded
	f.productKey = productKey(f, decoded)
	f.Sample, f.sampleMark = sampleOf(f.Source, decoded)
	p.findings = append(p.findings, f)
	return nil
}

// rejection explains why m is not a finding, naming what it is where that
// can be told.
func rejection(m map[string]any) error {
	switch {
	case isCloudTrail(m):
		return errors.New("this is a CloudTrail event record, not a finding; " + accepted)
	case isCloudTrailLog(m):
		return errors.New(`this is a CloudTrail log file ("Records"), not findings; ` + accepted)
	case isGCPFinding(m):
		return errors.New("this is a Google Cloud Security Command Center finding, which cordon does not read; " + accepted)
	case isAzureAlert(m):
		return errors.New("this is a Microsoft Defender for Cloud (Azure) alert, which cordon does not read; " + accepted)
	}
	return errors.New("unrecognized finding format; " + accepted)
}

func isCloudTrail(m map[string]any) bool {
	_, name := m["eventName"].(string)
	_, source := m["eventSource"].(string)
	_, identity := m["userIdentity"].(map[string]any)
	return name && (source || identity)
}

func isCloudTrailLog(m map[string]any) bool {
	recs, ok := m["Records"].([]any)
	if !ok || len(recs) == 0 {
		return false
	}
	r, ok := recs[0].(map[string]any)
	return ok && isCloudTrail(r)
}

func isGCPFinding(m map[string]any) bool {
	if f, ok := m["finding"].(map[string]any); ok {
		m = f
	}
	_, category := m["category"].(string)
	_, resource := m["resourceName"].(string)
	_, parent := m["parent"].(string)
	return category && (resource || parent)
}

func isAzureAlert(m map[string]any) bool {
	if strings.HasPrefix(pathStr(m, "operationName", "value"), "Microsoft.Security/") ||
		pathStr(m, "resourceProviderName", "value") == "Microsoft.Security" {
		return true
	}
	if strings.EqualFold(str(m, "type"), "Microsoft.Security/Locations/alerts") {
		return true
	}
	for _, k := range [...]string{"AlertDisplayName", "alertDisplayName", "SystemAlertId"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return pathStr(m, "properties", "alertDisplayName") != ""
}

// locate prefixes err with where in the record it is, if not the top.
func locate(where string, err error) error {
	if where == "" {
		return err
	}
	return fmt.Errorf("%s: %w", where, err)
}

func joinWhere(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "value"
}

// elementSpans returns the JSON text of each element of the array raw,
// which has been validated: the raw finding of an element is a sub-slice
// of the input, not a re-encoding.
func elementSpans(raw []byte) [][]byte {
	d := decoder{data: raw}
	d.skipSpace()
	if d.pos >= len(raw) || raw[d.pos] != '[' {
		return nil
	}
	d.pos++
	var spans [][]byte
	for {
		d.skipSpace()
		if d.pos >= len(raw) || raw[d.pos] == ']' {
			return spans
		}
		start := d.pos
		if d.skip() != nil {
			return spans
		}
		spans = append(spans, raw[start:d.pos])
		d.skipSpace()
		if d.pos < len(raw) && raw[d.pos] == ',' {
			d.pos++
		}
	}
}

// memberSpan returns the JSON text of the value of key in the object raw
// (the last one, as decoding keeps the last of duplicate keys), or nil.
func memberSpan(raw []byte, key string) []byte {
	d := decoder{data: raw}
	d.skipSpace()
	if d.pos >= len(raw) || raw[d.pos] != '{' {
		return nil
	}
	d.pos++
	var found []byte
	for {
		d.skipSpace()
		if d.pos >= len(raw) || raw[d.pos] != '"' {
			return found
		}
		k, err := d.key()
		if err != nil {
			return found
		}
		d.skipSpace()
		d.pos++ // ':'
		d.skipSpace()
		start := d.pos
		if d.skip() != nil {
			return found
		}
		if k == key {
			found = raw[start:d.pos]
		}
		d.skipSpace()
		if d.pos < len(raw) && raw[d.pos] == ',' {
			d.pos++
		}
	}
}

func spanAt(spans [][]byte, i int) []byte {
	if i < len(spans) {
		return spans[i]
	}
	return nil
}
