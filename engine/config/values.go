package config

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// FindingValue converts a normalized finding to the value conditions see
// as `finding`. Every attribute of the normalized shape is present: one the
// finding lacks (an omitted optional field, a port of 0, no network or
// actor section) is null, so `finding.network.remote_ip != null` is a
// question and not an error. `raw` is the original finding as generic
// JSON.
//
// Values are built directly from the Go structures; there is no JSON round
// trip.
func FindingValue(f *schema.Finding) cty.Value {
	v, _ := findingValue(f, true)
	return v
}

// ConditionValues returns the finding and resource values for
// EvalCondition, as FindingValue and ResourceValue do, but cheaper: the
// primary resource is converted once, and the raw finding (most of the
// work for a GuardDuty finding) only when some condition of this
// configuration refers to finding.raw; otherwise finding.raw is null.
func (c *Config) ConditionValues(f *schema.Finding) (finding, resource cty.Value) {
	return findingValue(f, c == nil || c.conditionsUseRaw)
}

func findingValue(f *schema.Finding, withRaw bool) (cty.Value, cty.Value) {
	if f == nil {
		return nullAny, nullAny
	}
	primary := ResourceValue(&f.Resource)
	resources := cty.EmptyTupleVal
	if len(f.Resources) > 0 {
		elems := make([]cty.Value, len(f.Resources))
		for i := range f.Resources {
			r := &f.Resources[i]
			if i == 0 && sameResource(r, &f.Resource) {
				elems[i] = primary
				continue
			}
			elems[i] = ResourceValue(r)
		}
		resources = cty.TupleVal(elems)
	}
	raw := nullAny
	if withRaw {
		raw = jsonValue(f.Decoded(), 0)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"id":             cty.StringVal(f.ID),
		"source":         cty.StringVal(f.Source),
		"type":           cty.StringVal(f.Type),
		"title":          optString(f.Title),
		"description":    optString(f.Description),
		"severity":       cty.StringVal(f.Severity),
		"severity_score": cty.NumberFloatVal(f.SeverityScore),
		"account":        optString(f.Account),
		"region":         optString(f.Region),
		"partition":      optString(f.Partition),
		"created_at":     optString(f.CreatedAt),
		"updated_at":     optString(f.UpdatedAt),
		"count":          cty.NumberIntVal(int64(f.Count)),
		"sample":         cty.BoolVal(f.Sample),
		"resource":       primary,
		"resources":      resources,
		"network":        networkValue(f.Network),
		"actor":          actorValue(f.Actor),
		"raw":            raw,
	}), primary
}

// ResourceValue converts a resource to the value conditions see as
// `resource`: type, id, arn, tags (a map of strings) and details (an
// object). The details a resource type is documented to have
// (schema.DetailKeys) are always present, null where the source lacks them, so
// `resource.details.public_ip != null` is false for an instance without a
// public address rather than an error.
func ResourceValue(r *schema.Resource) cty.Value {
	if r == nil {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	tags := cty.MapValEmpty(cty.String)
	if len(r.Tags) > 0 {
		m := make(map[string]cty.Value, len(r.Tags))
		for k, v := range r.Tags {
			m[k] = cty.StringVal(v)
		}
		tags = cty.MapVal(m)
	}
	known := detailKeys(r.Type)
	details := cty.EmptyObjectVal
	if len(r.Details)+len(known) > 0 {
		m := make(map[string]cty.Value, len(r.Details)+len(known))
		for _, k := range known {
			m[k] = cty.NullVal(cty.DynamicPseudoType)
		}
		for k, v := range r.Details {
			m[k] = jsonValue(v, 0)
		}
		details = cty.ObjectVal(m)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"type":    cty.StringVal(r.Type),
		"id":      cty.StringVal(r.ID),
		"arn":     optString(r.ARN),
		"tags":    tags,
		"details": details,
	})
}

func sameResource(a, b *schema.Resource) bool {
	return a.Type == b.Type && a.ID == b.ID && a.ARN == b.ARN &&
		len(a.Tags) == len(b.Tags) && len(a.Details) == len(b.Details)
}

// detailKeys caches schema.DetailKeys (which copies its answer) for the
// types that have documented details; the set is small and fixed.
var detailKeysCache sync.Map // resource type → []string

func detailKeys(typ string) []string {
	if keys, ok := detailKeysCache.Load(typ); ok {
		return keys.([]string)
	}
	keys := schema.DetailKeys(typ)
	if keys != nil {
		detailKeysCache.Store(typ, keys)
	}
	return keys
}

// resourceTypes are the resource types scopes may name.
var resourceTypes = func() []string {
	out := []string{
		schema.ResourceAccessKey, schema.ResourceDBInstance, schema.ResourceEBSVolume,
		schema.ResourceEKSCluster, schema.ResourceIAMRole, schema.ResourceIAMUser,
		schema.ResourceInstance, schema.ResourceLambda, schema.ResourceS3Bucket,
		schema.ResourceECSCluster, schema.ResourceSecurityGroup, schema.ResourceAccount,
		schema.ResourceContainer, schema.ResourceECSTask, schema.ResourceECSService,
		schema.ResourceKubernetesPod, schema.ResourceKubernetesDeployment, schema.ResourceKubernetesDaemonSet,
		schema.ResourceKubernetesStatefulSet, schema.ResourceKubernetesJob, schema.ResourceKubernetesCronJob,
		schema.ResourceKubernetesWorkload, schema.ResourceEBSSnapshot, schema.ResourceAMI,
		schema.ResourceBackupRecoveryPoint,
	}
	sort.Strings(out)
	return out
}()

func networkValue(n *schema.Network) cty.Value {
	if n == nil {
		n = &schema.Network{}
	}
	return cty.ObjectVal(map[string]cty.Value{
		"direction":      optString(n.Direction),
		"protocol":       optString(n.Protocol),
		"local_ip":       optString(n.LocalIP),
		"local_port":     optPort(n.LocalPort),
		"remote_ip":      optString(n.RemoteIP),
		"remote_port":    optPort(n.RemotePort),
		"remote_country": optString(n.RemoteCountry),
		"domain":         optString(n.Domain),
	})
}

func actorValue(a *schema.Actor) cty.Value {
	if a == nil {
		a = &schema.Actor{}
	}
	return cty.ObjectVal(map[string]cty.Value{
		"type":          optString(a.Type),
		"user":          optString(a.User),
		"access_key_id": optString(a.AccessKeyID),
		"ip":            optString(a.IP),
	})
}

var (
	nullString = cty.NullVal(cty.String)
	nullNumber = cty.NullVal(cty.Number)
	nullAny    = cty.NullVal(cty.DynamicPseudoType)
)

// optString is an optional string field: empty means absent, as in the
// finding's JSON (omitempty).
func optString(s string) cty.Value {
	if s == "" {
		return nullString
	}
	return cty.StringVal(s)
}

func optPort(p int) cty.Value {
	if p == 0 {
		return nullNumber
	}
	return cty.NumberIntVal(int64(p))
}

// maxDepth bounds the conversion of nested values; decoded JSON is never
// this deep, and the bound keeps a cyclic Go value from recursing forever.
const maxDepth = 64

// jsonValue converts generic JSON (as decoded with json.Number) and the
// plain Go values parsers put in details to cty. Arrays become tuples and
// objects objects, whatever their element types.
func jsonValue(v any, depth int) cty.Value {
	if depth > maxDepth {
		return nullAny
	}
	switch v := v.(type) {
	case nil:
		return nullAny
	case string:
		return cty.StringVal(v)
	case bool:
		return cty.BoolVal(v)
	case json.Number:
		return numberValue(string(v))
	case float64:
		return cty.NumberFloatVal(v)
	case int:
		return cty.NumberIntVal(int64(v))
	case int64:
		return cty.NumberIntVal(v)
	case map[string]any:
		if len(v) == 0 {
			return cty.EmptyObjectVal
		}
		m := make(map[string]cty.Value, len(v))
		for k, e := range v {
			m[k] = jsonValue(e, depth+1)
		}
		return cty.ObjectVal(m)
	case []any:
		if len(v) == 0 {
			return cty.EmptyTupleVal
		}
		elems := make([]cty.Value, len(v))
		for i, e := range v {
			elems[i] = jsonValue(e, depth+1)
		}
		return cty.TupleVal(elems)
	case []string:
		if len(v) == 0 {
			return cty.EmptyTupleVal
		}
		elems := make([]cty.Value, len(v))
		for i, e := range v {
			elems[i] = cty.StringVal(e)
		}
		return cty.TupleVal(elems)
	case map[string]string:
		if len(v) == 0 {
			return cty.EmptyObjectVal
		}
		m := make(map[string]cty.Value, len(v))
		for k, e := range v {
			m[k] = cty.StringVal(e)
		}
		return cty.ObjectVal(m)
	case json.RawMessage:
		var decoded any
		dec := json.NewDecoder(strings.NewReader(string(v)))
		dec.UseNumber()
		if err := dec.Decode(&decoded); err != nil {
			return nullAny
		}
		return jsonValue(decoded, depth+1)
	}
	return reflectValue(reflect.ValueOf(v), depth)
}

// reflectValue handles the Go values jsonValue has no case for: other
// numeric types, typed slices and maps, pointers, structs (through their
// JSON form).
func reflectValue(rv reflect.Value, depth int) cty.Value {
	if depth > maxDepth || !rv.IsValid() {
		return nullAny
	}
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nullAny
		}
		return jsonValue(rv.Elem().Interface(), depth+1)
	case reflect.Bool:
		return cty.BoolVal(rv.Bool())
	case reflect.String:
		return cty.StringVal(rv.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cty.NumberIntVal(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return cty.NumberUIntVal(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return cty.NumberFloatVal(rv.Float())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nullAny
		}
		if rv.Len() == 0 {
			return cty.EmptyTupleVal
		}
		elems := make([]cty.Value, rv.Len())
		for i := range elems {
			elems[i] = jsonValue(rv.Index(i).Interface(), depth+1)
		}
		return cty.TupleVal(elems)
	case reflect.Map:
		if rv.IsNil() {
			return nullAny
		}
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		if rv.Len() == 0 {
			return cty.EmptyObjectVal
		}
		m := make(map[string]cty.Value, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			m[iter.Key().String()] = jsonValue(iter.Value().Interface(), depth+1)
		}
		return cty.ObjectVal(m)
	}
	// Structs and anything else: as its JSON encoding says.
	b, err := json.Marshal(rv.Interface())
	if err != nil {
		return cty.StringVal(fmt.Sprint(rv.Interface()))
	}
	return jsonValue(json.RawMessage(b), depth+1)
}

// numberValue parses a JSON number exactly: integers on a fast path,
// anything else through big.Float so large or precise numbers survive,
// except those beyond float64's range (see clampNumber).
func numberValue(s string) cty.Value {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return cty.NumberIntVal(i)
	}
	f, _, err := big.ParseFloat(s, 10, 512, big.ToNearestEven)
	if err != nil {
		return cty.StringVal(s)
	}
	return clampNumber(f)
}

// findingShape is the normalized finding's shape for checking condition
// references, derived from schema.Finding's JSON field names so it cannot
// drift from the type.
var findingShape = shapeOf(reflect.TypeOf(schema.Finding{}))

var rawMessageType = reflect.TypeOf(json.RawMessage(nil))

func shapeOf(t reflect.Type) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		return &shape{kind: "value", open: true}
	}
	switch t.Kind() {
	case reflect.Struct:
		s := &shape{kind: "object", fields: map[string]*shape{}}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			s.fields[name] = shapeOf(f.Type)
		}
		return s
	case reflect.Slice, reflect.Array:
		return &shape{kind: "list", elem: shapeOf(t.Elem())}
	case reflect.Map, reflect.Interface:
		return &shape{kind: "map", open: true}
	case reflect.String:
		return &shape{kind: "string"}
	case reflect.Bool:
		return &shape{kind: "bool"}
	default:
		return &shape{kind: "number"}
	}
}

// probeFinding and probeResource have the shape of every finding and
// every leaf unknown. Evaluating a condition with them at load finds the
// mistakes that would fail on any finding (a wrong argument type, a number
// used as the result) without needing one.
var probeFinding, probeResource = func() (cty.Value, cty.Value) {
	f := FindingValue(&schema.Finding{Network: &schema.Network{}, Actor: &schema.Actor{}})
	p := unknownLeaves(f)
	return p, p.GetAttr("resource")
}()

func unknownLeaves(v cty.Value) cty.Value {
	if !v.Type().IsObjectType() {
		return cty.UnknownVal(v.Type())
	}
	attrs := map[string]cty.Value{}
	for name := range v.Type().AttributeTypes() {
		switch name {
		case "raw", "details", "resources":
			attrs[name] = cty.DynamicVal
		case "tags":
			attrs[name] = cty.UnknownVal(cty.Map(cty.String))
		default:
			attrs[name] = unknownLeaves(v.GetAttr(name))
		}
	}
	return cty.ObjectVal(attrs)
}
