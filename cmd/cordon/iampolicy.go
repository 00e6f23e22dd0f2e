package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine"
)

// runIAMPolicy prints the least-privilege IAM policy for the configured
// actions and collectors. It reads the HCL only: the policy follows from
// the blocks, never from the Rego.
func runIAMPolicy(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("iam-policy [-config DIR] [-caller | -forensic] [-split]", "iam-policy [options]")
	m.configFlags(fs)
	m.outputFlags(fs)
	// The output is an IAM policy document, JSON in AWS's own format:
	// -json is accepted, as by every command that prints, and changes
	// nothing.
	m.jsonFlag(fs, "print as JSON (the policy document is JSON already)")
	caller := fs.Bool("caller", false, "print the policy of the identity that assumes the responder role instead")
	forensic := fs.Bool("forensic", false, "print the policy of the role assumed in the forensic account (evidence { forensic_account }) instead")
	// One JSON document on stdout, like the unsplit policy, rather than a
	// directory of files: it pipes and redirects the same way, Terraform
	// reads it with jsondecode(file(…)), and jq picks one element for the
	// AWS CLI.
	split := fs.Bool("split", false, fmt.Sprintf("print a JSON array of policy documents, each within IAM's %d-character limit for a managed policy, "+
		"to attach each as its own managed policy (Terraform: count over jsondecode(file(FILE)); AWS CLI: jq -c '.[N]' FILE)", engine.ManagedPolicyLimit))
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
	var (
		p       engine.IAMPolicy
		command = "cordon iam-policy"
		err     error
	)
	switch {
	case *forensic:
		if p, err = e.ForensicPolicy(); err != nil {
			return m.fail("No forensic account", err)
		}
		command += " -forensic"
	case *caller:
		if p, err = e.CallerPolicy(); err != nil {
			return m.fail("No role to assume", err)
		}
		command += " -caller"
	default:
		p = e.IAMPolicy()
	}
	if *split {
		docs, err := p.Split(engine.ManagedPolicyLimit)
		if err != nil {
			return m.fail("Cannot split the policy", fmt.Errorf("%w: no managed policy can hold them", err))
		}
		if len(docs) == 0 {
			docs = []engine.IAMPolicy{p} // no statements: the one document, as without -split
		}
		if len(docs) > attachedPolicies {
			m.showDiags(hcl.Diagnostics{tooManyWarning(len(docs))})
		}
		m.writeJSON(docs)
		return 0
	}
	if n := p.Size(); n > engine.ManagedPolicyLimit {
		m.showDiags(hcl.Diagnostics{tooLargeWarning(n, command)})
	}
	m.writeJSON(p)
	return 0
}

// tooLargeWarning says that a policy of size characters does not fit one
// managed policy, and how to get documents that do.
func tooLargeWarning(size int, command string) *hcl.Diagnostic {
	detail := fmt.Sprintf("The policy is %d characters (white space not counted), over IAM's limit of %d for a managed policy, so IAM will refuse it as one. "+
		"Run %s -split to print it as a JSON array of documents that each fit, and attach each as its own managed policy.",
		size, engine.ManagedPolicyLimit, command)
	if size <= engine.RoleInlineLimit {
		detail += fmt.Sprintf(" As an inline policy of a role it fits, if the role's inline policies together stay within %d.", engine.RoleInlineLimit)
	}
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Policy too large for one managed policy", Detail: detail}
}

// IAM's quota of managed policies attached to one role: 10, or up to 20
// on request (Service Quotas).
const (
	attachedPolicies    = 10
	attachedPoliciesMax = 20
)

// tooManyWarning says that n managed policies are more than a role holds
// without (or even with) a quota increase.
func tooManyWarning(n int) *hcl.Diagnostic {
	detail := fmt.Sprintf("The policy needs %d managed policies, and IAM attaches at most %d to a role unless its quota is raised (to %d at most, through Service Quotas).",
		n, attachedPolicies, attachedPoliciesMax)
	if n > attachedPoliciesMax {
		detail = fmt.Sprintf("The policy needs %d managed policies, more than IAM attaches to one role even with its quota raised (%d).", n, attachedPoliciesMax)
	}
	detail += " Each account and region a scope names is in the statements' resources: a scope that leaves them open is granted on \"*\" instead, which is smaller but broader."
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Too many managed policies for one role", Detail: detail}
}
