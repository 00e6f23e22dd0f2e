package main

import (
	"context"
	"errors"
)

// runIAMPolicy prints the least-privilege IAM policy for the configured
// actions and collectors. It reads the HCL only: the policy follows from
// the blocks, never from the Rego.
func runIAMPolicy(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("iam-policy [-config DIR] [-caller | -forensic]", "iam-policy [options]")
	m.configFlags(fs)
	m.outputFlags(fs)
	// The output is an IAM policy document, JSON in AWS's own format:
	// -json is accepted, as by every command that prints, and changes
	// nothing.
	m.jsonFlag(fs, "print as JSON (the policy document is JSON already)")
	caller := fs.Bool("caller", false, "print the policy of the identity that assumes the responder role instead")
	forensic := fs.Bool("forensic", false, "print the policy of the role assumed in the forensic account (evidence { forensic_account }) instead")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if !m.noArgs(fs, "iam-policy", pos, "") {
		return 1
	}
	e, diags := m.loadConfig(ctx)
	if diags.HasErrors() {
		m.showDiags(diags)
		return 1
	}
	m.showDiags(diags)
	if *caller && *forensic {
		return m.fail("Conflicting flags", errors.New("-caller and -forensic each print another policy: give one"))
	}
	if *forensic {
		p, err := e.ForensicPolicy()
		if err != nil {
			return m.fail("No forensic account", err)
		}
		m.writeJSON(p)
		return 0
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
