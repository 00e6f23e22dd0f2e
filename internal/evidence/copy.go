// Package evidence secures EBS snapshots taken as evidence in a forensic
// account: each snapshot is shared with that account, copied there
// re-encrypted under the forensic account's KMS key, and unshared once
// the copy has ended. The copy lives in an account the compromised
// workload account cannot reach, so whoever controls the workload account
// cannot delete or alter it; the source snapshot stays where it was.
//
// aws_ec2_snapshot and aws_ebs_acquire both use it, with the forensic
// account and key the configuration's evidence block names.
package evidence

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/wait"
)

// Forensic names where evidence snapshots are copied: the forensic
// account, and the KMS key there the copies are encrypted under (a key
// id, key ARN, alias name or alias ARN; it must be of the snapshot's
// region, so an alias the forensic account defines in each region suits
// fleets in several).
type Forensic struct {
	Account  string
	KMSKeyID string
}

var accountRE = regexp.MustCompile(`^\d{12}$`)

// Validate checks the forensic account and key as configured.
func (f *Forensic) Validate() error {
	if !accountRE.MatchString(f.Account) {
		return fmt.Errorf("forensic_account %q is not a 12-digit AWS account id", f.Account)
	}
	if f.KMSKeyID == "" {
		return errors.New("kms_key_id is required with forensic_account: copies are re-encrypted under a key of the forensic account")
	}
	if ref, ok := parseKeyRef(f.KMSKeyID); !ok {
		return fmt.Errorf("kms_key_id %q is not a key id, key ARN, alias name (alias/…) or alias ARN", f.KMSKeyID)
	} else if ref.account != "" && ref.account != f.Account {
		return fmt.Errorf("kms_key_id %s is a key of account %s, not of the forensic account %s", f.KMSKeyID, ref.account, f.Account)
	}
	return nil
}

// Tags a copy carries, by which a later run finds it instead of copying
// again.
const (
	IncidentTag       = "cordon:incident"
	EvidenceTag       = "cordon:evidence"
	SourceSnapshotTag = "cordon:source-snapshot"
	SourceAccountTag  = "cordon:source-account"
)

// Source is a snapshot to secure.
type Source struct {
	SnapshotID string
	VolumeID   string
	InstanceID string
}

// Copy is what became of one source snapshot: its copy in the forensic
// account, or why there is none.
type Copy struct {
	SourceSnapshotID string
	// SnapshotID is the copy's id; empty when no copy was started.
	SnapshotID string
	Account    string
	Region     string
	// KMSKeyID is the ARN of the key the copy is encrypted under.
	KMSKeyID string
	// State is the copy's state: completed, pending (still copying when
	// the time ran out), error (EC2 failed it); empty when none started.
	State string
	// Error says why the snapshot is not secured; empty when it is.
	Error string
	// Shared says the source is still shared with the forensic account
	// (the copy was still running when the time ran out).
	Shared bool
	// Earlier says the copy was made by an earlier run, found by its tags.
	Earlier bool
	// SourceState is the source snapshot's state as last seen (completed
	// once it could be copied).
	SourceState string
}

// Map is the copy as facts and after-states show it.
func (c *Copy) Map() map[string]any {
	m := map[string]any{"account": c.Account, "region": c.Region}
	for k, v := range map[string]string{"snapshot_id": c.SnapshotID, "kms_key_id": c.KMSKeyID, "state": c.State, "error": c.Error} {
		if v != "" {
			m[k] = v
		}
	}
	if c.Shared {
		m["source_shared"] = true
	}
	return m
}

// Meta is the copy's evidence record meta (kind snapshot_copy).
func (c *Copy) Meta() map[string]any {
	return map[string]any{"snapshot_id": c.SnapshotID, "source_snapshot_id": c.SourceSnapshotID, "account": c.Account,
		"region": c.Region, "kms_key_id": c.KMSKeyID, "state": c.State}
}

// Copier copies snapshots of one account and region into the forensic
// account.
type Copier struct {
	Forensic Forensic
	// IncidentID tags the copies.
	IncidentID string
	// SourceAccount and Region are the snapshots'.
	SourceAccount, Region string
	// Source acts in the source account, Dest in the forensic account
	// (the role assumed there).
	Source, Dest *ec2.Client
	// SourceKMS reads the key policy of an encrypted snapshot's key in the
	// source account, to say which grant it lacks before anything is
	// shared; nil skips that check (the copy's own failure then says it).
	SourceKMS *kms.Client
	// DestKMS resolves the forensic key (kms:DescribeKey) in the forensic
	// account, so a wrong kms_key_id fails before anything is shared.
	DestKMS *kms.Client
	// Poll is the first interval between DescribeSnapshots calls while
	// snapshots are pending; it doubles up to MaxPoll.
	Poll, MaxPoll time.Duration
	// Debugf receives debug lines; nil discards them.
	Debugf func(format string, args ...any)
}

func (c *Copier) debugf(format string, args ...any) {
	if c.Debugf != nil {
		c.Debugf(format, args...)
	}
}

// NewCopier is a Copier of the snapshots of account and region into the
// forensic account, with the clients of f: the source's as cordon acts in
// account, the destination's with the role assumed in the forensic
// account (the provider's assume_role_arn with the forensic account's id).
func NewCopier(f *awsclient.Factory, forensic Forensic, incidentID, account, region string) *Copier {
	src, dst := f.Config(account, region), f.Config(forensic.Account, region)
	return &Copier{
		Forensic: forensic, IncidentID: incidentID, SourceAccount: account, Region: src.Region,
		Source: ec2.NewFromConfig(src), Dest: ec2.NewFromConfig(dst),
		SourceKMS: kms.NewFromConfig(src), DestKMS: kms.NewFromConfig(dst),
		Poll: 2 * time.Second, MaxPoll: 30 * time.Second,
	}
}

// CopyError is the failure to secure some of the snapshots; the copies
// made are in Copies all the same.
type CopyError struct {
	Copies []Copy
}

func (e *CopyError) Error() string {
	var msgs []string
	for _, c := range e.Copies {
		if c.Error != "" {
			msgs = append(msgs, c.Error)
		}
	}
	return strings.Join(msgs, "; ")
}

// CopyAll secures every source snapshot: it waits for each to complete,
// shares it with the forensic account, copies it there re-encrypted under
// the forensic key, waits for the copies to end and removes the shares.
// A snapshot copied before (a copy tagged with it, not failed) is not
// copied again. It returns a Copy per source, in order, and a *CopyError
// when any is not secured; the source snapshots are never changed beyond
// their share, whatever happens.
func (c *Copier) CopyAll(ctx context.Context, sources []Source) ([]Copy, error) {
	copies := make([]Copy, len(sources))
	for i, s := range sources {
		copies[i] = Copy{SourceSnapshotID: s.SnapshotID, Account: c.Forensic.Account, Region: c.Region}
	}
	fail := func(err error) ([]Copy, error) {
		for i := range copies {
			if copies[i].Error == "" && copies[i].State != "completed" {
				copies[i].Error = fmt.Sprintf("copying snapshot %s into account %s: %v", copies[i].SourceSnapshotID, c.Forensic.Account, err)
			}
		}
		return copies, &CopyError{Copies: copies}
	}
	if len(sources) == 0 {
		return copies, nil
	}
	keyARN, err := c.forensicKey(ctx)
	if err != nil {
		return fail(err)
	}
	for i := range copies {
		copies[i].KMSKeyID = keyARN
	}
	var earlier map[string]ec2types.Snapshot
	err = c.retry(ctx, func() (err error) {
		earlier, err = c.findCopies(ctx, sources)
		return err
	})
	if err != nil {
		return fail(fmt.Errorf("looking for earlier copies in account %s: %w", c.Forensic.Account, err))
	}
	ids := make([]string, len(sources))
	for i, s := range sources {
		ids[i] = s.SnapshotID
	}
	srcs, err := c.waitSources(ctx, ids)
	for i := range copies {
		if src, ok := srcs[copies[i].SourceSnapshotID]; ok {
			copies[i].SourceState = string(src.State)
		}
	}
	if err != nil {
		return fail(err)
	}

	// Share and copy each snapshot not copied yet.
	var shared []int
	for i, s := range sources {
		cp := &copies[i]
		if e, ok := earlier[s.SnapshotID]; ok {
			cp.SnapshotID, cp.State, cp.Earlier = aws.ToString(e.SnapshotId), string(e.State), true
			if k := aws.ToString(e.KmsKeyId); k != "" {
				cp.KMSKeyID = k
			}
			c.debugf("%s: copy %s in account %s found (%s)", s.SnapshotID, cp.SnapshotID, c.Forensic.Account, cp.State)
			// A run interrupted before it removed its share left it:
			// it is removed once the copy has ended (removing a share
			// that is not there changes nothing).
			shared = append(shared, i)
			continue
		}
		src := srcs[s.SnapshotID]
		if src.State == ec2types.SnapshotStateError {
			cp.Error = fmt.Sprintf("snapshot %s failed (%s): there is nothing to copy", s.SnapshotID, aws.ToString(src.StateMessage))
			continue
		}
		if why := c.checkSourceKey(ctx, src); why != "" {
			cp.Error = fmt.Sprintf("cannot copy snapshot %s into account %s: %s", s.SnapshotID, c.Forensic.Account, why)
			continue
		}
		if err := c.share(ctx, s.SnapshotID, true); err != nil {
			cp.Error = fmt.Sprintf("sharing snapshot %s with account %s: %s", s.SnapshotID, c.Forensic.Account, shareFailure(err))
			continue
		}
		shared = append(shared, i)
		id, err := c.copy(ctx, s, src)
		if err != nil {
			cp.Error = fmt.Sprintf("copying snapshot %s into account %s: %v", s.SnapshotID, c.Forensic.Account, err)
			continue
		}
		cp.SnapshotID, cp.State = id, string(ec2types.SnapshotStatePending)
		c.debugf("%s: copy %s started in account %s", s.SnapshotID, id, c.Forensic.Account)
	}

	waitErr := c.waitCopies(ctx, copies)
	for i := range copies {
		cp := &copies[i]
		switch {
		case cp.State == string(ec2types.SnapshotStateError) && cp.Error == "":
			cp.Error = c.copyFailure(ctx, srcs[cp.SourceSnapshotID], cp)
		case cp.State == string(ec2types.SnapshotStatePending) && cp.Error == "":
			cp.Error = fmt.Sprintf("copy %s of snapshot %s in account %s is still pending: %v (apply again to wait for it; the source stays shared with the forensic account until it ends)",
				cp.SnapshotID, cp.SourceSnapshotID, c.Forensic.Account, waitErr)
		}
	}
	// The shares end with the copies, even when the time is up: a share
	// left behind would outlive the response. A copy still running keeps
	// its share, or it would fail.
	unshare, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, i := range shared {
		cp := &copies[i]
		if cp.State == string(ec2types.SnapshotStatePending) {
			cp.Shared = true
			continue
		}
		if err := c.share(unshare, cp.SourceSnapshotID, false); err != nil {
			cp.Shared = true
			msg := fmt.Sprintf("removing the share of snapshot %s with account %s: %v", cp.SourceSnapshotID, c.Forensic.Account, err)
			if cp.Error != "" {
				msg = cp.Error + "; " + msg
			}
			cp.Error = msg
		}
	}
	for _, cp := range copies {
		if cp.Error != "" {
			return copies, &CopyError{Copies: copies}
		}
	}
	return copies, nil
}

// forensicKey resolves the configured key in the forensic account and
// region, and returns its ARN.
func (c *Copier) forensicKey(ctx context.Context) (string, error) {
	ref, _ := parseKeyRef(c.Forensic.KMSKeyID)
	if ref.region != "" && ref.region != c.Region {
		return "", fmt.Errorf("kms_key_id %s is a key of %s, and the snapshots are in %s: KMS keys are regional; name the key by an alias the forensic account defines in each region", c.Forensic.KMSKeyID, ref.region, c.Region)
	}
	if c.DestKMS == nil {
		return c.Forensic.KMSKeyID, nil
	}
	var out *kms.DescribeKeyOutput
	err := c.retry(ctx, func() (err error) {
		out, err = c.DestKMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(c.Forensic.KMSKeyID)})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("kms_key_id %s in account %s, %s: %w", c.Forensic.KMSKeyID, c.Forensic.Account, c.Region, err)
	}
	m := out.KeyMetadata
	if !m.Enabled {
		return "", fmt.Errorf("kms_key_id %s in account %s is %s: copies cannot be encrypted under it", aws.ToString(m.Arn), c.Forensic.Account, m.KeyState)
	}
	return aws.ToString(m.Arn), nil
}

// findCopies finds copies this incident made earlier of the sources in
// the forensic account: of several, the first not failed.
func (c *Copier) findCopies(ctx context.Context, sources []Source) (map[string]ec2types.Snapshot, error) {
	ids := make([]string, len(sources))
	for i, s := range sources {
		ids[i] = s.SnapshotID
	}
	found := map[string]ec2types.Snapshot{}
	p := ec2.NewDescribeSnapshotsPaginator(c.Dest, &ec2.DescribeSnapshotsInput{
		OwnerIds: []string{"self"},
		Filters: []ec2types.Filter{
			{Name: aws.String("tag:" + IncidentTag), Values: []string{c.IncidentID}},
			{Name: aws.String("tag:" + SourceSnapshotTag), Values: ids},
		},
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range out.Snapshots {
			src := tagValue(s.Tags, SourceSnapshotTag)
			if s.State == ec2types.SnapshotStateError || tagValue(s.Tags, SourceAccountTag) != c.SourceAccount {
				continue // a failed copy is no evidence: copy again
			}
			if old, dup := found[src]; !dup || aws.ToTime(s.StartTime).Before(aws.ToTime(old.StartTime)) {
				found[src] = s
			}
		}
	}
	return found, nil
}

func tagValue(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// waitSources waits until no source snapshot is pending (EC2 copies only
// completed snapshots) and returns them by id.
func (c *Copier) waitSources(ctx context.Context, ids []string) (map[string]ec2types.Snapshot, error) {
	out := map[string]ec2types.Snapshot{}
	err := c.poll(ctx, func() (bool, error) {
		resp, err := c.Source.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: ids})
		if err != nil {
			return false, err
		}
		done := true
		for _, s := range resp.Snapshots {
			out[aws.ToString(s.SnapshotId)] = s
			done = done && s.State != ec2types.SnapshotStatePending
		}
		return done && len(out) == len(ids), nil
	})
	if err != nil {
		return out, fmt.Errorf("waiting for snapshots %s to complete before copying them: %w", strings.Join(ids, ", "), err)
	}
	return out, nil
}

// waitCopies waits until no started copy is pending, updating their
// states. It returns the context's error when the time runs out first.
func (c *Copier) waitCopies(ctx context.Context, copies []Copy) error {
	var ids []string
	for _, cp := range copies {
		if cp.SnapshotID != "" && cp.State == string(ec2types.SnapshotStatePending) {
			ids = append(ids, cp.SnapshotID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return c.poll(ctx, func() (bool, error) {
		resp, err := c.Dest.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: ids})
		if err != nil {
			return false, err
		}
		done := true
		for _, s := range resp.Snapshots {
			for i := range copies {
				if copies[i].SnapshotID == aws.ToString(s.SnapshotId) {
					copies[i].State = string(s.State)
					if k := aws.ToString(s.KmsKeyId); k != "" {
						copies[i].KMSKeyID = k
					}
				}
			}
			done = done && s.State != ec2types.SnapshotStatePending
		}
		return done, nil
	})
}

// poll calls check until it is done, waiting between calls. An error the
// SDK would retry (throttling, 5xx) that outlived the SDK's own attempts
// is retried at the next poll: an incident is when rate limits are hit.
// Snapshots EC2 does not list yet (right after their creation) are
// looked for again too.
func (c *Copier) poll(ctx context.Context, check func() (bool, error)) error {
	interval, maxInterval := c.Poll, c.MaxPoll
	if interval <= 0 {
		interval = time.Second
	}
	if maxInterval < interval {
		maxInterval = max(interval, 30*time.Second)
	}
	for {
		done, err := check()
		switch {
		case err == nil && done:
			return nil
		case err != nil && !retryable(err) && errorCode(err) != "InvalidSnapshot.NotFound":
			return err
		case err != nil:
			c.debugf("polling snapshots: %v (will retry)", err)
		}
		if err := wait.Sleep(ctx, interval); err != nil {
			return err
		}
		interval = min(2*interval, maxInterval)
	}
}

var retryer = retry.NewStandard()

func retryable(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && retryer.IsErrorRetryable(err)
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// share adds (or removes) the forensic account's permission to create
// volumes from a snapshot, which is what lets it copy the snapshot.
func (c *Copier) share(ctx context.Context, id string, add bool) error {
	op := ec2types.OperationTypeAdd
	if !add {
		op = ec2types.OperationTypeRemove
	}
	return c.retry(ctx, func() error {
		_, err := c.Source.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
			SnapshotId: aws.String(id), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
			OperationType: op, UserIds: []string{c.Forensic.Account},
		})
		return err
	})
}

// retry calls f until it succeeds, fails for good, or the time is up,
// backing off between throttled (or 5xx) attempts beyond the SDK's own.
func (c *Copier) retry(ctx context.Context, f func() error) error {
	delay := c.Poll
	if delay <= 0 {
		delay = time.Second
	}
	for {
		err := f()
		if err == nil || !retryable(err) {
			return err
		}
		c.debugf("retrying after %v", err)
		if werr := wait.Sleep(ctx, delay); werr != nil {
			return fmt.Errorf("%w (then: %v)", err, werr)
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// copy starts the copy of s in the forensic account. A retry after a
// throttled or failed call looks for the copy first, so a call EC2
// accepted but whose answer was lost makes no second copy.
func (c *Copier) copy(ctx context.Context, s Source, src ec2types.Snapshot) (string, error) {
	desc := fmt.Sprintf("cordon %s: copy of %s", c.IncidentID, s.SnapshotID)
	if s.VolumeID != "" {
		desc += " (" + s.VolumeID
		if s.InstanceID != "" {
			desc += " of " + s.InstanceID
		}
		desc += ")"
	}
	desc += " from " + c.SourceAccount
	if len(desc) > 255 {
		desc = strings.ToValidUTF8(desc[:255], "")
	}
	in := &ec2.CopySnapshotInput{
		SourceSnapshotId: aws.String(s.SnapshotID), SourceRegion: aws.String(c.Region),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String(c.Forensic.KMSKeyID), Description: aws.String(desc),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot, Tags: []ec2types.Tag{
			{Key: aws.String(IncidentTag), Value: aws.String(c.IncidentID)},
			{Key: aws.String(EvidenceTag), Value: aws.String("true")},
			{Key: aws.String(SourceSnapshotTag), Value: aws.String(s.SnapshotID)},
			{Key: aws.String(SourceAccountTag), Value: aws.String(c.SourceAccount)},
		}}},
	}
	var id string
	first := true
	err := c.retry(ctx, func() error {
		if !first {
			if found, err := c.findCopies(ctx, []Source{s}); err == nil {
				if e, ok := found[s.SnapshotID]; ok {
					id = aws.ToString(e.SnapshotId)
					return nil
				}
			}
		}
		first = false
		out, err := c.Dest.CopySnapshot(ctx, in)
		if err != nil {
			return err
		}
		id = aws.ToString(out.SnapshotId)
		return nil
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// shareFailure says why a share failed, in terms of what to do.
func shareFailure(err error) string {
	if errorCode(err) == "OperationNotPermitted" {
		return fmt.Sprintf("%v: a snapshot encrypted under the AWS managed key aws/ebs cannot be shared with another account; encrypt the volumes under a customer managed key whose key policy allows the forensic account", err)
	}
	return err.Error()
}

// copyFailure says why EC2 failed a copy. EC2 says only "Given key ID is
// not accessible" for any key it could not use, so the source key's
// policy is read again to name what it lacks, and otherwise the message
// lists where else the fault can be.
func (c *Copier) copyFailure(ctx context.Context, src ec2types.Snapshot, cp *Copy) string {
	msg := aws.ToString(src.StateMessage)
	base := fmt.Sprintf("copy %s of snapshot %s in account %s failed", cp.SnapshotID, cp.SourceSnapshotID, c.Forensic.Account)
	if d, err := c.Dest.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{cp.SnapshotID}}); err == nil && len(d.Snapshots) == 1 {
		msg = aws.ToString(d.Snapshots[0].StateMessage)
	}
	if msg != "" {
		base += ": " + msg
	}
	if !strings.Contains(strings.ToLower(msg), "key") {
		return base
	}
	if why := c.checkSourceKey(ctx, src); why != "" {
		return base + ": " + why
	}
	return fmt.Sprintf("%s: the forensic account's role must be allowed kms:CreateGrant, kms:Decrypt, kms:DescribeKey and kms:ReEncrypt* on the snapshot's key %s by its own IAM policy (see `cordon iam-policy -forensic`), and kms:CreateGrant, kms:DescribeKey, kms:GenerateDataKeyWithoutPlaintext and kms:ReEncrypt* on %s; any condition in the snapshot key's policy must hold for EBS acting for the forensic account",
		base, orUnencrypted(aws.ToString(src.KmsKeyId)), cp.KMSKeyID)
}

func orUnencrypted(k string) string {
	if k == "" {
		return "(none: it is not encrypted)"
	}
	return k
}

// ---- the source key's policy -----------------------------------------------

// SourceKeyActions are what the forensic account must be allowed on the
// key of an encrypted snapshot for EBS to copy it there: grant itself
// use of the key, and decrypt and re-encrypt the snapshot's data key.
var SourceKeyActions = []string{"kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:ReEncrypt*"}

// checkSourceKey reads the key policy of an encrypted snapshot's key and
// says which of SourceKeyActions it does not allow the forensic account,
// and how to allow them; "" when it allows them all, or when the policy
// cannot be read (the copy's own outcome then says).
func (c *Copier) checkSourceKey(ctx context.Context, src ec2types.Snapshot) string {
	key := aws.ToString(src.KmsKeyId)
	if !aws.ToBool(src.Encrypted) || key == "" || c.SourceKMS == nil {
		return ""
	}
	d, err := c.SourceKMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)})
	if err != nil {
		c.debugf("describing key %s: %v (the copy will tell)", key, err)
		return ""
	}
	if d.KeyMetadata.KeyManager == "AWS" {
		return fmt.Sprintf("it is encrypted under the AWS managed key %s, which no other account can use: encrypt the volumes under a customer managed key whose key policy allows account %s", key, c.Forensic.Account)
	}
	p, err := c.SourceKMS.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(key), PolicyName: aws.String("default")})
	if err != nil {
		c.debugf("reading the key policy of %s: %v (the copy will tell)", key, err)
		return ""
	}
	missing, err := MissingGrants(aws.ToString(p.Policy), c.Forensic.Account, SourceKeyActions)
	if err != nil {
		c.debugf("key policy of %s: %v (the copy will tell)", key, err)
		return ""
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("key %s does not allow account %s %s: add %s to its key policy",
		key, c.Forensic.Account, joinAnd(missing), SuggestedStatement(c.Forensic.Account, missing))
}

func joinAnd(ss []string) string {
	switch len(ss) {
	case 0:
		return ""
	case 1:
		return ss[0]
	}
	return strings.Join(ss[:len(ss)-1], ", ") + " and " + ss[len(ss)-1]
}

// SuggestedStatement is a key policy statement granting account the
// actions, kms:CreateGrant only for grants to AWS services such as EBS.
func SuggestedStatement(account string, actions []string) string {
	principal := fmt.Sprintf(`"Principal":{"AWS":"arn:aws:iam::%s:root"}`, account)
	var plain []string
	grant := false
	for _, a := range actions {
		if a == "kms:CreateGrant" {
			grant = true
		} else {
			plain = append(plain, fmt.Sprintf("%q", a))
		}
	}
	var parts []string
	if len(plain) > 0 {
		parts = append(parts, fmt.Sprintf(`{"Effect":"Allow",%s,"Action":[%s],"Resource":"*"}`, principal, strings.Join(plain, ",")))
	}
	if grant {
		parts = append(parts, fmt.Sprintf(`{"Effect":"Allow",%s,"Action":"kms:CreateGrant","Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}`, principal))
	}
	return strings.Join(parts, " and ")
}

// keyRef is a KMS key reference: key id, key ARN, alias, alias ARN.
type keyRef struct{ account, region string }

var (
	keyIDRE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^mrk-[0-9a-f]{32}$`)
	aliasRE  = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]{1,250}$`)
	keyARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key/.+|alias/.+)$`)
)

func parseKeyRef(s string) (keyRef, bool) {
	if m := keyARNRE.FindStringSubmatch(s); m != nil {
		rest := m[3]
		ok := aliasRE.MatchString(rest) || keyIDRE.MatchString(strings.TrimPrefix(rest, "key/"))
		return keyRef{region: m[1], account: m[2]}, ok
	}
	if strings.HasPrefix(s, "alias/aws/") {
		return keyRef{}, false // AWS managed keys cannot be named for copies
	}
	return keyRef{}, keyIDRE.MatchString(s) || aliasRE.MatchString(s)
}
