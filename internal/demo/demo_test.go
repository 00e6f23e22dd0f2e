package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
)

// The fleet holds what the starter's evidence variables name: the
// responder role of the production account reads the pinned tool, which
// hashes to MemoryToolSHA256, and finds the evidence bucket with Object
// Lock, across accounts, through the SDK as the collector does.
func TestEvidenceInTheFleet(t *testing.T) {
	seed, err := Fleet()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(awsemu.New(seed))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	f, err := awsclient.New(ctx, awsclient.Options{
		Region: Region, Endpoint: srv.URL, AssumeRoleARN: ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider(CordonAccessKey, CordonSecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	client := s3.NewFromConfig(f.Config(ProdAccount, Region), func(o *s3.Options) { o.UsePathStyle = true })

	bucket, key, _ := strings.Cut(strings.TrimPrefix(MemoryToolURI, "s3://"), "/")
	obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("the responder role cannot read the tool %s: %v", MemoryToolURI, err)
	}
	body, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != MemoryToolSHA256 {
		t.Errorf("the tool at %s hashes to %x, not MemoryToolSHA256 %s", MemoryToolURI, sum, MemoryToolSHA256)
	}

	lock, err := client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(EvidenceBucket)})
	if err != nil || lock.ObjectLockConfiguration == nil || lock.ObjectLockConfiguration.ObjectLockEnabled != "Enabled" {
		t.Fatalf("bucket %s has no Object Lock the responder role can see: %+v, %v", EvidenceBucket, lock, err)
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(EvidenceBucket)}); err != nil {
		t.Errorf("HeadBucket %s: %v", EvidenceBucket, err)
	}
	values := StarterValues("http://127.0.0.1:1/hook")
	for name, want := range map[string]string{
		"evidence_bucket": EvidenceBucket, "memory_tool_s3_uri": MemoryToolURI, "memory_tool_sha256": MemoryToolSHA256,
	} {
		if v, ok := values[name]; !ok || v.AsString() != want {
			t.Errorf("StarterValues()[%q] = %#v, want %q", name, v, want)
		}
	}
}

// The demo's edit of the custody log goes around the store and its
// triggers, changes exactly one entry, leaves the triggers as they were,
// and VerifyCustody names that entry; an incident without a memory image
// is refused and left alone.
func TestTamperMemoryImage(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := state.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"inc-1", "inc-2"} {
		if err := st.PutIncident(ctx, state.Incident{ID: id, Finding: plan.FindingSummary{ID: "f-" + id}}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutEvidence(ctx, state.Evidence{IncidentID: id, Kind: "facts", Name: "triage", Data: []byte(`{"processes":[]}`)}); err != nil {
			t.Fatal(err)
		}
	}
	image := state.Evidence{IncidentID: "inc-1", Kind: "memory_image", Name: "s3://evidence/cordon/inc-1/i-1/memory.lime",
		SHA256: strings.Repeat("ab", 32), Size: 4 << 20, Meta: []byte(`{"bucket":"evidence"}`)}
	if err := st.PutEvidence(ctx, image); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Custody(ctx, "inc-1")
	st.Close()

	if _, err := tamperMemoryImage(ctx, path, "inc-2"); err == nil || !strings.Contains(err.Error(), "incident inc-2 has no memory image") {
		t.Errorf("inc-2: %v", err)
	}
	edit, err := tamperMemoryImage(ctx, path, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	if edit.Seq != 2 || edit.Name != image.Name || edit.Was != image.SHA256 || edit.Now == edit.Was || len(edit.Now) != 64 {
		t.Errorf("edit %+v", edit)
	}

	st, err = state.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct {
		id   string
		seq  int64
		kind state.CustodyProblem
	}{{"inc-1", 2, state.CustodyEdited}, {"inc-2", 0, ""}} {
		entries, evidence, err := state.ReadCustody(ctx, st, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		b := state.VerifyCustody(entries, evidence)
		switch {
		case tc.seq == 0 && b != nil:
			t.Errorf("%s: the edit reached it: %v", tc.id, b)
		case tc.seq != 0 && (b == nil || b.Seq != tc.seq || b.Problem != tc.kind || b.Name != image.Name):
			t.Errorf("%s: VerifyCustody = %v, want entry %d %s", tc.id, b, tc.seq, tc.kind)
		}
	}
	after, _ := st.Custody(ctx, "inc-1")
	for i := range before {
		changed := before[i].SHA256 != after[i].SHA256
		if changed != (before[i].Seq == 2) || before[i].Hash != after[i].Hash {
			t.Errorf("entry %d: before %+v, after %+v", before[i].Seq, before[i], after[i])
		}
	}
	// The trigger is back: the log refuses changes again.
	if _, err := tamperMemoryImageWithoutDrop(ctx, path); err == nil {
		t.Error("the custody log takes updates after the edit: its trigger was not put back")
	}
}

// tamperMemoryImageWithoutDrop updates the custody log as the store's
// triggers allow: not at all.
func tamperMemoryImageWithoutDrop(ctx context.Context, path string) (int64, error) {
	db, err := openRaw(path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	res, err := db.ExecContext(ctx, `UPDATE custody SET name = 'x'`)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func TestRunShowsCustody(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	var out bytes.Buffer
	dir := t.TempDir()
	if err := Run(context.Background(), Options{Out: &out, StateDir: dir}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"Memory acquired while planning, before anything is applied:",
		"  i-0a1b2c3d4e5f67890: s3://" + EvidenceBucket + "/cordon/inc-fa6dd59559fea244/i-0a1b2c3d4e5f67890/memory-",
		"  memory image s3://" + EvidenceBucket + "/cordon/inc-fa6dd59559fea244/",
		"(4.0 MiB)\n    SHA-256 ",
		"Chain of custody: ",
		"All 3 incidents' chains of custody verify",
		"==> Editing one evidence row behind cordon's back",
		"inc-fa6dd59559fea244   6        ",
		"BROKEN",
		"Incident inc-fa6dd59559fea244: the chain of custody breaks at entry ",
		"edited: its hash does not match its content: it was changed after it was appended.",
		"The chain of custody of 1 incident is broken.",
		filepath.Join(dir, "state.db") + " keeps the edit",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	// The hash the report shows is the image's, as the emulator's S3 holds
	// it, and the one the edit replaced.
	i := strings.Index(text, "    SHA-256 ")
	j := strings.Index(text, "  was ")
	if i < 0 || j < 0 || text[i+12:i+76] != text[j+6:j+70] {
		t.Errorf("the report's image hash is not the one the edit replaced:\n%s", text)
	}
}
