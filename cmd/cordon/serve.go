package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/serve"
)

// runServe runs the daemon until SIGTERM or SIGINT, reloading on SIGHUP.
func runServe(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("serve [-config DIR] [-listen ADDR] [options]", "serve [options]")
	m.configFlags(fs)
	var (
		listen, metricsListen, tokenFile string
		logFormat, logLevel, factsPath   string
		shutdownTimeout, rescueAfter     time.Duration
	)
	fs.StringVar(&listen, "listen", serve.DefaultListen, "`ADDR` of the HTTP API (POST /v1/findings, incidents, plans, approvals) and of /livez, /readyz, /metrics")
	fs.StringVar(&metricsListen, "metrics-listen", "", "also serve /livez, /readyz and /metrics on `ADDR`, without a token (e.g. for Prometheus)")
	fs.StringVar(&tokenFile, "token-file", "", "read the API bearer token from `FILE` (default: $CORDON_API_TOKEN; on a loopback -listen without either, one is generated into .cordon/api-token)")
	fs.DurationVar(&shutdownTimeout, "shutdown-timeout", serve.DefaultShutdownTimeout, "on SIGTERM, how long (a `DURATION`) in-flight investigations and applies may take to finish before they are cancelled (they resume at the next start)")
	fs.DurationVar(&rescueAfter, "rescue-after", serve.DefaultRescueAfter, "with a PostgreSQL state: how long (a `DURATION`) an investigation or apply may run before it is presumed dead, cancelled and given to another replica (which resumes it from the journal); keep it above the longest collector timeout and apply")
	fs.StringVar(&logFormat, "log-format", "text", "log `FORMAT` on stderr: text or json")
	fs.StringVar(&logLevel, "log-level", "info", "log `LEVEL`: debug, info, warn or error")
	fs.StringVar(&factsPath, "facts", "", "use facts from `FILE` instead of running collectors (offline trials)")
	fs.BoolVar(&m.debug, "debug", false, "log AWS retries and policy print() output")
	m.outputFlags(fs)
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if !m.noArgs(fs, "serve", pos, "") {
		return 1
	}
	if m.debug {
		logLevel = "debug"
	}
	log, err := newLogger(m, logFormat, logLevel)
	if err != nil {
		fmt.Fprintf(m.stderr, "cordon serve: %v\n", err)
		fs.Usage()
		return 1
	}
	token, err := apiToken(tokenFile)
	if err != nil {
		return m.fail("Cannot read the API token", err)
	}

	eopts := engine.Options{Dir: m.configDir, Vars: m.vars, VarFiles: m.varFiles}
	if m.debug {
		eopts.Debug = &debugLog{log: log}
	}
	d, diags, err := serve.New(ctx, serve.Options{
		Engine: eopts, Listen: listen, MetricsListen: metricsListen, Token: token,
		ShutdownTimeout: shutdownTimeout, Logger: log, FactsFile: factsPath, RescueAfter: rescueAfter,
	})
	if d != nil {
		defer d.Close()
	}
	if err != nil {
		for n, f := range diagFiles(ctx, m) {
			m.files[n] = f
		}
		m.showDiags(diags)
		if !diags.HasErrors() {
			return m.fail("Cannot start cordon serve", err)
		}
		return 1
	}

	// SIGHUP reloads; SIGTERM and SIGINT (main's context) drain and stop.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			select {
			case <-runCtx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading the configuration and policies")
				d.Reload(runCtx) // logs its own outcome
			}
		}
	}()
	if err := d.Run(runCtx); err != nil {
		return m.fail("cordon serve stopped", err)
	}
	return 0
}

// newLogger builds the daemon's logger on stderr.
func newLogger(m *meta, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("unknown -log-level %q: use debug, info, warn or error", level)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(m.stderr, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(m.stderr, o)), nil
	}
	return nil, fmt.Errorf("unknown -log-format %q: use text or json", format)
}

// apiToken reads the API token: -token-file, else $CORDON_API_TOKEN.
func apiToken(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("%s is empty", file)
		}
		return tok, nil
	}
	return strings.TrimSpace(os.Getenv("CORDON_API_TOKEN")), nil
}

// diagFiles loads the configuration's files for diagnostic snippets when
// the daemon could not start.
func diagFiles(ctx context.Context, m *meta) map[string]*hcl.File {
	e, _ := engine.Load(ctx, engine.Options{Dir: m.configDir, Vars: m.vars, VarFiles: m.varFiles})
	if e == nil {
		return nil
	}
	return e.Files()
}

// debugLog turns -debug lines into debug log records.
type debugLog struct{ log *slog.Logger }

func (w *debugLog) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line != "" {
			w.log.Debug(line)
		}
	}
	return len(p), nil
}
