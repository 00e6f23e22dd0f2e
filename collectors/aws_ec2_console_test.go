package collectors

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsemu"
)

// seedInstance returns the seed's instance id (prod, us-east-1) for
// changing it.
func seedInstance(s *awsemu.Seed, id string) *awsemu.SeedInstance {
	ins := s.Accounts[1].Regions["us-east-1"].Instances
	for i := range ins {
		if ins[i].ID == id {
			return &ins[i]
		}
	}
	panic("no instance " + id + " in the fleet")
}

func withConsole(id, output string) func(*awsemu.Seed) {
	return func(s *awsemu.Seed) { seedInstance(s, id).ConsoleOutput = &output }
}

func TestEC2ConsoleFacts(t *testing.T) {
	long := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", 1100) // 70,400 bytes
	tests := []struct {
		name   string
		id     string
		attrs  map[string]cty.Value
		change func(*awsemu.Seed)
		// output is the expected output; "" means the seed's, unchanged.
		output    string
		truncated bool
		// shotError is a substring of screenshot_error; "" means a
		// screenshot is kept.
		shotError string
		noShot    bool // screenshot = false: none taken at all
	}{
		{name: "running: output and screenshot", id: web1},
		{name: "screenshot turned off", id: web1, attrs: map[string]cty.Value{"screenshot": cty.False}, noShot: true},
		{name: "screenshot turned on", id: web2, attrs: map[string]cty.Value{"screenshot": cty.True}},
		{name: "stopped: output only", id: batch1, shotError: "IncorrectInstanceState"},
		{name: "bare metal: output only", id: web1, change: func(s *awsemu.Seed) { seedInstance(s, web1).Type = "c5.metal" },
			shotError: "UnsupportedOperation"},
		{name: "screenshot not an image", id: web1,
			change: func(s *awsemu.Seed) {
				seedInstance(s, web1).ScreenshotPNG = base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\nnot really"))
			},
			shotError: "corrupt PNG image"},
		{name: "nothing written yet", id: web1, change: withConsole(web1, ""), output: "\x00"},
		{name: "hostile output made safe", id: web1,
			change:    withConsole(web1, "\x1b[0;32m  OK  \x1b[0m] Started\r\nbad \xff\xfe utf8\x00\x00 and\x07 bell\tTab\n\xc2\x85C1"),
			output:    "  OK  ] Started\nbad \uFFFD\uFFFD utf8 and bell\tTab\nC1",
			shotError: ""},
		{name: "longer than EC2 serves: its last 64 KiB, truncated", id: web1, change: withConsole(web1, long),
			output: long[len(long)-64<<10:], truncated: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnvSeed(t, tc.change)
			c := newCollector(t, "aws_ec2_console", tc.attrs)
			facts, err := c.Collect(context.Background(), te.request(tc.id))
			if err != nil {
				t.Fatal(err)
			}
			inst := te.emu.Snapshot().Accounts[prodAccount].Regions[region].Instances[tc.id]
			want := tc.output
			switch want {
			case "":
				want = inst.ConsoleOutput
			case "\x00":
				want = ""
			}
			if facts["output"] != want {
				t.Errorf("output = %q\nwant %q", facts["output"], want)
			}
			if facts["output_truncated"] != tc.truncated {
				t.Errorf("output_truncated = %v, want %v", facts["output_truncated"], tc.truncated)
			}
			kept := te.artefacts()
			switch {
			case tc.noShot:
				for _, k := range []string{"screenshot_sha256", "screenshot_bytes", "screenshot_error"} {
					if _, ok := facts[k]; ok {
						t.Errorf("%s with screenshot = false", k)
					}
				}
				if slices.Contains(te.actionsCalled(), "ec2:GetConsoleScreenshot") {
					t.Error("GetConsoleScreenshot called with screenshot = false")
				}
			case tc.shotError != "":
				msg, _ := facts["screenshot_error"].(string)
				if !strings.Contains(msg, tc.shotError) {
					t.Errorf("screenshot_error = %q, want it to say %q", msg, tc.shotError)
				}
				if len(kept) != 0 {
					t.Errorf("kept %d artefacts without a screenshot", len(kept))
				}
			default:
				sum := sha256.Sum256(inst.Screenshot)
				digest := hex.EncodeToString(sum[:])
				if facts["screenshot_sha256"] != digest || facts["screenshot_bytes"] != len(inst.Screenshot) {
					t.Errorf("screenshot facts %v, %v; want %s, %d", facts["screenshot_sha256"], facts["screenshot_bytes"], digest, len(inst.Screenshot))
				}
				if len(kept) != 1 {
					t.Fatalf("kept %d artefacts, want the screenshot", len(kept))
				}
				a := kept[0]
				wantMeta := map[string]any{"instance_id": tc.id, "sha256": digest, "content_type": "image/png"}
				if a.Kind != "screenshot" || a.Name != "console.png" || !bytes.Equal(a.Data, inst.Screenshot) || !jsonEqual(t, a.Meta, wantMeta) {
					t.Errorf("artefact %s %s (%d bytes) %v; want the screenshot as console.png with %v", a.Kind, a.Name, len(a.Data), a.Meta, wantMeta)
				}
				if _, err := png.Decode(bytes.NewReader(a.Data)); err != nil {
					t.Errorf("kept screenshot does not decode: %v", err)
				}
			}
			checkFactsSchema(t, "aws_ec2_console", facts)
			checkPermissions(t, c, te.actionsCalled())
		})
	}
}

func TestEC2ConsoleErrors(t *testing.T) {
	tests := []struct {
		name   string
		id     string
		noAWS  bool
		faults func(*awsemu.Faults)
		ctx    time.Duration
		want   []string
		code   string
	}{
		{name: "no AWS access", id: web1, noAWS: true, want: []string{"aws_ec2_console needs AWS access"}},
		{name: "unknown instance", id: "i-0fffffffffffffff0", want: []string{"instance i-0fffffffffffffff0 does not exist", "111122223333"}},
		{name: "not allowed to read the console", id: web1, faults: func(f *awsemu.Faults) {
			f.Fail("ec2:GetConsoleOutput", web1, "UnauthorizedOperation", "You are not authorized to perform this operation.")
		}, want: []string{"reading the console output of " + web1}, code: "UnauthorizedOperation"},
		{name: "deadline", id: web1, faults: func(f *awsemu.Faults) { f.Latency("ec2:GetConsoleOutput", time.Minute) },
			ctx: 100 * time.Millisecond, want: []string{"reading the console output of " + web1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			if tc.faults != nil {
				tc.faults(te.emu.Faults())
			}
			req := te.request(tc.id)
			if tc.noAWS {
				req.AWS = nil
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.ctx > 0 {
				ctx, cancel = context.WithTimeout(context.Background(), tc.ctx)
			}
			defer cancel()
			facts, err := newCollector(t, "aws_ec2_console", nil).Collect(ctx, req)
			if err == nil {
				t.Fatalf("no error; facts %v", facts)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.code != "" && ec2ErrorCode(err) != tc.code {
				t.Errorf("error code %q, want %q", ec2ErrorCode(err), tc.code)
			}
			if tc.ctx > 0 && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v is not the deadline", err)
			}
			if len(te.artefacts()) != 0 {
				t.Error("a failed collector kept artefacts")
			}
		})
	}
}

// TestEC2ConsoleScreenshotFails: a screenshot denied, or timing out after
// the output was read, leaves the output as facts.
func TestEC2ConsoleScreenshotFails(t *testing.T) {
	for name, fault := range map[string]func(*awsemu.Faults){
		"denied": func(f *awsemu.Faults) {
			f.Fail("ec2:GetConsoleScreenshot", "*", "UnauthorizedOperation", "not authorized")
		},
		"5xx":      func(f *awsemu.Faults) { f.ServerError("ec2:GetConsoleScreenshot", -1) },
		"too slow": func(f *awsemu.Faults) { f.Latency("ec2:GetConsoleScreenshot", time.Minute) },
		"throttled": func(f *awsemu.Faults) {
			f.Throttle("ec2:GetConsoleScreenshot", 1)
			f.Throttle("ec2:GetConsoleOutput", 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			te := newTestEnv(t)
			fault(te.emu.Faults())
			ctx, cancel := context.WithCancel(context.Background())
			if name == "too slow" {
				ctx, cancel = context.WithTimeout(context.Background(), time.Second)
			}
			defer cancel()
			facts, err := newCollector(t, "aws_ec2_console", nil).Collect(ctx, te.request(web1))
			if err != nil {
				t.Fatal(err)
			}
			if out, _ := facts["output"].(string); !strings.Contains(out, "login:") {
				t.Errorf("output %q", out)
			}
			_, failed := facts["screenshot_error"]
			if failed != (name != "throttled") {
				t.Errorf("screenshot_error = %v", facts["screenshot_error"])
			}
			checkFactsSchema(t, "aws_ec2_console", facts)
		})
	}
}

func TestConsoleText(t *testing.T) {
	tests := []struct {
		name, raw string
		max       int
		want      string
		truncated bool
	}{
		{name: "plain", raw: "a\nb\tc\n", max: 100, want: "a\nb\tc\n"},
		{name: "CRLF and NULs", raw: "a\r\n\x00b\x00", max: 100, want: "a\nb"},
		{name: "colours and cursor moves", raw: "\x1b[1;31mred\x1b[0m \x1b[2Kline\x1b[?25h", max: 100, want: "red line"},
		{name: "escape at the end", raw: "x\x1b", max: 100, want: "x"},
		{name: "unfinished CSI", raw: "x\x1b[12", max: 100, want: "x"},
		{name: "invalid UTF-8", raw: "caf\xe9 \xed\xa0\x80", max: 100, want: "caf\uFFFD \uFFFD\uFFFD\uFFFD"},
		{name: "valid UTF-8 kept", raw: "Grüße 日本 🙂", max: 100, want: "Grüße 日本 🙂"},
		{name: "C1 controls", raw: "a\u0085b\u009bc", max: 100, want: "abc"},
		{name: "cut at a line start", raw: "first line\nsecond\nthird\n", max: 12, want: "third\n", truncated: true},
		{name: "cut inside a rune", raw: "ab\n日本語", max: 7, want: "本語", truncated: true},
		{name: "no newline near", raw: strings.Repeat("x", 3000), max: 2000, want: strings.Repeat("x", 2000), truncated: true},
		{name: "64 KiB from EC2 is its tail", raw: strings.Repeat("y", consoleOutputMax), max: consoleOutputMax,
			want: strings.Repeat("y", consoleOutputMax), truncated: true},
		{name: "empty", raw: "", max: 10, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, truncated := consoleText([]byte(tc.raw), tc.max)
			if got != tc.want || truncated != tc.truncated {
				t.Errorf("consoleText(%q, %d) = %q, %v; want %q, %v", tc.raw, tc.max, got, truncated, tc.want, tc.truncated)
			}
		})
	}
}

func FuzzConsoleText(f *testing.F) {
	for _, s := range []string{"", "a\r\n", "\x1b[31mx\x1b[0m", "\xff\xfe\x00", "日本\n語", "\x1b[", "\u0085"} {
		f.Add([]byte(s), 8)
	}
	f.Fuzz(func(t *testing.T, raw []byte, max int) {
		if max < 4 || max > 1<<20 {
			return
		}
		got, _ := consoleText(raw, max)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8: %q", got)
		}
		if len(got) > max {
			t.Fatalf("%d bytes kept, max %d", len(got), max)
		}
		for _, r := range got {
			if (r < 0x20 && r != '\t' && r != '\n') || r == 0x7f || r == 0x1b || (r >= 0x80 && r <= 0x9f) {
				t.Fatalf("control character %U kept in %q", r, got)
			}
		}
	})
}

func TestScreenshotFormat(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	img.Set(1, 1, color.White)
	var pngBuf, jpegBuf bytes.Buffer
	if err := png.Encode(&pngBuf, img); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jpegBuf, img, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		want    string
		wantErr string
	}{
		{name: "PNG", data: pngBuf.Bytes(), want: "png"},
		{name: "JPEG, as EC2 documents", data: jpegBuf.Bytes(), want: "jpeg"},
		{name: "empty", data: nil, wantErr: "empty image"},
		{name: "text", data: []byte("<html>"), wantErr: "not a PNG or JPEG image"},
		{name: "GIF", data: []byte("GIF89a\x01\x00\x01\x00"), wantErr: "not a PNG or JPEG image"},
		{name: "PNG magic only", data: pngBuf.Bytes()[:8], wantErr: "corrupt PNG image"},
		{name: "cut JPEG", data: jpegBuf.Bytes()[:4], wantErr: "corrupt JPEG image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := screenshotFormat(tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("screenshotFormat = %q, %v; want an error saying %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("screenshotFormat = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestEC2ConsolePermissions(t *testing.T) {
	for _, tc := range []struct {
		attrs map[string]cty.Value
		want  []string
	}{
		{nil, []string{"ec2:GetConsoleOutput", "ec2:GetConsoleScreenshot"}},
		{map[string]cty.Value{"screenshot": cty.True}, []string{"ec2:GetConsoleOutput", "ec2:GetConsoleScreenshot"}},
		{map[string]cty.Value{"screenshot": cty.False}, []string{"ec2:GetConsoleOutput"}},
	} {
		got := newCollector(t, "aws_ec2_console", tc.attrs).(interface{ Permissions() []string }).Permissions()
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: Permissions() = %v, want %v", tc.attrs, got, tc.want)
		}
	}
}

// BenchmarkConsoleText sanitizes a full console (64 KiB of boot log with
// colour codes and CRLFs), what every aws_ec2_console run does.
func BenchmarkConsoleText(b *testing.B) {
	line := "[  \x1b[0;32mOK\x1b[0m  ] Started cloud-init.service - Cloud-init: Network Stage. \xe2\x9c\x93\r\n"
	raw := []byte(strings.Repeat(line, consoleOutputMax/len(line)+1)[:consoleOutputMax])
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		consoleText(raw, consoleOutputMax)
	}
}
