package main

import (
	"context"
	"os"

	"github.com/cordonhq/cordon/internal/demo"
)

// runDemo runs cordon end to end on a fresh machine: no account, no
// credentials, no files.
func runDemo(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("demo [-serve] [-no-color] [-debug] [-state-dir DIR]", "demo [options]")
	serveDemo := fs.Bool("serve", false, "run the daemon demo instead: cordon serve reads an SQS queue, contains a finding with no command typed, and holds a plan for approval")
	m.outputFlags(fs)
	fs.BoolVar(&m.debug, "debug", false, "show AWS retries and policy print() output on stderr")
	stateDir := fs.String("state-dir", "", "keep the demo's state in `DIR` (created 0700), for cordon state and cordon report; default a temporary directory, removed")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if !m.noArgs(fs, "demo", pos, "") {
		return 1
	}
	o := demo.Options{Out: m.stdout, Color: m.color(m.stdout)}
	if *stateDir != "" {
		if err := os.MkdirAll(*stateDir, 0o700); err != nil {
			return m.fail("Demo failed", err)
		}
		o.StateDir = *stateDir
	}
	if m.debug {
		o.Debug = m.stderr
	}
	run := demo.Run
	if *serveDemo {
		run = demo.RunServe
	}
	if err := run(ctx, o); err != nil {
		return m.fail("Demo failed", err)
	}
	return 0
}
