package policy

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// removed lists the built-in functions cordon policies cannot call, with the
// reason each is gone. A verdict must depend only on its input, so that the
// same finding and facts always give the same plan (docs/policies.md), and policies
// arrive in pull requests, so they must not reach past the policy bundle:
// nothing that reaches the network, the file system, the environment or the
// clock, and nothing random. Nor may one call escape the evaluation limits
// (limits.go), which stop an evaluation between steps but cannot interrupt
// a built-in in the middle of a call. Calling one is a compile error at the
// call ("undefined function http.send"). Every other built-in was reviewed
// and is listed, with why it is safe, in capabilities_test.go.
var removed = map[string]removal{
	// The network.
	"http.send":          {"it reaches the network", inputOnly},
	"net.lookup_ip_addr": {"it resolves names over the network", inputOnly},
	// Files. The JSON Schema built-ins resolve a schema's $ref: file:// URLs
	// are read from the local disk whatever allow_net says (and http ones
	// from any allowed host), so a schema in a policy could read, or probe
	// for, any file of the machine running cordon.
	"json.match_schema":  {"it loads the files and URLs a schema's $ref names", inputOnly},
	"json.verify_schema": {"it loads the files and URLs a schema's $ref names", inputOnly},
	// The process and its environment (env vars, OPA config).
	"opa.runtime": {"it reads the process environment", inputOnly},
	// The clock. time.now_ns is the clock itself; the others compare against
	// it whenever the caller does not pass a time: io.jwt.decode_verify checks
	// exp/nbf against the evaluation time, and x509 verification uses the
	// wall clock unless CurrentTime is given. Their pure siblings stay
	// (io.jwt.decode, io.jwt.verify_*, crypto.x509.parse_certificates), so a
	// policy compares against a time taken from its input instead.
	"time.now_ns":          {"it reads the clock", inputOnly},
	"io.jwt.decode_verify": {"it checks exp and nbf against the clock", inputOnly},
	"crypto.x509.parse_and_verify_certificates":              {"it verifies validity against the clock", inputOnly},
	"crypto.x509.parse_and_verify_certificates_with_options": {"it verifies validity against the clock unless CurrentTime is set", inputOnly},
	// Randomness: a different value on every run makes a plan irreproducible.
	"rand.intn":              {"it is random", inputOnly},
	"uuid.rfc4122":           {"it is random", inputOnly},
	"io.jwt.encode_sign":     {"its signatures use random state", inputOnly},
	"io.jwt.encode_sign_raw": {"its signatures use random state", inputOnly},
	// One call from a few bytes of arguments allocates without bound, all at
	// once: the process dies of it before the evaluation limits can act.
	"bits.lsh":                {"one call can allocate without bound: bits.lsh(1, 1e12) asks for 125 GB at once", bounded},
	"strings.render_template": {"one call can allocate without bound: a template ranges over integers ({{range 100000}}), and nested ranges write gigabytes", bounded},
}

// removal is why a built-in is removed: the reason, then the principle.
type removal struct{ why, principle string }

const (
	inputOnly = "a verdict must depend only on its input"
	bounded   = "an evaluation must stay within its time and memory limits"
)

var (
	capsOnce sync.Once
	caps     *ast.Capabilities
)

// Capabilities returns the capabilities policies are compiled and evaluated
// with: this OPA version's, without the built-ins listed in removed, and with an
// empty allow_net so that nothing that honours it (the compiler loading a
// schema's remote $ref, say) can fetch anything. allow_net does not cover
// file:// references; schemaRefStage rejects those in schema annotations.
// The result is shared; do not modify it.
func Capabilities() *ast.Capabilities {
	capsOnce.Do(func() {
		c := ast.CapabilitiesForThisVersion()
		kept := c.Builtins[:0]
		for _, b := range c.Builtins {
			if _, gone := removed[b.Name]; !gone {
				kept = append(kept, b)
			}
		}
		c.Builtins = kept
		c.AllowNet = []string{}
		caps = c
	})
	return caps
}
