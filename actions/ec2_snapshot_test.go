package actions

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsemu"
)

const snapIncident = "inc-0123456789abcdef"

// incidentSnapshots returns the snapshots tagged with the test incident, by
// volume.
func incidentSnapshots(te *testEnv) map[string][]*awsemu.Snapshot {
	out := map[string][]*awsemu.Snapshot{}
	for _, s := range te.prodRegion().Snapshots {
		if s.Tags[IncidentTagKey] == snapIncident {
			out[s.VolumeID] = append(out[s.VolumeID], s)
		}
	}
	return out
}

// snapshotVolume snapshots a volume the way an earlier apply would have.
func snapshotVolume(t *testing.T, te *testEnv, vol, incident string) {
	t.Helper()
	_, err := te.env.AWS.EC2(prodAccount, region).CreateSnapshot(context.Background(), &ec2.CreateSnapshotInput{
		VolumeId: aws.String(vol),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot,
			Tags: []ec2types.Tag{{Key: aws.String(IncidentTagKey), Value: aws.String(incident)}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEC2SnapshotLifecycle(t *testing.T) {
	tests := []struct {
		name string
		id   string
		// taken are volumes snapshotted for the incident beforehand.
		taken []string
		// other are volumes snapshotted for another incident.
		other []string
		attrs map[string]cty.Value
		// wantNew are the volumes Apply snapshots.
		wantNew []string
		// wantExclusion is how CreateSnapshots leaves out the rest.
		wantSpec string
	}{
		{name: "every volume", id: ec2Fleet.web1, wantNew: []string{ec2Fleet.web1Root, ec2Fleet.web1Data}},
		{
			name: "configured tags", id: ec2Fleet.web1, wantNew: []string{ec2Fleet.web1Root, ec2Fleet.web1Data},
			attrs: map[string]cty.Value{"tags": cty.MapVal(map[string]cty.Value{
				"case": cty.StringVal("{incident}-evidence"), IncidentTagKey: cty.StringVal("overridden"),
			})},
		},
		{name: "root already taken", id: ec2Fleet.web1, taken: []string{ec2Fleet.web1Root}, wantNew: []string{ec2Fleet.web1Data}},
		{name: "data volume already taken", id: ec2Fleet.web1, taken: []string{ec2Fleet.web1Data}, wantNew: []string{ec2Fleet.web1Root}},
		{name: "another incident's snapshot does not count", id: ec2Fleet.web1, other: []string{ec2Fleet.web1Root},
			wantNew: []string{ec2Fleet.web1Root, ec2Fleet.web1Data}},
		{name: "stopped instance", id: ec2Fleet.batch1, wantNew: nil /* its generated root volume */},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			for _, v := range tc.taken {
				snapshotVolume(t, te, v, snapIncident)
			}
			for _, v := range tc.other {
				snapshotVolume(t, te, v, "inc-other")
			}
			volTags := map[string]map[string]string{}
			for id, v := range te.prodRegion().Volumes {
				volTags[id] = v.Tags
			}
			ex := newExecutor(t, "aws_ec2_snapshot", tc.attrs)
			req := instanceRequest(tc.id)
			prior := incidentSnapshots(te)
			te.emu.ResetCalls() // the setup's calls are not the action's

			before, after := applyTwice(t, te, ex, req, "snapshots")
			if m := ec2Mutations(te, 0); len(m) != 1 || !strings.HasPrefix(m[0], "ec2:CreateSnapshots ") {
				t.Errorf("Apply made calls %v; want one CreateSnapshots", m)
			}
			if len(stringList(before["volumes"])) == 0 || !jsonEqual(before["volumes"], after["volumes"]) {
				t.Errorf("volumes before %v, after %v", before["volumes"], after["volumes"])
			}
			if tc.wantNew == nil {
				tc.wantNew = stringList(before["volumes"])
			}
			got := incidentSnapshots(te)
			for _, vol := range stringList(before["volumes"]) {
				if len(got[vol]) != 1 {
					t.Errorf("%s has %d snapshots of the incident; want 1", vol, len(got[vol]))
					continue
				}
				s := got[vol][0]
				isNew := slices.Contains(tc.wantNew, vol)
				if wasThere := len(prior[vol]) == 1 && prior[vol][0].ID == s.ID; wasThere == isNew {
					t.Errorf("%s: snapshot %s new = %t; want %t", vol, s.ID, !wasThere, isNew)
				}
				if !isNew {
					continue
				}
				want := maps.Clone(volTags[vol])
				if want == nil {
					want = map[string]string{}
				}
				want[IncidentTagKey] = snapIncident
				if tc.attrs != nil {
					want["case"] = snapIncident + "-evidence"
				}
				if !maps.Equal(s.Tags, want) {
					t.Errorf("%s: snapshot tags %v; want %v", vol, s.Tags, want)
				}
				if !strings.Contains(s.Description, snapIncident) || !strings.Contains(s.Description, tc.id) {
					t.Errorf("%s: snapshot description %q", vol, s.Description)
				}
			}
			snaps, _ := after["snapshots"].([]any)
			if len(snaps) != len(stringList(before["volumes"])) {
				t.Fatalf("Apply returned snapshots %v", after["snapshots"])
			}
			for _, e := range snaps {
				s := e.(map[string]any)
				vol, _ := s["volume_id"].(string)
				if len(got[vol]) != 1 || s["snapshot_id"] != got[vol][0].ID || s["device"] == "" || s["started_at"] == nil {
					t.Errorf("Apply returned snapshot %v", s)
				}
			}
			if _, ok := ex.(Reverter); ok {
				t.Error("aws_ec2_snapshot must not be reversible")
			}
			ec2CheckPermissions(t, te, ex)
		})
	}
}

// Apply returns as soon as EC2 has accepted the snapshots: a snapshot still
// pending is fine.
func TestEC2SnapshotDoesNotWaitForCompletion(t *testing.T) {
	te := newTestEnvSeed(t, func(s *awsemu.Seed) { s.Options.SnapshotDelayCalls = 1000 })
	ex := newExecutor(t, "aws_ec2_snapshot", nil)
	req := instanceRequest(ec2Fleet.web1)
	live, err := ex.Read(context.Background(), te.env, req)
	if err != nil {
		t.Fatal(err)
	}
	after, changed, err := ex.Apply(context.Background(), te.env, req, live)
	if err != nil || !changed {
		t.Fatalf("Apply = %t, %v", changed, err)
	}
	for _, e := range after["snapshots"].([]any) {
		if s := e.(map[string]any); s["state"] != "pending" {
			t.Errorf("snapshot %v; want it pending", s)
		}
	}
}

func TestEC2SnapshotErrors(t *testing.T) {
	t.Parallel() // the throttled cases wait out the SDK's backoff
	tests := []struct {
		name  string
		id    string
		fault func(*awsemu.Faults)
		code  string
		msg   string
	}{
		{name: "unknown instance", id: ec2Fleet.unknown, code: "InvalidInstanceID.NotFound"},
		{name: "terminated instance", id: ec2Fleet.terminated, msg: "has no EBS volumes attached"},
		{name: "not authorized", id: ec2Fleet.web1, fault: func(f *awsemu.Faults) {
			f.Fail("ec2:CreateSnapshots", ec2Fleet.web1, "UnauthorizedOperation", "You are not authorized to perform this operation.")
		}, code: "UnauthorizedOperation"},
		{name: "throttled, then fine", id: ec2Fleet.web1, fault: func(f *awsemu.Faults) {
			f.Throttle("ec2:CreateSnapshots", 2)
			f.Throttle("ec2:DescribeSnapshots", 1)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			te := newTestEnv(t)
			if tc.fault != nil {
				tc.fault(te.emu.Faults())
			}
			ex := newExecutor(t, "aws_ec2_snapshot", nil)
			req := instanceRequest(tc.id)
			live, err := ex.Read(context.Background(), te.env, req)
			if err == nil {
				_, _, err = ex.Apply(context.Background(), te.env, req, live)
			}
			switch {
			case tc.code != "":
				ec2WantCode(t, err, tc.code)
			case tc.msg != "":
				if err == nil || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("error %v; want one saying %q", err, tc.msg)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if throttledCalls(te) == 0 {
					t.Error("no call was throttled")
				}
				// Throttled attempts created nothing: one snapshot each.
				for vol, s := range incidentSnapshots(te) {
					if len(s) != 1 {
						t.Errorf("%s has %d snapshots", vol, len(s))
					}
				}
				return
			}
			if !strings.Contains(err.Error(), tc.id) {
				t.Errorf("error %q does not name %s", err, tc.id)
			}
			if len(incidentSnapshots(te)) != 0 {
				t.Error("snapshots were created")
			}
		})
	}
}

func TestEC2SnapshotConfigErrors(t *testing.T) {
	def, _ := Lookup("aws_ec2_snapshot")
	_, err := def.New(cty.ObjectVal(map[string]cty.Value{"tags": cty.MapVal(map[string]cty.Value{"aws:x": cty.StringVal("y")})}))
	if ae, ok := err.(*AttributeError); !ok || ae.Attribute != "tags" {
		t.Fatalf("New: %v; want an AttributeError on tags", err)
	}
}
