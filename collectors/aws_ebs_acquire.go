package collectors

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/evidence"
	"github.com/cordonhq/cordon/internal/wait"
	"github.com/cordonhq/cordon/schema"
)

// ebsAcquire is full disk acquisition: a snapshot of every EBS volume
// attached to the instance, kept as evidence. It is the one collector that
// changes something, and only by adding snapshots.
//
// It uses CreateSnapshots, one call for the whole instance, so that the
// snapshots are crash-consistent with each other (a database's data and
// log volumes taken at the same instant); EC2 copies each volume's tags.
// The snapshots carry the incident id, by which a later run of the same
// incident finds and reuses them instead of taking more (aws_ec2_snapshot
// finds them the same way, and this collector reuses its snapshots too).
//
// It waits until EC2 lists the snapshots, not until they complete: the
// point in time is fixed when CreateSnapshots returns, and copying the
// blocks takes minutes to hours, which nothing in the response waits for.
//
// With a forensic account (the evidence block's, UseEvidence) it does wait: each snapshot,
// once completed, is copied into that account re-encrypted under the
// forensic key (evidence.Copier), within the collector's timeout, which
// should then allow for it. A snapshot that cannot be secured fails the
// collector (the snapshots taken are evidence all the same); a copy made
// is evidence (kind snapshot_copy) and shows in the facts beside its
// source.
type ebsAcquire struct {
	tags map[string]string
	// poll is the first interval between DescribeSnapshots calls while new
	// snapshots are not listed yet; it doubles up to maxSnapshotPoll.
	poll time.Duration
	// forensic is where the snapshots are copied (UseEvidence); nil:
	// nowhere.
	forensic *evidence.Forensic
}

const (
	// The tags marking the snapshots; the incident tag is the one
	// aws_ec2_snapshot and aws_ec2_tag write.
	acquireIncidentTag = "cordon:incident"
	acquireEvidenceTag = "cordon:evidence"

	firstSnapshotPoll = 250 * time.Millisecond
	maxSnapshotPoll   = 4 * time.Second
)

func init() {
	Register(&Definition{
		Type:           "aws_ebs_acquire",
		Summary:        "Full disk acquisition: snapshots of every attached volume, tagged with the incident id",
		ResourceTypes:  []string{schema.ResourceInstance},
		DefaultTimeout: 2 * time.Minute,
		FactsSchema:    "aws_ebs_acquire",
		Attributes: hcldec.ObjectSpec{
			"tags": &hcldec.AttrSpec{Name: "tags", Type: cty.Map(cty.String)},
		},
		New: newEBSAcquire,
	})
}

func newEBSAcquire(cfg cty.Value) (Collector, error) {
	c := ebsAcquire{tags: map[string]string{}, poll: firstSnapshotPoll}
	if v := cfg.GetAttr("tags"); !v.IsNull() {
		if !v.IsWhollyKnown() {
			return nil, &AttributeError{Attribute: "tags", Summary: "Unknown tags", Detail: "The tags must be known when the configuration loads."}
		}
		for k, val := range v.AsValueMap() {
			if val.IsNull() {
				return nil, &AttributeError{Attribute: "tags", Summary: "Invalid tag", Detail: fmt.Sprintf("tag %q has a null value.", k)}
			}
			c.tags[k] = val.AsString()
		}
	}
	keys := make([]string, 0, len(c.tags))
	for k := range c.tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		// Measured with an incident id in place: "inc-" and 16 hex digits.
		v := strings.ReplaceAll(c.tags[k], "{incident}", "inc-0123456789abcdef")
		var why string
		switch {
		case k == "":
			why = "a tag key must not be empty"
		case k == acquireIncidentTag || k == acquireEvidenceTag:
			why = fmt.Sprintf("tag %q is set by cordon", k)
		case utf8.RuneCountInString(k) > 128:
			why = fmt.Sprintf("tag key %q is longer than 128 characters", k)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			why = fmt.Sprintf("tag key %q: keys starting with \"aws:\" are reserved for AWS", k)
		case utf8.RuneCountInString(v) > 256:
			why = fmt.Sprintf("the value of tag %q is longer than 256 characters", k)
		}
		if why != "" {
			return nil, &AttributeError{Attribute: "tags", Summary: "Invalid tag", Detail: why + "."}
		}
	}
	if len(c.tags)+2 > 50 {
		return nil, &AttributeError{Attribute: "tags", Summary: "Too many tags",
			Detail: fmt.Sprintf("%d tags and cordon's own two; a snapshot holds at most 50.", len(c.tags))}
	}
	return &c, nil
}

// UseEvidence takes the forensic account and key of the evidence block:
// with them, every snapshot is copied into that account.
func (c *ebsAcquire) UseEvidence(ev Evidence) error {
	if ev.ForensicAccount == "" {
		c.forensic = nil
		return nil
	}
	f := &evidence.Forensic{Account: ev.ForensicAccount, KMSKeyID: ev.KMSKeyID}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("the evidence block: %w", err)
	}
	c.forensic = f
	return nil
}

func (ebsAcquire) Permissions() []string {
	return []string{
		"ec2:CreateSnapshots",
		// Tagging a resource as it is created needs ec2:CreateTags too.
		"ec2:CreateTags",
		"ec2:DescribeInstances",
		"ec2:DescribeSnapshots",
	}
}

// acquiredVolume is an attached EBS volume and, once taken or found, its
// snapshot.
type acquiredVolume struct {
	id, device string
	snapshot   *ec2types.Snapshot
}

func (c ebsAcquire) Collect(ctx context.Context, req *Request) (map[string]any, error) {
	t, err := ec2TargetOf("aws_ebs_acquire", req)
	if err != nil {
		return nil, err
	}
	if req.IncidentID == "" {
		return nil, errors.New("acquiring the volumes of " + t.id + ": no incident id to tag the snapshots with")
	}
	client := req.AWS.EC2(t.account, t.region)
	in, err := describeEC2Instance(ctx, client, t)
	if err != nil {
		return nil, err
	}
	var vols []*acquiredVolume
	for _, m := range in.BlockDeviceMappings {
		if m.Ebs != nil && aws.ToString(m.Ebs.VolumeId) != "" {
			vols = append(vols, &acquiredVolume{id: aws.ToString(m.Ebs.VolumeId), device: aws.ToString(m.DeviceName)})
		}
	}
	if len(vols) == 0 {
		state := "unknown"
		if in.State != nil {
			state = string(in.State.Name)
		}
		return nil, fmt.Errorf("acquiring the volumes of %s: it has no EBS volumes attached (it is %s)", t.id, state)
	}

	if err := c.findEarlier(ctx, client, req.IncidentID, vols); err != nil {
		return nil, fmt.Errorf("looking for the snapshots of %s of incident %s: %w", t.id, req.IncidentID, err)
	}
	var started []string
	if len(missingSnapshots(vols)) > 0 {
		started, err = c.snapshot(ctx, client, req, in, vols)
	}
	// Every snapshot there is is evidence, even when EC2 took only some.
	region := client.Options().Region
	for _, v := range vols {
		if v.snapshot == nil {
			continue
		}
		req.keep(Artefact{Kind: "snapshot", Name: aws.ToString(v.snapshot.SnapshotId), Meta: map[string]any{
			"volume_id": v.id, "device": v.device, "region": region, "account": t.account,
		}})
	}
	if err != nil {
		return nil, fmt.Errorf("snapshotting the volumes of %s: %w", t.id, err)
	}
	if len(started) > 0 {
		if err := c.waitListed(ctx, client, vols, started); err != nil {
			return nil, fmt.Errorf("snapshotting the volumes of %s: %w", t.id, err)
		}
	}
	copies, err := c.secure(ctx, req, t, region, vols)
	if err != nil {
		return nil, err
	}

	snaps := make([]any, 0, len(vols))
	for _, v := range vols {
		s := map[string]any{"snapshot_id": aws.ToString(v.snapshot.SnapshotId), "volume_id": v.id, "state": string(v.snapshot.State)}
		if v.device != "" {
			s["device"] = v.device
		}
		if v.snapshot.StartTime != nil {
			s["started_at"] = v.snapshot.StartTime.UTC().Format(time.RFC3339)
		}
		if cp, ok := copies[aws.ToString(v.snapshot.SnapshotId)]; ok {
			s["copy"] = cp.Map()
		}
		snaps = append(snaps, s)
	}
	return map[string]any{"snapshots": snaps}, nil
}

// secure copies the snapshots into the forensic account when there is
// one, and keeps each copy made as evidence. It returns the copies by
// source snapshot id, and an error when a snapshot is not secured.
func (c ebsAcquire) secure(ctx context.Context, req *Request, t ec2Target, region string, vols []*acquiredVolume) (map[string]evidence.Copy, error) {
	if c.forensic == nil {
		return nil, nil
	}
	var sources []evidence.Source
	for _, v := range vols {
		sources = append(sources, evidence.Source{SnapshotID: aws.ToString(v.snapshot.SnapshotId), VolumeID: v.id, InstanceID: t.id})
	}
	cp := evidence.NewCopier(req.AWS, *c.forensic, req.IncidentID, t.account, region)
	if c.poll > 0 {
		cp.Poll = c.poll
	}
	copies, err := cp.CopyAll(ctx, sources)
	out := make(map[string]evidence.Copy, len(copies))
	for i, k := range copies {
		out[k.SourceSnapshotID] = k
		if k.SourceState != "" {
			// The copier waited for the snapshot to complete.
			vols[i].snapshot.State = ec2types.SnapshotState(k.SourceState)
		}
		// A finished copy is evidence; one still copying or failed is
		// not (yet), and the error says so.
		if k.SnapshotID == "" || k.State != "completed" {
			continue
		}
		meta := k.Meta()
		meta["volume_id"], meta["instance_id"], meta["source_account"] = sources[i].VolumeID, t.id, t.account
		req.keep(Artefact{Kind: "snapshot_copy", Name: k.SnapshotID, Meta: meta})
	}
	if err != nil {
		return out, fmt.Errorf("securing the snapshots of %s in account %s (the snapshots are kept): %w", t.id, c.forensic.Account, err)
	}
	return out, nil
}

// findEarlier attaches to vols the snapshots this incident already has of
// them. A failed snapshot is no evidence and is taken again; of several
// (two runs racing), the first taken stands.
func (ebsAcquire) findEarlier(ctx context.Context, client *ec2.Client, incident string, vols []*acquiredVolume) error {
	byID := make(map[string]*acquiredVolume, len(vols))
	ids := make([]string, len(vols))
	for i, v := range vols {
		byID[v.id], ids[i] = v, v.id
	}
	p := ec2.NewDescribeSnapshotsPaginator(client, &ec2.DescribeSnapshotsInput{
		OwnerIds: []string{"self"},
		Filters: []ec2types.Filter{
			{Name: aws.String("tag:" + acquireIncidentTag), Values: []string{incident}},
			{Name: aws.String("volume-id"), Values: ids},
		},
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, s := range out.Snapshots {
			v := byID[aws.ToString(s.VolumeId)]
			if v == nil || s.State == ec2types.SnapshotStateError {
				continue
			}
			if v.snapshot == nil || aws.ToTime(s.StartTime).Before(aws.ToTime(v.snapshot.StartTime)) {
				v.snapshot = &s
			}
		}
	}
	return nil
}

func missingSnapshots(vols []*acquiredVolume) []string {
	var ids []string
	for _, v := range vols {
		if v.snapshot == nil {
			ids = append(ids, v.id)
		}
	}
	return ids
}

// snapshot takes the volumes that have no snapshot yet, in one
// CreateSnapshots call, and returns the new snapshots' ids.
func (c ebsAcquire) snapshot(ctx context.Context, client *ec2.Client, req *Request, in ec2types.Instance, vols []*acquiredVolume) ([]string, error) {
	id := aws.ToString(in.InstanceId)
	spec := &ec2types.InstanceSpecification{InstanceId: aws.String(id)}
	for _, v := range vols {
		if v.snapshot == nil {
			continue
		}
		// EC2 refuses the root volume in ExcludeDataVolumeIds.
		if v.device != "" && v.device == aws.ToString(in.RootDeviceName) {
			spec.ExcludeBootVolume = aws.Bool(true)
		} else {
			spec.ExcludeDataVolumeIds = append(spec.ExcludeDataVolumeIds, v.id)
		}
	}
	out, err := client.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{
		InstanceSpecification: spec,
		CopyTagsFromSource:    ec2types.CopyTagsFromSourceVolume,
		Description:           aws.String(acquisitionDescription(req, id)),
		TagSpecifications: []ec2types.TagSpecification{{
			ResourceType: ec2types.ResourceTypeSnapshot, Tags: c.snapshotTags(req.IncidentID),
		}},
	})
	if err != nil {
		return nil, err
	}
	var started []string
	for _, info := range out.Snapshots {
		for _, v := range vols {
			if v.snapshot == nil && v.id == aws.ToString(info.VolumeId) {
				v.snapshot = &ec2types.Snapshot{SnapshotId: info.SnapshotId, VolumeId: info.VolumeId, State: info.State, StartTime: info.StartTime}
				started = append(started, aws.ToString(info.SnapshotId))
			}
		}
	}
	if missing := missingSnapshots(vols); len(missing) > 0 {
		return nil, fmt.Errorf("EC2 started no snapshot of %s", strings.Join(missing, ", "))
	}
	return started, nil
}

// snapshotTags are the configured tags ("{incident}" replaced) and
// cordon's own, sorted by key.
func (c ebsAcquire) snapshotTags(incident string) []ec2types.Tag {
	tags := map[string]string{acquireIncidentTag: incident, acquireEvidenceTag: "true"}
	for k, v := range c.tags {
		tags[k] = strings.ReplaceAll(v, "{incident}", incident)
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]ec2types.Tag, len(keys))
	for i, k := range keys {
		out[i] = ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])}
	}
	return out
}

// acquisitionDescription says where the evidence comes from, within EC2's
// 255 characters.
func acquisitionDescription(req *Request, id string) string {
	d := fmt.Sprintf("cordon %s: disk acquisition of %s", req.IncidentID, id)
	if req.Finding != nil && req.Finding.Type != "" {
		d += " (" + req.Finding.Type + ")"
	}
	if len(d) > 255 {
		d = strings.ToValidUTF8(d[:255], "")
	}
	return d
}

// waitListed polls DescribeSnapshots until EC2 lists every snapshot just
// started (its API is eventually consistent: right after CreateSnapshots
// it may answer InvalidSnapshot.NotFound), and records their state. It
// stops at ctx's deadline.
func (c ebsAcquire) waitListed(ctx context.Context, client *ec2.Client, vols []*acquiredVolume, ids []string) error {
	interval := c.poll
	if interval <= 0 {
		interval = firstSnapshotPoll
	}
	for {
		out, err := client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: ids})
		switch {
		case err == nil:
			for _, s := range out.Snapshots {
				for _, v := range vols {
					if aws.ToString(v.snapshot.SnapshotId) == aws.ToString(s.SnapshotId) {
						v.snapshot = &s
					}
				}
			}
			if len(out.Snapshots) >= len(ids) {
				return nil
			}
		case ec2ErrorCode(err) != "InvalidSnapshot.NotFound":
			return fmt.Errorf("waiting for snapshots %s: %w", strings.Join(ids, ", "), err)
		}
		if err := wait.Sleep(ctx, interval); err != nil {
			return fmt.Errorf("waiting for snapshots %s to be listed: %w", strings.Join(ids, ", "), err)
		}
		interval = min(2*interval, maxSnapshotPoll)
	}
}
