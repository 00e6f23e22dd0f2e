package actions

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/evidence"
	"github.com/cordonhq/cordon/schema"
)

// ec2Snapshot snapshots every volume attached to the instance, tagged with
// the incident id and the volume's own tags. It is not reversible: a
// snapshot is evidence, and evidence is kept.
//
// It uses CreateSnapshots, one call for the whole instance: the snapshots
// are crash-consistent with each other (a database's data and log volumes
// are taken at the same instant), and EC2 copies each volume's tags.
// Snapshots are found again by their cordon:incident tag, so applying twice
// creates none the second time, and a partly done apply only takes the
// volumes still missing.
//
// With a forensic account (Env.Forensic), each snapshot is also copied
// there re-encrypted under the forensic key, once it has completed
// (evidence.Copier): the evidence is then out of reach of whoever holds the
// workload account. The copy is part of what the action promises: when a
// snapshot cannot be secured the action fails, with its snapshots kept and
// recorded, so the later phases for the instance (stopping it) are
// withheld and a person decides with the instance, its memory and its
// source snapshots intact. Copies are made once per snapshot (found again
// by their tags), and nothing cordon does, a revert included, deletes a
// snapshot or a copy.
type ec2Snapshot struct {
	tags map[string]string
	// copyTimeout bounds the wait for snapshots to complete and for their
	// copies (copy_timeout).
	copyTimeout time.Duration
	// poll is the first interval between DescribeSnapshots calls while
	// waiting; tests shorten it.
	poll time.Duration
}

// defaultCopyTimeout is long enough for the snapshot and copy of volumes
// of a few hundred GiB; larger ones want a larger copy_timeout.
const defaultCopyTimeout = time.Hour

func init() {
	Register(&Definition{
		Type:        "aws_ec2_snapshot",
		Summary:     "Snapshot every attached volume, tagged with the incident id",
		Phase:       Acquire,
		TargetTypes: []string{schema.ResourceInstance},
		Reversible:  false,
		Attributes: hcldec.ObjectSpec{
			"tags":         &hcldec.AttrSpec{Name: "tags", Type: cty.Map(cty.String)},
			"copy_timeout": &hcldec.AttrSpec{Name: "copy_timeout", Type: cty.String},
		},
		New: func(cfg cty.Value) (Action, error) {
			a := ec2Snapshot{tags: attrStringMap(cfg, "tags"), poll: 2 * time.Second}
			if err := checkTagSet("tags", a.tags); err != nil {
				return nil, err
			}
			d, err := attrDuration(cfg, "copy_timeout", defaultCopyTimeout)
			if err != nil {
				return nil, err
			}
			if d == 0 {
				return nil, &AttributeError{Attribute: "copy_timeout", Summary: "Invalid duration",
					Detail: "copy_timeout bounds the wait for the copies in the forensic account; it must be more than 0."}
			}
			a.copyTimeout = d
			return a, nil
		},
	})
}

func (a ec2Snapshot) Describe(req *Request) Change {
	c := Change{
		Before:       map[string]any{},
		After:        map[string]any{},
		AfterUnknown: []string{"snapshots"},
	}
	if ids, _, ok := viewInstance(req).volumes(); ok {
		c.Before["volumes"] = list(ids)
		c.After["volumes"] = list(ids)
	} else {
		c.BeforeUnknown = []string{"volumes"}
		c.AfterUnknown = append([]string{}, "snapshots", "volumes")
	}
	return c
}

// Grants: ec2:CreateSnapshots is authorized on the instance (the
// target), on each volume and on each new snapshot (instance*, volume*,
// snapshot*); tagging the snapshots as they are made needs ec2:CreateTags
// on them, which ec2:CreateAction keeps to new snapshots and aws:TagKeys
// to cordon's tags (tags copied from the volumes are not the request's).
// Source: the Service Authorization Reference for Amazon EC2.
func (a ec2Snapshot) Grants() []Grant {
	return []Grant{
		{Name: "Read", Actions: []string{"ec2:DescribeInstances", "ec2:DescribeSnapshots"}, Resources: allResources},
		{Actions: []string{"ec2:CreateSnapshots"}, Resources: []string{ec2InstanceARN}, TargetTagKey: ec2TagKey},
		{Name: "Volumes", Actions: []string{"ec2:CreateSnapshots"}, Resources: []string{ec2VolumeARN, ec2SnapshotARN}},
		{Name: "TagSnapshots", Actions: []string{"ec2:CreateTags"}, Resources: []string{ec2SnapshotARN},
			Conditions: map[string]map[string][]string{"StringEquals": {"ec2:CreateAction": {"CreateSnapshots"}},
				"ForAllValues:StringEquals": {"aws:TagKeys": sortedKeys(a.tagsFor(""))}}},
	}
}

func (a ec2Snapshot) Permissions() []string { return grantActions(a.Grants()) }

// snapshotTarget is what Read finds: the instance's EBS volumes and the
// snapshots this incident already has of them.
type snapshotTarget struct {
	rootDevice string
	volumes    []attachedVolume
	taken      map[string]ec2types.Snapshot // by volume id
	// copies are the snapshots' copies in the forensic account, by source
	// snapshot id, once Apply has made or found them.
	copies map[string]evidence.Copy
}

func (s snapshotTarget) volumeIDs() []string {
	ids := make([]string, len(s.volumes))
	for i, v := range s.volumes {
		ids[i] = v.id
	}
	return ids
}

// toMap gives volumes in mapping order and, for those snapshotted, their
// snapshot in the shape of the aws_ebs_acquire facts.
func (s snapshotTarget) toMap() map[string]any {
	snaps := []any{}
	for _, v := range s.volumes {
		snap, ok := s.taken[v.id]
		if !ok {
			continue
		}
		m := map[string]any{
			"snapshot_id": aws.ToString(snap.SnapshotId), "volume_id": v.id, "device": v.device,
			"state": string(snap.State),
		}
		if snap.StartTime != nil {
			m["started_at"] = snap.StartTime.UTC().Format(time.RFC3339)
		}
		if cp, ok := s.copies[aws.ToString(snap.SnapshotId)]; ok {
			m["copy"] = cp.Map()
		}
		snaps = append(snaps, m)
	}
	return map[string]any{"volumes": list(s.volumeIDs()), "snapshots": snaps}
}

func readSnapshotTarget(ctx context.Context, client *ec2.Client, req *Request) (snapshotTarget, error) {
	id := req.Target.ID
	in, err := lookupInstance(ctx, client, id)
	if err != nil {
		return snapshotTarget{}, fmt.Errorf("reading the volumes of %s: %w", id, err)
	}
	s := snapshotTarget{rootDevice: aws.ToString(in.RootDeviceName), taken: map[string]ec2types.Snapshot{}}
	for _, m := range in.BlockDeviceMappings {
		if m.Ebs != nil && m.Ebs.VolumeId != nil {
			s.volumes = append(s.volumes, attachedVolume{id: aws.ToString(m.Ebs.VolumeId), device: aws.ToString(m.DeviceName)})
		}
	}
	if len(s.volumes) == 0 {
		return s, nil
	}
	p := ec2.NewDescribeSnapshotsPaginator(client, &ec2.DescribeSnapshotsInput{
		OwnerIds: []string{"self"},
		Filters: []ec2types.Filter{
			{Name: aws.String("tag:" + IncidentTagKey), Values: []string{req.IncidentID}},
			{Name: aws.String("volume-id"), Values: s.volumeIDs()},
		},
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return snapshotTarget{}, fmt.Errorf("looking for the snapshots of %s of incident %s: %w", id, req.IncidentID, err)
		}
		for _, snap := range out.Snapshots {
			vol := aws.ToString(snap.VolumeId)
			if snap.State == ec2types.SnapshotStateError {
				continue // a failed snapshot is no evidence: take another
			}
			// Of several (two applies racing), the first taken stands.
			if old, dup := s.taken[vol]; !dup || aws.ToTime(snap.StartTime).Before(aws.ToTime(old.StartTime)) {
				s.taken[vol] = snap
			}
		}
	}
	return s, nil
}

func (ec2Snapshot) Read(ctx context.Context, env *Env, req *Request) (map[string]any, error) {
	s, err := readSnapshotTarget(ctx, env.AWS.EC2(req.Target.Account, req.Target.Region), req)
	if err != nil {
		return nil, err
	}
	return s.toMap(), nil
}

// Apply snapshots the volumes that have no snapshot of this incident yet.
// It returns once EC2 has accepted them: the point in time is fixed when
// CreateSnapshots returns, and the snapshots are "pending" while EC2
// copies the blocks, which nothing later in the response has to wait for
// (stopping or even terminating the instance does not disturb them).
func (a ec2Snapshot) Apply(ctx context.Context, env *Env, req *Request, _ map[string]any) (map[string]any, bool, error) {
	id := req.Target.ID
	client := env.AWS.EC2(req.Target.Account, req.Target.Region)
	s, err := readSnapshotTarget(ctx, client, req)
	if err != nil {
		return nil, false, err
	}
	if len(s.volumes) == 0 {
		return nil, false, fmt.Errorf("snapshotting %s: it has no EBS volumes attached", id)
	}
	spec := &ec2types.InstanceSpecification{InstanceId: aws.String(id)}
	missing := 0
	for _, v := range s.volumes {
		if _, done := s.taken[v.id]; !done {
			missing++
			continue
		}
		// EC2 refuses the root volume in ExcludeDataVolumeIds.
		if v.device == s.rootDevice {
			spec.ExcludeBootVolume = aws.Bool(true)
		} else {
			spec.ExcludeDataVolumeIds = append(spec.ExcludeDataVolumeIds, v.id)
		}
	}
	if missing == 0 {
		copied, err := a.secure(ctx, env, req, &s)
		return s.toMap(), copied, err
	}
	out, err := client.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{
		InstanceSpecification: spec,
		CopyTagsFromSource:    ec2types.CopyTagsFromSourceVolume,
		Description:           aws.String(snapshotDescription(req)),
		TagSpecifications: []ec2types.TagSpecification{{
			ResourceType: ec2types.ResourceTypeSnapshot, Tags: ec2Tags(a.tagsFor(req.IncidentID)),
		}},
	})
	if err != nil {
		return nil, false, fmt.Errorf("snapshotting the volumes of %s: %w", id, err)
	}
	for _, info := range out.Snapshots {
		vol := aws.ToString(info.VolumeId)
		s.taken[vol] = ec2types.Snapshot{SnapshotId: info.SnapshotId, VolumeId: info.VolumeId, State: info.State, StartTime: info.StartTime}
		ec2Debugf(env, "%s: snapshot %s of %s started (%s)", id, aws.ToString(info.SnapshotId), vol, info.State)
	}
	for _, v := range s.volumes {
		if _, ok := s.taken[v.id]; !ok {
			return nil, true, fmt.Errorf("snapshotting the volumes of %s: EC2 started no snapshot of %s", id, v.id)
		}
	}
	_, err = a.secure(ctx, env, req, &s)
	return s.toMap(), true, err
}

// secure copies the target's snapshots into the forensic account, when
// there is one, and reports whether it started any copy. The wait is
// bounded by copy_timeout.
func (a ec2Snapshot) secure(ctx context.Context, env *Env, req *Request, s *snapshotTarget) (bool, error) {
	if env.Forensic == nil {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.copyTimeout)
	defer cancel()
	t := req.Target
	var sources []evidence.Source
	for _, v := range s.volumes {
		if snap, ok := s.taken[v.id]; ok {
			sources = append(sources, evidence.Source{SnapshotID: aws.ToString(snap.SnapshotId), VolumeID: v.id, InstanceID: t.ID})
		}
	}
	c := evidence.NewCopier(env.AWS, *env.Forensic, req.IncidentID, t.Account, t.Region)
	c.Poll = a.poll
	c.Debugf = func(format string, args ...any) { ec2Debugf(env, "%s: "+format, append([]any{t.ID}, args...)...) }
	copies, err := c.CopyAll(ctx, sources)
	s.copies = map[string]evidence.Copy{}
	started := false
	for _, cp := range copies {
		s.copies[cp.SourceSnapshotID] = cp
		started = started || (cp.SnapshotID != "" && !cp.Earlier)
	}
	// The wait saw the snapshots complete.
	for vol, snap := range s.taken {
		if cp, ok := s.copies[aws.ToString(snap.SnapshotId)]; ok && cp.SourceState != "" {
			snap.State = ec2types.SnapshotState(cp.SourceState)
			s.taken[vol] = snap
		}
	}
	if err != nil {
		return started, fmt.Errorf("securing the snapshots of %s in account %s (the snapshots are kept): %w", t.ID, env.Forensic.Account, err)
	}
	return started, nil
}

// tagsFor returns the snapshots' tags: the configured ones ("{incident}"
// replaced) and always cordon:incident, by which Read finds them again.
func (a ec2Snapshot) tagsFor(incidentID string) map[string]string {
	out := make(map[string]string, len(a.tags)+1)
	for k, v := range a.tags {
		out[k] = strings.ReplaceAll(v, "{incident}", incidentID)
	}
	out[IncidentTagKey] = incidentID
	return out
}

// snapshotDescription says where the evidence comes from, within EC2's 255
// characters.
func snapshotDescription(req *Request) string {
	d := fmt.Sprintf("cordon %s: %s", req.IncidentID, req.Target.ID)
	if req.Finding != nil && req.Finding.Type != "" {
		d += " (" + req.Finding.Type + ")"
	}
	if len(d) > 255 {
		d = strings.ToValidUTF8(d[:255], "")
	}
	return d
}
