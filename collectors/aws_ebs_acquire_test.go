package collectors

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsemu"
)

// newAcquire builds an aws_ebs_acquire collector that polls without
// real-time waits.
func newAcquire(t testing.TB, attrs map[string]cty.Value) *ebsAcquire {
	t.Helper()
	c := newCollector(t, "aws_ebs_acquire", attrs).(*ebsAcquire)
	c.poll = time.Millisecond
	return c
}

// snapshotsOf returns the emulator's snapshots of the given volumes.
func snapshotsOf(te *testEnv, vols ...string) []*awsemu.Snapshot {
	var out []*awsemu.Snapshot
	snaps := te.emu.Snapshot().Accounts[prodAccount].Regions[region].Snapshots
	for _, id := range slices.Sorted(maps.Keys(snaps)) {
		if slices.Contains(vols, snaps[id].VolumeID) {
			out = append(out, snaps[id])
		}
	}
	return out
}

// callsOf counts the emulator's calls of an IAM action.
func callsOf(te *testEnv, action string) int {
	n := 0
	for _, c := range te.emu.Calls() {
		if c.Action() == action {
			n++
		}
	}
	return n
}

func TestEBSAcquire(t *testing.T) {
	te := newTestEnv(t)
	c := newAcquire(t, map[string]cty.Value{"tags": cty.MapVal(map[string]cty.Value{
		"case": cty.StringVal("IR-{incident}"), "team": cty.StringVal("security")})})
	facts, err := c.Collect(context.Background(), te.request(web1))
	if err != nil {
		t.Fatal(err)
	}
	snaps := snapshotsOf(te, web1Root, web1Data)
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots of web-1's volumes, want 2", len(snaps))
	}
	byVol := map[string]*awsemu.Snapshot{}
	for _, s := range snaps {
		byVol[s.VolumeID] = s
		want := map[string]string{"cordon:incident": incidentID, "cordon:evidence": "true", "case": "IR-" + incidentID, "team": "security"}
		if s.VolumeID == web1Data {
			want["data"] = "customer" // the volume's own tags are copied
		}
		if !maps.Equal(s.Tags, want) {
			t.Errorf("snapshot %s of %s has tags %v, want %v", s.ID, s.VolumeID, s.Tags, want)
		}
		if want := "cordon " + incidentID + ": disk acquisition of " + web1 + " (Backdoor:EC2/C&CActivity.B!DNS)"; s.Description != want {
			t.Errorf("description %q, want %q", s.Description, want)
		}
	}
	// Crash-consistent: one CreateSnapshots call for the whole instance.
	if n := callsOf(te, "ec2:CreateSnapshots"); n != 1 {
		t.Errorf("%d CreateSnapshots calls, want 1", n)
	}
	want := map[string]any{"snapshots": []any{
		map[string]any{"snapshot_id": byVol[web1Root].ID, "volume_id": web1Root, "device": "/dev/xvda", "state": "completed", "started_at": "2025-03-01T12:30:00Z"},
		map[string]any{"snapshot_id": byVol[web1Data].ID, "volume_id": web1Data, "device": "/dev/sdf", "state": "completed", "started_at": "2025-03-01T12:30:00Z"},
	}}
	if !jsonEqual(t, facts, want) {
		t.Errorf("facts %v\nwant %v", facts, want)
	}
	wantKept := []Artefact{
		{Kind: "snapshot", Name: byVol[web1Root].ID, Meta: map[string]any{"volume_id": web1Root, "device": "/dev/xvda", "region": region, "account": prodAccount}},
		{Kind: "snapshot", Name: byVol[web1Data].ID, Meta: map[string]any{"volume_id": web1Data, "device": "/dev/sdf", "region": region, "account": prodAccount}},
	}
	if got := te.artefacts(); !jsonEqual(t, got, wantKept) {
		t.Errorf("artefacts %v\nwant %v", got, wantKept)
	}
	checkFactsSchema(t, "aws_ebs_acquire", facts)
	checkPermissions(t, c, te.actionsCalled())

	// Idempotent: the same incident again finds them and takes none.
	te.emu.ResetCalls()
	again, err := c.Collect(context.Background(), te.request(web1))
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, again, facts) {
		t.Errorf("second acquisition %v\nfirst %v", again, facts)
	}
	if n := callsOf(te, "ec2:CreateSnapshots"); n != 0 {
		t.Errorf("second acquisition of the incident called CreateSnapshots %d times", n)
	}
	if n := len(snapshotsOf(te, web1Root, web1Data)); n != 2 {
		t.Errorf("%d snapshots after acquiring twice, want 2", n)
	}
	if n := len(te.artefacts()); n != 4 {
		t.Errorf("%d artefacts after two acquisitions, want the same two kept again", n)
	}

	// Another incident acquires its own.
	other := te.request(web1)
	other.IncidentID = "inc-fedcba9876543210"
	if _, err := c.Collect(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if n := len(snapshotsOf(te, web1Root, web1Data)); n != 4 {
		t.Errorf("%d snapshots after a second incident, want 4", n)
	}
}

// TestEBSAcquireReusesPartial: a volume this incident already has a
// snapshot of (aws_ec2_snapshot's, or an interrupted acquisition's) is not
// taken again; the others are.
func TestEBSAcquireReusesPartial(t *testing.T) {
	for _, tc := range []struct {
		name, done, device string
		wantSpec           string
	}{
		{name: "root done", done: web1Root, device: "/dev/xvda", wantSpec: "ExcludeBootVolume"},
		{name: "data done", done: web1Data, device: "/dev/sdf", wantSpec: "ExcludeDataVolumeId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			ctx := context.Background()
			earlier, err := te.aws.EC2(prodAccount, region).CreateSnapshot(ctx, &ec2.CreateSnapshotInput{
				VolumeId: aws.String(tc.done),
				TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot,
					Tags: []ec2types.Tag{{Key: aws.String("cordon:incident"), Value: aws.String(incidentID)}}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			te.emu.ResetCalls()
			facts, err := newAcquire(t, nil).Collect(ctx, te.request(web1))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(snapshotsOf(te, web1Root, web1Data)); n != 2 {
				t.Errorf("%d snapshots, want the earlier one and one new", n)
			}
			found := false
			for _, s := range facts["snapshots"].([]any) {
				s := s.(map[string]any)
				if s["volume_id"] == tc.done {
					found = true
					if s["snapshot_id"] != aws.ToString(earlier.SnapshotId) || s["device"] != tc.device {
						t.Errorf("%s: snapshot %v, want the earlier %s", tc.done, s, aws.ToString(earlier.SnapshotId))
					}
				}
			}
			if !found || len(facts["snapshots"].([]any)) != 2 {
				t.Errorf("facts %v", facts)
			}
			if n := callsOf(te, "ec2:CreateSnapshots"); n != 1 {
				t.Errorf("%d CreateSnapshots calls, want 1", n)
			}
		})
	}
}

func TestEBSAcquirePending(t *testing.T) {
	te := newTestEnvSeed(t, func(s *awsemu.Seed) { s.Options.SnapshotDelayCalls = 10 })
	facts, err := newAcquire(t, nil).Collect(context.Background(), te.request(batch1))
	if err != nil {
		t.Fatal(err)
	}
	snaps := facts["snapshots"].([]any)
	if len(snaps) != 1 {
		t.Fatalf("facts %v", facts)
	}
	if s := snaps[0].(map[string]any); s["state"] != "pending" || s["volume_id"] != "vol-0972ed50faf688485" {
		t.Errorf("snapshot of the stopped batch-1: %v, want it pending", s)
	}
	// It waits for the snapshots to be listed, not to complete.
	if n := callsOf(te, "ec2:DescribeSnapshots"); n != 2 {
		t.Errorf("%d DescribeSnapshots calls, want 2 (earlier ones, then the new one listed)", n)
	}
	checkFactsSchema(t, "aws_ebs_acquire", facts)
}

// TestEBSAcquireWaitsForListing: right after CreateSnapshots, EC2 may not
// list the new snapshots yet.
func TestEBSAcquireWaitsForListing(t *testing.T) {
	// Snapshot ids are deterministic: learn them on a twin of the fleet.
	twin := newTestEnv(t)
	first, err := newAcquire(t, nil).Collect(context.Background(), twin.request(web1))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range first["snapshots"].([]any) {
		ids = append(ids, s.(map[string]any)["snapshot_id"].(string))
	}
	notListed := func(te *testEnv) {
		for _, id := range ids {
			te.emu.Faults().Fail("ec2:DescribeSnapshots", id, "InvalidSnapshot.NotFound", "The snapshot '"+id+"' does not exist.")
		}
	}

	t.Run("listed after a while", func(t *testing.T) {
		te := newTestEnv(t)
		notListed(te)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		go func() {
			// EC2 catches up after three answers of NotFound.
			for ctx.Err() == nil {
				n := 0
				for _, c := range te.emu.Calls() {
					if c.ErrorCode == "InvalidSnapshot.NotFound" {
						n++
					}
				}
				if n >= 3 {
					te.emu.Faults().Clear()
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		facts, err := newAcquire(t, nil).Collect(ctx, te.request(web1))
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(t, facts, first) {
			t.Errorf("facts %v\nwant %v", facts, first)
		}
	})

	t.Run("never listed in time", func(t *testing.T) {
		te := newTestEnv(t)
		notListed(te)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		c := newAcquire(t, nil)
		facts, err := c.Collect(ctx, te.request(web1))
		if err == nil {
			t.Fatalf("no error; facts %v", facts)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for snapshots "+ids[0]) {
			t.Errorf("error %v; want the deadline while waiting for %v", err, ids)
		}
		// The snapshots exist: they are evidence, kept, and found again.
		var kept []string
		for _, a := range te.artefacts() {
			kept = append(kept, a.Name)
		}
		if !slices.Equal(kept, ids) {
			t.Errorf("kept %v, want %v", kept, ids)
		}
		te.emu.Faults().Clear()
		te.emu.ResetCalls()
		facts, err = c.Collect(context.Background(), te.request(web1))
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(t, facts, first) || callsOf(te, "ec2:CreateSnapshots") != 0 {
			t.Errorf("after the deadline, acquiring again gave %v, CreateSnapshots %d times", facts, callsOf(te, "ec2:CreateSnapshots"))
		}
	})
}

func TestEBSAcquireErrors(t *testing.T) {
	tests := []struct {
		name   string
		id     string
		req    func(*Request)
		faults func(*awsemu.Faults)
		ctx    time.Duration
		want   []string
		code   string
	}{
		{name: "no AWS access", id: web1, req: func(r *Request) { r.AWS = nil }, want: []string{"aws_ebs_acquire needs AWS access"}},
		{name: "no incident", id: web1, req: func(r *Request) { r.IncidentID = "" }, want: []string{"no incident id"}},
		{name: "unknown instance", id: "i-0fffffffffffffff0", want: []string{"instance i-0fffffffffffffff0 does not exist"}},
		{name: "terminated", id: oldInst, want: []string{"no EBS volumes attached (it is terminated)"}},
		{name: "not allowed to snapshot", id: web1, faults: func(f *awsemu.Faults) {
			f.Fail("ec2:CreateSnapshots", web1, "UnauthorizedOperation", "You are not authorized to perform this operation.")
		}, want: []string{"snapshotting the volumes of " + web1}, code: "UnauthorizedOperation"},
		{name: "cannot look for earlier ones", id: web1, faults: func(f *awsemu.Faults) { f.ServerError("ec2:DescribeSnapshots", -1) },
			want: []string{"looking for the snapshots of " + web1 + " of incident " + incidentID}, code: "InternalError"},
		{name: "deadline", id: web1, faults: func(f *awsemu.Faults) { f.Latency("ec2:CreateSnapshots", time.Minute) },
			ctx: 100 * time.Millisecond, want: []string{"snapshotting the volumes of " + web1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			if tc.faults != nil {
				tc.faults(te.emu.Faults())
			}
			req := te.request(tc.id)
			if tc.req != nil {
				tc.req(req)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.ctx > 0 {
				ctx, cancel = context.WithTimeout(context.Background(), tc.ctx)
			}
			defer cancel()
			facts, err := newAcquire(t, nil).Collect(ctx, req)
			if err == nil {
				t.Fatalf("no error; facts %v", facts)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.code != "" && ec2ErrorCode(err) != tc.code {
				t.Errorf("error code %q, want %q", ec2ErrorCode(err), tc.code)
			}
			if tc.ctx > 0 && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v is not the deadline", err)
			}
			if n := len(snapshotsOf(te, web1Root, web1Data)); n != 0 && tc.ctx == 0 {
				t.Errorf("%d snapshots after a failed acquisition", n)
			}
		})
	}
}

func TestEBSAcquireThrottled(t *testing.T) {
	te := newTestEnv(t)
	te.emu.Faults().Throttle("ec2:CreateSnapshots", 2)
	te.emu.Faults().Throttle("ec2:DescribeSnapshots", 1)
	facts, err := newAcquire(t, nil).Collect(context.Background(), te.request(web2))
	if err != nil {
		t.Fatal(err)
	}
	if snaps := facts["snapshots"].([]any); len(snaps) != 1 || snaps[0].(map[string]any)["volume_id"] != "vol-0a1b2c3d4e5f60303" {
		t.Errorf("facts %v", facts)
	}
	if n := len(snapshotsOf(te, "vol-0a1b2c3d4e5f60303")); n != 1 {
		t.Errorf("%d snapshots after throttled retries, want 1", n)
	}
}

func TestEBSAcquireConfig(t *testing.T) {
	many := map[string]cty.Value{}
	for i := range 49 {
		many[strings.Repeat("k", i+1)] = cty.StringVal("v")
	}
	tests := []struct {
		name string
		tags map[string]cty.Value
		want string // substring of the AttributeError's detail; "" for none
	}{
		{name: "none", tags: nil},
		{name: "fine", tags: map[string]cty.Value{"case": cty.StringVal("IR-{incident}")}},
		{name: "empty key", tags: map[string]cty.Value{"": cty.StringVal("x")}, want: "must not be empty"},
		{name: "reserved by AWS", tags: map[string]cty.Value{"AWS:thing": cty.StringVal("x")}, want: "reserved for AWS"},
		{name: "cordon's own", tags: map[string]cty.Value{"cordon:incident": cty.StringVal("x")}, want: "set by cordon"},
		{name: "long key", tags: map[string]cty.Value{strings.Repeat("é", 129): cty.StringVal("x")}, want: "longer than 128"},
		{name: "long value", tags: map[string]cty.Value{"k": cty.StringVal(strings.Repeat("v", 250) + "{incident}")}, want: "longer than 256"},
		{name: "too many", tags: many, want: "at most 50"},
		{name: "null value", tags: map[string]cty.Value{"k": cty.NullVal(cty.String)}, want: "null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attrs := map[string]cty.Value{}
			if tc.tags != nil {
				attrs["tags"] = cty.MapVal(tc.tags)
			}
			_, err := buildCollector("aws_ebs_acquire", attrs)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae *AttributeError
			if !errors.As(err, &ae) || ae.Attribute != "tags" || !strings.Contains(ae.Detail, tc.want) {
				t.Fatalf("New: %v; want an AttributeError on tags saying %q", err, tc.want)
			}
		})
	}
}
