// Package memory is the host side of the aws_ssm_memory collector: the
// acquisition scripts cordon runs on an instance by SSM Run Command
// (acquire.sh with AVML on Linux, acquire.ps1 with WinPmem on Windows),
// the settings that Commands writes into them, and the parser of the one
// line of JSON they print (ParseResult).
//
// # Why three commands
//
// The image's SHA-256 exists only once the image does, and S3 enforces a
// checksum on an upload by a presigned URL only if the URL signed it: S3
// refuses a presigned request carrying an x-amz-* header it did not sign
// (AccessDenied, "There were headers present in the request which were not
// signed"), and the SDK, asked to presign a PutObject with
// ChecksumAlgorithm and no value, signs the checksum of an empty body. So
// the acquisition is a capture command, which prints the image's size and
// SHA-256; then cordon presigns a PUT binding them; then an upload command
// sends the image with exactly the headers signed; and a cleanup command
// when cordon gives up between the two. The image waits in a private work
// directory on a disk of the host, which the scripts delete after the
// upload, on any failure, and (a detached reaper) a while after capture.
//
// # Compression and S3's 5 GiB
//
// One presigned PUT carries the image, so that S3 itself checks its
// SHA-256, and one PUT carries at most 5 GiB (MaxImage). acquire.sh runs
// AVML with --compress, always, and checks the compressed image against
// the limit once it exists: most memory compresses well, so instances
// with far more than 5 GiB are acquired, and one whose image is still too
// large fails saying how large it is. WinPmem does not compress, so
// acquire.ps1 refuses a memory over the limit before capturing.
//
// # The result line
//
// Each run prints {"cordon_memory":1,"phase":"capture","status":"captured",
// …} on one line (Result documents the fields). Output is untrusted, as
// the host is compromised: ParseResult takes the last such line, checks
// every field it uses by its shape, and never takes a path, a digest or a
// size it cannot vouch for.
package memory

import (
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The scripts, with their default settings.
var (
	//go:embed acquire.sh
	LinuxScript string
	//go:embed acquire.ps1
	WindowsScript string
)

// Platform is an instance's platform as SSM names it (PlatformType).
type Platform string

const (
	Linux   Platform = "Linux"
	Windows Platform = "Windows"
)

// Document is the SSM document that runs the platform's script.
func (p Platform) Document() string {
	if p == Windows {
		return "AWS-RunPowerShellScript"
	}
	return "AWS-RunShellScript"
}

// Tool is the acquisition tool the platform's script runs.
func (p Platform) Tool() string {
	if p == Windows {
		return "winpmem"
	}
	return "avml"
}

// Extension is the file name extension of the platform's images: AVML
// writes LiME compressed with snappy (--compress), which its README names
// .lime.compressed; WinPmem a raw image.
func (p Platform) Extension() string {
	if p == Windows {
		return ".raw"
	}
	return ".lime.compressed"
}

// CompressionSnappy is how AVML compresses with --compress: each memory
// range in a LiME header of version 2, its pages in snappy's framing
// format. avml-convert turns such an image back into plain LiME, and
// Volatility 3 reads it as it is.
const CompressionSnappy = "snappy"

// Compression is how the platform's script compresses its images: always
// with snappy on Linux (acquire.sh says why), never on Windows, as
// WinPmem does not compress.
func (p Platform) Compression() string {
	if p == Windows {
		return ""
	}
	return CompressionSnappy
}

// Modes of a run.
const (
	ModeCapture = "capture"
	ModeUpload  = "upload"
	ModeCleanup = "cleanup"
)

// MaxImage is the largest image the scripts upload: S3's limit for one
// PUT. On Linux it bounds the compressed image, checked after capture,
// so an instance with more memory is acquired when its image compresses
// within it; on Windows (WinPmem does not compress) it bounds the memory,
// checked before capture.
const MaxImage = 5 << 30

// Settings are what the collector sets in a script.
type Settings struct {
	Mode string
	// ToolURL is a presigned GET URL of the tool; ToolSHA256 its pinned
	// hex SHA-256 (capture).
	ToolURL, ToolSHA256 string
	// Work is the work directory capture reported (upload, cleanup).
	Work string
	// ImageSize and ImageChecksum are the size capture reported and the
	// base64 SHA-256 the upload URL signed (upload).
	ImageSize     int64
	ImageChecksum string
	UploadURL     string
	// ReapAfter is when the host deletes the work directory after
	// capture, whatever becomes of cordon.
	ReapAfter time.Duration
}

// settingNames are the scripts' names of each setting, in order.
var settingNames = []struct{ sh, ps string }{
	{"MODE", "Mode"}, {"TOOL_URL", "ToolUrl"}, {"TOOL_SHA256", "ToolSha256"}, {"WORK", "Work"},
	{"IMAGE_SIZE", "ImageSize"}, {"IMAGE_CHECKSUM", "ImageChecksum"}, {"UPLOAD_URL", "UploadUrl"}, {"REAP_AFTER", "ReapAfter"},
}

func (s Settings) values() []string {
	return []string{s.Mode, s.ToolURL, s.ToolSHA256, s.Work, strconv.FormatInt(s.ImageSize, 10), s.ImageChecksum, s.UploadURL,
		strconv.Itoa(int(s.ReapAfter / time.Second))}
}

const (
	settingsStart = "# --- settings (the collector sets these) ---\n"
	settingsEnd   = "# --- end of settings ---\n"
)

// Commands returns the platform's script with the settings, as the lines
// the "commands" parameter of its SSM document takes (the agent joins them
// with newlines). Every value must be printable ASCII: a URL, a digest, a
// path the capture reported.
func Commands(p Platform, s Settings) ([]string, error) {
	script := LinuxScript
	if p == Windows {
		script = WindowsScript
	}
	switch s.Mode {
	case ModeCapture, ModeUpload, ModeCleanup:
	default:
		return nil, fmt.Errorf("memory: unknown mode %q", s.Mode)
	}
	var b strings.Builder
	for i, v := range s.values() {
		for _, r := range v {
			if r < 0x20 || r > 0x7e {
				return nil, fmt.Errorf("memory: setting %s holds a character that is not printable ASCII", settingNames[i].sh)
			}
		}
		if p == Windows {
			fmt.Fprintf(&b, "$%s = '%s'\n", settingNames[i].ps, strings.ReplaceAll(v, "'", "''"))
		} else {
			fmt.Fprintf(&b, "%s='%s'\n", settingNames[i].sh, strings.ReplaceAll(v, "'", `'\''`))
		}
	}
	i := strings.Index(script, settingsStart)
	j := strings.Index(script, settingsEnd)
	if i < 0 || j < i {
		panic("memory: the " + string(p) + " script has no settings block")
	}
	out := script[:i+len(settingsStart)] + b.String() + script[j:]
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n"), nil
}

var (
	shSetting = regexp.MustCompile(`^([A-Z_0-9]+)='((?:[^']|'\\'')*)'$`)
	psSetting = regexp.MustCompile(`^\$([A-Za-z0-9]+) = '((?:[^']|'')*)'$`)
)

// ParseSettings reads back the platform and settings of a script that
// Commands made (its lines joined), as a host running it would see them;
// ok is false for any other script. The emulator's SSM plays the
// acquisition back from them.
func ParseSettings(script string) (p Platform, s Settings, ok bool) {
	switch {
	case strings.HasPrefix(script, "#!/bin/sh\n# cordon memory acquisition"):
		p = Linux
	case strings.HasPrefix(script, "# cordon memory acquisition for Windows"):
		p = Windows
	default:
		return "", Settings{}, false
	}
	i := strings.Index(script, settingsStart)
	j := strings.Index(script, settingsEnd)
	if i < 0 || j < i {
		return "", Settings{}, false
	}
	vals := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(script[i+len(settingsStart):j], "\n"), "\n") {
		if p == Windows {
			m := psSetting.FindStringSubmatch(line)
			if m == nil {
				return "", Settings{}, false
			}
			vals[m[1]] = strings.ReplaceAll(m[2], "''", "'")
			continue
		}
		m := shSetting.FindStringSubmatch(line)
		if m == nil {
			return "", Settings{}, false
		}
		vals[m[1]] = strings.ReplaceAll(m[2], `'\''`, "'")
	}
	get := func(k int) string {
		if p == Windows {
			return vals[settingNames[k].ps]
		}
		return vals[settingNames[k].sh]
	}
	size, err1 := strconv.ParseInt(get(4), 10, 64)
	reap, err2 := strconv.Atoi(get(7))
	if err1 != nil || err2 != nil {
		return "", Settings{}, false
	}
	s = Settings{Mode: get(0), ToolURL: get(1), ToolSHA256: get(2), Work: get(3), ImageSize: size, ImageChecksum: get(5),
		UploadURL: get(6), ReapAfter: time.Duration(reap) * time.Second}
	return p, s, true
}
