package serve

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cordonhq/cordon/engine/serve/api"
	"github.com/cordonhq/cordon/sources"
)

var _ api.Service = (*Daemon)(nil)

// Health implements api.Service: live while the process serves; ready
// when state answers, policies are loaded, it is not draining, and no
// source is in error (docs/daemon.md).
func (d *Daemon) Health(ctx context.Context) api.Health {
	h := api.Health{Live: true, Ready: true, Checks: map[string]api.Check{}}
	set := func(name string, c api.Check) {
		h.Checks[name] = c
		if c.Status != string(sources.OK) {
			h.Ready = false
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, _, err := d.store.Cursor(cctx, "readyz"); err != nil {
		set("state", api.Check{Status: string(sources.Error), Message: err.Error()})
	} else {
		set("state", api.Check{Status: string(sources.OK)})
	}
	if l := d.eng.Load(); l == nil {
		set("policies", api.Check{Status: string(sources.NotReady), Message: "no configuration loaded"})
	} else {
		set("policies", api.Check{Status: string(sources.OK), Message: l.engine.Digest()})
	}
	if d.draining.Load() {
		set("draining", api.Check{Status: string(sources.NotReady), Message: "shutting down"})
	}
	for name, st := range d.sourcesHealth() {
		health, msg, _ := st.Get()
		// A source still connecting does not make the daemon unready:
		// POST /v1/findings and the inbox work regardless.
		c := api.Check{Status: string(health), Message: msg}
		h.Checks["source."+name] = c
		if health == sources.Error {
			h.Ready = false
		}
	}
	return h
}

// metricsHandler serves the daemon's registry.
func (d *Daemon) metricsHandler() http.Handler {
	return promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{})
}
