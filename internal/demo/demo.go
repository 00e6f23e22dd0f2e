// Package demo holds what `cordon demo` and `cordon emulator` run without
// any files: a small fleet for the emulator and GuardDuty findings about
// it.
package demo

import (
	_ "embed"

	"github.com/cordonhq/cordon/internal/awsemu"
)

//go:embed fleet.json
var fleetJSON []byte

// Fleet returns the demo fleet's seed: a security account where cordon's
// user lives, and a production account (123456789012, us-west-2) with a
// web server, a bastion and an exempt CI runner, and the role cordon
// assumes there.
func Fleet() (*awsemu.Seed, error) {
	return awsemu.ParseSeed(fleetJSON)
}

// The demo's identities and resources.
const (
	SecurityAccount  = "999988887777"
	ProdAccount      = "123456789012"
	Region           = "us-west-2"
	CordonAccessKey  = "AKIAEMUCORDONDEMO001"
	CordonSecretKey  = "emulator/demo/secret/not/a/real/one/000"
	ResponderRoleARN = "arn:aws:iam::{account}:role/cordon-responder"
	IsolationGroupID = "sg-0e1f2a3b4c5d6e7f8"
)
