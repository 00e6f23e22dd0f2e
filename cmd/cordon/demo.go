package main

import (
	"context"
	"fmt"

	"github.com/cordonhq/cordon/internal/demo"
)

// runDemo runs cordon end to end on a fresh machine: no account, no
// credentials, no files.
func runDemo(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("demo [-no-color] [-debug]", "demo [options]")
	m.outputFlags(fs)
	fs.BoolVar(&m.debug, "debug", false, "show AWS retries and policy print() output on stderr")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(m.stderr, "cordon demo: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 1
	}
	o := demo.Options{Out: m.stdout, Color: m.color(m.stdout)}
	if m.debug {
		o.Debug = m.stderr
	}
	if err := demo.Run(ctx, o); err != nil {
		return m.fail("Demo failed", err)
	}
	return 0
}
