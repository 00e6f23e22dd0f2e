package actions

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsemu"
)

// Isolation in every VPC: the fleet's prod account has a VPC in us-east-1
// (with a hand-made, untagged cordon-isolation group) and one in
// us-west-2 (with none); the tests add a staging account with a third VPC
// and three instances.

const (
	stagingAccount = "222233334444"
	stagingVPC     = "vpc-0c1b2c3d4e5f60001"
	westVPC        = "vpc-0b1b2c3d4e5f60001"
	westBuilder    = "i-0b1b2c3d4e5f60101" // prod, us-west-2
)

var stagingInstances = []string{"i-0c1b2c3d4e5f60101", "i-0c1b2c3d4e5f60102", "i-0c1b2c3d4e5f60103"}

// withStaging adds the staging account, whose cordon-responder role the
// security account may assume, with one VPC and three instances.
func withStaging(s *awsemu.Seed) {
	r := awsemu.SeedRegion{
		VPCs:           []awsemu.SeedVPC{{ID: stagingVPC, CIDR: "10.20.0.0/16"}},
		Subnets:        []awsemu.SeedSubnet{{ID: "subnet-0c1b2c3d4e5f60011", VPC: stagingVPC, AvailabilityZone: "us-east-1a", CIDR: "10.20.1.0/24"}},
		SecurityGroups: []awsemu.SeedSecurityGroup{{ID: "sg-0c1b2c3d4e5f60021", Name: "app", VPC: stagingVPC}},
	}
	for _, id := range stagingInstances {
		r.Instances = append(r.Instances, awsemu.SeedInstance{ID: id, Type: "t3.small", Tags: map[string]string{"env": "staging"},
			NetworkInterfaces: []awsemu.SeedENI{{Subnet: "subnet-0c1b2c3d4e5f60011", Groups: []string{"sg-0c1b2c3d4e5f60021"}}},
			Volumes:           []awsemu.SeedVolume{{Device: "/dev/xvda", SizeGB: 8}}})
	}
	s.Accounts = append(s.Accounts, awsemu.SeedAccount{ID: stagingAccount, Alias: "staging",
		Roles:   []awsemu.SeedRole{{Name: "cordon-responder", Trust: []string{"444455556666"}}},
		Regions: map[string]awsemu.SeedRegion{"us-east-1": r}})
}

// requestIn is a request against an instance of any account and region.
func requestIn(account, reg, id string) *Request {
	req := instanceRequest(id)
	req.Target.Account, req.Target.Region = account, reg
	req.Finding.Account, req.Finding.Region = account, reg
	return req
}

func (te *testEnv) regionOf(account, reg string) *awsemu.Region {
	return te.emu.Snapshot().Accounts[account].Regions[reg]
}

// groupsOf is the groups of an instance's interfaces.
func (te *testEnv) groupsOf(account, reg, id string) [][]string {
	r := te.regionOf(account, reg)
	var out [][]string
	for _, eni := range r.Instances[id].NetworkInterfaces {
		out = append(out, r.NetworkInterfaces[eni].Groups)
	}
	return out
}

// callsNamed counts the calls of an action, by error code ("" for
// success).
func callsNamed(te *testEnv, action string) map[string]int {
	out := map[string]int{}
	for _, c := range te.emu.Calls() {
		if c.Action() == action {
			out[c.ErrorCode]++
		}
	}
	return out
}

// With no group configured, every VPC gets the isolation group it has
// (found by tag, or by name) or one cordon creates once: three VPCs in
// two accounts and two regions, a fourth instance reusing a group made
// for the third, revert restoring the groups and leaving the isolation
// group in place.
func TestEC2IsolateEveryVPC(t *testing.T) {
	te := newTestEnvSeed(t, withStaging)
	ex := newExecutor(t, "aws_ec2_isolate", nil)
	ctx := context.Background()
	targets := []struct {
		name            string
		account, region string
		id, vpc         string
		// existing is the group the VPC already has; "" when cordon
		// must create one.
		existing string
	}{
		{"a VPC with a group named cordon-isolation", prodAccount, region, ec2Fleet.web1, "vpc-0a1b2c3d4e5f60001", ec2Fleet.sgIsolation},
		{"another region", prodAccount, "us-west-2", westBuilder, westVPC, ""},
		{"another account", stagingAccount, region, stagingInstances[0], stagingVPC, ""},
	}
	groupOf := map[string]string{}
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			req := requestIn(tc.account, tc.region, tc.id)
			initial := te.groupsOf(tc.account, tc.region, tc.id)
			created := callsNamed(te, "ec2:CreateSecurityGroup")[""]
			before, after := applyTwice(t, te, ex, req, "created_security_groups")

			r := te.regionOf(tc.account, tc.region)
			var g *awsemu.SecurityGroup
			for _, sg := range r.SecurityGroups {
				if sg.VPC == tc.vpc && sg.Name == "cordon-isolation" {
					g = sg
				}
			}
			if g == nil {
				t.Fatalf("no cordon-isolation group in %s", tc.vpc)
			}
			groupOf[tc.vpc] = g.ID
			if len(g.Ingress)+len(g.Egress) != 0 {
				t.Errorf("isolation group %s has rules: in %+v out %+v", g.ID, g.Ingress, g.Egress)
			}
			for _, groups := range te.groupsOf(tc.account, tc.region, tc.id) {
				if !slices.Equal(groups, []string{g.ID}) {
					t.Errorf("interface groups %v; want [%s]", groups, g.ID)
				}
			}
			if got := after["isolation_groups"]; !jsonEqual(got, map[string]any{tc.vpc: g.ID}) {
				t.Errorf("isolation_groups = %v", got)
			}
			newGroups := callsNamed(te, "ec2:CreateSecurityGroup")[""] - created
			if tc.existing != "" {
				if g.ID != tc.existing || newGroups != 0 || after["created_security_groups"] != nil {
					t.Errorf("used %s (created %d, %v); want the existing %s", g.ID, newGroups, after["created_security_groups"], tc.existing)
				}
			} else {
				if newGroups != 1 || g.Tags[IsolationTagKey] != "true" || !jsonEqual(after["created_security_groups"], []any{g.ID}) {
					t.Errorf("created %d groups, tags %v, after %v", newGroups, g.Tags, after["created_security_groups"])
				}
			}
			if !jsonEqual(viaJSON(t, before)["security_groups"], list(initial[0])) {
				t.Errorf("before = %v; initial groups %v", before, initial)
			}
		})
	}

	// Another instance of the staging VPC finds the group made above.
	n := callsNamed(te, "ec2:CreateSecurityGroup")
	req := requestIn(stagingAccount, region, stagingInstances[1])
	live, err := ex.Read(ctx, te.env, req)
	if err != nil {
		t.Fatal(err)
	}
	after, changed, err := ex.Apply(ctx, te.env, req, live)
	if err != nil || !changed {
		t.Fatalf("Apply: %v %v", changed, err)
	}
	if got := callsNamed(te, "ec2:CreateSecurityGroup"); !jsonEqual(got, n) || after["created_security_groups"] != nil {
		t.Errorf("a second instance in the VPC made a group: %v, %v", got, after)
	}
	if g := te.groupsOf(stagingAccount, region, stagingInstances[1]); !slices.Equal(g[0], []string{groupOf[stagingVPC]}) {
		t.Errorf("groups %v; want the VPC's isolation group %s", g, groupOf[stagingVPC])
	}

	// Revert restores the groups and keeps the shared isolation group.
	if _, err := ex.(Reverter).Revert(ctx, te.env, req, viaJSON(t, live), after); err != nil {
		t.Fatal(err)
	}
	if g := te.groupsOf(stagingAccount, region, stagingInstances[1]); !slices.Equal(g[0], []string{"sg-0c1b2c3d4e5f60021"}) {
		t.Errorf("groups after revert %v", g)
	}
	if te.regionOf(stagingAccount, region).SecurityGroups[groupOf[stagingVPC]] == nil {
		t.Error("revert deleted the VPC's isolation group")
	}
	ec2CheckPermissions(t, te, ex)
}

// Applies that create the isolation group of one VPC at once make one
// group: the losers of the race on its name (InvalidGroup.Duplicate)
// find the winner's.
func TestEC2IsolateConcurrentCreation(t *testing.T) {
	te := newTestEnvSeed(t, withStaging)
	// Creating is slow, so every apply has looked (and found nothing)
	// before the first group exists.
	te.emu.Faults().Latency("ec2:CreateSecurityGroup", 300*time.Millisecond)
	ex := newExecutor(t, "aws_ec2_isolate", nil)
	lives := make([]map[string]any, len(stagingInstances))
	for i, id := range stagingInstances {
		live, err := ex.Read(context.Background(), te.env, requestIn(stagingAccount, region, id))
		if err != nil {
			t.Fatal(err)
		}
		lives[i] = live
	}
	var wg sync.WaitGroup
	errs := make([]error, len(stagingInstances))
	for i, id := range stagingInstances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = ex.Apply(context.Background(), te.env, requestIn(stagingAccount, region, id), lives[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", stagingInstances[i], err)
		}
	}
	calls := callsNamed(te, "ec2:CreateSecurityGroup")
	if calls[""] != 1 || calls["InvalidGroup.Duplicate"] != len(stagingInstances)-1 {
		t.Errorf("CreateSecurityGroup results %v; want one success and %d duplicates", calls, len(stagingInstances)-1)
	}
	var groups []string
	for _, sg := range te.regionOf(stagingAccount, region).SecurityGroups {
		if sg.Name == "cordon-isolation" {
			groups = append(groups, sg.ID)
			if len(sg.Ingress)+len(sg.Egress) != 0 {
				t.Errorf("the isolation group has rules: %+v %+v", sg.Ingress, sg.Egress)
			}
		}
	}
	if len(groups) != 1 {
		t.Fatalf("isolation groups %v; want one", groups)
	}
	for _, id := range stagingInstances {
		if g := te.groupsOf(stagingAccount, region, id); !slices.Equal(g[0], groups) {
			t.Errorf("%s: groups %v; want %v", id, g, groups)
		}
	}
}

// untrack = true keeps an untrack group per VPC too: created with all
// traffic allowed both ways for IPv4 and IPv6 (EC2 gives only IPv4
// egress), and used before the isolation group.
func TestEC2IsolateManagedUntrack(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_ec2_isolate", map[string]cty.Value{"untrack": cty.True, "untrack_wait": cty.StringVal("10ms")})
	req := requestIn(prodAccount, "us-west-2", westBuilder)
	n := len(te.emu.Calls())
	applyTwice(t, te, ex, req, "created_security_groups")
	var ops []string
	for _, c := range te.emu.Calls()[n:] {
		if strings.HasPrefix(c.Operation, "Describe") || c.Action() == "sts:AssumeRole" {
			continue
		}
		ops = append(ops, c.Operation)
	}
	want := []string{"CreateSecurityGroup", "RevokeSecurityGroupEgress", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress",
		"AuthorizeSecurityGroupEgress", "ModifyNetworkInterfaceAttribute", "ModifyNetworkInterfaceAttribute"}
	if !slices.Equal(ops, want) {
		t.Errorf("calls %v\nwant  %v", ops, want)
	}
	r := te.regionOf(prodAccount, "us-west-2")
	for _, sg := range r.SecurityGroups {
		if sg.Name != "cordon-untrack" {
			continue
		}
		for dir, rules := range map[string][]awsemu.Rule{"in": sg.Ingress, "out": sg.Egress} {
			if len(rules) != 1 || rules[0].Protocol != "-1" || !slices.Equal(rules[0].CIDRs, []string{"0.0.0.0/0"}) || !slices.Equal(rules[0].IPv6CIDRs, []string{"::/0"}) {
				t.Errorf("untrack group %s rules: %+v", dir, rules)
			}
		}
		if sg.Tags[IsolationTagKey] != "untrack" {
			t.Errorf("untrack group tags %v", sg.Tags)
		}
	}
	ec2CheckPermissions(t, te, ex)

	// The fleet's hand-made untrack group of us-east-1 allows all IPv4
	// traffic, which is what it was made for: it is used as it is.
	n = len(te.emu.Calls())
	applyTwice(t, te, ex, instanceRequest(ec2Fleet.web1), "created_security_groups")
	for _, c := range te.emu.Calls()[n:] {
		if c.Operation == "CreateSecurityGroup" || strings.HasPrefix(c.Operation, "AuthorizeSecurityGroup") {
			t.Errorf("changed a hand-made group: %s", c.Action())
		}
	}
}

// A group that would let traffic through is never used for isolation,
// and nothing changes.
func TestEC2IsolateRefusesLeakyGroups(t *testing.T) {
	all := []awsemu.SeedRule{{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}}}
	ssh := []awsemu.SeedRule{{Protocol: "tcp", FromPort: ptr(22), ToPort: ptr(22), CIDRs: []string{"0.0.0.0/0"}}}
	tests := []struct {
		name  string
		group awsemu.SeedSecurityGroup
		attrs map[string]cty.Value
		want  string
	}{
		{"cordon's group let traffic in", awsemu.SeedSecurityGroup{Name: "cordon-isolation", Ingress: ssh, Egress: []awsemu.SeedRule{},
			Tags: map[string]string{IsolationTagKey: "true"}}, nil, "lets traffic in (tcp 22-22 with 0.0.0.0/0)"},
		{"a hand-made group lets traffic out", awsemu.SeedSecurityGroup{Name: "cordon-isolation"}, nil,
			"lets traffic out (all traffic with 0.0.0.0/0) and is not tagged"},
		{"a hand-made untrack group keeps connections tracked", awsemu.SeedSecurityGroup{Name: "cordon-untrack", Ingress: ssh, Egress: all},
			map[string]cty.Value{"untrack": cty.True}, "does not allow all traffic in and out (it lacks inbound 0.0.0.0/0, inbound ::/0, outbound ::/0)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnvSeed(t, func(s *awsemu.Seed) {
				r := s.Accounts[1].Regions["us-west-2"]
				tc.group.ID, tc.group.VPC = "sg-0b1b2c3d4e5f60099", westVPC
				r.SecurityGroups = append(r.SecurityGroups, tc.group)
				s.Accounts[1].Regions["us-west-2"] = r
			})
			ex := newExecutor(t, "aws_ec2_isolate", tc.attrs)
			req := requestIn(prodAccount, "us-west-2", westBuilder)
			initial := te.groupsOf(prodAccount, "us-west-2", westBuilder)
			live, err := ex.Read(context.Background(), te.env, req)
			if err != nil {
				t.Fatal(err)
			}
			_, changed, err := ex.Apply(context.Background(), te.env, req, live)
			if err == nil || changed || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "not isolated") && !strings.Contains(err.Error(), "stay tracked") {
				t.Fatalf("Apply: %v, changed %v; want an error saying %q", err, changed, tc.want)
			}
			if got := te.groupsOf(prodAccount, "us-west-2", westBuilder); !slices.EqualFunc(got, initial, slices.Equal) {
				t.Errorf("groups %v; want them unchanged %v", got, initial)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// security_group_ids names each VPC's group; an interface in a VPC the
// map leaves out is an error before anything changes.
func TestEC2IsolateGroupPerVPC(t *testing.T) {
	const westIsolation = "sg-0b1b2c3d4e5f60098"
	te := newTestEnvSeed(t, func(s *awsemu.Seed) {
		withStaging(s)
		r := s.Accounts[1].Regions["us-west-2"]
		r.SecurityGroups = append(r.SecurityGroups, awsemu.SeedSecurityGroup{ID: westIsolation, Name: "quarantine", VPC: westVPC,
			Ingress: []awsemu.SeedRule{}, Egress: []awsemu.SeedRule{}})
		s.Accounts[1].Regions["us-west-2"] = r
	})
	ex := newExecutor(t, "aws_ec2_isolate", map[string]cty.Value{"security_group_ids": cty.MapVal(map[string]cty.Value{
		"vpc-0a1b2c3d4e5f60001": cty.StringVal(ec2Fleet.sgIsolation), westVPC: cty.StringVal(westIsolation),
	})})
	applyTwice(t, te, ex, instanceRequest(ec2Fleet.web1))
	applyTwice(t, te, ex, requestIn(prodAccount, "us-west-2", westBuilder))
	if g := te.groupsOf(prodAccount, region, ec2Fleet.web1); !slices.Equal(g[0], []string{ec2Fleet.sgIsolation}) {
		t.Errorf("web-1 groups %v", g)
	}
	if g := te.groupsOf(prodAccount, "us-west-2", westBuilder); !slices.Equal(g[0], []string{westIsolation}) {
		t.Errorf("westBuilder groups %v", g)
	}

	req := requestIn(stagingAccount, region, stagingInstances[0])
	live, err := ex.Read(context.Background(), te.env, req)
	if err != nil {
		t.Fatal(err)
	}
	n := len(te.emu.Calls())
	_, _, err = ex.Apply(context.Background(), te.env, req, live)
	if err == nil || !strings.Contains(err.Error(), "security_group_ids has no group for "+stagingVPC) {
		t.Errorf("Apply: %v; want a missing VPC named", err)
	}
	if m := ec2Mutations(te, n); len(m) > 0 {
		t.Errorf("changed %v", m)
	}
	if callsNamed(te, "ec2:CreateSecurityGroup")[""] != 0 {
		t.Error("created a group though the configuration names them")
	}
}

// The plan knows a group it can name offline; cordon's own group may not
// exist yet, so its id is known after apply.
func TestEC2IsolateDescribe(t *testing.T) {
	facts := map[string]map[string]any{"aws_ec2_describe": {
		"instance_id": ec2Fleet.web1, "vpc_id": "vpc-0a1b2c3d4e5f60001",
		"network_interfaces": []any{map[string]any{"id": ec2Fleet.web1ENI, "vpc_id": "vpc-0a1b2c3d4e5f60001",
			"security_groups": []any{ec2Fleet.sgWeb}}},
	}}
	perVPC := cty.MapVal(map[string]cty.Value{"vpc-0a1b2c3d4e5f60001": cty.StringVal(ec2Fleet.sgIsolation)})
	tests := []struct {
		name    string
		attrs   map[string]cty.Value
		facts   bool
		after   []any
		unknown []string
	}{
		{"one group", map[string]cty.Value{"security_group_id": cty.StringVal(ec2Fleet.sgIsolation)}, false, []any{ec2Fleet.sgIsolation}, nil},
		{"the VPC's group, from the facts", map[string]cty.Value{"security_group_ids": perVPC}, true, []any{ec2Fleet.sgIsolation}, nil},
		{"the VPC's group, VPC unknown", map[string]cty.Value{"security_group_ids": perVPC}, false, nil, []string{"security_groups"}},
		{"cordon's group", nil, true, nil, []string{"security_groups"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex := newExecutor(t, "aws_ec2_isolate", tc.attrs)
			req := instanceRequest(ec2Fleet.web1)
			if tc.facts {
				req.Facts = facts
			}
			c := ex.Describe(req)
			if !jsonEqual(c.After["security_groups"], tc.after) && !(tc.after == nil && c.After["security_groups"] == nil) {
				t.Errorf("after %v; want %v", c.After, tc.after)
			}
			if !slices.Equal(c.AfterUnknown, tc.unknown) {
				t.Errorf("after_unknown %v; want %v", c.AfterUnknown, tc.unknown)
			}
		})
	}
}

// The grants follow the configuration: group writes only when cordon
// keeps the groups, and only the writes its roles need.
func TestEC2IsolateGrants(t *testing.T) {
	tests := []struct {
		attrs map[string]cty.Value
		want  []string
	}{
		{map[string]cty.Value{"security_group_id": cty.StringVal(ec2Fleet.sgIsolation)}, nil},
		{nil, []string{"CreateGroup", "CreateGroupInVpc", "TagNewGroup", "CloseGroup"}},
		{map[string]cty.Value{"untrack": cty.True}, []string{"CreateGroup", "CreateGroupInVpc", "TagNewGroup", "CloseGroup", "OpenGroup"}},
		{map[string]cty.Value{"security_group_id": cty.StringVal(ec2Fleet.sgIsolation), "untrack": cty.True},
			[]string{"CreateGroup", "CreateGroupInVpc", "TagNewGroup", "OpenGroup"}},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			ex := newExecutor(t, "aws_ec2_isolate", tc.attrs)
			var names []string
			for _, g := range ex.(Granter).Grants() {
				if g.Name != "" && g.Name != "Read" && g.Name != "Interfaces" {
					names = append(names, g.Name)
				}
			}
			slices.Sort(names)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Errorf("grants %v; want %v", names, want)
			}
			if target := ex.(Granter).Grants()[1]; target.TargetTagKey != ec2TagKey || !slices.Equal(target.Resources, []string{ec2InstanceARN}) {
				t.Errorf("the grant on the target: %+v", target)
			}
		})
	}
}
