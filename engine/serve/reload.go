package serve

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/internal/wait"
	"github.com/cordonhq/cordon/sources"
)

// ErrReload is a reload refused because the new configuration is not
// valid; the running one stays.
var ErrReload = errors.New("the new configuration is not valid; the running configuration is kept")

// Reload loads the configuration and policies again and swaps them in at
// once (SIGHUP, POST /v1/reload). Investigations already running finish
// with the configuration they started with. A configuration that does not
// load is reported, and the running one keeps serving. Sources restart
// only when their blocks changed.
func (d *Daemon) Reload(ctx context.Context) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	old := d.eng.Load()
	l, diags := d.load(ctx)
	if diags.HasErrors() {
		d.metrics.reloads.WithLabelValues("error").Inc()
		msg := diagnosticsText(diags)
		d.log.Error("reload failed: keeping the running configuration", "error", msg)
		return fmt.Errorf("%w:\n%s", ErrReload, msg)
	}
	d.eng.Store(l)
	d.metrics.reloads.WithLabelValues("ok").Inc()
	cfg := l.engine.Config()
	d.log.Info("configuration reloaded", "digest", l.engine.Digest(), "previous_digest", old.engine.Digest(), "rules", len(cfg.Rules))
	if oc := old.engine.Config().Serve.MaxConcurrent; oc != cfg.Serve.MaxConcurrent {
		d.log.Warn("serve.max_concurrent changed; it takes effect at the next start", "running", oc, "configured", cfg.Serve.MaxConcurrent)
	}
	if sourcesKey(old.engine.Config()) != sourcesKey(cfg) {
		d.log.Info("sources changed: restarting them")
		d.stopAllSources()
		if !d.draining.Load() {
			d.startSources(context.WithoutCancel(ctx))
		}
	}
	return nil
}

// diagnosticsText renders diagnostics as lines "file:line,col: summary:
// detail" for logs and API errors.
func diagnosticsText(diags hcl.Diagnostics) string {
	var lines []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		line := d.Summary
		if d.Detail != "" {
			line += ": " + d.Detail
		}
		if d.Subject != nil {
			line = d.Subject.String() + ": " + line
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// sourcesKey identifies the source blocks of a configuration.
func sourcesKey(cfg *config.Config) string {
	var parts []string
	for _, s := range cfg.Sources {
		b, _ := ctyjson.Marshal(s.Config, s.Config.Type())
		parts = append(parts, s.Address()+"="+string(b))
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n")
}

// startSources starts the configuration's sources. Each runs until
// stopAllSources; one that fails is restarted after a backoff, and its
// status says why meanwhile.
func (d *Daemon) startSources(parent context.Context) {
	d.sourcesMu.Lock()
	defer d.sourcesMu.Unlock()
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	d.stopSources, d.sourcesDone = cancel, done
	statuses := map[string]*sources.Status{}
	cfg := d.engine().Config()
	remaining := len(cfg.Sources)
	if remaining == 0 {
		close(done)
	}
	finished := make(chan struct{}, len(cfg.Sources))
	for _, s := range cfg.Sources {
		st := sources.NewStatus()
		statuses[s.Address()] = st
		env := &sources.Env{Name: s.Address(), Sink: d.inbox, AWS: d.aws, Logger: d.log.With("source", s.Address()), Status: st, Now: d.now}
		go func() {
			defer func() { finished <- struct{}{} }()
			backoff := time.Second
			for {
				err := d.runSource(ctx, s, env)
				if ctx.Err() != nil {
					return
				}
				st.Set(sources.Error, err.Error())
				env.Logger.Error("source stopped; restarting", "error", err, "in", backoff)
				if wait.Sleep(ctx, backoff) != nil {
					return
				}
				backoff = min(backoff*2, time.Minute)
			}
		}()
	}
	if remaining > 0 {
		go func() {
			for range remaining {
				<-finished
			}
			close(done)
		}()
	}
	d.sourceStatus = statuses
}

// runSource runs one source, turning a panic into an error.
func (d *Daemon) runSource(ctx context.Context, s *config.Source, env *sources.Env) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in source %s: %v", s.Address(), r)
		}
	}()
	err = s.Impl.Run(ctx, env)
	if err == nil && ctx.Err() == nil {
		err = errors.New("the source stopped")
	}
	return err
}

// stopAllSources stops the sources and waits for them to hand over what
// they were committing.
func (d *Daemon) stopAllSources() {
	d.sourcesMu.Lock()
	stop, done := d.stopSources, d.sourcesDone
	d.stopSources, d.sourcesDone = nil, nil
	d.sourcesMu.Unlock()
	if stop == nil {
		return
	}
	stop()
	<-done
}

// sourcesHealth returns each source's condition.
func (d *Daemon) sourcesHealth() map[string]*sources.Status {
	d.sourcesMu.Lock()
	defer d.sourcesMu.Unlock()
	out := make(map[string]*sources.Status, len(d.sourceStatus))
	for k, v := range d.sourceStatus {
		out[k] = v
	}
	return out
}
