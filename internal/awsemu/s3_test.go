package awsemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The buckets the S3 tests add to the test fleet.
const (
	evidenceBucket = "cordon-evidence-test"
	lockedBucket   = "cordon-evidence-locked"
	westBucket     = "cordon-evidence-west"
	otherBucket    = "security-only-bucket"
)

// s3Env is the test fleet with buckets: evidence (versioned, no lock) and
// locked (Object Lock, 30 days COMPLIANCE) in prod's us-east-1, west in
// prod's us-west-2, and other in the security account.
func s3Env(t *testing.T) *env {
	t.Helper()
	seed, err := LoadSeed("testdata/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	for i := range seed.Accounts {
		a := &seed.Accounts[i]
		switch a.ID {
		case prodAccount:
			r := a.Regions["us-east-1"]
			r.S3Buckets = []SeedBucket{
				{Name: evidenceBucket, Versioning: "Enabled", Objects: []SeedObject{{Key: "tools/avml", Content: "#!/bin/sh\necho avml\n"}}},
				{Name: lockedBucket, ObjectLock: &SeedObjectLock{Mode: "COMPLIANCE", Days: 30}},
			}
			a.Regions["us-east-1"] = r
			w := a.Regions["us-west-2"]
			w.S3Buckets = []SeedBucket{{Name: westBucket}}
			a.Regions["us-west-2"] = w
		case securityAccount:
			a.Regions = map[string]SeedRegion{"us-east-1": {S3Buckets: []SeedBucket{{Name: otherBucket}}}}
		}
	}
	if err := seed.Validate(); err != nil {
		t.Fatal(err)
	}
	return newEnvSeed(t, seed)
}

func (e *env) s3(region string) *s3.Client {
	return s3.NewFromConfig(e.config(region, aliceKey, "", 1), func(o *s3.Options) { o.UsePathStyle = true })
}

func b64sha(data []byte) string {
	s := sha256.Sum256(data)
	return base64.StdEncoding.EncodeToString(s[:])
}

func hexsha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func TestS3PutHeadGet(t *testing.T) {
	e := s3Env(t)
	c := e.s3("us-east-1")
	body := []byte("memory image bytes")
	out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(evidenceBucket), Key: aws.String("inc/i-1/memory.lime"),
		Body: bytes.NewReader(body), ChecksumSHA256: aws.String(b64sha(body))})
	wantOK(t, err)
	if aws.ToString(out.ChecksumSHA256) != b64sha(body) || aws.ToString(out.VersionId) == "" {
		t.Errorf("PutObject answered checksum %q, version %q", aws.ToString(out.ChecksumSHA256), aws.ToString(out.VersionId))
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(evidenceBucket), Key: aws.String("inc/i-1/memory.lime"),
		ChecksumMode: s3types.ChecksumModeEnabled})
	wantOK(t, err)
	if aws.ToString(head.ChecksumSHA256) != b64sha(body) || aws.ToInt64(head.ContentLength) != int64(len(body)) || head.ChecksumType != s3types.ChecksumTypeFullObject {
		t.Errorf("HeadObject: checksum %q, length %d, type %q", aws.ToString(head.ChecksumSHA256), aws.ToInt64(head.ContentLength), head.ChecksumType)
	}
	// Without checksum mode, no checksum.
	head, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(evidenceBucket), Key: aws.String("inc/i-1/memory.lime")})
	wantOK(t, err)
	if head.ChecksumSHA256 != nil {
		t.Errorf("HeadObject without checksum mode gave checksum %q", aws.ToString(head.ChecksumSHA256))
	}
	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(evidenceBucket), Key: aws.String("inc/i-1/memory.lime"), ChecksumMode: s3types.ChecksumModeEnabled})
	wantOK(t, err)
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if !bytes.Equal(got, body) {
		t.Errorf("GetObject = %q", got)
	}
	o, ok := e.emu.S3Object(evidenceBucket, "inc/i-1/memory.lime")
	if !ok || o.SHA256 != hexsha(body) || o.Size != int64(len(body)) || o.UploadedBy != "arn:aws:iam::111122223333:user/alice" {
		t.Errorf("stored object %+v", o)
	}
	// An upload without a checksum gets S3's default, CRC64NVME.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(evidenceBucket), Key: aws.String("plain"), Body: strings.NewReader("x")})
	wantOK(t, err)
	if o, _ := e.emu.S3Object(evidenceBucket, "plain"); o.ChecksumAlgorithm != "CRC64NVME" || o.Checksum != "Lb1nAmRU5LE=" {
		t.Errorf("default upload stored checksum %s", o.ChecksumAlgorithm)
	}
}

func TestS3Errors(t *testing.T) {
	e := s3Env(t)
	c := e.s3("us-east-1")
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("no-such-bucket-x"), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantCode(t, err, "NoSuchBucket")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(evidenceBucket), Key: aws.String("missing")})
	wantCode(t, err, "NoSuchKey")
	// A HEAD's error has no body: the SDK reports the status.
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(evidenceBucket), Key: aws.String("missing")})
	wantCode(t, err, "NotFound")
	_, err = c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(evidenceBucket)})
	wantCode(t, err, "ObjectLockConfigurationNotFoundError")
	// Another account's bucket whose policy does not let prod in.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(otherBucket), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantCode(t, err, "AccessDenied")
	// The body does not match the checksum: refused, nothing stored.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(evidenceBucket), Key: aws.String("bad"), Body: strings.NewReader("tampered"),
		ChecksumSHA256: aws.String(b64sha([]byte("original")))})
	wantCode(t, err, "BadDigest")
	if _, ok := e.emu.S3Object(evidenceBucket, "bad"); ok {
		t.Error("an upload whose checksum did not match was stored")
	}
	if c := e.callsOf("s3:PutObject"); c[len(c)-1].ErrorCode != "BadDigest" || c[len(c)-1].Status != 400 {
		t.Errorf("recorded call %+v", c[len(c)-1])
	}
}

func TestS3Regions(t *testing.T) {
	e := s3Env(t)
	east := e.s3("us-east-1")
	out, err := east.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(evidenceBucket)})
	wantOK(t, err)
	if aws.ToString(out.BucketRegion) != "us-east-1" {
		t.Errorf("BucketRegion = %q", aws.ToString(out.BucketRegion))
	}
	// Asked in the wrong region, HeadBucket redirects and names the right one.
	_, err = east.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(westBucket)})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 301 || re.Response.Header.Get("x-amz-bucket-region") != "us-west-2" {
		t.Fatalf("HeadBucket in the wrong region: %v", err)
	}
	_, err = east.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(westBucket), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantCode(t, err, "AuthorizationHeaderMalformed")
	_, err = e.s3("us-west-2").PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(westBucket), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantOK(t, err)
	loc, err := east.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(westBucket)})
	wantOK(t, err)
	if loc.LocationConstraint != "us-west-2" {
		t.Errorf("GetBucketLocation = %q", loc.LocationConstraint)
	}
}

func TestS3ObjectLock(t *testing.T) {
	e := s3Env(t)
	c := e.s3("us-east-1")
	lock, err := c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(lockedBucket)})
	wantOK(t, err)
	cfg := lock.ObjectLockConfiguration
	if cfg.ObjectLockEnabled != s3types.ObjectLockEnabledEnabled || cfg.Rule == nil || cfg.Rule.DefaultRetention.Mode != s3types.ObjectLockRetentionModeCompliance ||
		aws.ToInt32(cfg.Rule.DefaultRetention.Days) != 30 {
		t.Errorf("object lock configuration %+v", cfg)
	}
	ver, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(lockedBucket)})
	wantOK(t, err)
	if ver.Status != s3types.BucketVersioningStatusEnabled {
		t.Errorf("versioning of a locked bucket = %q", ver.Status)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(lockedBucket), Key: aws.String("k"), Body: strings.NewReader("x"),
		ChecksumSHA256: aws.String(b64sha([]byte("x")))})
	wantOK(t, err)
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(lockedBucket), Key: aws.String("k")})
	wantOK(t, err)
	if head.ObjectLockMode != s3types.ObjectLockModeCompliance || !head.ObjectLockRetainUntilDate.Equal(testNow.AddDate(0, 0, 30)) {
		t.Errorf("retention %s until %v", head.ObjectLockMode, head.ObjectLockRetainUntilDate)
	}
	// Object Lock needs a checksum or Content-MD5 on every upload.
	st, body := e.presigned(t, http.MethodPut, "us-east-1", lockedBucket, "nochecksum", nil, []byte("x"), nil)
	if st != 400 || !strings.Contains(body, "Content-MD5 OR x-amz-checksum- HTTP header is required") {
		t.Errorf("upload without checksum to a locked bucket: %d %s", st, body)
	}
}

// presigned presigns a request as alice with the SDK (headers signed with
// it), then sends it with Go's HTTP client as curl would, adding extra
// headers unsigned. It returns the status and body.
func (e *env) presigned(t *testing.T, method, region, bucket, key string, signed func(*s3.PutObjectInput), body []byte, extra map[string]string) (int, string) {
	t.Helper()
	presigner := s3.NewPresignClient(e.s3(region), func(o *s3.PresignOptions) {
		o.Presigner = v4.NewSigner(func(so *v4.SignerOptions) { so.DisableHeaderHoisting = true })
	})
	var (
		url    string
		header http.Header
	)
	if method == http.MethodPut {
		in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if signed != nil {
			signed(in)
		}
		req, err := presigner.PresignPutObject(ctx, in, s3.WithPresignExpires(20*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		url, header = req.URL, req.SignedHeader
	} else {
		req, err := presigner.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, s3.WithPresignExpires(20*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		url, header = req.URL, req.SignedHeader
	}
	hr, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k != "Host" && k != "Content-Length" {
			hr.Header[k] = v
		}
	}
	for k, v := range extra {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestS3Presigned(t *testing.T) {
	image := []byte("a memory image, as a host uploads it")
	withChecksum := func(in *s3.PutObjectInput) {
		in.ChecksumAlgorithm = s3types.ChecksumAlgorithmSha256
		in.ChecksumSHA256 = aws.String(b64sha(image))
		in.ContentLength = aws.Int64(int64(len(image)))
		in.IfNoneMatch = aws.String("*")
	}
	tests := []struct {
		name   string
		signed func(*s3.PutObjectInput)
		body   []byte
		extra  map[string]string
		status int
		code   string
		stored bool
	}{
		{"checksum signed and matching", withChecksum, image, nil, 200, "", true},
		{"body does not match the signed checksum", withChecksum, append([]byte("X"), image[1:]...), nil, 400, "<Code>BadDigest</Code>", false},
		{"signed checksum header left out", withChecksum, image, map[string]string{"X-Amz-Checksum-Sha256": ""}, 403, "<Code>SignatureDoesNotMatch</Code>", false},
		{"unsigned x-amz header added", func(in *s3.PutObjectInput) {}, image, map[string]string{"X-Amz-Checksum-Sha256": b64sha(image)}, 403, "<HeadersNotSigned>x-amz-checksum-sha256</HeadersNotSigned>", false},
		{"algorithm without value: the SDK signs an empty body's checksum", func(in *s3.PutObjectInput) { in.ChecksumAlgorithm = s3types.ChecksumAlgorithmSha256 },
			image, nil, 400, "The SHA256 you specified did not match the calculated checksum.", false},
		{"algorithm header without a checksum", func(in *s3.PutObjectInput) { in.ChecksumAlgorithm = s3types.ChecksumAlgorithmSha256 },
			image, map[string]string{"X-Amz-Checksum-Sha256": ""}, 403, "SignatureDoesNotMatch", false},
		{"malformed checksum", func(in *s3.PutObjectInput) { in.ChecksumSHA256 = aws.String("not base64!") }, image, nil, 400, "Value for x-amz-checksum-sha256 header is invalid.", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := s3Env(t)
			st, body := e.presigned(t, http.MethodPut, "us-east-1", evidenceBucket, "inc/memory.lime", tt.signed, tt.body, tt.extra)
			if st != tt.status || !strings.Contains(body, tt.code) {
				t.Fatalf("got %d %s, want %d %s", st, body, tt.status, tt.code)
			}
			o, ok := e.emu.S3Object(evidenceBucket, "inc/memory.lime")
			if ok != tt.stored {
				t.Fatalf("stored = %v, want %v", ok, tt.stored)
			}
			if ok && (o.SHA256 != hexsha(image) || o.ChecksumAlgorithm != "SHA256" || o.Checksum != b64sha(image)) {
				t.Errorf("stored %+v", o)
			}
			calls := e.callsOf("s3:PutObject")
			if len(calls) != 1 || calls[0].AccessKeyID != aliceKey || calls[0].Principal != "arn:aws:iam::111122223333:user/alice" && tt.status != 403 {
				t.Errorf("calls %+v", calls)
			}
		})
	}

	t.Run("no overwrite", func(t *testing.T) {
		e := s3Env(t)
		if st, body := e.presigned(t, http.MethodPut, "us-east-1", evidenceBucket, "k", withChecksum, image, nil); st != 200 {
			t.Fatalf("%d %s", st, body)
		}
		st, body := e.presigned(t, http.MethodPut, "us-east-1", evidenceBucket, "k", withChecksum, image, nil)
		if st != 412 || !strings.Contains(body, "<Condition>If-None-Match</Condition>") {
			t.Errorf("second upload: %d %s", st, body)
		}
	})
	t.Run("expired", func(t *testing.T) {
		e := s3Env(t)
		// The SDK signs with the real clock; the emulator's is set an hour
		// past it.
		e.emu.SetClock(func() time.Time { return time.Now().Add(time.Hour) })
		st, body := e.presigned(t, http.MethodGet, "us-east-1", evidenceBucket, "tools/avml", nil, nil, nil)
		if st != 403 || !strings.Contains(body, "<Message>Request has expired</Message>") {
			t.Errorf("expired URL: %d %s", st, body)
		}
	})
	t.Run("get", func(t *testing.T) {
		e := s3Env(t)
		st, body := e.presigned(t, http.MethodGet, "us-east-1", evidenceBucket, "tools/avml", nil, nil, nil)
		if st != 200 || body != "#!/bin/sh\necho avml\n" {
			t.Errorf("presigned GET: %d %q", st, body)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		e := s3Env(t)
		status, body := e.raw(http.MethodPut, "/"+evidenceBucket+"/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEMUNOBODY0000001%2F20250301%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250301T122900Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host&X-Amz-Signature=00", "", "", nil, "x")
		if status != 403 || !strings.Contains(body, "<Code>InvalidAccessKeyId</Code>") {
			t.Errorf("unknown access key: %d %s", status, body)
		}
	})
}

func TestS3Policies(t *testing.T) {
	e := s3Env(t)
	e.emu.EnforcePolicies(true)
	if err := e.emu.PutInlinePolicy("arn:aws:iam::111122223333:user/alice", "evidence", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::`+evidenceBucket+`/memory/*"},
		{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::`+evidenceBucket+`/tools/avml"}]}`); err != nil {
		t.Fatal(err)
	}
	c := e.s3("us-east-1")
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(evidenceBucket), Key: aws.String("memory/inc/i.lime"), Body: strings.NewReader("x")})
	wantOK(t, err)
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(evidenceBucket), Key: aws.String("elsewhere"), Body: strings.NewReader("x")})
	wantCode(t, err, "AccessDenied")
	if !strings.Contains(err.Error(), `s3:PutObject on resource: arn:aws:s3:::`+evidenceBucket+`/elsewhere`) {
		t.Errorf("denial does not name the object: %v", err)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(evidenceBucket), Key: aws.String("tools/avml")})
	wantOK(t, err)
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(evidenceBucket)})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
		t.Errorf("HeadBucket without s3:ListBucket: %v", err)
	}
	calls := e.callsOf("s3:HeadObject")
	if len(calls) != 1 || len(calls[0].Authorizations) != 1 || calls[0].Authorizations[0].Action != "s3:GetObject" ||
		calls[0].Authorizations[0].Resource != "arn:aws:s3:::"+evidenceBucket+"/tools/avml" {
		t.Errorf("HeadObject authorized as %+v", calls)
	}
}

// TestS3LargeUpload streams 64 MiB: its digests are kept, its bytes not.
func TestS3LargeUpload(t *testing.T) {
	e := s3Env(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20)
	_, err := e.s3("us-east-1").PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(evidenceBucket), Key: aws.String("big"),
		Body: bytes.NewReader(data), ChecksumSHA256: aws.String(b64sha(data))})
	wantOK(t, err)
	o, ok := e.emu.S3Object(evidenceBucket, "big")
	if !ok || o.Size != int64(len(data)) || o.SHA256 != hexsha(data) || o.Data != nil {
		t.Errorf("stored size %d sha %s, %d bytes kept", o.Size, o.SHA256, len(o.Data))
	}
	_, err = e.s3("us-east-1").GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(evidenceBucket), Key: aws.String("big")})
	wantCode(t, err, "NotImplemented")
}

func TestS3Seed(t *testing.T) {
	tests := []struct {
		name    string
		buckets []SeedBucket
		want    string
	}{
		{"bad name", []SeedBucket{{Name: "Bad_Name"}}, "an S3 bucket name"},
		{"ip shaped", []SeedBucket{{Name: "192.168.1.1"}}, "is not a valid S3 bucket name"},
		{"duplicate", []SeedBucket{{Name: "dup-bucket"}, {Name: "dup-bucket"}}, "bucket names are global"},
		{"lock without versioning", []SeedBucket{{Name: "lock-bucket", Versioning: "Suspended", ObjectLock: &SeedObjectLock{}}}, "Object Lock needs versioning Enabled"},
		{"retention without mode", []SeedBucket{{Name: "lock-bucket", ObjectLock: &SeedObjectLock{Days: 3}}}, "needs a mode"},
		{"days and years", []SeedBucket{{Name: "lock-bucket", ObjectLock: &SeedObjectLock{Mode: "GOVERNANCE", Days: 3, Years: 1}}}, "not both"},
		{"bad account", []SeedBucket{{Name: "ok-bucket", AllowAccounts: []string{"12"}}}, "an account id"},
		{"bad object", []SeedBucket{{Name: "ok-bucket", Objects: []SeedObject{{Key: "k", ContentBase64: "%%"}}}}, "not valid base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seed := &Seed{Accounts: []SeedAccount{{ID: prodAccount, Regions: map[string]SeedRegion{"us-east-1": {S3Buckets: tt.buckets}}}}}
			err := seed.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	seed, err := ParseSeed([]byte(`{"accounts": [{"id": "111122223333", "regions": {"eu-west-1": {"s3_buckets": [
		{"name": "evidence", "object_lock": {"mode": "GOVERNANCE", "years": 1}, "allow_accounts": ["444455556666"],
		 "objects": [{"key": "tools/winpmem.exe", "content_base64": "TVo="}]}]}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	st := New(seed).Snapshot()
	b := st.Buckets["evidence"]
	if b == nil || b.Region != "eu-west-1" || b.Account != prodAccount || b.Versioning != "Enabled" || b.Objects["tools/winpmem.exe"].Size != 2 {
		t.Errorf("seeded bucket %+v", b)
	}
}
