package awsemu

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Sharing and copying snapshots: ModifySnapshotAttribute and
// DescribeSnapshotAttribute (createVolumePermission), and CopySnapshot
// across accounts, as a forensic account copies a snapshot shared with it.
//
// CopySnapshot is called in the destination account. It sees the source
// snapshot only if the caller owns it or it is shared with the caller's
// account (or public): others answer InvalidSnapshot.NotFound, as EC2
// reveals nothing of them. The copy is "pending" for snapshot_delay_calls
// DescribeSnapshots calls. EBS encrypts and re-encrypts with the keys on
// the caller's behalf, so the keys' policies and the caller's identity
// policies must allow the caller the key operations (keyAllows); when they
// do not, EC2 still accepts the copy, and it ends in the "error" state
// with "Given key ID is not accessible", as EC2 reports key failures only
// once the asynchronous copy runs.

// settle ends a pending snapshot: completed, or error for a copy whose
// keys could not be used.
func (s *Snapshot) settle() {
	if s.StateMessage != "" {
		s.State, s.Progress = "error", "0%"
		return
	}
	s.State, s.Progress = "completed", "100%"
}

// snapshotItem is a snapshot as IAM authorizes it: its ARN (without an
// account) and its condition keys.
func (r *request) snapshotItem(s *Snapshot) authzItem {
	it := r.ec2Item("snapshot", s.ID, s.Tags, "ec2:Owner", s.OwnerID, "ec2:VolumeSize", strconv.Itoa(s.VolumeSizeGB),
		"ec2:SnapshotTime", s.StartTime.UTC().Format("2006-01-02T15:04:05Z"), "ec2:Encrypted", strconv.FormatBool(s.Encrypted))
	if s.VolumeID != "" && s.SourceSnapshotID == "" {
		it.keys["ec2:parentvolume"] = []string{fmt.Sprintf("arn:aws:ec2:%s:%s:volume/%s", r.region.Name, s.OwnerID, s.VolumeID)}
	}
	return it
}

// ownSnapshot looks up one of the caller's snapshots by the SnapshotId
// parameter.
func (r *request) ownSnapshot() (*Snapshot, error) {
	id := r.params.get("SnapshotId")
	if id == "" {
		return nil, missing("SnapshotId")
	}
	if err := r.resources(id); err != nil {
		return nil, err
	}
	found, err := lookup(kindSnapshot, r.region.Snapshots, []string{id})
	if err != nil {
		return nil, err
	}
	return found[0], nil
}

// permissionChange is what a ModifySnapshotAttribute call adds and
// removes: account ids and groups ("all").
type permissionChange struct {
	addUsers, addGroups, removeUsers, removeGroups []string
}

func (r *request) permissionChange() (permissionChange, error) {
	p := r.params
	var c permissionChange
	for _, it := range p.items("CreateVolumePermission.Add") {
		if u := p.get(it + ".UserId"); u != "" {
			c.addUsers = append(c.addUsers, u)
		}
		if g := p.get(it + ".Group"); g != "" {
			c.addGroups = append(c.addGroups, g)
		}
	}
	for _, it := range p.items("CreateVolumePermission.Remove") {
		if u := p.get(it + ".UserId"); u != "" {
			c.removeUsers = append(c.removeUsers, u)
		}
		if g := p.get(it + ".Group"); g != "" {
			c.removeGroups = append(c.removeGroups, g)
		}
	}
	// The older form: OperationType with UserId.N and UserGroup.N.
	users, groups := p.list("UserId"), p.list("UserGroup")
	switch op := p.get("OperationType"); op {
	case "":
		if len(users)+len(groups) > 0 {
			return c, missing("OperationType")
		}
	case "add":
		c.addUsers, c.addGroups = append(c.addUsers, users...), append(c.addGroups, groups...)
	case "remove":
		c.removeUsers, c.removeGroups = append(c.removeUsers, users...), append(c.removeGroups, groups...)
	default:
		return c, ec2Err("InvalidParameterValue", "Value (%s) for parameter operationType is invalid. Valid values: add, remove", op)
	}
	for _, u := range append(slices.Clone(c.addUsers), c.removeUsers...) {
		if !accountRE.MatchString(u) {
			return c, ec2Err("InvalidUserID.Malformed", "Invalid user id: \"%s\"", u)
		}
	}
	for _, g := range append(slices.Clone(c.addGroups), c.removeGroups...) {
		if g != "all" {
			return c, ec2Err("InvalidParameterValue", "Value (%s) for parameter group is invalid. Valid value: all", g)
		}
	}
	if len(c.addUsers)+len(c.addGroups)+len(c.removeUsers)+len(c.removeGroups) == 0 {
		return c, ec2Err("InvalidParameterCombination", "No createVolumePermission to add or remove was given")
	}
	return c, nil
}

func modifySnapshotAttribute(r *request) (any, error) {
	switch a := r.params.get("Attribute"); a {
	case "", "createVolumePermission":
	case "productCodes":
		return nil, ec2Err("InvalidParameterCombination", "The productCodes attribute of a snapshot cannot be modified")
	default:
		return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Valid values: productCodes, createVolumePermission", a)
	}
	s, err := r.ownSnapshot()
	if err != nil {
		return nil, err
	}
	c, err := r.permissionChange()
	if err != nil {
		return nil, err
	}
	// ec2:ModifySnapshotAttribute's snapshot* resource, with the accounts
	// and groups the call adds and removes (ec2:Add/userId …), so a policy
	// can allow sharing with one account only.
	it := r.snapshotItem(s)
	for k, v := range map[string][]string{"ec2:add/userid": c.addUsers, "ec2:add/group": c.addGroups,
		"ec2:remove/userid": c.removeUsers, "ec2:remove/group": c.removeGroups} {
		if len(v) > 0 {
			it.keys[k] = v
		}
	}
	if err := r.authorize(r.action(), it); err != nil {
		return nil, err
	}
	if len(c.addUsers)+len(c.addGroups) > 0 && s.Encrypted {
		if len(c.addGroups) > 0 {
			return nil, ec2Err("OperationNotPermitted", "Encrypted snapshots cannot be shared publicly")
		}
		if k := r.e.state.keyByARN(s.KMSKeyID); k == nil || k.Manager == "AWS" {
			return nil, ec2Err("OperationNotPermitted", "Encrypted snapshots with EBS default key cannot be shared")
		}
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	perms := s.CreateVolumePermissions
	for _, add := range append(slices.Clone(c.addUsers), c.addGroups...) {
		if !slices.Contains(perms, add) {
			perms = append(perms, add)
		}
	}
	perms = slices.DeleteFunc(perms, func(p string) bool {
		return slices.Contains(c.removeUsers, p) || slices.Contains(c.removeGroups, p)
	})
	slices.Sort(perms)
	if len(perms) == 0 {
		perms = nil
	}
	s.CreateVolumePermissions = perms
	return &ec2Return{Return: true}, nil
}

type xCreateVolumePermission struct {
	UserID string `xml:"userId,omitempty"`
	Group  string `xml:"group,omitempty"`
}

func describeSnapshotAttribute(r *request) (any, error) {
	attr := r.params.get("Attribute")
	if attr == "" {
		return nil, missing("Attribute")
	}
	if attr != "createVolumePermission" && attr != "productCodes" {
		return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Valid values: productCodes, createVolumePermission", attr)
	}
	s, err := r.ownSnapshot()
	if err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	out := &struct {
		ec2Response
		SnapshotID  string                    `xml:"snapshotId"`
		Permissions []xCreateVolumePermission `xml:"createVolumePermission>item"`
	}{SnapshotID: s.ID}
	if attr == "createVolumePermission" {
		for _, p := range s.CreateVolumePermissions {
			if p == "all" {
				out.Permissions = append(out.Permissions, xCreateVolumePermission{Group: p})
			} else {
				out.Permissions = append(out.Permissions, xCreateVolumePermission{UserID: p})
			}
		}
	}
	return out, nil
}

// sharedSnapshot finds snapshot id in region for the caller: its own, or
// another account's shared with the caller's account or public.
func (r *request) sharedSnapshot(id, region string) (*Snapshot, error) {
	if !snapshotRE.MatchString(id) {
		return nil, ec2Err("InvalidSnapshotID.Malformed", "Invalid id: \"%s\" (expecting \"snap-...\")", id)
	}
	for _, a := range r.e.state.sortedAccounts() {
		reg := a.Regions[region]
		if reg == nil {
			continue
		}
		s := reg.Snapshots[id]
		if s == nil {
			continue
		}
		if a.ID == r.acct.ID || slices.Contains(s.CreateVolumePermissions, r.acct.ID) || slices.Contains(s.CreateVolumePermissions, "all") {
			return s, nil
		}
	}
	return nil, kindSnapshot.notFound([]string{id})
}

// Key operations EBS performs with the caller's permissions when it copies
// a snapshot: on the source snapshot's key to read it, and on the
// destination key to encrypt the copy (ReEncryptTo when the source is
// encrypted, GenerateDataKeyWithoutPlaintext when it is not).
var (
	copySourceKeyOps = []string{"kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:ReEncryptFrom"}
	copyDestKeyOps   = []string{"kms:CreateGrant", "kms:DescribeKey"}
)

// copyKeyFailure checks the key operations of a copy, recording each on
// the call, and returns why the copy cannot use its keys, "" when it can.
func (r *request) copyKeyFailure(src *Snapshot, dest *KMSKey, destRef string) string {
	via := map[string][]string{"kms:ViaService": {"ec2." + r.region.Name + ".amazonaws.com"}}
	grant := map[string][]string{"kms:ViaService": via["kms:ViaService"], "kms:GrantIsForAWSResource": {"true"}}
	var why []string
	check := func(k *KMSKey, ops []string) {
		if k.State != "Enabled" {
			why = append(why, fmt.Sprintf("key %s is %s", k.ARN, strings.ToLower(k.State)))
			return
		}
		for _, op := range ops {
			extra := via
			if op == "kms:CreateGrant" {
				extra = grant
			}
			if w := r.keyAllows(k, op, extra); w != "" {
				why = append(why, w)
			}
		}
	}
	if src.Encrypted {
		if k := r.e.state.keyByARN(src.KMSKeyID); k == nil {
			why = append(why, fmt.Sprintf("key %s of the source snapshot does not exist", src.KMSKeyID))
		} else {
			check(k, copySourceKeyOps)
		}
	}
	if dest == nil {
		return strings.Join(append(why, fmt.Sprintf("key %s does not exist", destRef)), "; ")
	}
	ops := append(slices.Clone(copyDestKeyOps), "kms:GenerateDataKeyWithoutPlaintext")
	if src.Encrypted {
		ops[len(ops)-1] = "kms:ReEncryptTo"
	}
	check(dest, ops)
	return strings.Join(why, "; ")
}

// defaultEBSKey is the caller's aws/ebs key in the request's region,
// created on first use as EBS creates it.
func (r *request) defaultEBSKey() *KMSKey {
	reg := r.acct.Regions[r.region.Name]
	for _, id := range sortedKeys(reg.KMSKeys) {
		if slices.Contains(reg.KMSKeys[id].Aliases, "alias/aws/ebs") {
			return reg.KMSKeys[id]
		}
	}
	id := r.e.ids.uuid("kms", r.acct.ID)
	k := &KMSKey{ID: id, ARN: fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", reg.Name, r.acct.ID, id),
		Description: "Default key that protects my EBS volumes when no other key is defined", State: "Enabled", Manager: "AWS",
		Aliases: []string{"alias/aws/ebs"}, Created: r.now, Policy: awsManagedEBSPolicy(r.acct.ID, reg.Name)}
	reg.KMSKeys[id] = k
	return k
}

func copySnapshot(r *request) (any, error) {
	p := r.params
	srcID, srcRegion := p.get("SourceSnapshotId"), p.get("SourceRegion")
	if srcID == "" {
		return nil, missing("SourceSnapshotId")
	}
	if srcRegion == "" {
		return nil, missing("SourceRegion")
	}
	if !regionRE.MatchString(srcRegion) {
		return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter sourceRegion is invalid.", srcRegion)
	}
	if err := r.resources(srcID); err != nil {
		return nil, err
	}
	desc := p.get("Description")
	if len(desc) > 255 {
		return nil, ec2Err("InvalidParameterValue", "The description must be at most 255 characters")
	}
	encrypted, encSet, err := p.bool("Encrypted")
	if err != nil {
		return nil, err
	}
	keyRef := p.get("KmsKeyId")
	if keyRef != "" && !encrypted {
		return nil, ec2Err("InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.")
	}
	var ref kmsRef
	if keyRef != "" {
		var ok bool
		if ref, ok = parseKMSRef(keyRef); !ok {
			return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter kmsKeyId is invalid. Expected a key id, key ARN, alias name or alias ARN.", keyRef)
		}
	}
	tags, err := r.tagSpecifications("snapshot")
	if err != nil {
		return nil, err
	}
	src, err := r.sharedSnapshot(srcID, srcRegion)
	if err != nil {
		return nil, err
	}
	if encSet && !encrypted && src.Encrypted {
		return nil, ec2Err("InvalidParameterCombination", "The snapshot %s is encrypted: its copy cannot be unencrypted", src.ID)
	}
	// ec2:CopySnapshot's snapshot* resources: the new snapshot, and the
	// source; tags applied at creation need ec2:CreateTags on the copy.
	r.setRequestTags(tags)
	newSnap := r.ec2Item("snapshot", "*", nil)
	srcItem := r.snapshotItem(src)
	srcItem.arn = fmt.Sprintf("arn:aws:ec2:%s::snapshot/%s", srcRegion, src.ID)
	if err := r.authorize(r.action(), newSnap, srcItem); err != nil {
		return nil, err
	}
	if err := r.authorizeCreateTags("CopySnapshot", tags, newSnap); err != nil {
		return nil, err
	}
	if src.State != "completed" {
		return nil, ec2Err("IncorrectState", "Snapshot %s is in state %s; only completed snapshots can be copied", src.ID, src.State)
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	// A copy is written to the caller's region, which need not have held
	// anything before.
	if r.acct.Regions[r.region.Name] == nil {
		r.acct.Regions[r.region.Name] = r.region
	}
	var dest *KMSKey
	if encrypted || src.Encrypted {
		if keyRef == "" {
			dest = r.defaultEBSKey()
		} else {
			dest = r.e.state.kmsKey(ref, r.acct.ID, r.region.Name)
		}
	}
	copyOf := &Snapshot{
		ID: r.e.ids.resourceID("snap", r.acct.ID+"/"+src.ID), VolumeID: "vol-ffffffff", VolumeSizeGB: src.VolumeSizeGB,
		Description: desc, State: "pending", Progress: "0%", OwnerID: r.acct.ID, Encrypted: dest != nil || (keyRef != "" && encrypted),
		StartTime: r.now, RemainingCalls: r.e.opts.snapshotDelay, Tags: cloneTags(tags),
		SourceSnapshotID: src.ID, SourceAccount: src.OwnerID,
	}
	if copyOf.Description == "" {
		copyOf.Description = fmt.Sprintf("[Copied %s from %s]", src.ID, srcRegion)
	}
	if dest != nil {
		copyOf.KMSKeyID = dest.ARN
	} else if keyRef != "" {
		copyOf.KMSKeyID = keyRef
	}
	// EC2's message says no more than this, whatever the key lacks; the
	// call's recorded authorizations say which operation was refused.
	if copyOf.Encrypted && r.copyKeyFailure(src, dest, keyRef) != "" {
		copyOf.StateMessage = "Given key ID is not accessible"
	}
	if len(copyOf.Tags) == 0 {
		copyOf.Tags = nil
	}
	if copyOf.RemainingCalls == 0 {
		copyOf.settle()
	}
	r.region.Snapshots[copyOf.ID] = copyOf
	return &struct {
		ec2Response
		SnapshotID string `xml:"snapshotId"`
		Tags       []xTag `xml:"tagSet>item"`
	}{SnapshotID: copyOf.ID, Tags: xTags(tags)}, nil
}
