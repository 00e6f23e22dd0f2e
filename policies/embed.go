// Package policies is cordon's starter policy set: the configuration that
// `cordon init DIR` writes out and `cordon demo` runs.
//
// Its files form a configuration directory. cordon.hcl declares the scopes,
// collectors, actions and an automation rule for every family of GuardDuty
// findings (EC2, Runtime Monitoring, EKS audit logs, RDS, Lambda, S3, S3
// malware, IAM, attack sequences) and a catch-all for any other high or
// critical finding; rego/ holds the verdict and response policies they
// name, with their unit tests; testdata/ holds recorded GuardDuty findings
// and collector facts to plan them against offline, and tests/ the
// scenario tests that pin what each rule plans for them (`cordon test`).
// The files are embedded so the binary carries a working configuration, and
// they are plain files so a team can read, test and change them like their
// own.
package policies

import (
	"embed"
	"io/fs"
)

// FS holds the starter configuration directory, rooted at the directory
// itself: cordon.hcl is at its top.
//
//go:embed cordon.hcl rego tests testdata/README.md testdata/findings testdata/facts
var FS embed.FS

// Starter returns the starter configuration directory, for writing out
// (cordon init) or loading in place (cordon demo).
func Starter() fs.FS { return FS }
