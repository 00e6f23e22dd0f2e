package actions

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsemu"
)

// eniGroups is every interface's groups, as the emulator holds them.
func eniGroups(r *awsemu.Region) map[string][]string {
	out := map[string][]string{}
	for id, e := range r.NetworkInterfaces {
		out[id] = slices.Clone(e.Groups)
	}
	return out
}

func isolateAttrs(untrack string) map[string]cty.Value {
	attrs := map[string]cty.Value{"security_group_id": cty.StringVal(ec2Fleet.sgIsolation)}
	if untrack != "" {
		attrs["untrack_security_group_id"] = cty.StringVal(untrack)
		attrs["untrack_wait"] = cty.StringVal("10ms")
	}
	return attrs
}

func TestEC2IsolateRead(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_ec2_isolate", isolateAttrs(""))
	tests := []struct {
		id   string
		want map[string]any
		err  string // error text, or AWS code in the chain
	}{
		{id: ec2Fleet.web1, want: map[string]any{
			"security_groups":    []any{ec2Fleet.sgWeb, ec2Fleet.sgApp},
			"network_interfaces": map[string]any{ec2Fleet.web1ENI: []any{ec2Fleet.sgWeb, ec2Fleet.sgApp}},
		}},
		{id: ec2Fleet.web2, want: map[string]any{
			"security_groups": []any{ec2Fleet.sgWeb, ec2Fleet.sgApp},
			"network_interfaces": map[string]any{
				ec2Fleet.web2ENI: []any{ec2Fleet.sgWeb}, ec2Fleet.web2AppENI: []any{ec2Fleet.sgApp},
			},
		}},
		{id: ec2Fleet.terminated, err: "has no network interfaces (it is terminated)"},
		{id: ec2Fleet.unknown, err: "InvalidInstanceID.NotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			got, err := ex.Read(context.Background(), te.env, instanceRequest(tc.id))
			switch {
			case strings.Contains(tc.err, " "):
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Read: %v; want an error saying %q", err, tc.err)
				}
			case tc.err != "":
				ec2WantCode(t, err, tc.err)
			case err != nil:
				t.Fatal(err)
			default:
				// Exact, order included: the union is in device order.
				if !jsonEqual(viaJSON(t, got), tc.want) || !slices.Equal(stringList(got["security_groups"]), stringList(tc.want["security_groups"])) {
					t.Errorf("Read = %v; want %v", got, tc.want)
				}
			}
		})
	}
}

func TestEC2IsolateLifecycle(t *testing.T) {
	iso, untrack := ec2Fleet.sgIsolation, ec2Fleet.sgUntrack
	modify := func(eni, sg string) string { return "ec2:ModifyNetworkInterfaceAttribute " + eni + "," + sg }
	tests := []struct {
		name    string
		id      string
		untrack string
		enis    []string
		// wantCalls are Apply's mutating calls, in order.
		wantCalls []string
	}{
		{
			name: "one interface", id: ec2Fleet.web1, enis: []string{ec2Fleet.web1ENI},
			wantCalls: []string{modify(ec2Fleet.web1ENI, iso)},
		},
		{
			name: "two interfaces", id: ec2Fleet.web2, enis: []string{ec2Fleet.web2ENI, ec2Fleet.web2AppENI},
			wantCalls: []string{modify(ec2Fleet.web2ENI, iso), modify(ec2Fleet.web2AppENI, iso)},
		},
		{
			// Every interface goes to the allow-all group before any goes
			// to the isolation group.
			name: "two interfaces, untracking connections first", id: ec2Fleet.web2, untrack: untrack,
			enis: []string{ec2Fleet.web2ENI, ec2Fleet.web2AppENI},
			wantCalls: []string{
				modify(ec2Fleet.web2ENI, untrack), modify(ec2Fleet.web2AppENI, untrack),
				modify(ec2Fleet.web2ENI, iso), modify(ec2Fleet.web2AppENI, iso),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			initial := eniGroups(te.prodRegion())
			ex := newExecutor(t, "aws_ec2_isolate", isolateAttrs(tc.untrack))
			req := instanceRequest(tc.id)

			n := len(te.emu.Calls())
			before, after := applyTwice(t, te, ex, req)
			applyCalls := ec2Mutations(te, n)
			if !slices.Equal(applyCalls[:min(len(applyCalls), len(tc.wantCalls))], tc.wantCalls) || len(applyCalls) != len(tc.wantCalls) {
				t.Errorf("Apply made calls\n%v\nwant\n%v", applyCalls, tc.wantCalls)
			}
			now := eniGroups(te.prodRegion())
			for _, eni := range tc.enis {
				if !slices.Equal(now[eni], []string{iso}) {
					t.Errorf("%s has groups %v after Apply; want [%s]", eni, now[eni], iso)
				}
			}
			if !jsonEqual(after["security_groups"], []any{iso}) {
				t.Errorf("Apply returned %v", after)
			}

			restored, err := ex.(Reverter).Revert(context.Background(), te.env, req, viaJSON(t, before), viaJSON(t, after))
			if err != nil {
				t.Fatalf("Revert: %v", err)
			}
			if got := eniGroups(te.prodRegion()); !maps.EqualFunc(got, initial, slices.Equal) {
				t.Errorf("groups after Revert %v; want the original %v", got, initial)
			}
			if !jsonEqual(restored, before) {
				t.Errorf("Revert returned %v; want %v", restored, before)
			}
			ec2CheckPermissions(t, te, ex)
		})
	}
}

// An interface already isolated (an earlier apply failed halfway) is left
// alone; the others are isolated.
func TestEC2IsolateFinishesPartialIsolation(t *testing.T) {
	te := newTestEnv(t)
	c := te.env.AWS.EC2(prodAccount, region)
	if _, err := c.ModifyNetworkInterfaceAttribute(context.Background(), &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(ec2Fleet.web2ENI), Groups: []string{ec2Fleet.sgIsolation},
	}); err != nil {
		t.Fatal(err)
	}
	ex := newExecutor(t, "aws_ec2_isolate", isolateAttrs(ec2Fleet.sgUntrack))
	n := len(te.emu.Calls())
	applyTwice(t, te, ex, instanceRequest(ec2Fleet.web2))
	want := []string{
		"ec2:ModifyNetworkInterfaceAttribute " + ec2Fleet.web2AppENI + "," + ec2Fleet.sgUntrack,
		"ec2:ModifyNetworkInterfaceAttribute " + ec2Fleet.web2AppENI + "," + ec2Fleet.sgIsolation,
	}
	if got := ec2Mutations(te, n); !slices.Equal(got, want) {
		t.Errorf("calls %v; want %v", got, want)
	}
}

func TestEC2IsolateErrors(t *testing.T) {
	t.Parallel() // the throttled cases wait out the SDK's backoff
	otherVPC := func(s *awsemu.Seed) {
		for i, a := range s.Accounts {
			if a.ID != prodAccount {
				continue
			}
			r := a.Regions[region]
			r.VPCs = append(r.VPCs, awsemu.SeedVPC{ID: "vpc-0a1b2c3d4e5f60009", CIDR: "10.9.0.0/16"})
			r.SecurityGroups = append(r.SecurityGroups, awsemu.SeedSecurityGroup{
				ID: "sg-0a1b2c3d4e5f60099", Name: "isolation-elsewhere", VPC: "vpc-0a1b2c3d4e5f60009",
				Ingress: []awsemu.SeedRule{}, Egress: []awsemu.SeedRule{},
			})
			s.Accounts[i].Regions[region] = r
		}
	}
	tests := []struct {
		name    string
		id      string
		seed    func(*awsemu.Seed)
		group   string
		untrack string
		fault   func(*awsemu.Faults)
		code    string // AWS error code in the chain
		msg     string // text in the error
		// changed is what Apply reports; groups what the instance's
		// interfaces have afterwards ("" for unchanged).
		changed bool
		groups  map[string][]string
	}{
		{name: "unknown instance", id: ec2Fleet.unknown, code: "InvalidInstanceID.NotFound"},
		{name: "isolation group does not exist", id: ec2Fleet.web2, group: ec2Fleet.sgOtherRegion,
			code: "InvalidGroup.NotFound", msg: "checking security groups"},
		{name: "untrack group does not exist", id: ec2Fleet.web2, untrack: "sg-0a1b2c3d4e5f60fff",
			code: "InvalidGroup.NotFound"},
		{name: "isolation group in another VPC", id: ec2Fleet.web2, seed: otherVPC, group: "sg-0a1b2c3d4e5f60099",
			msg: "is in vpc-0a1b2c3d4e5f60009, but interface " + ec2Fleet.web2ENI},
		{name: "not authorized", id: ec2Fleet.web1, fault: func(f *awsemu.Faults) {
			f.Fail("ec2:ModifyNetworkInterfaceAttribute", "*", "UnauthorizedOperation", "You are not authorized to perform this operation.")
		}, code: "UnauthorizedOperation"},
		{name: "second interface fails", id: ec2Fleet.web2, fault: func(f *awsemu.Faults) {
			f.Fail("ec2:ModifyNetworkInterfaceAttribute", ec2Fleet.web2AppENI, "UnauthorizedOperation", "You are not authorized to perform this operation.")
		}, code: "UnauthorizedOperation", msg: "isolating " + ec2Fleet.web2AppENI, changed: true,
			groups: map[string][]string{ec2Fleet.web2ENI: {ec2Fleet.sgIsolation}, ec2Fleet.web2AppENI: {ec2Fleet.sgApp}}},
		{
			// The interfaces are in the allow-all group when the move to
			// the isolation group fails: they go back where they were.
			name: "isolation after untracking fails", id: ec2Fleet.web2, untrack: ec2Fleet.sgUntrack,
			fault: func(f *awsemu.Faults) {
				f.Fail("ec2:ModifyNetworkInterfaceAttribute", ec2Fleet.sgIsolation, "UnauthorizedOperation", "You are not authorized to perform this operation.")
			},
			code: "UnauthorizedOperation", msg: "interfaces restored to their groups",
		},
		{
			name: "untracking the second interface fails", id: ec2Fleet.web2, untrack: ec2Fleet.sgUntrack,
			fault: func(f *awsemu.Faults) {
				f.Fail("ec2:ModifyNetworkInterfaceAttribute", ec2Fleet.web2AppENI, "UnauthorizedOperation", "You are not authorized to perform this operation.")
			},
			code: "UnauthorizedOperation", msg: "moving " + ec2Fleet.web2AppENI,
		},
		{name: "throttled, then fine", id: ec2Fleet.web2, fault: func(f *awsemu.Faults) {
			f.Throttle("ec2:ModifyNetworkInterfaceAttribute", 2)
			f.Throttle("ec2:DescribeNetworkInterfaces", 1)
		}, changed: true, groups: map[string][]string{ec2Fleet.web2ENI: {ec2Fleet.sgIsolation}, ec2Fleet.web2AppENI: {ec2Fleet.sgIsolation}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seed := tc.seed
			if seed == nil {
				seed = func(*awsemu.Seed) {}
			}
			te := newTestEnvSeed(t, seed)
			initial := eniGroups(te.prodRegion())
			if tc.fault != nil {
				tc.fault(te.emu.Faults())
			}
			attrs := isolateAttrs(tc.untrack)
			if tc.group != "" {
				attrs["security_group_id"] = cty.StringVal(tc.group)
			}
			ex := newExecutor(t, "aws_ec2_isolate", attrs)
			req := instanceRequest(tc.id)
			live, err := ex.Read(context.Background(), te.env, req)
			changed := false
			if err == nil {
				_, changed, err = ex.Apply(context.Background(), te.env, req, live)
			}
			if tc.code == "" && tc.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				if throttledCalls(te) == 0 {
					t.Error("no call was throttled")
				}
			}
			if tc.code != "" {
				ec2WantCode(t, err, tc.code)
			}
			if tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)) {
				t.Errorf("error %v; want one saying %q", err, tc.msg)
			}
			if err != nil && !strings.Contains(err.Error(), tc.id) {
				t.Errorf("error %q does not name %s", err, tc.id)
			}
			if changed != tc.changed {
				t.Errorf("Apply reported changed = %t; want %t", changed, tc.changed)
			}
			want := maps.Clone(initial)
			maps.Copy(want, tc.groups)
			if got := eniGroups(te.prodRegion()); !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("groups afterwards %v; want %v", got, want)
			}
		})
	}
}

// A cancelled apply waiting between the two moves takes the interfaces out
// of the allow-all group again, rather than leaving them open.
func TestEC2IsolateCancelledWhileUntracking(t *testing.T) {
	te := newTestEnv(t)
	initial := eniGroups(te.prodRegion())
	attrs := isolateAttrs(ec2Fleet.sgUntrack)
	attrs["untrack_wait"] = cty.StringVal("10m")
	ex := newExecutor(t, "aws_ec2_isolate", attrs)
	req := instanceRequest(ec2Fleet.web2)
	live, err := ex.Read(context.Background(), te.env, req)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := ex.Apply(ctx, te.env, req, live)
		done <- err
	}()
	// Cancel once both interfaces are in the untrack group.
	deadline := time.Now().Add(10 * time.Second)
	for len(ec2Mutations(te, 0)) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	open := eniGroups(te.prodRegion())
	if !slices.Equal(open[ec2Fleet.web2ENI], []string{ec2Fleet.sgUntrack}) || !slices.Equal(open[ec2Fleet.web2AppENI], []string{ec2Fleet.sgUntrack}) {
		t.Fatalf("interfaces not in the untrack group while waiting: %v", open)
	}
	cancel()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Apply did not return after cancellation")
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "restored") {
		t.Errorf("Apply: %v; want the cancellation, and the interfaces restored", err)
	}
	if got := eniGroups(te.prodRegion()); !maps.EqualFunc(got, initial, slices.Equal) {
		t.Errorf("groups after the cancelled apply %v; want the original %v", got, initial)
	}
}

// An apply cancelled while AWS answers its move of the last interface to
// the untrack group: the move is made, its answer is lost, and that
// interface is put back too, not left in the allow-all group.
func TestEC2IsolateCancelledAfterAnUnansweredMove(t *testing.T) {
	var (
		mu     sync.Mutex
		moves  int
		cancel context.CancelFunc
	)
	te := newTestEnvServing(t, nil, func(emu http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if !bytes.Contains(body, []byte("Action=ModifyNetworkInterfaceAttribute")) {
				emu.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			moves++
			n := moves
			mu.Unlock()
			if n != 2 {
				emu.ServeHTTP(w, r)
				return
			}
			// The second move is made, then the caller goes away before
			// the answer reaches it.
			emu.ServeHTTP(httptest.NewRecorder(), r)
			cancel()
			<-r.Context().Done()
		})
	})
	initial := eniGroups(te.prodRegion())
	attrs := isolateAttrs(ec2Fleet.sgUntrack)
	attrs["untrack_wait"] = cty.StringVal("10m")
	ex := newExecutor(t, "aws_ec2_isolate", attrs)
	req := instanceRequest(ec2Fleet.web2)
	live, err := ex.Read(context.Background(), te.env, req)
	if err != nil {
		t.Fatal(err)
	}
	var ctx context.Context
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	_, changed, err := ex.Apply(ctx, te.env, req, live)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "restored") || changed {
		t.Errorf("Apply: changed %v, %v; want the cancellation, and the interfaces restored", changed, err)
	}
	if got := eniGroups(te.prodRegion()); !maps.EqualFunc(got, initial, slices.Equal) {
		t.Errorf("groups after the cancelled apply %v; want the original %v", got, initial)
	}
}

func TestEC2IsolateRevertWithoutPerInterfaceGroups(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_ec2_isolate", isolateAttrs(""))
	r := ex.(Reverter)
	ctx := context.Background()

	// One interface: the union is exact.
	req := instanceRequest(ec2Fleet.web1)
	before, after := applyTwice(t, te, ex, req)
	delete(before, "network_interfaces")
	if _, err := r.Revert(ctx, te.env, req, viaJSON(t, before), after); err != nil {
		t.Fatalf("Revert: %v", err)
	}
	if got := te.prodRegion().NetworkInterfaces[ec2Fleet.web1ENI].Groups; !slices.Equal(got, []string{ec2Fleet.sgWeb, ec2Fleet.sgApp}) {
		t.Errorf("groups after Revert %v", got)
	}

	// Two: the union does not say which group was where.
	req = instanceRequest(ec2Fleet.web2)
	before, after = applyTwice(t, te, ex, req)
	delete(before, "network_interfaces")
	if _, err := r.Revert(ctx, te.env, req, before, after); err == nil || !strings.Contains(err.Error(), "no groups per interface") {
		t.Errorf("Revert: %v; want a refusal", err)
	}
}

func TestEC2IsolateConfig(t *testing.T) {
	def, _ := Lookup("aws_ec2_isolate")
	const vpc1, vpc2 = "vpc-0a1b2c3d4e5f60001", "vpc-0b1b2c3d4e5f60001"
	groups := func(kv ...string) cty.Value {
		m := map[string]cty.Value{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = cty.StringVal(kv[i+1])
		}
		return cty.MapVal(m)
	}
	iso, untrack := ec2Fleet.sgIsolation, ec2Fleet.sgUntrack
	tests := []struct {
		name  string
		attrs map[string]cty.Value
		attr  string // attribute of the expected error; "" for none
		// managed and untracking, when valid.
		managed, untracking bool
	}{
		{"managed groups", nil, "", true, false},
		{"one group", map[string]cty.Value{"security_group_id": cty.StringVal(iso)}, "", false, false},
		{"a group per VPC", map[string]cty.Value{"security_group_ids": groups(vpc1, iso, vpc2, ec2Fleet.sgOtherRegion)}, "", false, false},
		{"managed untracking", map[string]cty.Value{"untrack": cty.True}, "", true, true},
		{"untracking through a named group", map[string]cty.Value{"security_group_id": cty.StringVal(iso),
			"untrack_security_group_id": cty.StringVal(untrack), "untrack_wait": cty.StringVal("45s")}, "", false, true},
		{"untrack groups per VPC", map[string]cty.Value{"untrack_security_group_ids": groups(vpc1, untrack)}, "", true, true},
		{"untrack = false", map[string]cty.Value{"untrack": cty.False}, "", true, false},

		{"a placeholder id", map[string]cty.Value{"security_group_id": cty.StringVal("sg-0isolation")}, "security_group_id", false, false},
		{"not hex", map[string]cty.Value{"security_group_id": cty.StringVal("sg-zzzzzzzz")}, "security_group_id", false, false},
		{"uppercase hex", map[string]cty.Value{"security_group_id": cty.StringVal("sg-0A1B2C3D4E5F60023")}, "security_group_id", false, false},
		{"untrack not a group id", map[string]cty.Value{"untrack_security_group_id": cty.StringVal("untrack")}, "untrack_security_group_id", false, false},
		{"both forms", map[string]cty.Value{"security_group_id": cty.StringVal(iso), "security_group_ids": groups(vpc1, iso)}, "security_group_ids", false, false},
		{"empty map", map[string]cty.Value{"security_group_ids": cty.MapValEmpty(cty.String)}, "security_group_ids", false, false},
		{"map key not a VPC", map[string]cty.Value{"security_group_ids": groups("prod", iso)}, "security_group_ids", false, false},
		{"map value not a group", map[string]cty.Value{"security_group_ids": groups(vpc1, "sg-123")}, "security_group_ids", false, false},
		{"one group for two VPCs", map[string]cty.Value{"security_group_ids": groups(vpc1, iso, vpc2, iso)}, "security_group_ids", false, false},
		{"the same group twice", map[string]cty.Value{"security_group_id": cty.StringVal(iso), "untrack_security_group_id": cty.StringVal(iso)},
			"untrack_security_group_id", false, false},
		{"the same group twice in a VPC", map[string]cty.Value{"security_group_ids": groups(vpc1, iso), "untrack_security_group_ids": groups(vpc1, iso)},
			"untrack_security_group_id", false, false},
		{"untrack = false with an untrack group", map[string]cty.Value{"untrack": cty.False, "untrack_security_group_id": cty.StringVal(untrack)},
			"untrack", false, false},
		{"a wait without untracking", map[string]cty.Value{"untrack_wait": cty.StringVal("10s")}, "untrack_wait", false, false},
		{"bad wait", map[string]cty.Value{"untrack": cty.True, "untrack_wait": cty.StringVal("half a minute")}, "untrack_wait", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := def.New(blockConfig(def, tc.attrs))
			if tc.attr == "" {
				if err != nil {
					t.Fatal(err)
				}
				got := a.(ec2Isolate)
				if got.isolation.managed() != tc.managed || (got.untrack != nil) != tc.untracking {
					t.Errorf("managed %v, untracking %v; want %v, %v", got.isolation.managed(), got.untrack != nil, tc.managed, tc.untracking)
				}
				if _, waits := tc.attrs["untrack_wait"]; !waits && got.untrackWait != 30*time.Second {
					t.Errorf("untrack_wait defaults to %s; want 30s", got.untrackWait)
				}
				return
			}
			var ae *AttributeError
			if !errors.As(err, &ae) || ae.Attribute != tc.attr {
				t.Fatalf("New: %v; want an AttributeError on %s", err, tc.attr)
			}
		})
	}
}

// blockConfig is the decoded block of a type with attrs set and the
// others null, as hcldec gives New.
func blockConfig(def *Definition, attrs map[string]cty.Value) cty.Value {
	ty := hcldec.ImpliedType(def.Attributes)
	vals := map[string]cty.Value{}
	for name := range def.Attributes {
		if v, ok := attrs[name]; ok {
			vals[name] = v
		} else {
			vals[name] = cty.NullVal(ty.AttributeType(name))
		}
	}
	if len(vals) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(vals)
}
