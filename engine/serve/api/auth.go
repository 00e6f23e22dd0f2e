package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// authorizer checks the bearer token of /v1/ calls.
type authorizer struct {
	// sum is the token's SHA-256: comparing digests of equal length keeps
	// the comparison constant-time whatever the presented token's length.
	sum   [32]byte
	empty bool
}

func newAuthorizer(token string) authorizer {
	return authorizer{sum: sha256.Sum256([]byte(token)), empty: token == ""}
}

// token finds the bearer token of a request, as OPA's identifier does.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// wrap refuses requests without the right token with 401.
func (a authorizer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cordon"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "missing bearer token: send Authorization: Bearer TOKEN")
			return
		}
		got := sha256.Sum256([]byte(tok))
		if a.empty || subtle.ConstantTimeCompare(got[:], a.sum[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cordon", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "invalid bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}
