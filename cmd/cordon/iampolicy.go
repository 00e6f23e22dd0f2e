package main

import (
	"context"
	"fmt"
)

// runIAMPolicy prints the least-privilege IAM policy for the configured
// actions and collectors.
func runIAMPolicy(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("iam-policy [-config DIR] [-caller]", "iam-policy [options]")
	m.configFlags(fs)
	caller := fs.Bool("caller", false, "print the policy of the identity that assumes the responder role instead")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(m.stderr, "cordon iam-policy: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 1
	}
	e, diags := m.loadEngine(ctx, false)
	if diags.HasErrors() {
		m.showDiags(diags)
		return 1
	}
	if *caller {
		p, err := e.CallerPolicy()
		if err != nil {
			return m.fail("No role to assume", err)
		}
		m.writeJSON(p)
		return 0
	}
	m.writeJSON(e.IAMPolicy())
	return 0
}
