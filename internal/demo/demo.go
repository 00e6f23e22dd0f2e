// Package demo holds what `cordon demo` and `cordon emulator` run without
// any files: a small fleet for the emulator and GuardDuty findings about
// it.
package demo

import (
	"fmt"

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
