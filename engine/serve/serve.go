// Package serve is `cordon serve` (docs/daemon.md): the daemon that runs the
// engine's pipeline on live findings, unattended, under the same state,
// target locks, guardrails and audit trail as `cordon apply`.
//
// The daemon is built around the inbox in state. Sources (HTTP POST
// /v1/findings, and the plug-ins of package sources) hand what they
// receive to the inbox, which records each finding as a delivery and only
// then lets the source acknowledge it. A dispatcher hands queued deliveries
// to a bounded pool of workers; a worker plans the response, applies it
// or holds it for approval, and records the outcome. Because the work is
// in state and not in memory, a daemon killed at any point and started
// again finishes what was in flight; the apply journal makes sure no
// completed action is repeated.
//
// The HTTP API lives in package api, which sees the daemon only through
// the api.Service interface, as OPA's server sees its runtime.
package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/engine/serve/api"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/sources"
)

// Options configure a daemon.
type Options struct {
	// Engine loads the configuration: the directory, variables, debug.
	// Reloads use the same options.
	Engine engine.Options
	// Listen is the API's address (default 127.0.0.1:8080). MetricsListen,
	// when set, serves /livez, /readyz and /metrics on a second address
	// too (they are always on the API's).
	Listen        string
	MetricsListen string
	// Token is the API's bearer token. Empty on a loopback address: a
	// token is generated and written to TokenFile; refused otherwise.
	Token string
	// TokenFile is where a generated token is written (default
	// .cordon/api-token in the configuration directory).
	TokenFile string
	// ShutdownTimeout bounds how long SIGTERM waits for in-flight work.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger

	// Store replaces the configuration's state backend (tests).
	Store state.Store
	// AWS replaces the AWS clients built from the provider block (tests,
	// the demo).
	AWS *awsclient.Factory
	// FactsFile replaces running collectors with recorded facts (plan
	// -facts), for trying the daemon offline and for benchmarks.
	FactsFile string
	// HTTP posts notifications; default a client with sane timeouts.
	HTTP *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnListen is called with the API's and the metrics' addresses once
	// they listen (tests bind port 0).
	OnListen func(api, metrics string)
	// ScanInterval and ExpireInterval tune how often the inbox is scanned
	// and pending plans are expired (defaults 1s and 30s).
	ScanInterval, ExpireInterval time.Duration
	// RescueAfter is, on PostgreSQL, how long a job may run before another
	// replica takes it over (default DefaultRescueAfter).
	RescueAfter time.Duration
	// AccessRetry is the first wait before an apply that found no AWS
	// access is tried again (default DefaultAccessRetry).
	AccessRetry time.Duration
}

// Default API address and shutdown bound.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultShutdownTimeout = 30 * time.Second
)

// Daemon is a running `cordon serve`.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	store   state.Store
	aws     *awsclient.Factory
	metrics *metrics
	inbox   *inbox

	dispatch workQueue
	// retries puts off the applies that found no AWS access (retry.go).
	retries  *accessRetries
	eng      atomic.Pointer[loaded]
	reloadMu sync.Mutex

	draining atomic.Bool
	circuit  atomic.Bool
	token    string

	reactMu  sync.Mutex
	reacting map[string]time.Time // incident id → its finding's arrival

	sourcesMu     sync.Mutex
	stopSources   context.CancelFunc
	sourcesDone   chan struct{}
	sourceStatus  map[string]*sources.Status
	release       func() error
	releaseClosed bool
}

// loaded is one configuration the daemon runs: the engine and its facts.
type loaded struct {
	engine *engine.Engine
	facts  *engine.FactsFile
}

// New loads the configuration, opens state and prepares the daemon. Run
// starts it.
func New(ctx context.Context, opts Options) (*Daemon, hcl.Diagnostics, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &Daemon{opts: opts, log: opts.Logger, reacting: map[string]time.Time{}, sourceStatus: map[string]*sources.Status{},
		retries: newAccessRetries(opts.AccessRetry)}
	l, diags := d.load(ctx)
	if diags.HasErrors() {
		return nil, diags, errors.New("the configuration is not valid")
	}
	d.eng.Store(l)

	if err := d.checkToken(l.engine.Config()); err != nil {
		return nil, diags, err
	}
	d.store = opts.Store
	if d.store == nil {
		st, err := l.engine.OpenState()
		if err != nil {
			return nil, diags, fmt.Errorf("opening state: %w", err)
		}
		d.store = st
	}
	d.aws = opts.AWS
	if d.aws == nil {
		f, err := l.engine.AWSFactory(ctx, nil)
		if err != nil {
			// Collectors and actions record the failure; the daemon still
			// receives and records findings.
			d.log.Warn("no AWS access: collectors and actions will fail until it is configured", "error", err)
		}
		d.aws = f
	}
	d.metrics = newMetrics(d.inboxLag)
	d.inbox = newInbox(d)
	if q, ok, err := d.riverQueue(ctx); err != nil {
		return nil, diags, err
	} else if ok {
		d.dispatch = q
	} else {
		p := newDispatcher(d, l.engine.Config().Serve.MaxConcurrent)
		if opts.ScanInterval > 0 {
			p.scan = opts.ScanInterval
		}
		d.dispatch = &localQueue{p: p, workers: l.engine.Config().Serve.MaxConcurrent}
	}
	return d, diags, nil
}

// load loads the configuration and its facts file.
func (d *Daemon) load(ctx context.Context) (*loaded, hcl.Diagnostics) {
	e, diags := engine.Load(ctx, d.opts.Engine)
	if diags.HasErrors() {
		return nil, diags
	}
	l := &loaded{engine: e}
	if d.opts.FactsFile != "" {
		ff, err := e.ReadFactsFile(d.opts.FactsFile)
		if err != nil {
			return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid facts file", Detail: err.Error()})
		}
		l.facts = ff
	}
	return l, diags
}

func (d *Daemon) engine() *engine.Engine   { return d.eng.Load().engine }
func (d *Daemon) facts() *engine.FactsFile { return d.eng.Load().facts }

func (d *Daemon) now() time.Time {
	if d.opts.Now != nil {
		return d.opts.Now()
	}
	return time.Now()
}

// Store returns the daemon's state.
func (d *Daemon) Store() state.Store { return d.store }

// Sink returns the daemon's inbox, which sources hand findings to.
func (d *Daemon) Sink() sources.Sink { return d.inbox }

// checkToken makes sure the API has a token: the one given, or on a
// loopback address one generated and written for local clients. A
// non-loopback address without one is refused (docs/daemon.md).
func (d *Daemon) checkToken(cfg *config.Config) error {
	if d.opts.Token != "" {
		d.token = d.opts.Token
		return nil
	}
	host, _, err := net.SplitHostPort(d.opts.Listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", d.opts.Listen, err)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("refusing to serve the API on %s without a token: set CORDON_API_TOKEN or -token-file, or listen on a loopback address", d.opts.Listen)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	d.token = hex.EncodeToString(buf)
	path := d.opts.TokenFile
	if path == "" {
		path = filepath.Join(cfg.Dir, ".cordon", "api-token")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("writing the API token: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(d.token+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the API token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing the API token: %w", err)
	}
	d.log.Info("no API token configured: generated one for local clients", "token_file", path)
	return nil
}

// Run serves until ctx is done, then drains (docs/daemon.md): readiness fails,
// sources stop receiving, the API stops taking findings, in-flight work
// finishes within the shutdown timeout, and Run returns nil. Work not
// finished stays queued in state for the next start.
func (d *Daemon) Run(ctx context.Context) error {
	if err := d.lockState(ctx); err != nil {
		return err
	}
	defer d.unlockState()

	handler := api.New(d, api.Options{Token: d.token, Logger: d.log, Metrics: d.metricsHandler()})
	apiLn, err := net.Listen("tcp", d.opts.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", d.opts.Listen, err)
	}
	servers := []*http.Server{newServer(handler, d.log)}
	listeners := []net.Listener{apiLn}
	metricsAddr := ""
	if d.opts.MetricsListen != "" {
		mln, err := net.Listen("tcp", d.opts.MetricsListen)
		if err != nil {
			apiLn.Close()
			return fmt.Errorf("listening on %s: %w", d.opts.MetricsListen, err)
		}
		servers = append(servers, newServer(api.Diagnostics(d, d.metricsHandler()), d.log))
		listeners = append(listeners, mln)
		metricsAddr = mln.Addr().String()
	}

	// Work runs under its own context: on shutdown it gets the timeout to
	// finish before it is cancelled.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var inboxWG sync.WaitGroup
	inboxCtx, stopInbox := context.WithCancel(workCtx)
	inboxWG.Add(1)
	go d.inbox.run(inboxCtx, &inboxWG)
	if err := d.dispatch.start(workCtx); err != nil {
		stopInbox()
		apiLn.Close()
		return fmt.Errorf("starting the work queue: %w", err)
	}
	expireCtx, stopExpire := context.WithCancel(workCtx)
	defer stopExpire()
	expireEvery := d.opts.ExpireInterval
	if expireEvery <= 0 {
		expireEvery = 30 * time.Second
	}
	go d.expireLoop(expireCtx, expireEvery)

	serveErr := make(chan error, len(servers))
	for i, s := range servers {
		go func() {
			if err := s.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		}()
	}
	d.startSources(workCtx)
	cfg := d.engine().Config()
	d.log.Info("cordon serve started", "listen", apiLn.Addr().String(), "metrics", metricsAddr, "version", engine.Version,
		"sources", len(cfg.Sources)+1, "max_concurrent", cfg.Serve.MaxConcurrent, "dry_run", cfg.Serve.DryRun)
	if d.opts.OnListen != nil {
		d.opts.OnListen(apiLn.Addr().String(), metricsAddr)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
		d.log.Error("the API server failed", "error", runErr)
	}

	// Drain.
	d.draining.Store(true)
	d.log.Info("shutting down: no new findings; finishing what is in flight", "timeout", d.opts.ShutdownTimeout)
	deadline := time.Now().Add(d.opts.ShutdownTimeout)
	d.stopAllSources()
	shutCtx, cancelShut := context.WithDeadline(context.Background(), deadline)
	for _, s := range servers {
		s.Shutdown(shutCtx)
	}
	cancelShut()
	stopInbox()
	inboxWG.Wait()
	stopExpire()
	if d.dispatch.stop(deadline) {
		d.log.Info("shut down cleanly")
	} else {
		d.log.Warn("shutdown timeout: cancelled in-flight work; it stays queued and resumes at the next start")
	}
	return runErr
}

func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// lockState keeps a second daemon off a SQLite state: its workers would
// race this one's for the same inbox. (A PostgreSQL state is shared by
// replicas that claim work through the database instead.)
func (d *Daemon) lockState(ctx context.Context) error {
	if _, replicated := d.store.(pooled); replicated {
		return nil
	}
	release, err := d.store.Lock(ctx, []string{"daemon"}, ownerName(), 0)
	if err != nil {
		var le *state.LockError
		if errors.As(err, &le) {
			return fmt.Errorf("another cordon serve is running on this state: %w", err)
		}
		return err
	}
	d.release = release
	return nil
}

func (d *Daemon) unlockState() {
	if d.release != nil {
		d.release()
	}
}

// Close closes the state the daemon opened.
func (d *Daemon) Close() error {
	if d.opts.Store != nil {
		return nil
	}
	return d.store.Close()
}

func ownerName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("cordon serve (pid %d on %s)", os.Getpid(), host)
}

// applyOptions are the options of the daemon's applies, logging each
// action through log.
func (d *Daemon) applyOptions(log *slog.Logger) engine.ApplyOptions {
	return engine.ApplyOptions{
		Store:       d.store,
		AWS:         d.aws,
		HTTP:        d.opts.HTTP,
		LockTimeout: 2 * time.Minute,
		Owner:       ownerName(),
		Progress:    &logWriter{log: log},
		OnChange:    d.reacted,
		Now:         d.opts.Now,
	}
}

// reactionStart remembers when the finding of an incident about to be
// applied arrived, to measure the reaction when its first change is made.
func (d *Daemon) reactionStart(incident string, arrived time.Time) {
	d.reactMu.Lock()
	d.reacting[incident] = arrived
	d.reactMu.Unlock()
}

// reacted observes the reaction time at an incident's first change.
func (d *Daemon) reacted(incident, address, typ string) {
	d.reactMu.Lock()
	arrived, ok := d.reacting[incident]
	delete(d.reacting, incident)
	d.reactMu.Unlock()
	if ok && address != "" {
		d.metrics.reactions.Observe(d.now().Sub(arrived).Seconds())
	}
}
