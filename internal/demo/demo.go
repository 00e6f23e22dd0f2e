// Package demo holds what `cordon demo` and `cordon emulator` run without
// any files: a small fleet for the emulator and GuardDuty findings about
// it.
package demo

import (
	"fmt"

	_ "embed"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsemu"
)

//go:embed fleet.json
var fleetJSON []byte

// Fleet returns the demo fleet's seed: a security account where cordon's
// user lives, with the evidence bucket and the memory acquisition tool,
// and a production account (123456789012, us-west-2) with a web server, a
// bastion and an exempt CI runner, and the role cordon assumes there.
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

// Where the demo keeps evidence, as the starter's evidence block and
// memory collector expect it: a bucket with Object Lock in the security
// account, which the production account may write to, and the pinned
// acquisition tool in another (fleet.json holds both). The tool is a
// stand-in that the emulator's hosts download and hash as real hosts do,
// and never run.
const (
	EvidenceBucket   = "cordon-demo-evidence"
	MemoryToolURI    = "s3://cordon-demo-tools/avml/avml-0.14.0"
	MemoryToolSHA256 = "98b8e3d0c51cb54864b5aef66dc7b0dc300d3fd40ddd593a58154e42a8961e69"
)

// StarterValues are the values the demo gives the starter configuration's
// variables: the fleet's isolation group, where notifications go, and the
// evidence bucket and memory tool, so that an instance's memory is
// acquired before it is stopped.
func StarterValues(webhookURL string) map[string]cty.Value {
	return map[string]cty.Value{
		"isolation_sg":       cty.StringVal(IsolationGroupID),
		"webhook_url":        cty.StringVal(webhookURL),
		"evidence_bucket":    cty.StringVal(EvidenceBucket),
		"memory_tool_s3_uri": cty.StringVal(MemoryToolURI),
		"memory_tool_sha256": cty.StringVal(MemoryToolSHA256),
	}
}

// ScaledFleet is the demo fleet with n more copies of web-1 in the prod
// account (n at most 200), each with its own instance, network interface
// and volumes: for load and replica tests, where every finding must act on
// a target no other finding touches. It returns the copies' instance and
// network interface ids.
func ScaledFleet(n int) (*awsemu.Seed, [][2]string, error) {
	if n > 200 {
		return nil, nil, fmt.Errorf("at most 200 copies fit web-1's subnet, not %d", n)
	}
	seed, err := Fleet()
	if err != nil {
		return nil, nil, err
	}
	var acct *awsemu.SeedAccount
	for i := range seed.Accounts {
		if seed.Accounts[i].ID == ProdAccount {
			acct = &seed.Accounts[i]
		}
	}
	region := acct.Regions[Region]
	var web1 awsemu.SeedInstance
	for _, in := range region.Instances {
		if in.ID == "i-0a1b2c3d4e5f67890" {
			web1 = in
		}
	}
	var out [][2]string
	for i := range n {
		in := web1
		in.ID = fmt.Sprintf("i-%017x", 0xbe0000+i)
		in.Tags = map[string]string{"Name": fmt.Sprintf("copy-%d", i)}
		eni := web1.NetworkInterfaces[0]
		eni.ID = fmt.Sprintf("eni-%017x", 0xbe0000+i)
		eni.PrivateIP = fmt.Sprintf("10.0.1.%d", 30+i)
		eni.PublicIP = ""
		in.NetworkInterfaces = []awsemu.SeedENI{eni}
		in.Volumes = nil
		for j, v := range web1.Volumes {
			v.ID = fmt.Sprintf("vol-%016x%d", 0xbe0000+i, j)
			in.Volumes = append(in.Volumes, v)
		}
		in.AutoScalingGroup, in.TargetGroups, in.LoadBalancers = "", nil, nil
		region.Instances = append(region.Instances, in)
		out = append(out, [2]string{in.ID, eni.ID})
	}
	acct.Regions[Region] = region
	if err := seed.Validate(); err != nil {
		return nil, nil, err
	}
	return seed, out, nil
}
