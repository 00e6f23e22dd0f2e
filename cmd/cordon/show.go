package main

import (
	"context"
	"fmt"

	"github.com/cordonhq/cordon/engine/plan"
)

func runShow(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("show PLANFILE [-json]", "show [options] PLANFILE")
	m.outputFlags(fs)
	fs.BoolVar(&m.jsonOut, "json", false, "print the plan as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(m.stderr, "cordon show: expected exactly one PLANFILE")
		fs.Usage()
		return 1
	}
	f, err := plan.Read(fs.Arg(0))
	if err != nil {
		return m.fail("Cannot read plan file", err)
	}
	if m.jsonOut {
		f.Plan.WriteJSON(m.stdout)
		return 0
	}
	f.Plan.Render(m.stdout, plan.RenderOptions{Color: m.color(m.stdout)})
	return 0
}
