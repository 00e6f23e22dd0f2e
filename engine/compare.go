package engine

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Live state is compared with a plan's before and after attribute by
// attribute. Values are JSON-shaped; lists compare as sets, because AWS
// returns security groups, target groups and the like in no promised
// order, and an order change is not drift.

// sameValue reports whether two JSON-shaped values are equal, lists
// compared as sets (with multiplicity).
func sameValue(a, b any) bool {
	return canonical(a) == canonical(b)
}

// canonical encodes a JSON value with object keys sorted (encoding/json
// sorts map keys) and list elements sorted by their own encoding.
func canonical(v any) string {
	switch v := v.(type) {
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = canonical(e)
		}
		sort.Strings(parts)
		return "[" + strings.Join(parts, ",") + "]"
	case []string:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = canonical(e)
		}
		sort.Strings(parts)
		return "[" + strings.Join(parts, ",") + "]"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kj, _ := json.Marshal(k)
			b.Write(kj)
			b.WriteByte(':')
			b.WriteString(canonical(v[k]))
		}
		b.WriteByte('}')
		return b.String()
	case int:
		return canonical(float64(v))
	case int64:
		return canonical(float64(v))
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return v.String()
		}
		return canonical(f)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(j)
}

// differences lists the attributes of want (except those in skip) whose
// value in live differs, as "name: live X, expected Y" for people.
func differences(want map[string]any, skip []string, live map[string]any) []string {
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		if !skipped[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		lv, ok := live[k]
		if !ok || !sameValue(lv, want[k]) {
			out = append(out, fmt.Sprintf("%s is %s, expected %s", k, describeValue(lv, ok), describeValue(want[k], true)))
		}
	}
	return out
}

func describeValue(v any, present bool) string {
	if !present {
		return "absent"
	}
	j, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(j)
}

// normalizeJSON round-trips a value through JSON so maps of []string and
// the like compare and record exactly as they will read back from state.
func normalizeJSON(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	var out map[string]any
	if json.Unmarshal(b, &out) != nil {
		return m
	}
	return out
}
