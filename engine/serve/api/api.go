// Package api is `cordon serve`'s HTTP API (docs/daemon.md): POST /v1/findings,
// incidents, plans and their approval, reload, and the health and metrics
// endpoints. It sees the daemon only through Service, so its handlers are
// tested against a fake with httptest, while the daemon's lifecycle is
// tested with real processes.
//
// Every /v1/ call needs `Authorization: Bearer TOKEN`; the token is
// compared in constant time. Errors are JSON: {"error": {"code",
// "message"}}. Routes are one table (routes.go), each with a constant name
// that labels its metrics.
package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/sources"
)

// Service is what the API serves.
type Service interface {
	// Sink records findings (POST /v1/findings uses the same one as the
	// daemon's sources).
	Sink() sources.Sink
	Store() state.Store
	// Decide approves or rejects a pending plan.
	Decide(ctx context.Context, id string, d state.PlanDecision) (*state.PlanRecord, error)
	// Reload loads the configuration again; an invalid one is an error
	// and the running one stays.
	Reload(ctx context.Context) error
	// Health reports liveness and readiness, with the checks behind them.
	Health(ctx context.Context) Health
}

// Health is the daemon's condition.
type Health struct {
	Live   bool             `json:"live"`
	Ready  bool             `json:"ready"`
	Checks map[string]Check `json:"checks"`
}

// Check is one component's condition: OK, NOT_READY or ERROR, and why.
type Check struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// Options configure the API.
type Options struct {
	// Token is the bearer token every /v1/ call must carry. Empty refuses
	// every /v1/ call.
	Token string
	// MaxBody bounds a request body (default 1 MiB, docs/daemon.md).
	MaxBody int64
	Logger  *slog.Logger
	// Metrics serves /metrics; nil serves 404.
	Metrics http.Handler
}

// DefaultMaxBody is POST /v1/findings' body limit.
const DefaultMaxBody = 1 << 20
