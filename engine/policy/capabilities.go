package policy

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// removed lists the built-in functions cordon policies cannot call, with the
// reason each is gone. A verdict must depend only on its input, so that the
// same finding and facts always give the same plan (SPEC §5): nothing that
// reaches the network, the environment or the clock, and nothing random.
// Calling one is a compile error at the call ("undefined function http.send").
var removed = map[string]string{
	// The network.
	"http.send":          "it reaches the network",
	"net.lookup_ip_addr": "it resolves names over the network",
	// The process and its environment (env vars, OPA config).
	"opa.runtime": "it reads the process environment",
	// The clock. time.now_ns is the clock itself; the others compare against
	// it whenever the caller does not pass a time: io.jwt.decode_verify checks
	// exp/nbf against the evaluation time, and x509 verification uses the
	// wall clock unless CurrentTime is given. Their pure siblings stay
	// (io.jwt.decode, io.jwt.verify_*, crypto.x509.parse_certificates), so a
	// policy compares against a time taken from its input instead.
	"time.now_ns":          "it reads the clock",
	"io.jwt.decode_verify": "it checks exp and nbf against the clock",
	"crypto.x509.parse_and_verify_certificates":              "it verifies validity against the clock",
	"crypto.x509.parse_and_verify_certificates_with_options": "it verifies validity against the clock unless CurrentTime is set",
	// Randomness: a different value on every run makes a plan irreproducible.
	"rand.intn":              "it is random",
	"uuid.rfc4122":           "it is random",
	"io.jwt.encode_sign":     "its signatures use random state",
	"io.jwt.encode_sign_raw": "its signatures use random state",
}

var (
	capsOnce sync.Once
	caps     *ast.Capabilities
)

// Capabilities returns the capabilities policies are compiled and evaluated
// with: this OPA version's, without the built-ins listed in removed, and with an
// empty allow_net so that no built-in (json.match_schema following a remote
// $ref, say) and no schema annotation can fetch anything. The result is
// shared; do not modify it.
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
