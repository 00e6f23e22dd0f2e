package memory

import (
	"strings"
	"testing"
	"time"
)

func TestCommandsRoundTrip(t *testing.T) {
	s := Settings{Mode: ModeUpload, ToolURL: "http://127.0.0.1:9/tools/avml?X-Amz-Signature=ab&x=it's", ToolSHA256: strings.Repeat("a", 64),
		Work: "/var/tmp/cordon-memory.AbCd1234", ImageSize: 4 << 30, ImageChecksum: "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
		UploadURL: "http://127.0.0.1:9/b/k?X-Amz-SignedHeaders=content-length%3Bhost", ReapAfter: 21 * time.Minute}
	for _, p := range []Platform{Linux, Windows} {
		lines, err := Commands(p, s)
		if err != nil {
			t.Fatal(err)
		}
		script := strings.Join(lines, "\n")
		gp, gs, ok := ParseSettings(script)
		if !ok || gp != p || gs != s {
			t.Errorf("%s: ParseSettings = %v %+v %v, want %+v", p, gp, gs, ok, s)
		}
		// The rest of the script is untouched.
		orig := LinuxScript
		if p == Windows {
			orig = WindowsScript
		}
		if tail := orig[strings.Index(orig, settingsEnd):]; !strings.HasSuffix(script+"\n", tail) {
			t.Errorf("%s: the script after its settings changed", p)
		}
	}
	if _, err := Commands(Linux, Settings{Mode: ModeCapture, ToolURL: "http://x/\n rm -rf /"}); err == nil {
		t.Error("a setting with a newline was written into the script")
	}
	if _, err := Commands(Windows, Settings{Mode: ModeCapture, ToolURL: "http://x/\u2019; Remove-Item"}); err == nil {
		t.Error("a setting with a typographic quote (a PowerShell quote) was written into the script")
	}
	if _, err := Commands(Linux, Settings{Mode: "format"}); err == nil {
		t.Error("an unknown mode was taken")
	}
	if _, _, ok := ParseSettings("#!/bin/sh\necho triage\n"); ok {
		t.Error("another script read as an acquisition")
	}
}

func TestPlatform(t *testing.T) {
	if Linux.Document() != "AWS-RunShellScript" || Windows.Document() != "AWS-RunPowerShellScript" ||
		Linux.Tool() != "avml" || Windows.Tool() != "winpmem" || Linux.Extension() != ".lime.compressed" || Windows.Extension() != ".raw" ||
		Linux.Compression() != CompressionSnappy || Windows.Compression() != "" {
		t.Error("platform names")
	}
}

func TestParseResult(t *testing.T) {
	sha := strings.Repeat("0f", 32)
	captured := `{"cordon_memory":1,"phase":"capture","status":"captured","work":"/var/tmp/cordon-memory.AbCd1234","image":"/var/tmp/cordon-memory.AbCd1234/memory.lime.compressed","size":1048576,"sha256":"` + sha + `","tool_sha256":"` + sha + `","mem_total":8589934592,"started_at":1,"finished_at":2,"compression":"snappy"}`
	tests := []struct {
		name, out, mode, want string
		status                string
	}{
		{"captured", "noise from the agent\n" + captured + "\n", ModeCapture, "", StatusCaptured},
		{"windows work", strings.Replace(strings.Replace(captured, `/var/tmp/cordon-memory.AbCd1234"`, `C:\\cordon-memory.ab12cd34"`, 1), `,"compression":"snappy"`, "", 1), ModeCapture, "", StatusCaptured},
		{"compressed too large", `{"cordon_memory":1,"phase":"capture","status":"too_large","size":6442450944,"mem_total":17179869184,"compression":"snappy"}`, ModeCapture, "", StatusTooLarge},
		{"memory too large", `{"cordon_memory":1,"phase":"capture","status":"too_large","mem_total":17179869184,"need":17179869184}`, ModeCapture, "", StatusTooLarge},
		{"unknown compression", strings.Replace(captured, `"compression":"snappy"`, `"compression":"zstd"`, 1), ModeCapture, `compression "zstd" is not one the scripts use`, ""},
		{"compression case", strings.Replace(captured, `"compression":"snappy"`, `"compression":"Snappy"`, 1), ModeCapture, `compression "Snappy"`, ""},
		{"compression padded", strings.Replace(captured, `"compression":"snappy"`, `"compression":"snappy "`, 1), ModeCapture, `compression "snappy"`, ""},
		{"compression not a string", strings.Replace(captured, `"compression":"snappy"`, `"compression":1`, 1), ModeCapture, "not a result", ""},
		{"compression on a failure", `{"cordon_memory":1,"phase":"capture","status":"too_large","size":6442450944,"compression":"lz4\u001b[0m"}`, ModeCapture, `compression "lz4"`, ""},
		{"last line wins", `{"cordon_memory":1,"phase":"capture","status":"not_root"}` + "\n" + captured, ModeCapture, "", StatusCaptured},
		{"uploaded", `{"cordon_memory":1,"phase":"upload","status":"uploaded","http_status":200,"size":3}`, ModeUpload, "", StatusUploaded},
		{"rejected", `{"cordon_memory":1,"phase":"upload","status":"upload_rejected","http_status":400,"s3_code":"BadDigest"}`, ModeUpload, "", StatusUploadRejected},
		{"mismatch", `{"cordon_memory":1,"phase":"capture","status":"tool_hash_mismatch","tool_sha256":"` + sha + `","pinned":"x"}`, ModeCapture, "", StatusToolHashMismatch},
		{"nothing", "Segmentation fault\n", ModeCapture, "no cordon_memory result line", ""},
		{"empty", "", ModeCapture, "no cordon_memory result line", ""},
		{"other phase", captured, ModeUpload, `phase "capture", not "upload"`, ""},
		{"status of another phase", `{"cordon_memory":1,"phase":"upload","status":"captured"}`, ModeUpload, "not one of phase upload", ""},
		{"unknown status", `{"cordon_memory":1,"phase":"capture","status":"owned"}`, ModeCapture, `unknown status "owned"`, ""},
		{"version", `{"cordon_memory":2,"phase":"capture","status":"captured"}`, ModeCapture, "result format 2", ""},
		{"not json", `{"cordon_memory":1,"phase":`, ModeCapture, "not a result", ""},
		{"trailing", `{"cordon_memory":1,"phase":"capture","status":"not_root"} {}`, ModeCapture, "data after its object", ""},
		{"wrong type", `{"cordon_memory":1,"phase":"capture","status":"captured","size":"big"}`, ModeCapture, "not a result", ""},
		{"work elsewhere", strings.ReplaceAll(captured, "/var/tmp/cordon-memory.AbCd1234", "/etc"), ModeCapture, "is not one the script makes", ""},
		{"work traversal", strings.ReplaceAll(captured, "/var/tmp/cordon-memory.AbCd1234", "/var/../cordon-memory.AbCd1234"), ModeCapture, "is not one the script makes", ""},
		{"zero size", strings.Replace(captured, `"size":1048576`, `"size":0`, 1), ModeCapture, "image size 0", ""},
		{"huge size", strings.Replace(captured, `"size":1048576`, `"size":5368709121`, 1), ModeCapture, "image size 5368709121", ""},
		{"negative", strings.Replace(captured, `"mem_total":8589934592`, `"mem_total":-1`, 1), ModeCapture, "negative", ""},
		{"bad sha", strings.Replace(captured, `"sha256":"`+sha, `"sha256":"`+strings.ToUpper(sha), 1), ModeCapture, "not 64 lower-case hex", ""},
		{"bad s3 code", `{"cordon_memory":1,"phase":"upload","status":"upload_rejected","s3_code":"<script>"}`, ModeUpload, "not an S3 error code", ""},
		{"too long", `{"cordon_memory":1,"phase":"capture","status":"not_root","message":"` + strings.Repeat("x", 5000) + `"}`, ModeCapture, "more than 4096", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseResult(tt.out, tt.mode)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status {
				t.Errorf("status %q", r.Status)
			}
		})
	}
	// Text the host made up is kept only while printable.
	r, err := ParseResult(`{"cordon_memory":1,"phase":"capture","status":"tool_failed","message":"avml: oops\u001b[31m red","exit_code":2}`, ModeCapture)
	if err != nil || r.Message != "avml: oops" || r.ExitCode != 2 {
		t.Errorf("ParseResult = %+v, %v", r, err)
	}
	// A compressed capture keeps its compression and its memory, larger
	// than the image and than MaxImage.
	r, err = ParseResult(captured, ModeCapture)
	if err != nil || r.Compression != CompressionSnappy || r.MemTotal != 8<<30 || r.Size != 1<<20 {
		t.Errorf("ParseResult = %+v, %v", r, err)
	}
}

func TestResultLine(t *testing.T) {
	for _, in := range []*Result{
		{Version: 1, Phase: ModeUpload, Status: StatusUploadRejected, HTTPStatus: 412, S3Code: "PreconditionFailed"},
		{Version: 1, Phase: ModeCapture, Status: StatusTooLarge, Size: 6 << 30, MemTotal: 16 << 30, Compression: CompressionSnappy},
	} {
		out, err := ParseResult("x\n"+in.Line(), in.Phase)
		if err != nil || *out != *in {
			t.Errorf("round trip: %+v, %v", out, err)
		}
	}
}

// FuzzParseResult checks that no output makes the parser panic, and that
// what it accepts holds the invariants the collector relies on.
func FuzzParseResult(f *testing.F) {
	sha := strings.Repeat("ab", 32)
	f.Add(`{"cordon_memory":1,"phase":"capture","status":"captured","work":"/tmp/cordon-memory.AAAAAAAA","size":5,"sha256":"`+sha+`","tool_sha256":"`+sha+`"}`, ModeCapture)
	f.Add(`{"cordon_memory":1,"phase":"capture","status":"captured","work":"/tmp/cordon-memory.AAAAAAAA","size":5,"sha256":"`+sha+`","tool_sha256":"`+sha+`","mem_total":8589934592,"compression":"snappy"}`, ModeCapture)
	f.Add(`{"cordon_memory":1,"phase":"capture","status":"too_large","size":6442450944,"compression":"snappy"}`, ModeCapture)
	f.Add(`{"cordon_memory":1,"phase":"upload","status":"upload_rejected","http_status":400,"s3_code":"BadDigest"}`, ModeUpload)
	f.Add("garbage\n{\"cordon_memory\":1}\n", ModeCleanup)
	f.Fuzz(func(t *testing.T, out, mode string) {
		r, err := ParseResult(out, mode)
		if err != nil {
			return
		}
		if r.Version != 1 || r.Phase != mode {
			t.Fatalf("accepted %+v for mode %q", r, mode)
		}
		if r.Status == StatusCaptured {
			if r.Size <= 0 || r.Size > MaxImage || !sha256RE.MatchString(r.SHA256) || strings.Contains(r.Work, "..") && strings.Contains(r.Work, "/../") {
				t.Fatalf("accepted capture %+v", r)
			}
		}
		if r.Compression != "" && r.Compression != CompressionSnappy {
			t.Fatalf("accepted compression %q", r.Compression)
		}
		for _, s := range []string{r.Message, r.Dir, r.Missing} {
			if printable(s) != s {
				t.Fatalf("kept unprintable text %q", s)
			}
		}
	})
}
