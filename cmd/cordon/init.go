package main

import (
	"context"
	"fmt"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/policies"
)

func runInit(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("init [DIR]", "init [DIR]")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(m.stderr, "cordon init: expected at most one DIR")
		fs.Usage()
		return 1
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	written, err := engine.Init(dir, policies.Starter())
	if err != nil {
		return m.fail("Cannot initialize "+dir, err)
	}
	for _, w := range written {
		fmt.Fprintf(m.stdout, "  created %s\n", w)
	}
	fmt.Fprintf(m.stdout, "\ncordon has been initialized in %s with the starter policies.\n\nNext:\n  cordon validate -config %s\n  cordon plan -config %s -finding FINDING.json\n", dir, dir, dir)
	return 0
}
