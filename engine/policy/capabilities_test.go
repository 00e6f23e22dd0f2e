package policy

import (
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Why the built-ins policies keep are safe. Each was reviewed against its
// implementation in OPA's topdown package for this OPA version: none reads
// a file, the network, the clock, the environment, a random source or
// anything about the process (BuiltinContext's Time, Seed and Rand are read
// only by time.now_ns, io.jwt.decode_verify, io.jwt.encode_sign*,
// uuid.rfc4122, rand.intn and http.send, all removed).
const (
	pure     = "pure: its result depends only on its arguments"
	operator = "pure: an operator of the language"
	large    = "pure, but its result can be huge; the evaluation limits (limits.go) bound it, and it checks for cancellation as it builds"
	cached   = "pure; compiled patterns are cached in memory, keyed by the pattern"
	zone     = "pure for UTC and named zones (read from the tz database, embedded as a fallback); the zone \"Local\" is the host's zone, the one fact about the host a policy can learn, and no secret"
	parser   = "pure: parses the string it is given, loads nothing"
	verify   = "pure: checks a signature with the key it is given, not expiry, so no clock"
	debug    = "writes only to the print hook: -debug output, or nothing"
)

var allowedBuiltins = map[string]string{
	// Operators and language plumbing.
	"and": operator, "or": operator, "assign": operator, "eq": operator, "equal": operator, "neq": operator,
	"gt": operator, "gte": operator, "lt": operator, "lte": operator,
	"plus": operator, "minus": operator, "mul": operator, "div": operator, "rem": operator,
	"internal.member_2":        "pure: the `in` operator",
	"internal.member_3":        "pure: the `in` operator with a key",
	"internal.template_string": "pure: renders a template string ($\"…\") from its parts",
	"internal.test_case":       "emits a test-case event to the query's tracers (for `cordon test`), nothing else",
	"internal.print":           debug,
	"print":                    debug,
	"trace":                    "emits a note to the query's tracers when tracing is on, nothing else",
	"rego.metadata.chain":      "pure: the compiler rewrites it to the policy's own annotations",
	"rego.metadata.rule":       "pure: the compiler rewrites it to the policy's own annotations",
	"rego.parse_module":        "pure: parses the Rego source it is given into an AST; compiles and loads nothing",

	// Numbers, aggregates, types.
	"abs": pure, "ceil": pure, "floor": pure, "round": pure, "format_int": pure, "to_number": pure,
	"count": pure, "sum": pure, "product": pure, "max": pure, "min": pure, "sort": pure, "all": pure, "any": pure,
	"numbers.range": large, "numbers.range_step": large,
	"bits.and": pure, "bits.or": pure, "bits.xor": pure, "bits.negate": pure,
	"bits.rsh": "pure; its result is never larger than its argument",
	"is_array": pure, "is_boolean": pure, "is_null": pure, "is_number": pure, "is_object": pure, "is_set": pure, "is_string": pure,
	"type_name": pure, "cast_array": pure, "cast_boolean": pure, "cast_null": pure, "cast_object": pure, "cast_set": pure, "cast_string": pure,
	"units.parse": pure, "units.parse_bytes": pure,
	"semver.compare": pure, "semver.is_valid": pure,

	// Collections.
	"array.concat": pure, "array.flatten": pure, "array.reverse": pure, "array.slice": pure,
	"intersection": pure, "union": pure, "set_diff": pure,
	"object.filter": pure, "object.get": pure, "object.keys": pure, "object.remove": pure,
	"object.subset": pure, "object.union": pure, "object.union_n": pure,
	"json.filter": pure, "json.remove": pure, "json.patch": pure,
	"walk":                  pure,
	"graph.reachable":       pure,
	"graph.reachable_paths": pure,

	// Strings.
	"concat": pure, "contains": pure, "endswith": pure, "startswith": pure, "indexof": pure, "indexof_n": pure,
	"lower": pure, "upper": pure, "replace": pure, "split": pure, "sprintf": pure, "substring": pure,
	"trim": pure, "trim_left": pure, "trim_prefix": pure, "trim_right": pure, "trim_space": pure, "trim_suffix": pure,
	"strings.any_prefix_match": pure, "strings.any_suffix_match": pure, "strings.count": pure,
	"strings.replace_n": pure, "strings.reverse": pure, "strings.split_n": pure,

	// Patterns.
	"re_match": cached, "regex.match": cached, "regex.is_valid": cached, "regex.split": cached,
	"regex.find_n": cached, "regex.find_all_string_submatch_n": cached, "regex.replace": cached,
	"regex.globs_match": cached, "regex.template_match": cached,
	"glob.match": cached, "glob.quote_meta": pure,

	// Encodings and parsers.
	"base64.decode": pure, "base64.encode": pure, "base64.is_valid": pure,
	"base64url.decode": pure, "base64url.encode": pure, "base64url.encode_no_pad": pure,
	"hex.decode": pure, "hex.encode": pure,
	"urlquery.decode": pure, "urlquery.decode_object": pure, "urlquery.encode": pure, "urlquery.encode_object": pure,
	"uri.is_valid": parser, "uri.parse": parser,
	"json.is_valid": parser, "json.marshal": pure, "json.marshal_with_options": pure, "json.unmarshal": parser,
	"yaml.is_valid": parser, "yaml.marshal": pure, "yaml.unmarshal": parser,
	"graphql.is_valid": parser, "graphql.parse": parser, "graphql.parse_and_verify": parser,
	"graphql.parse_query": parser, "graphql.parse_schema": parser, "graphql.schema_is_valid": parser,
	"uuid.parse": parser,

	// Networks: arithmetic on addresses, no lookups.
	"net.cidr_contains": pure, "net.cidr_contains_matches": pure, "net.cidr_intersects": pure,
	"net.cidr_is_valid": pure, "net.cidr_merge": pure, "net.cidr_overlap": pure,
	"net.cidr_expand": large,

	// Time, from the values given: no clock.
	"time.parse_rfc3339_ns":  "pure: an RFC 3339 time carries its offset",
	"time.parse_duration_ns": pure,
	"time.parse_ns":          "pure, except that a zone abbreviation in the value (MST) takes its offset from the host's zone when that zone uses it, as Go's time.Parse does",
	"time.add_date":          zone,
	"time.clock":             zone,
	"time.date":              zone,
	"time.diff":              zone,
	"time.format":            zone,
	"time.weekday":           zone,

	// Cryptography with the keys and data given; nothing random.
	"crypto.md5": pure, "crypto.sha1": pure, "crypto.sha256": pure,
	"crypto.hmac.md5": pure, "crypto.hmac.sha1": pure, "crypto.hmac.sha256": pure, "crypto.hmac.sha512": pure,
	"crypto.hmac.equal":                     "pure: constant-time comparison",
	"crypto.parse_private_keys":             parser,
	"crypto.x509.parse_certificates":        "pure: parses certificates, verifies nothing, so no clock",
	"crypto.x509.parse_certificate_request": parser,
	"crypto.x509.parse_keypair":             parser,
	"crypto.x509.parse_rsa_private_key":     parser,
	"io.jwt.decode":                         "pure: decodes without verifying, so no clock",

	"io.jwt.verify_eddsa": verify, "io.jwt.verify_es256": verify, "io.jwt.verify_es384": verify, "io.jwt.verify_es512": verify,
	"io.jwt.verify_hs256": verify, "io.jwt.verify_hs384": verify, "io.jwt.verify_hs512": verify,
	"io.jwt.verify_ps256": verify, "io.jwt.verify_ps384": verify, "io.jwt.verify_ps512": verify,
	"io.jwt.verify_rs256": verify, "io.jwt.verify_rs384": verify, "io.jwt.verify_rs512": verify,
	"providers.aws.sign_req": "pure: SigV4 is an HMAC over the request, credentials and time_ns it is given (SigV4a, which signs with random ECDSA, is not offered); it sends nothing",
}

// outside are built-ins known to reach outside the policy: the network,
// files, the clock, the environment, randomness or the process. Each must
// be removed; the list guards against one slipping back into the allowed
// list by mistake.
var outside = []string{
	"http.send", "net.lookup_ip_addr", "opa.runtime",
	"json.match_schema", "json.verify_schema",
	"time.now_ns", "io.jwt.decode_verify",
	"crypto.x509.parse_and_verify_certificates", "crypto.x509.parse_and_verify_certificates_with_options",
	"rand.intn", "uuid.rfc4122", "io.jwt.encode_sign", "io.jwt.encode_sign_raw",
}

// TestEveryBuiltinReviewed walks every built-in of the capability set
// policies compile with and fails on any that is neither reviewed safe
// (allowedBuiltins, with its reason) nor removed: a new OPA version that
// adds a built-in fails here until someone reads its implementation and
// files it under one or the other.
func TestEveryBuiltinReviewed(t *testing.T) {
	all := map[string]*ast.Builtin{}
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		all[b.Name] = b
	}
	have := map[string]bool{}
	for _, b := range Capabilities().Builtins {
		have[b.Name] = true
		why, ok := allowedBuiltins[b.Name]
		switch {
		case !ok:
			t.Errorf("built-in %s is available to policies but not reviewed: read its implementation in OPA's topdown package, then add it to allowedBuiltins with the reason it is safe, or to removed", b.Name)
		case strings.TrimSpace(why) == "":
			t.Errorf("built-in %s is allowed without a reason", b.Name)
		}
		if b.Nondeterministic {
			t.Errorf("built-in %s is available, but OPA marks it non-deterministic (it reaches outside the evaluation)", b.Name)
		}
	}
	for _, name := range outside {
		if have[name] {
			t.Errorf("built-in %s reaches outside the policy but is available", name)
		}
		if _, ok := removed[name]; !ok {
			t.Errorf("built-in %s reaches outside the policy but is not in removed, so its error gives no reason", name)
		}
	}
	var stale []string
	for name := range allowedBuiltins {
		if _, ok := removed[name]; ok {
			t.Errorf("built-in %s is both allowed and removed", name)
		}
		if all[name] == nil {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	for _, name := range stale {
		t.Errorf("allowedBuiltins lists %s, which is not a built-in of this OPA version", name)
	}
	// Every non-deterministic built-in OPA knows of is removed: its own
	// marking of what reaches outside agrees with ours.
	for name, b := range all {
		if b.Nondeterministic {
			if _, ok := removed[name]; !ok {
				t.Errorf("OPA marks %s non-deterministic but it is not removed", name)
			}
		}
	}
}
