package schema

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// Helpers to read decoded JSON (map[string]any …) without reflection.
// Every getter tolerates a missing key or a value of another type by
// returning the zero value: sources leave out optional fields freely, and
// a malformed field must not make a finding unreadable.

// get returns m[key]. A key written in camelCase also matches its
// PascalCase spelling, so one GuardDuty reader serves the API's camelCase
// shape and the SDKs' PascalCase one (boto3 "InstanceDetails" for
// "instanceDetails"); the lookup builds the key on the stack.
func get(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	if key == "" || key[0] < 'a' || key[0] > 'z' || len(key) > 64 {
		return nil
	}
	var buf [64]byte
	b := append(buf[:0], key...)
	b[0] -= 'a' - 'A'
	return m[string(b)]
}

func obj(m map[string]any, key string) map[string]any {
	o, _ := get(m, key).(map[string]any)
	return o
}

func arr(m map[string]any, key string) []any {
	a, _ := get(m, key).([]any)
	return a
}

// str returns a string field; numbers and booleans are given as their JSON
// text, since sources are not always consistent (an ASN as "16509" or
// 16509).
func str(m map[string]any, key string) string {
	return asString(get(m, key))
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// path follows nested objects: path(m, "a", "b", "c") is m.a.b.c.
func path(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = get(o, k)
	}
	return v
}

func pathObj(m map[string]any, keys ...string) map[string]any {
	o, _ := path(m, keys...).(map[string]any)
	return o
}

func pathStr(m map[string]any, keys ...string) string {
	return asString(path(m, keys...))
}

// asFloat reads a number, or a string holding one (Security Hub's
// ProductFields are all strings).
func asFloat(v any) (float64, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// asInt reads an integral number (or numeric string) that fits an int.
func asInt(v any) (int, bool) {
	if n, ok := v.(json.Number); ok {
		if i, err := strconv.Atoi(string(n)); err == nil {
			return i, true
		}
	}
	f, ok := asFloat(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int(f), true
}

func intField(m map[string]any, key string) int {
	i, _ := asInt(get(m, key))
	return i
}

// firstNonEmpty returns the first non-empty string.
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// setStr sets details[key] when v is not empty: details only hold what the
// source has.
func setStr(details map[string]any, key, v string) {
	if v != "" {
		details[key] = v
	}
}

// setVal is setStr for a decoded value: a string is stored as the
// interface value it already is, which saves an allocation per field on
// the hot path; numbers and booleans are stored as their text, as str
// reads them.
func setVal(details map[string]any, key string, v any) {
	switch x := v.(type) {
	case string:
		if x != "" {
			details[key] = v
		}
	case json.Number, bool:
		details[key] = asString(x)
	}
}

// setTime sets details[key] to a timestamp normalized by normTime.
func setTime(details map[string]any, key string, v any) {
	setStr(details, key, normTime(v))
}

// Timestamp layouts seen in findings besides RFC 3339: Panther writes
// "2025-02-25 20:40:06.721", Python str(datetime) "… 20:40:06.721000+00:00",
// Prowler's OCSF "2024-10-04T09:49:02.698985" (no zone: UTC, as AWS means).
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
}

// normTime normalizes a timestamp to RFC 3339 in UTC with as many
// fractional digits as it has ("2017-10-31T23:16:23.824Z"). It reads RFC
// 3339 and the layouts above, and epoch numbers: seconds below 1e11,
// milliseconds from there (GuardDuty gives launchTime in ms, bucket
// createdAt in s; OCSF *_time is ms, but several producers send s). An
// unreadable value gives "": a policy comparing timestamps must not see
// something that only looks like one.
func normTime(v any) string {
	switch x := v.(type) {
	case string:
		return normTimeString(x)
	case json.Number:
		f, ok := asFloat(x)
		if !ok || f <= 0 {
			return ""
		}
		var t time.Time
		if f < 1e11 {
			sec, frac := math.Modf(f)
			t = time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3)
		} else if f < 1e14 {
			t = time.UnixMilli(int64(f))
		} else {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

func normTimeString(s string) string {
	if s == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		for _, layout := range timeLayouts {
			if t, err = time.Parse(layout, s); err == nil {
				break
			}
		}
		if err != nil {
			return ""
		}
	}
	var buf [40]byte
	out := t.UTC().AppendFormat(buf[:0], time.RFC3339Nano)
	if string(out) == s {
		return s // already normal: no allocation
	}
	return string(out)
}

// tagsFrom reads tags in any of the sources' shapes: a list of
// {key, value} / {Key, Value} / {name, value} objects, or a map.
func tagsFrom(v any, into map[string]string) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			t, ok := e.(map[string]any)
			if !ok {
				continue
			}
			k := str(t, "key")
			if k == "" {
				k = str(t, "name")
			}
			if k != "" {
				into[k] = str(t, "value")
			}
		}
	case map[string]any:
		for k, v := range x {
			into[k] = asString(v)
		}
	}
}

// arnPartition returns the partition of an ARN ("aws" of "arn:aws:…").
func arnPartition(arn string) string {
	if !strings.HasPrefix(arn, "arn:") {
		return ""
	}
	rest := arn[4:]
	if i := strings.IndexByte(rest, ':'); i > 0 {
		return rest[:i]
	}
	return ""
}

// arnField returns field n (0: "arn", 1: partition, 2: service, 3: region,
// 4: account, 5: resource) of an ARN, or "".
func arnField(arn string, n int) string {
	if !strings.HasPrefix(arn, "arn:") {
		return ""
	}
	for i := 0; i < n; i++ {
		j := strings.IndexByte(arn, ':')
		if j < 0 {
			return ""
		}
		arn = arn[j+1:]
	}
	if n == 5 {
		return arn
	}
	if j := strings.IndexByte(arn, ':'); j >= 0 {
		return arn[:j]
	}
	return ""
}

// naturalID returns the identifier a resource is known by from the forms
// sources give: an ARN ("arn:aws:ec2:…:instance/i-1" → "i-1",
// "arn:aws:s3:::bucket" → "bucket", "…:function:name:3" → "name"), Security
// Hub's "AWS::IAM::AccessKey:ASIA…" → "ASIA…", or the id itself.
func naturalID(id string) string {
	if strings.HasPrefix(id, "arn:") {
		res := arnField(id, 5)
		if res == "" {
			return id
		}
		if arnField(id, 2) == "s3" {
			return res // bucket, or bucket/key of an object
		}
		if i := strings.LastIndexByte(res, '/'); i >= 0 {
			return res[i+1:]
		}
		if i := strings.IndexByte(res, ':'); i >= 0 {
			res = res[i+1:]
			if j := strings.IndexByte(res, ':'); j >= 0 {
				res = res[:j]
			}
		}
		return res
	}
	if strings.HasPrefix(id, "AWS::") {
		if i := strings.LastIndexByte(id, ':'); i >= 0 && i < len(id)-1 {
			return id[i+1:]
		}
	}
	return id
}
