package memory_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cordonhq/cordon/collectors/memory"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
)

// The script tests run acquire.sh itself, with bash and dash, against the
// emulator's S3 over HTTP: the tool is a shell script pinned by its
// SHA-256, the URLs are presigned by the SDK, and curl does the rest.

const (
	account = "111122223333"
	userKey = "AKIAEMUTESTER0000001"
	bucket  = "cordon-evidence-test"
)

type scriptEnv struct {
	t      *testing.T
	shell  string
	srv    *httptest.Server
	emu    *awsemu.Emulator
	s3     *s3.Client
	dir    string // WORK_PARENTS, the only place the script may write
	marker string // the tool creates it when it runs
	tool   []byte
	memKB  int64 // the MemTotal of the test's meminfo
}

func newScriptEnv(t *testing.T, shell string) *scriptEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the acquisition script runs as root")
	}
	for _, c := range []string{"curl", "sha256sum"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("no %s", c)
		}
	}
	base := t.TempDir()
	e := &scriptEnv{t: t, shell: shell, dir: filepath.Join(base, "disk"), marker: filepath.Join(base, "tool-ran"), memKB: 4096}
	if err := os.Mkdir(e.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// The "tool": called as AVML is, with --compress and the image's
	// path, it writes 3 MB of a repeated pattern (an image that compresses
	// from the 4 MiB of memory the test's meminfo reports).
	e.tool = []byte("#!/bin/sh\ntouch '" + e.marker + "'\n[ \"$#\" = 2 ] && [ \"$1\" = --compress ] || { echo \"avml: usage: avml --compress FILE, not $*\" >&2; exit 2; }\n" +
		"yes cordon-memory-image | head -c 3000000 > \"$2\"\n")
	seed := &awsemu.Seed{Accounts: []awsemu.SeedAccount{{ID: account,
		Users: []awsemu.SeedUser{{Name: "tester", AccessKeys: []awsemu.SeedAccessKey{{ID: userKey}}}},
		Regions: map[string]awsemu.SeedRegion{"us-east-1": {S3Buckets: []awsemu.SeedBucket{{Name: bucket, Objects: []awsemu.SeedObject{
			{Key: "tools/avml", Content: string(e.tool)}}}}}}}}}
	if err := seed.Validate(); err != nil {
		t.Fatal(err)
	}
	e.emu = awsemu.New(seed)
	e.srv = httptest.NewServer(e.emu)
	t.Cleanup(e.srv.Close)
	e.s3 = s3.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(e.srv.URL), HTTPClient: awsclient.HTTPClient(nil),
		Credentials: credentials.NewStaticCredentialsProvider(userKey, "secret", "")}, func(o *s3.Options) { o.UsePathStyle = true })
	return e
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// run runs the script with settings s, and with its lines whose prefixes
// are the keys of edits replaced (the test's paths and bounds).
func (e *scriptEnv) run(s memory.Settings, edits map[string]string) *memory.Result {
	e.t.Helper()
	lines, err := memory.Commands(memory.Linux, s)
	if err != nil {
		e.t.Fatal(err)
	}
	meminfo := filepath.Join(filepath.Dir(e.dir), "meminfo")
	if err := os.WriteFile(meminfo, []byte(fmt.Sprintf("MemTotal:       %8d kB\nMemFree:    1024 kB\n", e.memKB)), 0o600); err != nil {
		e.t.Fatal(err)
	}
	all := map[string]string{"WORK_PARENTS=": "WORK_PARENTS='" + e.dir + "'", "MEMINFO=": "MEMINFO='" + meminfo + "'"}
	for k, v := range edits {
		all[k] = v
	}
	for i, l := range lines {
		for prefix, repl := range all {
			if strings.HasPrefix(l, prefix) {
				lines[i] = repl
			}
		}
	}
	file := filepath.Join(filepath.Dir(e.dir), "script.sh")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o700); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, e.shell, file).Output()
	res, perr := memory.ParseResult(string(out), s.Mode)
	if perr != nil {
		e.t.Fatalf("%s: output %q (%v): %v", s.Mode, out, err, perr)
	}
	ok := res.Status == memory.StatusCaptured || res.Status == memory.StatusUploaded || res.Status == memory.StatusCleaned
	if (err == nil) != ok {
		e.t.Errorf("status %s, exit %v", res.Status, err)
	}
	return res
}

func (e *scriptEnv) toolURL() string {
	e.t.Helper()
	req, err := s3.NewPresignClient(e.s3).PresignGetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("tools/avml")},
		s3.WithPresignExpires(10*time.Minute))
	if err != nil {
		e.t.Fatal(err)
	}
	return req.URL
}

// uploadSettings presigns the upload of what was captured, as the
// collector does.
func (e *scriptEnv) uploadSettings(r *memory.Result, key string) memory.Settings {
	e.t.Helper()
	raw, _ := hex.DecodeString(r.SHA256)
	sum := base64.StdEncoding.EncodeToString(raw)
	p := s3.NewPresignClient(e.s3, func(o *s3.PresignOptions) {
		o.Presigner = v4.NewSigner(func(so *v4.SignerOptions) { so.DisableHeaderHoisting = true })
	})
	req, err := p.PresignPutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		ContentLength: aws.Int64(r.Size), ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256, ChecksumSHA256: aws.String(sum), IfNoneMatch: aws.String("*")},
		s3.WithPresignExpires(10*time.Minute))
	if err != nil {
		e.t.Fatal(err)
	}
	return memory.Settings{Mode: memory.ModeUpload, Work: r.Work, ImageSize: r.Size, ImageChecksum: sum, UploadURL: req.URL}
}

func (e *scriptEnv) capture(edits map[string]string) *memory.Result {
	// The reaper outlives the test by at most its delay.
	return e.run(memory.Settings{Mode: memory.ModeCapture, ToolURL: e.toolURL(), ToolSHA256: hexSHA(e.tool), ReapAfter: 20 * time.Second}, edits)
}

// workDirs lists the work directories left in the test's disk.
func (e *scriptEnv) workDirs() []string {
	m, _ := filepath.Glob(filepath.Join(e.dir, "cordon-memory.*"))
	return m
}

func shells(t *testing.T) []string {
	var out []string
	for _, s := range []string{"bash", "dash"} {
		if p, err := exec.LookPath(s); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Skip("no bash or dash")
	}
	return out
}

func TestScriptAcquires(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(filepath.Base(sh), func(t *testing.T) {
			e := newScriptEnv(t, sh)
			r := e.capture(nil)
			if r.Status != memory.StatusCaptured || r.Size != 3000000 || r.ToolSHA256 != hexSHA(e.tool) || r.MemTotal != 4096<<10 ||
				!strings.HasPrefix(r.Work, e.dir+"/cordon-memory.") || r.Image != r.Work+"/memory.lime.compressed" || r.Compression != memory.CompressionSnappy {
				t.Fatalf("capture %+v", r)
			}
			img, err := os.ReadFile(r.Image)
			if err != nil || hexSHA(img) != r.SHA256 {
				t.Fatalf("the image on disk is not the one reported (%v)", err)
			}
			if info, _ := os.Stat(r.Work); info.Mode().Perm() != 0o700 {
				t.Errorf("work directory mode %v", info.Mode().Perm())
			}
			if _, err := os.Stat(r.Work + "/tool"); !os.IsNotExist(err) {
				t.Error("the tool binary was left behind")
			}
			up := e.run(e.uploadSettings(r, "memory/inc/i-1/memory.lime.compressed"), nil)
			if up.Status != memory.StatusUploaded || up.HTTPStatus != 200 {
				t.Fatalf("upload %+v", up)
			}
			obj, ok := e.emu.S3Object(bucket, "memory/inc/i-1/memory.lime.compressed")
			if !ok || obj.SHA256 != r.SHA256 || obj.Size != r.Size || obj.ChecksumAlgorithm != "SHA256" {
				t.Errorf("stored %+v", obj)
			}
			if left := e.workDirs(); len(left) != 0 {
				t.Errorf("work directories left: %v", left)
			}
		})
	}
}

// TestScriptSinglePUTLimit checks the limit on one PUT bounds the
// compressed image, after capture, not the memory: a memory over it whose
// image compresses within it is acquired and uploaded, and an image still
// over it fails saying how large it is and leaves nothing behind. (The
// limit is lowered to the test's sizes.)
func TestScriptSinglePUTLimit(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(filepath.Base(sh), func(t *testing.T) {
			e := newScriptEnv(t, sh)
			// 4 MiB of memory, a limit of 3.5 MB, a 3 MB image.
			r := e.capture(map[string]string{"MAX_IMAGE=": "MAX_IMAGE=3500000"})
			if r.Status != memory.StatusCaptured || r.MemTotal != 4096<<10 || r.Size != 3000000 || r.Compression != memory.CompressionSnappy {
				t.Fatalf("capture %+v", r)
			}
			up := e.run(e.uploadSettings(r, "memory/inc/i-1/big.lime.compressed"), nil)
			if up.Status != memory.StatusUploaded {
				t.Fatalf("upload %+v", up)
			}
			if obj, ok := e.emu.S3Object(bucket, "memory/inc/i-1/big.lime.compressed"); !ok || obj.SHA256 != r.SHA256 || obj.Size != 3000000 {
				t.Errorf("stored %+v", obj)
			}

			e = newScriptEnv(t, sh)
			r = e.capture(map[string]string{"MAX_IMAGE=": "MAX_IMAGE=2999999"})
			if r.Status != memory.StatusTooLarge || r.Size != 3000000 || r.MemTotal != 4096<<10 || r.Compression != memory.CompressionSnappy ||
				r.SHA256 != "" || r.Work != "" {
				t.Errorf("result %+v", r)
			}
			if _, err := os.Stat(e.marker); err != nil {
				t.Error("the limit was checked before the tool ran: only the compressed image tells")
			}
			if left := e.workDirs(); len(left) != 0 {
				t.Errorf("an image over the limit was left behind: %v", left)
			}
		})
	}
}

func TestScriptRefuses(t *testing.T) {
	sh := shells(t)[0]
	t.Run("tool hash mismatch", func(t *testing.T) {
		e := newScriptEnv(t, sh)
		pinned := strings.Repeat("0", 64)
		r := e.run(memory.Settings{Mode: memory.ModeCapture, ToolURL: e.toolURL(), ToolSHA256: pinned, ReapAfter: 20 * time.Second}, nil)
		if r.Status != memory.StatusToolHashMismatch || r.ToolSHA256 != hexSHA(e.tool) || r.Pinned != pinned {
			t.Errorf("result %+v", r)
		}
		if _, err := os.Stat(e.marker); !os.IsNotExist(err) {
			t.Error("the tool ran although its SHA-256 was not the pinned one")
		}
		if left := e.workDirs(); len(left) != 0 {
			t.Errorf("work directories left: %v", left)
		}
	})
	t.Run("not enough disk", func(t *testing.T) {
		e := newScriptEnv(t, sh)
		r := e.capture(map[string]string{"MARGIN=": "MARGIN=1000000000000000"})
		if r.Status != memory.StatusInsufficientSpace || r.Need < 1000000000000000 || r.Free <= 0 || r.Dir != e.dir || r.MemTotal != 4096<<10 {
			t.Errorf("result %+v", r)
		}
		if _, err := os.Stat(e.marker); !os.IsNotExist(err) {
			t.Error("the tool ran without room for the image")
		}
	})
	t.Run("memory-backed file system", func(t *testing.T) {
		out, err := exec.Command("stat", "-f", "-c", "%T", "/dev/shm").Output()
		if err != nil || strings.TrimSpace(string(out)) != "tmpfs" {
			t.Skip("/dev/shm is not a tmpfs here")
		}
		e := newScriptEnv(t, sh)
		r := e.capture(map[string]string{"WORK_PARENTS=": "WORK_PARENTS='/dev/shm'"})
		if r.Status != memory.StatusInsufficientSpace || r.Dir != "" {
			t.Errorf("a tmpfs was used: %+v", r)
		}
	})
	t.Run("too large", func(t *testing.T) {
		e := newScriptEnv(t, sh)
		r := e.capture(map[string]string{"MAX_IMAGE=": "MAX_IMAGE=1024"})
		if r.Status != memory.StatusTooLarge || r.MemTotal != 4096<<10 || r.Size != 3000000 || r.Compression != memory.CompressionSnappy {
			t.Errorf("result %+v", r)
		}
	})
	t.Run("memory over the limit, no disk for it", func(t *testing.T) {
		// A memory over the limit is not refused for its size (its image
		// may compress), but the disk must hold an image that does not:
		// 1 PiB of memory needs more than any disk here.
		e := newScriptEnv(t, sh)
		e.memKB = 1 << 40
		r := e.capture(nil)
		if r.Status != memory.StatusInsufficientSpace || r.MemTotal != 1<<50 || r.Need != 1<<50+1<<50/20+256<<20 || r.Free <= 0 {
			t.Errorf("result %+v", r)
		}
		if _, err := os.Stat(e.marker); !os.IsNotExist(err) {
			t.Error("the tool ran without room for the image")
		}
	})
	t.Run("tool without --compress", func(t *testing.T) {
		// A tool that cannot compress (not AVML) fails the capture rather
		// than writing an image the key would misname.
		e := newScriptEnv(t, sh)
		r := e.run(memory.Settings{Mode: memory.ModeCapture, ToolURL: e.toolURL(), ToolSHA256: hexSHA(e.tool), ReapAfter: 20 * time.Second},
			map[string]string{"\t\"$tool\" --compress": "\t\"$tool\" \"$image\" >\"$WORK/tool.out\" 2>&1"})
		if r.Status != memory.StatusToolFailed || r.ExitCode != 2 || !strings.Contains(r.Message, "avml: usage: avml --compress FILE") {
			t.Errorf("result %+v", r)
		}
		if left := e.workDirs(); len(left) != 0 {
			t.Errorf("work directories left: %v", left)
		}
	})
	t.Run("image changed before upload", func(t *testing.T) {
		e := newScriptEnv(t, sh)
		r := e.capture(nil)
		img, _ := os.ReadFile(r.Image)
		img[len(img)/2] ^= 0xff
		if err := os.WriteFile(r.Image, img, 0o600); err != nil {
			t.Fatal(err)
		}
		up := e.run(e.uploadSettings(r, "k"), nil)
		if up.Status != memory.StatusUploadRejected || up.HTTPStatus != 400 || up.S3Code != "BadDigest" {
			t.Errorf("upload %+v", up)
		}
		if _, ok := e.emu.S3Object(bucket, "k"); ok {
			t.Error("S3 stored bytes that do not match their checksum")
		}
		if left := e.workDirs(); len(left) != 0 {
			t.Errorf("a rejected upload left %v", left)
		}
	})
	t.Run("cleanup", func(t *testing.T) {
		e := newScriptEnv(t, sh)
		r := e.capture(nil)
		if c := e.run(memory.Settings{Mode: memory.ModeCleanup, Work: r.Work}, nil); c.Status != memory.StatusCleaned || len(e.workDirs()) != 0 {
			t.Errorf("cleanup %+v left %v", c, e.workDirs())
		}
		// Only a work directory is ever removed.
		if c := e.run(memory.Settings{Mode: memory.ModeCleanup, Work: e.dir}, nil); c.Status != memory.StatusCleaned {
			t.Errorf("cleanup %+v", c)
		}
		if _, err := os.Stat(e.dir); err != nil {
			t.Errorf("cleanup removed %s", e.dir)
		}
	})
	t.Run("reaper", func(t *testing.T) {
		e := newScriptEnv(t, sh)
		r := e.run(memory.Settings{Mode: memory.ModeCapture, ToolURL: e.toolURL(), ToolSHA256: hexSHA(e.tool), ReapAfter: time.Second}, nil)
		if r.Status != memory.StatusCaptured {
			t.Fatalf("capture %+v", r)
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(e.workDirs()) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if left := e.workDirs(); len(left) != 0 {
			t.Errorf("the reaper left %v", left)
		}
	})
}

// TestScriptShellcheck keeps the script clean for every shell it runs on.
func TestScriptShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("no shellcheck")
	}
	for _, dialect := range []string{"sh", "dash", "bash"} {
		if out, err := exec.Command(sc, "-s", dialect, "acquire.sh").CombinedOutput(); err != nil {
			t.Errorf("shellcheck -s %s: %v\n%s", dialect, err, out)
		}
	}
}
