package collectors

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/collectors/memory"
	"github.com/cordonhq/cordon/internal/ui"
	"github.com/cordonhq/cordon/internal/wait"
	"github.com/cordonhq/cordon/schema"
)

// ssmMemory acquires an instance's memory by SSM Run Command: AVML on
// Linux, WinPmem on Windows, the image going from the host straight to the
// evidence bucket. cordon never holds the image: it sends the host presigned
// URLs, reads back a few hundred bytes of result, and confirms the object
// with HeadObject before anything counts as acquired.
//
// The steps, each of which can fail into a clear error fact:
//
//  1. SSM must manage the instance (DescribeInstanceInformation), which
//     also tells its platform and so the tool.
//  2. The evidence bucket must exist, be reachable (HeadBucket, which also
//     tells its region), and with require_object_lock have Object Lock
//     (GetObjectLockConfiguration); the tool object must exist. Nothing is
//     sent to the host before these hold.
//  3. Capture: the host downloads the tool by a presigned GET URL, refuses
//     to run it unless its SHA-256 is tool_sha256, checks for disk room,
//     captures the image and prints its size and SHA-256 (package memory).
//  4. Upload: cordon presigns a PUT of the key with that size and SHA-256,
//     and the host sends the image to it.
//  5. HeadObject, with checksum mode, must show the object with that size
//     and SHA-256: only then are there facts and a memory_image artefact,
//     which apply chains into the incident's custody log.
//
// What S3 enforces on the upload. The PUT URL is presigned (by cordon's
// credentials, so the host's instance role plays no part) with the signed
// headers content-length, host, if-none-match: *, x-amz-checksum-sha256
// and x-amz-sdk-checksum-algorithm: SHA256 (header hoisting is off, so
// they stay headers that the host must send as they are). S3 then:
//   - refuses any other method, bucket, key, size or checksum value, and a
//     request after the URL's expiry or the signing session's (403
//     SignatureDoesNotMatch / AccessDenied);
//   - refuses a request with an x-amz-* header the URL did not sign (403);
//   - computes the SHA-256 of the bytes it receives and refuses, storing
//     nothing, a body whose digest is not the signed one (400 BadDigest);
//   - refuses to overwrite an existing object at the key (412);
//   - stores the checksum with the object (FULL_OBJECT), which HeadObject
//     returns and cordon compares.
//
// It cannot vouch for what the host hashed: a compromised kernel can feed
// AVML a doctored view of memory. That is the limit of live acquisition;
// the pinned tool hash and the chain from capture to S3 are what cordon
// can secure.
//
// One PUT carries at most 5 GiB, and one PUT it must be, for S3 to check
// the whole image's SHA-256. On Linux AVML always compresses (snappy,
// key .lime.compressed, fact compression), and the script checks the
// compressed image against the limit after capture, so instances with
// more memory are acquired when it compresses enough, and an image still
// too large fails saying how large. WinPmem does not compress: the
// Windows script refuses a memory over the limit before capturing.
//
// The SHA-256 exists only after the capture, and S3 checks only what the
// URL signed (the host cannot add a checksum header to a presigned URL
// made without one; asked to presign with the algorithm alone, the SDK
// signs the checksum of an empty body): so the capture and the upload are
// two commands, with the image waiting on the host in between, in a
// private directory that the scripts delete after the upload, on failure,
// and (a detached reaper) at the collector's timeout in any case.
type ssmMemory struct {
	tools map[memory.Platform]memoryTool
	// bucket and prefix, and whether the block set them (else the
	// evidence block's apply).
	bucket, prefix       string
	bucketSet, prefixSet bool
	requireLock          bool
	// pollFirst and pollMax are the first and the longest wait between
	// two GetCommandInvocation calls.
	pollFirst, pollMax time.Duration
}

// memoryTool is a pinned acquisition tool in S3.
type memoryTool struct {
	bucket, key, sha256 string
}

func (t memoryTool) uri() string { return "s3://" + t.bucket + "/" + t.key }

const (
	memoryDefaultTimeout = 20 * time.Minute
	// memoryCleanupWait bounds sending the cleanup command.
	memoryCleanupWait = 15 * time.Second
)

func init() {
	Register(&Definition{
		Type:           "aws_ssm_memory",
		Summary:        "Memory acquisition by SSM Run Command (AVML, WinPmem), uploaded from the host to the evidence bucket and confirmed by its SHA-256",
		ResourceTypes:  []string{schema.ResourceInstance},
		DefaultTimeout: memoryDefaultTimeout,
		FactsSchema:    "aws_ssm_memory",
		Attributes: hcldec.ObjectSpec{
			"tool_s3_uri":         &hcldec.AttrSpec{Name: "tool_s3_uri", Type: cty.String},
			"tool_sha256":         &hcldec.AttrSpec{Name: "tool_sha256", Type: cty.String},
			"windows_tool_s3_uri": &hcldec.AttrSpec{Name: "windows_tool_s3_uri", Type: cty.String},
			"windows_tool_sha256": &hcldec.AttrSpec{Name: "windows_tool_sha256", Type: cty.String},
			"bucket":              &hcldec.AttrSpec{Name: "bucket", Type: cty.String},
			"prefix":              &hcldec.AttrSpec{Name: "prefix", Type: cty.String},
		},
		New:      newSSMMemory,
		Volatile: memoryConfirmed,
	})
}

var (
	sha256HexRE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	// prefixRE is what a key prefix may hold: S3's safe characters.
	prefixRE = regexp.MustCompile(`^[A-Za-z0-9!_.*'()/-]{1,512}$`)
)

func newSSMMemory(cfg cty.Value) (Collector, error) {
	c := &ssmMemory{tools: map[memory.Platform]memoryTool{}, pollFirst: time.Second, pollMax: 10 * time.Second}
	str := func(name string) (string, bool) {
		v := cfg.GetAttr(name)
		if v.IsNull() {
			return "", false
		}
		return v.AsString(), true
	}
	for _, p := range []struct {
		platform   memory.Platform
		uri, sha   string
		descriptor string
	}{{memory.Linux, "tool_s3_uri", "tool_sha256", "AVML"}, {memory.Windows, "windows_tool_s3_uri", "windows_tool_sha256", "WinPmem"}} {
		uri, hasURI := str(p.uri)
		sum, hasSum := str(p.sha)
		switch {
		case !hasURI && !hasSum:
			continue
		case !hasURI:
			return nil, &AttributeError{Attribute: p.sha, Summary: "Missing " + p.uri, Detail: fmt.Sprintf("%s pins the %s binary that %s names; set both.", p.sha, p.descriptor, p.uri)}
		case !hasSum:
			return nil, &AttributeError{Attribute: p.uri, Summary: "Missing " + p.sha,
				Detail: fmt.Sprintf("The host runs the %s binary only if its SHA-256 is the pinned one: set %s to its 64 hex digits (sha256sum of the file).", p.descriptor, p.sha)}
		}
		bucket, key, err := parseS3URI(uri)
		if err != nil {
			return nil, &AttributeError{Attribute: p.uri, Summary: "Invalid S3 URI", Detail: err.Error()}
		}
		if !sha256HexRE.MatchString(sum) {
			return nil, &AttributeError{Attribute: p.sha, Summary: "Invalid SHA-256", Detail: fmt.Sprintf("%q is not a SHA-256: 64 hex digits, as sha256sum prints it.", sum)}
		}
		c.tools[p.platform] = memoryTool{bucket: bucket, key: key, sha256: strings.ToLower(sum)}
	}
	if len(c.tools) == 0 {
		return nil, &AttributeError{Attribute: "tool_s3_uri", Summary: "No acquisition tool",
			Detail: "Set tool_s3_uri and tool_sha256 (AVML, for Linux instances), windows_tool_s3_uri and windows_tool_sha256 (WinPmem, for Windows instances), or both."}
	}
	if b, ok := str("bucket"); ok {
		if !actions.S3Bucket.Match(b) {
			return nil, &AttributeError{Attribute: "bucket", Summary: "Invalid S3 bucket name", Detail: fmt.Sprintf("%q is not an S3 bucket name (like %s).", b, actions.S3Bucket.Example)}
		}
		c.bucket, c.bucketSet = b, true
	}
	if p, ok := str("prefix"); ok {
		clean, err := CleanKeyPrefix(p)
		if err != nil {
			return nil, &AttributeError{Attribute: "prefix", Summary: "Invalid key prefix", Detail: err.Error()}
		}
		c.prefix, c.prefixSet = clean, true
	}
	return c, nil
}

// parseS3URI splits s3://bucket/key.
func parseS3URI(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an S3 URI like s3://cordon-tools/avml/avml-0.14.0", uri)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if !actions.S3Bucket.Match(bucket) {
		return "", "", fmt.Errorf("%q names bucket %q, which is not an S3 bucket name", uri, bucket)
	}
	if key == "" || strings.HasSuffix(key, "/") || len(key) > 1024 {
		return "", "", fmt.Errorf("%q names no object (a key after the bucket, not ending in /)", uri)
	}
	return bucket, key, nil
}

// CleanKeyPrefix checks an S3 key prefix and drops its trailing slashes: keys are
// PREFIX/INCIDENT/INSTANCE/memory-TIME.EXT.
func CleanKeyPrefix(p string) (string, error) {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return "", nil
	}
	if !prefixRE.MatchString(p) || strings.HasPrefix(p, "/") || strings.Contains(p, "//") {
		return "", fmt.Errorf("%q is not a key prefix: up to 512 of A-Z a-z 0-9 ! _ . * ' ( ) - and /, not starting with / nor holding //", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return "", fmt.Errorf("%q holds a . or .. segment", p)
		}
	}
	return p, nil
}

// UseEvidence takes the bucket, prefix and Object Lock requirement of the
// evidence block where the collector block sets none.
func (c *ssmMemory) UseEvidence(ev Evidence) error {
	if !c.bucketSet {
		c.bucket = ev.Bucket
	}
	if !c.prefixSet {
		p, err := CleanKeyPrefix(ev.Prefix)
		if err != nil {
			return &AttributeError{Attribute: "prefix", Summary: "Invalid key prefix", Detail: "the evidence block's prefix: " + err.Error()}
		}
		c.prefix = p
	}
	c.requireLock = ev.RequireObjectLock
	if c.bucket == "" {
		return &AttributeError{Attribute: "bucket", Summary: "No evidence bucket",
			Detail: "aws_ssm_memory uploads the image to S3: set bucket, or an evidence { bucket = \"…\" } block in the cordon block."}
	}
	return nil
}

// Permissions are the calls Collect makes.
func (c *ssmMemory) Permissions() []string { return grantActionsOf(c.Grants()) }

// Grants details them: SSM on the instance and the documents, S3 on the
// image keys under the prefix (PutObject, and GetObject for HeadObject),
// the bucket (HeadBucket is s3:ListBucket), and the tool objects. The
// presigned URLs act with these rights: the host's own role is never used.
func (c *ssmMemory) Grants() []actions.Grant {
	var docs []string
	for _, p := range []memory.Platform{memory.Linux, memory.Windows} {
		if _, ok := c.tools[p]; ok {
			docs = append(docs, "arn:${Partition}:ssm:${Region}::document/"+p.Document())
		}
	}
	prefix := c.prefix
	if prefix != "" {
		prefix += "/"
	}
	bucketActions := []string{"s3:ListBucket"}
	if c.requireLock {
		bucketActions = append(bucketActions, "s3:GetBucketObjectLockConfiguration")
	}
	var tools []string
	for _, t := range c.tools {
		tools = append(tools, "arn:${Partition}:s3:::"+t.bucket+"/"+t.key)
	}
	sort.Strings(tools)
	return []actions.Grant{
		{Name: "Read", Actions: []string{"ssm:CancelCommand", "ssm:DescribeInstanceInformation", "ssm:GetCommandInvocation"}, Resources: []string{"*"}},
		{Name: "Document", Actions: []string{"ssm:SendCommand"}, Resources: docs},
		{Actions: []string{"ssm:SendCommand"}, Resources: []string{"arn:${Partition}:ec2:${Region}:${Account}:instance/*"}, TargetTagKey: "ssm:resourceTag/"},
		{Name: "Images", Actions: []string{"s3:GetObject", "s3:PutObject"}, Resources: []string{"arn:${Partition}:s3:::" + c.bucket + "/" + prefix + "*"}},
		{Name: "Bucket", Actions: bucketActions, Resources: []string{"arn:${Partition}:s3:::" + c.bucket}},
		{Name: "Tools", Actions: []string{"s3:GetObject"}, Resources: tools},
	}
}

func grantActionsOf(grants []actions.Grant) []string {
	var out []string
	for _, g := range grants {
		for _, a := range g.Actions {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

// memoryRun is one acquisition's state.
type memoryRun struct {
	c        *ssmMemory
	req      *Request
	t        ec2Target
	ssm      *ssm.Client
	platform memory.Platform
	tool     memoryTool
	// s3 clients by region, as buckets may live anywhere.
	s3 map[string]*s3.Client
}

func (c *ssmMemory) Collect(ctx context.Context, req *Request) (map[string]any, error) {
	t, err := ec2TargetOf("aws_ssm_memory", req)
	if err != nil {
		return nil, err
	}
	if c.bucket == "" {
		return nil, errors.New("no evidence bucket is configured: set bucket, or an evidence block in the cordon block")
	}
	run := &memoryRun{c: c, req: req, t: t, ssm: req.AWS.SSM(t.account, t.region), s3: map[string]*s3.Client{}}

	// 1. The instance, its platform and its tool.
	if err := run.platformOf(ctx); err != nil {
		return nil, err
	}
	// 2. The bucket and the tool, before anything reaches the host.
	bucketRegion, err := run.bucketRegion(ctx)
	if err != nil {
		return nil, err
	}
	if c.requireLock {
		if err := run.checkObjectLock(ctx, bucketRegion); err != nil {
			return nil, err
		}
	}
	toolRegion, err := run.toolRegion(ctx)
	if err != nil {
		return nil, err
	}

	// 3. Capture.
	started := req.now().UTC()
	toolURL, err := run.presignTool(ctx, toolRegion)
	if err != nil {
		return nil, err
	}
	reap := time.Hour
	if deadline, ok := ctx.Deadline(); ok {
		reap = max(time.Until(deadline)+time.Minute, 2*time.Minute)
	}
	captured, err := run.command(ctx, memory.Settings{Mode: memory.ModeCapture, ToolURL: toolURL, ToolSHA256: run.tool.sha256, ReapAfter: reap})
	if err != nil {
		return nil, err
	}
	if captured.Status != memory.StatusCaptured {
		return nil, run.captureError(captured)
	}
	// The key's extension and the facts say how the image is compressed,
	// which the script decides: a host saying otherwise is not believed.
	if captured.Compression != run.platform.Compression() {
		run.cleanup(ctx, captured.Work)
		return nil, fmt.Errorf("the host %s reported its memory image %s, but the %s script captures it %s; nothing was uploaded",
			t.id, compressionText(captured.Compression), run.platform, compressionText(run.platform.Compression()))
	}

	// 4. Upload, by a URL binding the size and SHA-256 captured.
	key := run.key(started)
	facts, err := run.upload(ctx, captured, bucketRegion, key)
	if err != nil {
		run.cleanup(ctx, captured.Work)
		return nil, err
	}
	facts["started_at"] = started.Format(time.RFC3339)
	facts["finished_at"] = req.now().UTC().Format(time.RFC3339)

	meta := map[string]any{
		"bucket": c.bucket, "key": key, "sha256": captured.SHA256, "size": captured.Size, "region": bucketRegion,
		"tool": run.platform.Tool(), "tool_sha256": run.tool.sha256, "instance_id": t.id, "account": t.account,
		"started_at": facts["started_at"], "finished_at": facts["finished_at"],
	}
	if v, ok := facts["compression"]; ok {
		meta["compression"] = v
	}
	if v, ok := facts["version_id"]; ok {
		meta["version_id"] = v
	}
	req.keep(Artefact{Kind: "memory_image", Name: "s3://" + c.bucket + "/" + key, Meta: meta})
	return facts, nil
}

// platformOf asks SSM whether it manages the instance, and its platform.
func (run *memoryRun) platformOf(ctx context.Context) error {
	t := run.t
	out, err := run.ssm.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{t.id}}},
	})
	if err != nil {
		return fmt.Errorf("asking SSM about instance %s: %w", t.id, err)
	}
	var info *ssmtypes.InstanceInformation
	for i := range out.InstanceInformationList {
		if aws.ToString(out.InstanceInformationList[i].InstanceId) == t.id {
			info = &out.InstanceInformationList[i]
		}
	}
	if info == nil {
		return fmt.Errorf("instance %s is not managed by SSM%s (no SSM agent registered for it), so its memory cannot be acquired", t.id, t.where())
	}
	if info.PingStatus != ssmtypes.PingStatusOnline {
		return fmt.Errorf("the SSM agent of instance %s is %s, not Online, so its memory cannot be acquired", t.id, info.PingStatus)
	}
	switch info.PlatformType {
	case ssmtypes.PlatformTypeWindows:
		run.platform = memory.Windows
	case ssmtypes.PlatformTypeLinux:
		run.platform = memory.Linux
	default:
		return fmt.Errorf("instance %s runs %s, for which cordon has no memory acquisition tool", t.id, info.PlatformType)
	}
	tool, ok := run.c.tools[run.platform]
	if !ok {
		attr := "tool_s3_uri"
		if run.platform == memory.Windows {
			attr = "windows_tool_s3_uri"
		}
		return fmt.Errorf("instance %s runs %s, and the collector sets no %s (%s)", t.id, run.platform, attr, run.platform.Tool())
	}
	run.tool = tool
	return nil
}

// s3In is an S3 client of region: path-style addressing through a custom
// endpoint (the emulator, an interface endpoint), AWS's default otherwise.
func (run *memoryRun) s3In(region string) *s3.Client {
	if c := run.s3[region]; c != nil {
		return c
	}
	cfg := run.req.AWS.Config(run.t.account, region)
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = cfg.BaseEndpoint != nil })
	run.s3[region] = c
	return c
}

// redirectRegion is the bucket region S3 names when it redirects a
// request made in the wrong one.
func redirectRegion(err error) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.HTTPStatusCode() == http.StatusMovedPermanently {
		return re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	return ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// bucketRegion checks the evidence bucket exists and cordon may use it,
// and finds its region.
func (run *memoryRun) bucketRegion(ctx context.Context) (string, error) {
	region := run.t.region
	for range 2 {
		out, err := run.s3In(region).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(run.c.bucket)})
		if err == nil {
			if r := aws.ToString(out.BucketRegion); r != "" {
				return r, nil
			}
			return region, nil
		}
		if r := redirectRegion(err); r != "" && r != region {
			region = r
			continue
		}
		switch httpStatus(err) {
		case http.StatusNotFound:
			return "", fmt.Errorf("the evidence bucket %s does not exist; nothing was sent to instance %s", run.c.bucket, run.t.id)
		case http.StatusForbidden:
			return "", fmt.Errorf("cordon may not use the evidence bucket %s (HeadBucket refused: s3:ListBucket, or the bucket's policy); nothing was sent to instance %s", run.c.bucket, run.t.id)
		}
		return "", fmt.Errorf("checking the evidence bucket %s: %w", run.c.bucket, err)
	}
	return "", fmt.Errorf("the evidence bucket %s keeps redirecting between regions", run.c.bucket)
}

// checkObjectLock refuses a bucket without Object Lock when the evidence
// block requires it.
func (run *memoryRun) checkObjectLock(ctx context.Context, region string) error {
	out, err := run.s3In(region).GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(run.c.bucket)})
	refuse := fmt.Sprintf("the evidence block sets require_object_lock, and bucket %s", run.c.bucket)
	if err != nil {
		if ec2ErrorCode(err) == "ObjectLockConfigurationNotFoundError" {
			return fmt.Errorf("%s has no Object Lock configuration: refused before sending anything to instance %s", refuse, run.t.id)
		}
		return fmt.Errorf("reading the Object Lock configuration of bucket %s: %w", run.c.bucket, err)
	}
	if out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != s3types.ObjectLockEnabledEnabled {
		return fmt.Errorf("%s does not have Object Lock enabled: refused before sending anything to instance %s", refuse, run.t.id)
	}
	return nil
}

// toolRegion checks the tool object exists, and finds its bucket's region.
func (run *memoryRun) toolRegion(ctx context.Context) (string, error) {
	region := run.t.region
	for range 2 {
		_, err := run.s3In(region).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(run.tool.bucket), Key: aws.String(run.tool.key)})
		if err == nil {
			return region, nil
		}
		if r := redirectRegion(err); r != "" && r != region {
			region = r
			continue
		}
		switch httpStatus(err) {
		case http.StatusNotFound:
			return "", fmt.Errorf("the %s binary %s does not exist; nothing was sent to instance %s", run.platform.Tool(), run.tool.uri(), run.t.id)
		case http.StatusForbidden:
			return "", fmt.Errorf("cordon may not read the %s binary %s (s3:GetObject); nothing was sent to instance %s", run.platform.Tool(), run.tool.uri(), run.t.id)
		}
		return "", fmt.Errorf("checking the %s binary %s: %w", run.platform.Tool(), run.tool.uri(), err)
	}
	return "", fmt.Errorf("the bucket of %s keeps redirecting between regions", run.tool.uri())
}

// urlLifetime is how long a presigned URL lives: until the collector's
// deadline, and a minute besides for the request in flight. (A URL signed
// with an assumed role's session dies with the session too.)
func urlLifetime(ctx context.Context) time.Duration {
	d := memoryDefaultTimeout
	if deadline, ok := ctx.Deadline(); ok {
		d = time.Until(deadline)
	}
	return min(max(d+time.Minute, 2*time.Minute), 7*24*time.Hour)
}

func (run *memoryRun) presignTool(ctx context.Context, region string) (string, error) {
	req, err := s3.NewPresignClient(run.s3In(region)).PresignGetObject(ctx,
		&s3.GetObjectInput{Bucket: aws.String(run.tool.bucket), Key: aws.String(run.tool.key)}, s3.WithPresignExpires(urlLifetime(ctx)))
	if err != nil {
		return "", fmt.Errorf("presigning the download of %s: %w", run.tool.uri(), err)
	}
	return req.URL, nil
}

// key is where the image goes: PREFIX/INCIDENT/INSTANCE/memory-TIME.EXT.
func (run *memoryRun) key(started time.Time) string {
	incident := run.req.IncidentID
	if incident == "" {
		incident = "no-incident"
	}
	k := incident + "/" + run.t.id + "/memory-" + started.Format("20060102T150405Z") + run.platform.Extension()
	if run.c.prefix != "" {
		k = run.c.prefix + "/" + k
	}
	return k
}

// command runs the script in one mode and returns its result.
func (run *memoryRun) command(ctx context.Context, s memory.Settings) (*memory.Result, error) {
	t := run.t
	lines, err := memory.Commands(run.platform, s)
	if err != nil {
		return nil, err
	}
	execTimeout := int(memoryDefaultTimeout / time.Second)
	if deadline, ok := ctx.Deadline(); ok {
		execTimeout = max(1, int(time.Until(deadline)/time.Second))
	}
	execTimeout = min(execTimeout, 172800)
	comment := "cordon memory " + s.Mode
	if run.req.IncidentID != "" {
		comment += " " + run.req.IncidentID
	}
	sent, err := run.ssm.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName: aws.String(run.platform.Document()),
		InstanceIds:  []string{t.id},
		Comment:      aws.String(truncateRunes(comment, 100)),
		Parameters: map[string][]string{
			"commands":         lines,
			"executionTimeout": {strconv.Itoa(execTimeout)},
		},
		TimeoutSeconds: aws.Int32(int32(max(30, min(execTimeout, 2592000)))),
	})
	if err != nil {
		switch ec2ErrorCode(err) {
		case "InvalidInstanceId":
			return nil, fmt.Errorf("instance %s is not managed by SSM%s (no SSM agent registered and online, or the instance is not running), so its memory cannot be acquired: %w", t.id, t.where(), err)
		case "UnsupportedPlatformType":
			return nil, fmt.Errorf("instance %s cannot run %s: %w", t.id, run.platform.Document(), err)
		}
		return nil, fmt.Errorf("sending the memory %s command to %s: %w", s.Mode, t.id, err)
	}
	id := aws.ToString(sent.Command.CommandId)
	inv, err := waitCommand(ctx, run.ssm, id, t.id, run.c.pollFirst, run.c.pollMax)
	if err != nil {
		if ctx.Err() != nil {
			cancelCommand(ctx, run.ssm, id, t.id)
			return nil, fmt.Errorf("memory %s command %s on %s did not finish within the collector's timeout (cancelled); no image was recorded: %w", s.Mode, id, t.id, ctx.Err())
		}
		return nil, fmt.Errorf("waiting for memory %s command %s on %s: %w", s.Mode, id, t.id, err)
	}
	res, perr := memory.ParseResult(aws.ToString(inv.StandardOutputContent), s.Mode)
	if perr != nil {
		switch inv.Status {
		case ssmtypes.CommandInvocationStatusSuccess, ssmtypes.CommandInvocationStatusFailed:
			return nil, fmt.Errorf("memory %s command %s on %s ended %s without a result cordon can read (%v)%s", s.Mode, id, t.id, statusText(inv), perr, stderrText(inv))
		}
		return nil, fmt.Errorf("memory %s command %s on %s ended %s (exit code %d)%s; no image was recorded", s.Mode, id, t.id, statusText(inv), inv.ResponseCode, stderrText(inv))
	}
	return res, nil
}

// waitCommand polls an invocation until it ends, with growing pauses, as
// aws_ssm_triage does.
func waitCommand(ctx context.Context, client *ssm.Client, commandID, instanceID string, first, longest time.Duration) (*ssm.GetCommandInvocationOutput, error) {
	pause := first
	for {
		if err := wait.Sleep(ctx, pause); err != nil {
			return nil, err
		}
		pause = min(pause*3/2, longest)
		out, err := client.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{
			CommandId: aws.String(commandID), InstanceId: aws.String(instanceID),
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if transientSSMError(err) {
				continue
			}
			return nil, err
		}
		switch out.Status {
		case ssmtypes.CommandInvocationStatusPending, ssmtypes.CommandInvocationStatusInProgress,
			ssmtypes.CommandInvocationStatusDelayed, ssmtypes.CommandInvocationStatusCancelling:
			continue
		}
		return out, nil
	}
}

// captureError says why a capture did not capture.
func (run *memoryRun) captureError(r *memory.Result) error {
	t, tool := run.t, run.platform.Tool()
	switch r.Status {
	case memory.StatusToolHashMismatch:
		return fmt.Errorf("the host refused to run the tool: its SHA-256 is %s, not the pinned %s (%s, downloaded from %s); nothing was captured on %s",
			r.ToolSHA256, run.tool.sha256, tool, run.tool.uri(), t.id)
	case memory.StatusInsufficientSpace:
		where := "no candidate directory was usable"
		if r.Dir != "" {
			where = fmt.Sprintf("the most free space was %s, in %s", ui.ByteSize(r.Free), r.Dir)
		}
		return fmt.Errorf("instance %s has no disk with room for its memory image: it needs about %s (%s of memory, and a margin), and %s; nothing was captured (a memory-backed file system is never used: the image is as large as the memory when it does not compress)",
			t.id, ui.ByteSize(r.Need), ui.ByteSize(r.MemTotal), where)
	case memory.StatusTooLarge:
		if r.Size > 0 && r.Compression != "" {
			return fmt.Errorf("the compressed image is %d bytes (%s), over S3's 5 GiB single-PUT limit: the memory of %s (%s) does not compress enough for one upload; nothing was uploaded, and the host deleted the image",
				r.Size, ui.ByteSize(r.Size), t.id, ui.ByteSize(r.MemTotal))
		}
		if r.Size > 0 {
			return fmt.Errorf("the memory image of %s is %d bytes (%s), over S3's 5 GiB single-PUT limit; nothing was uploaded, and the host deleted the image",
				t.id, r.Size, ui.ByteSize(r.Size))
		}
		return fmt.Errorf("the memory of %s is %s, over S3's 5 GiB single-PUT limit, and %s does not compress its image; refused before capturing, nothing was uploaded",
			t.id, ui.ByteSize(r.MemTotal), tool)
	case memory.StatusToolDownloadFailed:
		return fmt.Errorf("the host %s could not download the %s binary from %s (HTTP %d)%s; nothing was captured", t.id, tool, run.tool.uri(), r.HTTPStatus, detail(r.Message))
	case memory.StatusToolFailed:
		return fmt.Errorf("%s failed on %s with exit code %d%s; nothing was captured", tool, t.id, r.ExitCode, detail(r.Message))
	case memory.StatusMissingCommand:
		return fmt.Errorf("the host %s lacks %s, which the memory acquisition needs; nothing was captured", t.id, r.Missing)
	case memory.StatusNotRoot:
		return fmt.Errorf("the acquisition script on %s does not run as root (or SYSTEM); nothing was captured", t.id)
	}
	return fmt.Errorf("the memory capture on %s failed: %s%s; nothing was captured", t.id, r.Status, detail(r.Message))
}

// compressionText says how an image is compressed, for errors.
func compressionText(c string) string {
	if c == "" {
		return "uncompressed"
	}
	return "compressed with " + c
}

func detail(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + strconv.Quote(msg)
}

// uploadHeaders are the headers the PUT URL must sign, no more, no less:
// the host sends exactly these.
var uploadHeaders = []string{"content-length", "host", "if-none-match", "x-amz-checksum-sha256", "x-amz-sdk-checksum-algorithm"}

// upload presigns the PUT of what was captured, has the host send it, and
// confirms the object with HeadObject.
func (run *memoryRun) upload(ctx context.Context, captured *memory.Result, region, key string) (map[string]any, error) {
	raw, _ := hex.DecodeString(captured.SHA256) // checked by ParseResult
	checksum := base64.StdEncoding.EncodeToString(raw)
	uri := "s3://" + run.c.bucket + "/" + key
	presigner := s3.NewPresignClient(run.s3In(region), func(o *s3.PresignOptions) {
		// The checksum and the precondition must stay headers the host
		// sends, not query parameters S3 would ignore.
		o.Presigner = v4.NewSigner(func(so *v4.SignerOptions) { so.DisableHeaderHoisting = true })
	})
	put, err := presigner.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(run.c.bucket), Key: aws.String(key),
		ContentLength:     aws.Int64(captured.Size),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    aws.String(checksum),
		IfNoneMatch:       aws.String("*"),
	}, s3.WithPresignExpires(urlLifetime(ctx)))
	if err != nil {
		return nil, fmt.Errorf("presigning the upload to %s: %w", uri, err)
	}
	var signed []string
	for h := range put.SignedHeader {
		signed = append(signed, strings.ToLower(h))
	}
	sort.Strings(signed)
	if !slices.Equal(signed, uploadHeaders) || put.SignedHeader.Get("X-Amz-Checksum-Sha256") != checksum {
		return nil, fmt.Errorf("the SDK presigned the upload to %s with signed headers %s, not %s: S3 would not enforce the image's SHA-256, so it is not uploaded",
			uri, strings.Join(signed, ";"), strings.Join(uploadHeaders, ";"))
	}

	res, err := run.command(ctx, memory.Settings{Mode: memory.ModeUpload, Work: captured.Work, ImageSize: captured.Size,
		ImageChecksum: checksum, UploadURL: put.URL})
	if err != nil {
		return nil, err
	}
	switch res.Status {
	case memory.StatusUploaded:
	case memory.StatusUploadRejected:
		return nil, fmt.Errorf("S3 rejected the upload of the memory image of %s to %s (HTTP %d %s)%s; no image is recorded",
			run.t.id, uri, res.HTTPStatus, res.S3Code, uploadRejection(res.S3Code))
	case memory.StatusUploadFailed:
		return nil, fmt.Errorf("the host %s could not upload its memory image to %s%s; no image is recorded", run.t.id, uri, detail(res.Message))
	case memory.StatusImageMissing, memory.StatusImageChanged:
		return nil, fmt.Errorf("the memory image captured on %s was gone or changed before its upload (%s)%s; no image is recorded", run.t.id, res.Status, detail(res.Message))
	default:
		return nil, fmt.Errorf("the memory upload on %s failed: %s%s; no image is recorded", run.t.id, res.Status, detail(res.Message))
	}

	// 5. Only what S3 holds counts.
	head, err := run.s3In(region).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(run.c.bucket), Key: aws.String(key),
		ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil {
		if httpStatus(err) == http.StatusNotFound {
			return nil, fmt.Errorf("the host %s reported its memory image uploaded, but S3 has no object at %s; no image is recorded", run.t.id, uri)
		}
		return nil, fmt.Errorf("confirming the memory image at %s: %w", uri, err)
	}
	gotSize, gotSum := aws.ToInt64(head.ContentLength), aws.ToString(head.ChecksumSHA256)
	if gotSize != captured.Size || gotSum != checksum || (head.ChecksumType != "" && head.ChecksumType != s3types.ChecksumTypeFullObject) {
		return nil, fmt.Errorf("the object at %s does not match the memory image captured on %s: S3 holds %d bytes with SHA-256 %q (%s), the host captured %d bytes with SHA-256 %s (%q); no image is recorded",
			uri, run.t.id, gotSize, gotSum, checksumTypeText(head.ChecksumType), captured.Size, captured.SHA256, checksum)
	}
	facts := map[string]any{
		"bucket": run.c.bucket, "key": key, "size": captured.Size, "sha256": captured.SHA256,
		"tool": run.platform.Tool(), "tool_sha256": run.tool.sha256,
	}
	if captured.Compression != "" {
		facts["compression"] = captured.Compression
	}
	if v := aws.ToString(head.VersionId); v != "" {
		facts["version_id"] = v
	}
	if head.ObjectLockMode != "" {
		facts["object_lock_mode"] = string(head.ObjectLockMode)
		if head.ObjectLockRetainUntilDate != nil {
			facts["object_lock_retain_until"] = head.ObjectLockRetainUntilDate.UTC().Format(time.RFC3339)
		}
	}
	return facts, nil
}

func checksumTypeText(t s3types.ChecksumType) string {
	s := string(t)
	if s == "" {
		return "no checksum type"
	}
	return s
}

// uploadRejection explains S3's refusals of the upload.
func uploadRejection(code string) string {
	switch code {
	case "BadDigest":
		return ": the bytes the host sent do not match the SHA-256 it computed at capture"
	case "PreconditionFailed":
		return ": an object already exists at that key, and evidence is never overwritten"
	case "AccessDenied":
		return ": cordon's credentials may not write there (s3:PutObject), or the URL or its session expired"
	case "SignatureDoesNotMatch":
		return ": the request is not the one presigned"
	case "EntityTooLarge":
		return ": the image is larger than one PUT uploads"
	}
	return ""
}

// cleanup asks the host to delete the work directory of a capture whose
// image was not uploaded, best effort: the scripts delete it themselves
// on failure, and a reaper at the collector's timeout.
func (run *memoryRun) cleanup(ctx context.Context, work string) {
	lines, err := memory.Commands(run.platform, memory.Settings{Mode: memory.ModeCleanup, Work: work})
	if err != nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), memoryCleanupWait)
	defer cancel()
	_, _ = run.ssm.SendCommand(cctx, &ssm.SendCommandInput{
		DocumentName: aws.String(run.platform.Document()), InstanceIds: []string{run.t.id},
		Comment:    aws.String(truncateRunes("cordon memory cleanup "+run.req.IncidentID, 100)),
		Parameters: map[string][]string{"commands": lines, "executionTimeout": {"60"}}, TimeoutSeconds: aws.Int32(600),
	})
}

// memoryConfirmed is the aws_ssm_memory type's Volatile: the facts confirm
// an image only when they name its bucket, key, size and SHA-256, which
// the collector sets only after HeadObject showed the object.
func memoryConfirmed(facts map[string]any) string {
	if e, ok := facts["error"].(string); ok {
		return "its memory acquisition failed: " + e
	}
	bucket, _ := facts["bucket"].(string)
	key, _ := facts["key"].(string)
	sum, _ := facts["sha256"].(string)
	size, _ := factNumber(facts["size"])
	if bucket == "" || key == "" || size <= 0 || len(sum) != 64 || !sha256HexRE.MatchString(sum) {
		return "its facts confirm no memory image (no bucket, key, size and SHA-256)"
	}
	return ""
}

// factNumber reads a number of facts: an int64 from a collector, a
// float64 from a plan file, a json.Number from a facts file.
func factNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n)
	case interface{ Float64() (float64, error) }:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}
