package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/internal/ui"
)

// versionDocument is `cordon version -json`.
type versionDocument struct {
	FormatVersion     string `json:"format_version"`
	CordonVersion     string `json:"cordon_version"`
	PlanFormatVersion string `json:"plan_format_version"`
	Platform          string `json:"platform"`
	GoVersion         string `json:"go_version"`
}

func runVersion(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("version [-json]", "version [options]")
	m.outputFlags(fs)
	m.jsonFlag(fs, "print as JSON")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if !m.noArgs(fs, "version", pos, "") {
		return 1
	}
	if m.jsonOut {
		m.writeJSON(versionDocument{
			FormatVersion:     ui.FormatVersion,
			CordonVersion:     engine.Version,
			PlanFormatVersion: plan.FormatVersion,
			Platform:          runtime.GOOS + "_" + runtime.GOARCH,
			GoVersion:         runtime.Version(),
		})
		return 0
	}
	fmt.Fprintf(m.stdout, "cordon v%s\non %s_%s\n", engine.Version, runtime.GOOS, runtime.GOARCH)
	return 0
}
