package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
)

func runVersion(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("version [-json]", "version")
	fs.BoolVar(&m.jsonOut, "json", false, "print as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if m.jsonOut {
		m.writeJSON(map[string]string{
			"cordon_version":      engine.Version,
			"plan_format_version": plan.FormatVersion,
			"platform":            runtime.GOOS + "_" + runtime.GOARCH,
			"go_version":          runtime.Version(),
		})
		return 0
	}
	fmt.Fprintf(m.stdout, "cordon v%s\non %s_%s\n", engine.Version, runtime.GOOS, runtime.GOARCH)
	return 0
}
