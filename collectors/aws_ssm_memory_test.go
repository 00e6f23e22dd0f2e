package collectors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/internal/awsemu"
)

// The memory tests' buckets and tools, in the fleet's prod us-east-1.
const (
	memBucket    = "cordon-evidence-prod"
	lockedBucket = "cordon-evidence-locked"
	toolsBucket  = "cordon-tools"
	avmlKey      = "avml/avml-0.14.0"
	winpmemKey   = "winpmem/winpmem_mini_x64_rc2.exe"
)

var (
	avmlBinary    = []byte("\x7fELF avml 0.14.0 (the emulator's hosts only hash it)")
	winpmemBinary = []byte("MZ winpmem_mini_x64_rc2")
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// memoryEnv is the fleet with an evidence bucket (versioned, no Object
// Lock), a locked one, and the tools' bucket; change adjusts the seed
// further.
func memoryEnv(t testing.TB, change func(*awsemu.Seed)) *testEnv {
	return newTestEnvSeed(t, func(s *awsemu.Seed) {
		for i := range s.Accounts {
			a := &s.Accounts[i]
			if a.ID != prodAccount {
				continue
			}
			r := a.Regions[region]
			r.S3Buckets = []awsemu.SeedBucket{
				{Name: memBucket, Versioning: "Enabled"},
				{Name: lockedBucket, ObjectLock: &awsemu.SeedObjectLock{Mode: "COMPLIANCE", Days: 90}},
				{Name: toolsBucket, Objects: []awsemu.SeedObject{
					{Key: avmlKey, Content: string(avmlBinary)},
					{Key: winpmemKey, Content: string(winpmemBinary)},
				}},
			}
			a.Regions[region] = r
		}
		if change != nil {
			change(s)
		}
	})
}

// memoryCollector is an aws_ssm_memory collector writing to bucket, with
// the pinned tools, polling fast.
func memoryCollector(t testing.TB, attrs map[string]cty.Value, ev Evidence) *ssmMemory {
	t.Helper()
	all := map[string]cty.Value{
		"tool_s3_uri": cty.StringVal("s3://" + toolsBucket + "/" + avmlKey),
		"tool_sha256": cty.StringVal(sha256Hex(avmlBinary)),
	}
	for k, v := range attrs {
		all[k] = v
	}
	c := newCollector(t, "aws_ssm_memory", all).(*ssmMemory)
	if err := c.UseEvidence(ev); err != nil {
		t.Fatal(err)
	}
	c.pollFirst, c.pollMax = time.Millisecond, 5*time.Millisecond
	return c
}

var evidenceBlock = Evidence{Bucket: memBucket, Prefix: "memory/"}

func TestSSMMemoryAcquires(t *testing.T) {
	e := memoryEnv(t, nil)
	c := memoryCollector(t, nil, evidenceBlock)
	facts, err := c.Collect(context.Background(), e.request(web1))
	if err != nil {
		t.Fatal(err)
	}
	checkFactsSchema(t, "aws_ssm_memory", facts)
	key := "memory/" + incidentID + "/" + web1 + "/memory-20250301T123000Z.lime.compressed"
	obj, ok := e.emu.S3Object(memBucket, key)
	if !ok {
		t.Fatalf("no object at %s", key)
	}
	want := map[string]any{
		"bucket": memBucket, "key": key, "size": int64(1 << 20), "sha256": obj.SHA256, "tool": "avml",
		"tool_sha256": sha256Hex(avmlBinary), "started_at": "2025-03-01T12:30:00Z", "finished_at": "2025-03-01T12:30:00Z",
		"version_id": obj.VersionID, "compression": "snappy",
	}
	if !jsonEqual(t, facts, want) {
		t.Errorf("facts = %v\nwant    %v", facts, want)
	}
	if obj.Size != 1<<20 || obj.ChecksumAlgorithm != "SHA256" || obj.Data != nil && len(obj.Data) != 1<<20 {
		t.Errorf("object %+v", obj)
	}
	// The upload acted with cordon's credentials (the presigned URL), not
	// the host's.
	if !strings.Contains(obj.UploadedBy, ":assumed-role/cordon-responder/") {
		t.Errorf("uploaded by %s", obj.UploadedBy)
	}
	arts := e.artefacts()
	if len(arts) != 1 || arts[0].Kind != "memory_image" || arts[0].Data != nil || arts[0].Name != "s3://"+memBucket+"/"+key ||
		arts[0].Meta["sha256"] != obj.SHA256 || arts[0].Meta["size"] != int64(1<<20) || arts[0].Meta["bucket"] != memBucket || arts[0].Meta["key"] != key ||
		arts[0].Meta["compression"] != "snappy" {
		t.Errorf("artefacts %+v", arts)
	}
	called := e.actionsCalled()
	checkPermissions(t, c, []string{"ssm:DescribeInstanceInformation", "ssm:SendCommand", "ssm:GetCommandInvocation", "s3:ListBucket", "s3:GetObject", "s3:PutObject"})
	for _, a := range []string{"ssm:DescribeInstanceInformation", "s3:HeadBucket", "s3:HeadObject", "ssm:SendCommand", "ssm:GetCommandInvocation", "s3:GetObject", "s3:PutObject"} {
		if !slices.Contains(called, a) {
			t.Errorf("%s was not called (%v)", a, called)
		}
	}
	// Capture and upload are two commands; nothing is left to clean.
	if n := len(e.callsOf("ssm:SendCommand")); n != 2 {
		t.Errorf("%d SendCommand calls, want 2 (capture, upload)", n)
	}
}

func (e *testEnv) callsOf(action string) []awsemu.Call {
	var out []awsemu.Call
	for _, c := range e.emu.Calls() {
		if c.Action() == action {
			out = append(out, c)
		}
	}
	return out
}

func TestSSMMemoryWindows(t *testing.T) {
	windows := func(s *awsemu.Seed) {
		for i := range s.Accounts {
			r := s.Accounts[i].Regions[region]
			for j := range r.Instances {
				if r.Instances[j].ID == web2 {
					r.Instances[j].Platform = "windows"
				}
			}
		}
	}
	e := memoryEnv(t, windows)
	c := memoryCollector(t, map[string]cty.Value{
		"windows_tool_s3_uri": cty.StringVal("s3://" + toolsBucket + "/" + winpmemKey),
		"windows_tool_sha256": cty.StringVal(strings.ToUpper(sha256Hex(winpmemBinary))),
	}, evidenceBlock)
	facts, err := c.Collect(context.Background(), e.request(web2))
	if err != nil {
		t.Fatal(err)
	}
	if facts["tool"] != "winpmem" || !strings.HasSuffix(facts["key"].(string), ".raw") || facts["tool_sha256"] != sha256Hex(winpmemBinary) {
		t.Errorf("facts %v", facts)
	}
	// WinPmem does not compress: no compression fact.
	if _, ok := facts["compression"]; ok {
		t.Errorf("facts %v", facts)
	}
	checkFactsSchema(t, "aws_ssm_memory", facts)
	for _, call := range e.callsOf("ssm:SendCommand") {
		if call.Authorizations[0].Resource != "arn:aws:ssm:us-east-1::document/AWS-RunPowerShellScript" {
			t.Errorf("sent %v", call.Authorizations[0])
		}
	}

	// Without a Windows tool, a Windows instance is refused before
	// anything is sent.
	e = memoryEnv(t, windows)
	_, err = memoryCollector(t, nil, evidenceBlock).Collect(context.Background(), e.request(web2))
	if err == nil || !strings.Contains(err.Error(), "runs Windows, and the collector sets no windows_tool_s3_uri (winpmem)") {
		t.Errorf("error %v", err)
	}
	if n := len(e.callsOf("ssm:SendCommand")); n != 0 {
		t.Errorf("%d commands sent", n)
	}
}

// TestSSMMemoryLargeMemory acquires a Linux instance with more memory
// than one PUT carries: AVML compresses, and the compressed image fits.
func TestSSMMemoryLargeMemory(t *testing.T) {
	e := memoryEnv(t, nil)
	const image = 1 << 20 // 64 GiB of memory, mostly free pages, compresses far
	e.emu.SetMemoryHost(web1, awsemu.MemoryHost{MemTotal: 64 << 30, ImageSize: image})
	c := memoryCollector(t, nil, evidenceBlock)
	facts, err := c.Collect(context.Background(), e.request(web1))
	if err != nil {
		t.Fatal(err)
	}
	checkFactsSchema(t, "aws_ssm_memory", facts)
	key, _ := facts["key"].(string)
	obj, ok := e.emu.S3Object(memBucket, key)
	if !ok || facts["compression"] != "snappy" || facts["size"] != int64(image) || !strings.HasSuffix(key, ".lime.compressed") ||
		obj.Size != image || obj.SHA256 != facts["sha256"] {
		t.Errorf("facts %v, object %+v", facts, obj)
	}
	// The image is AVML's: LiME's magic, and the version of a compressed
	// range (the emulator keeps the bytes of an object of 1 MiB).
	if len(obj.Data) != image || string(obj.Data[:4]) != "EMiL" || obj.Data[4] != 2 {
		t.Errorf("image of %d bytes starts %q", len(obj.Data), obj.Data[:min(8, len(obj.Data))])
	}
	if arts := e.artefacts(); len(arts) != 1 || arts[0].Meta["compression"] != "snappy" {
		t.Errorf("artefacts %+v", arts)
	}
}

// TestSSMMemoryWindowsTooLarge: WinPmem does not compress, so a Windows
// instance with more memory than one PUT carries is refused by the
// capture command before the tool is downloaded or anything uploaded.
func TestSSMMemoryWindowsTooLarge(t *testing.T) {
	e := memoryEnv(t, func(s *awsemu.Seed) {
		for i := range s.Accounts {
			r := s.Accounts[i].Regions[region]
			for j := range r.Instances {
				if r.Instances[j].ID == web2 {
					r.Instances[j].Platform = "windows"
				}
			}
		}
	})
	// Its image would compress, were there a compressor: it makes no
	// difference.
	e.emu.SetMemoryHost(web2, awsemu.MemoryHost{MemTotal: 8 << 30, ImageSize: 1 << 20})
	c := memoryCollector(t, map[string]cty.Value{
		"windows_tool_s3_uri": cty.StringVal("s3://" + toolsBucket + "/" + winpmemKey),
		"windows_tool_sha256": cty.StringVal(sha256Hex(winpmemBinary)),
	}, evidenceBlock)
	facts, err := c.Collect(context.Background(), e.request(web2))
	want := "the memory of " + web2 + " is 8.0 GiB, over S3's 5 GiB single-PUT limit, and winpmem does not compress its image; refused before capturing, nothing was uploaded"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v (facts %v), want %q", err, facts, want)
	}
	if n := len(e.callsOf("ssm:SendCommand")); n != 1 {
		t.Errorf("%d commands sent, want the capture alone", n)
	}
	for _, call := range e.emu.Calls() {
		if call.Action() == "s3:GetObject" || call.Action() == "s3:PutObject" {
			t.Errorf("%s was called: the host went on after refusing", call.Action())
		}
	}
	if b := e.emu.Snapshot().Buckets[memBucket]; b != nil && len(b.Objects) != 0 {
		t.Errorf("objects stored: %v", b.Objects)
	}
}

func TestSSMMemoryFailures(t *testing.T) {
	wrongSHA := strings.Repeat("ab", 32)
	tests := []struct {
		name     string
		host     *awsemu.MemoryHost
		attrs    map[string]cty.Value
		evidence Evidence
		instance string
		timeout  time.Duration
		want     []string
		// sent is how many commands reach the host.
		sent int
	}{
		{name: "tool hash mismatch", attrs: map[string]cty.Value{"tool_sha256": cty.StringVal(wrongSHA)},
			want: []string{"the host refused to run the tool: its SHA-256 is " + sha256Hex(avmlBinary) + ", not the pinned " + wrongSHA}, sent: 1},
		{name: "tampered tool", host: &awsemu.MemoryHost{Fault: awsemu.MemoryToolTampered},
			want: []string{"the host refused to run the tool: its SHA-256 is ", ", not the pinned " + sha256Hex(avmlBinary)}, sent: 1},
		{name: "upload corrupted", host: &awsemu.MemoryHost{Fault: awsemu.MemoryCorruptUpload},
			want: []string{"S3 rejected the upload", "(HTTP 400 BadDigest): the bytes the host sent do not match the SHA-256 it computed at capture; no image is recorded"}, sent: 3},
		{name: "low disk", host: &awsemu.MemoryHost{Fault: awsemu.MemoryLowDisk, MemTotal: 8 << 30 / 2},
			want: []string{"instance " + web1 + " has no disk with room for its memory image: it needs about 4.4 GiB (4.0 GiB of memory, and a margin), and the most free space was 1.5 GiB, in /var/tmp"}, sent: 1},
		{name: "compressed image too large", host: &awsemu.MemoryHost{MemTotal: 16 << 30, ImageSize: 6 << 30},
			want: []string{"the compressed image is 6442450944 bytes (6.0 GiB), over S3's 5 GiB single-PUT limit: the memory of " + web1 +
				" (16.0 GiB) does not compress enough for one upload; nothing was uploaded"}, sent: 1},
		{name: "compression not the script's", host: &awsemu.MemoryHost{Fault: awsemu.MemoryUncompressed},
			want: []string{"the host " + web1 + " reported its memory image uncompressed, but the Linux script captures it compressed with snappy; nothing was uploaded"}, sent: 2},
		{name: "tool fails", host: &awsemu.MemoryHost{Fault: awsemu.MemoryToolFails},
			want: []string{"avml failed on " + web1 + " with exit code 1: \"avml: unable to read physical memory\""}, sent: 1},
		{name: "timeout", host: &awsemu.MemoryHost{Fault: awsemu.MemoryTimeout}, timeout: 300 * time.Millisecond,
			want: []string{"memory capture command", "did not finish within the collector's timeout (cancelled); no image was recorded"}, sent: 1},
		{name: "not SSM-managed", instance: batch1, want: []string{"instance " + batch1 + " is not managed by SSM in account 111122223333 in us-east-1"}},
		{name: "object lock required", evidence: Evidence{Bucket: memBucket, RequireObjectLock: true},
			want: []string{"the evidence block sets require_object_lock, and bucket " + memBucket + " has no Object Lock configuration: refused before sending anything to instance " + web1}},
		{name: "no bucket", evidence: Evidence{Bucket: "no-such-evidence"},
			want: []string{"the evidence bucket no-such-evidence does not exist; nothing was sent"}},
		{name: "no tool", attrs: map[string]cty.Value{"tool_s3_uri": cty.StringVal("s3://" + toolsBucket + "/avml/missing")},
			want: []string{"the avml binary s3://" + toolsBucket + "/avml/missing does not exist; nothing was sent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := memoryEnv(t, nil)
			instance := tt.instance
			if instance == "" {
				instance = web1
			}
			if tt.host != nil {
				e.emu.SetMemoryHost(instance, *tt.host)
			}
			ev := tt.evidence
			if ev.Bucket == "" {
				ev = evidenceBlock
			}
			c := memoryCollector(t, tt.attrs, ev)
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			facts, err := c.Collect(ctx, e.request(instance))
			if err == nil {
				t.Fatalf("no error; facts %v", facts)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if got := len(e.callsOf("ssm:SendCommand")); got != tt.sent {
				t.Errorf("%d commands sent, want %d", got, tt.sent)
			}
			// Nothing counts as acquired: no artefact, no image.
			if arts := e.artefacts(); len(arts) != 0 {
				t.Errorf("artefacts kept: %+v", arts)
			}
			for k, b := range e.emu.Snapshot().Buckets {
				if k == memBucket && len(b.Objects) != 0 {
					t.Errorf("objects stored: %v", b.Objects)
				}
			}
			if tt.name == "timeout" && len(e.callsOf("ssm:CancelCommand")) != 1 {
				t.Error("the timed-out command was not cancelled")
			}
		})
	}
}

func TestSSMMemoryObjectLock(t *testing.T) {
	e := memoryEnv(t, nil)
	c := memoryCollector(t, map[string]cty.Value{"bucket": cty.StringVal(lockedBucket)}, Evidence{Bucket: memBucket, Prefix: "ignored", RequireObjectLock: true})
	facts, err := c.Collect(context.Background(), e.request(web1))
	if err != nil {
		t.Fatal(err)
	}
	checkFactsSchema(t, "aws_ssm_memory", facts)
	if facts["bucket"] != lockedBucket || facts["object_lock_mode"] != "COMPLIANCE" || facts["object_lock_retain_until"] != "2025-05-30T12:30:00Z" ||
		!strings.HasPrefix(facts["key"].(string), "ignored/"+incidentID+"/") {
		t.Errorf("facts %v", facts)
	}
	checkPermissions(t, c, []string{"s3:GetBucketObjectLockConfiguration"})
}

func TestSSMMemoryConfig(t *testing.T) {
	good := sha256Hex(avmlBinary)
	tests := []struct {
		name  string
		attrs map[string]cty.Value
		attr  string
		want  string
	}{
		{"no tool", map[string]cty.Value{}, "tool_s3_uri", "Set tool_s3_uri and tool_sha256"},
		{"uri without sha", map[string]cty.Value{"tool_s3_uri": cty.StringVal("s3://cordon-tools/avml")}, "tool_s3_uri", "set tool_sha256"},
		{"sha without uri", map[string]cty.Value{"tool_sha256": cty.StringVal(good)}, "tool_sha256", "set both"},
		{"not s3", map[string]cty.Value{"tool_s3_uri": cty.StringVal("https://example.com/avml"), "tool_sha256": cty.StringVal(good)}, "tool_s3_uri", "is not an S3 URI"},
		{"bad bucket", map[string]cty.Value{"tool_s3_uri": cty.StringVal("s3://Bad_Bucket/avml"), "tool_sha256": cty.StringVal(good)}, "tool_s3_uri", "not an S3 bucket name"},
		{"no key", map[string]cty.Value{"tool_s3_uri": cty.StringVal("s3://cordon-tools/"), "tool_sha256": cty.StringVal(good)}, "tool_s3_uri", "names no object"},
		{"short sha", map[string]cty.Value{"tool_s3_uri": cty.StringVal("s3://cordon-tools/avml"), "tool_sha256": cty.StringVal("abc")}, "tool_sha256", "64 hex digits"},
		{"windows sha missing", map[string]cty.Value{"windows_tool_s3_uri": cty.StringVal("s3://cordon-tools/winpmem.exe")}, "windows_tool_s3_uri", "set windows_tool_sha256"},
		{"bad evidence bucket", map[string]cty.Value{"tool_s3_uri": cty.StringVal("s3://cordon-tools/avml"), "tool_sha256": cty.StringVal(good), "bucket": cty.StringVal("x")}, "bucket", "not an S3 bucket name"},
		{"prefix dots", map[string]cty.Value{"tool_s3_uri": cty.StringVal("s3://cordon-tools/avml"), "tool_sha256": cty.StringVal(good), "prefix": cty.StringVal("a/../b")}, "prefix", ". or .. segment"},
		{"prefix chars", map[string]cty.Value{"tool_s3_uri": cty.StringVal("s3://cordon-tools/avml"), "tool_sha256": cty.StringVal(good), "prefix": cty.StringVal("a b")}, "prefix", "is not a key prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildCollector("aws_ssm_memory", tt.attrs)
			var ae *AttributeError
			if !errors.As(err, &ae) || ae.Attribute != tt.attr || !strings.Contains(ae.Error(), tt.want) {
				t.Errorf("error %v, want one on %s saying %q", err, tt.attr, tt.want)
			}
		})
	}

	// The bucket comes from the block or the evidence block; one is needed.
	c, err := buildCollector("aws_ssm_memory", map[string]cty.Value{"tool_s3_uri": cty.StringVal("s3://cordon-tools/avml"), "tool_sha256": cty.StringVal(good)})
	if err != nil {
		t.Fatal(err)
	}
	var ae *AttributeError
	if err := c.(EvidenceUser).UseEvidence(Evidence{}); !errors.As(err, &ae) || ae.Attribute != "bucket" || !strings.Contains(err.Error(), "an evidence { bucket") {
		t.Errorf("UseEvidence without a bucket: %v", err)
	}
	if _, err := c.Collect(context.Background(), newTestEnv(t).request(web1)); err == nil || !strings.Contains(err.Error(), "no evidence bucket is configured") {
		t.Errorf("Collect without a bucket: %v", err)
	}
	if err := c.(EvidenceUser).UseEvidence(Evidence{Bucket: "cordon-evidence", Prefix: "mem//x"}); err == nil {
		t.Error("an invalid evidence prefix was taken")
	}
}

func TestSSMMemoryGrants(t *testing.T) {
	c := memoryCollector(t, map[string]cty.Value{
		"windows_tool_s3_uri": cty.StringVal("s3://" + toolsBucket + "/" + winpmemKey),
		"windows_tool_sha256": cty.StringVal(sha256Hex(winpmemBinary)),
	}, Evidence{Bucket: memBucket, Prefix: "memory", RequireObjectLock: true})
	byName := map[string]actions.Grant{}
	for _, g := range c.Grants() {
		byName[g.Name] = g
	}
	checks := map[string][]string{
		"Images":   {"arn:${Partition}:s3:::" + memBucket + "/memory/*"},
		"Bucket":   {"arn:${Partition}:s3:::" + memBucket},
		"Tools":    {"arn:${Partition}:s3:::" + toolsBucket + "/" + avmlKey, "arn:${Partition}:s3:::" + toolsBucket + "/" + winpmemKey},
		"Document": {"arn:${Partition}:ssm:${Region}::document/AWS-RunShellScript", "arn:${Partition}:ssm:${Region}::document/AWS-RunPowerShellScript"},
		"":         {"arn:${Partition}:ec2:${Region}:${Account}:instance/*"},
	}
	for name, res := range checks {
		if !slices.Equal(byName[name].Resources, res) {
			t.Errorf("grant %q on %v, want %v", name, byName[name].Resources, res)
		}
	}
	if !slices.Contains(byName["Bucket"].Actions, "s3:GetBucketObjectLockConfiguration") || byName[""].TargetTagKey != "ssm:resourceTag/" {
		t.Errorf("grants %+v", c.Grants())
	}
	if !slices.Equal(c.Permissions(), []string{"s3:GetBucketObjectLockConfiguration", "s3:GetObject", "s3:ListBucket", "s3:PutObject",
		"ssm:CancelCommand", "ssm:DescribeInstanceInformation", "ssm:GetCommandInvocation", "ssm:SendCommand"}) {
		t.Errorf("Permissions() = %v", c.Permissions())
	}
}

func TestMemoryConfirmed(t *testing.T) {
	sum := strings.Repeat("0a", 32)
	tests := []struct {
		name  string
		facts map[string]any
		want  string
	}{
		{"acquired", map[string]any{"bucket": "b", "key": "k", "size": int64(4), "sha256": sum}, ""},
		{"from a plan file", map[string]any{"bucket": "b", "key": "k", "size": float64(4), "sha256": sum}, ""},
		{"failed", map[string]any{"error": "timed out"}, "its memory acquisition failed: timed out"},
		{"empty (a facts file without it)", map[string]any{}, "its facts confirm no memory image"},
		{"no size", map[string]any{"bucket": "b", "key": "k", "sha256": sum}, "its facts confirm no memory image"},
		{"bad digest", map[string]any{"bucket": "b", "key": "k", "size": int64(4), "sha256": "x"}, "its facts confirm no memory image"},
	}
	for _, tt := range tests {
		if got := memoryConfirmed(tt.facts); !strings.HasPrefix(got, tt.want) || (tt.want == "") != (got == "") {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// peakRSS is the process's peak resident set (VmHWM), in bytes; 0 where
// /proc does not tell.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n << 10
		}
	}
	return 0
}

// TestSSMMemoryLargeImage acquires a 4 GiB image: it streams from the
// (emulated) host to S3 and no part of cordon holds it, so the process's
// memory stays flat. It logs the time and the memory taken.
func TestSSMMemoryLargeImage(t *testing.T) {
	if testing.Short() {
		t.Skip("a 4 GiB upload takes seconds")
	}
	e := memoryEnv(t, nil)
	const size = 4 << 30
	e.emu.SetMemoryHost(web1, awsemu.MemoryHost{ImageSize: size})
	c := memoryCollector(t, nil, evidenceBlock)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rssBefore := peakRSS()
	start := time.Now()
	facts, err := c.Collect(context.Background(), e.request(web1))
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	rssAfter := peakRSS()
	if facts["size"] != int64(size) {
		t.Fatalf("facts %v", facts)
	}
	obj, _ := e.emu.S3Object(memBucket, facts["key"].(string))
	if obj.Size != size || obj.SHA256 != facts["sha256"] || obj.Data != nil {
		t.Errorf("object size %d sha %s, %d bytes kept", obj.Size, obj.SHA256, len(obj.Data))
	}
	grew := rssAfter - rssBefore
	t.Logf("4 GiB image acquired in %s (%.0f MiB/s through host, S3 and their digests); peak RSS %d MiB before, %d MiB after (+%d MiB); heap in use %d → %d MiB; %d MiB allocated in all",
		elapsed.Round(time.Millisecond), float64(size)/(1<<20)/elapsed.Seconds(), rssBefore>>20, rssAfter>>20, grew>>20,
		before.HeapInuse>>20, after.HeapInuse>>20, (after.TotalAlloc-before.TotalAlloc)>>20)
	// Flat: the process (collector, emulated host and S3 together) grows
	// by buffers, not by the image.
	if rssBefore > 0 && grew > 64<<20 {
		t.Errorf("peak RSS grew by %d MiB acquiring a 4 GiB image", grew>>20)
	}
}
