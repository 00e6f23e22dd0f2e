package memory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Result is the line a script prints. Which fields are set depends on the
// status:
//
//	captured              work, image, size, sha256, tool_sha256, mem_total, started_at, finished_at,
//	                      compression (snappy on Linux, absent on Windows)
//	uploaded              http_status, size
//	cleaned               -
//	tool_hash_mismatch    tool_sha256 (what the host computed), pinned
//	insufficient_space    need, free (the most a candidate directory had), dir, mem_total
//	too_large             over MaxImage: mem_total and need before capture (Windows,
//	                      whose WinPmem does not compress), or size, mem_total and
//	                      compression after it (the compressed image, on Linux)
//	tool_download_failed  http_status, message
//	tool_failed           exit_code, message
//	upload_rejected       http_status, s3_code (S3's error code)
//	upload_failed         message (no answer from S3)
//	image_missing         message: the work directory or image is gone
//	image_changed         size: not the size captured
//	missing_command       missing: a command the script needs
//	not_root, no_meminfo, bad_settings  message
//
// Times are Unix seconds of the host's clock, sizes bytes.
type Result struct {
	Version    int    `json:"cordon_memory"`
	Phase      string `json:"phase"`
	Status     string `json:"status"`
	Message    string `json:"message,omitempty"`
	Work       string `json:"work,omitempty"`
	Image      string `json:"image,omitempty"`
	Size       int64  `json:"size,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	ToolSHA256 string `json:"tool_sha256,omitempty"`
	Pinned     string `json:"pinned,omitempty"`
	MemTotal   int64  `json:"mem_total,omitempty"`
	Need       int64  `json:"need,omitempty"`
	Free       int64  `json:"free,omitempty"`
	Dir        string `json:"dir,omitempty"`
	HTTPStatus int    `json:"http_status,omitempty"`
	S3Code     string `json:"s3_code,omitempty"`
	ExitCode   int    `json:"exit_code,omitempty"`
	Missing    string `json:"missing,omitempty"`
	StartedAt  int64  `json:"started_at,omitempty"`
	FinishedAt int64  `json:"finished_at,omitempty"`
	// Compression is how the image is compressed: CompressionSnappy, or
	// empty for none.
	Compression string `json:"compression,omitempty"`
}

// Statuses.
const (
	StatusCaptured           = "captured"
	StatusUploaded           = "uploaded"
	StatusCleaned            = "cleaned"
	StatusToolHashMismatch   = "tool_hash_mismatch"
	StatusInsufficientSpace  = "insufficient_space"
	StatusTooLarge           = "too_large"
	StatusToolDownloadFailed = "tool_download_failed"
	StatusToolFailed         = "tool_failed"
	StatusUploadRejected     = "upload_rejected"
	StatusUploadFailed       = "upload_failed"
	StatusImageMissing       = "image_missing"
	StatusImageChanged       = "image_changed"
	StatusMissingCommand     = "missing_command"
	StatusNotRoot            = "not_root"
	StatusNoMeminfo          = "no_meminfo"
	StatusBadSettings        = "bad_settings"
)

var statuses = map[string]string{
	StatusCaptured: ModeCapture, StatusUploaded: ModeUpload, StatusCleaned: ModeCleanup,
	StatusToolHashMismatch: ModeCapture, StatusInsufficientSpace: ModeCapture, StatusTooLarge: ModeCapture,
	StatusToolDownloadFailed: ModeCapture, StatusToolFailed: ModeCapture, StatusNoMeminfo: ModeCapture, StatusNotRoot: ModeCapture,
	StatusUploadRejected: ModeUpload, StatusUploadFailed: ModeUpload, StatusImageChanged: ModeUpload,
	StatusImageMissing: "", StatusMissingCommand: "", StatusBadSettings: "",
}

// Line is the result as a script prints it (the emulator's hosts print
// it so).
func (r *Result) Line() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic("memory: encoding a result: " + err.Error())
	}
	return string(b) + "\n"
}

// maxLine bounds the result line read: a script's is a few hundred bytes.
const maxLine = 4096

var (
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// A work directory as mktemp -d makes it on Linux, or as acquire.ps1
	// names it on Windows.
	linuxWorkRE   = regexp.MustCompile(`^/(?:[A-Za-z0-9._-]+/)*cordon-memory\.[A-Za-z0-9]{8}$`)
	windowsWorkRE = regexp.MustCompile(`^[A-Za-z]:\\cordon-memory\.[a-z0-9]{8}$`)
	s3CodeRE      = regexp.MustCompile(`^[A-Za-z0-9]{0,64}$`)
)

// ErrNoResult says the output holds no result line.
var ErrNoResult = errors.New("no cordon_memory result line in the output")

// ParseResult finds the last result line of a script's output and checks
// it: its phase is mode's, its status a known one, and the fields its
// status carries well-formed (a captured image's work directory is one the
// script makes, its size within (0, MaxImage], its digests hex SHA-256,
// its compression none or snappy).
// Text fields are kept only when they are printable UTF-8, at most 256
// characters.
func ParseResult(stdout, mode string) (*Result, error) {
	var line []byte
	lines := bytes.Split([]byte(stdout), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if cur := bytes.TrimSpace(lines[i]); bytes.HasPrefix(cur, []byte(`{"cordon_memory":`)) {
			line = cur
			break
		}
	}
	if line == nil {
		return nil, ErrNoResult
	}
	if len(line) > maxLine {
		return nil, fmt.Errorf("the result line is %d bytes, more than %d", len(line), maxLine)
	}
	var r Result
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("the result line is not a result: %v", err)
	}
	if dec.More() {
		return nil, errors.New("the result line has data after its object")
	}
	if r.Version != 1 {
		return nil, fmt.Errorf("result format %d, not 1", r.Version)
	}
	phase, known := statuses[r.Status]
	switch {
	case !known:
		return nil, fmt.Errorf("unknown status %q", clip(r.Status))
	case r.Phase != mode:
		return nil, fmt.Errorf("the result is of phase %q, not %q", clip(r.Phase), mode)
	case phase != "" && phase != mode:
		return nil, fmt.Errorf("status %s is not one of phase %s", r.Status, mode)
	}
	for _, f := range []*string{&r.Message, &r.Dir, &r.Missing} {
		*f = printable(*f)
	}
	if r.Compression != "" && r.Compression != CompressionSnappy {
		return nil, fmt.Errorf("compression %q is not one the scripts use (%s, or none)", clip(r.Compression), CompressionSnappy)
	}
	if !s3CodeRE.MatchString(r.S3Code) {
		return nil, errors.New("s3_code is not an S3 error code")
	}
	for _, n := range []int64{r.Size, r.MemTotal, r.Need, r.Free, r.StartedAt, r.FinishedAt, int64(r.HTTPStatus)} {
		if n < 0 {
			return nil, errors.New("a number of the result is negative")
		}
	}
	switch r.Status {
	case StatusCaptured:
		if !linuxWorkRE.MatchString(r.Work) && !windowsWorkRE.MatchString(r.Work) || strings.Contains(r.Work, "/../") || strings.Contains(r.Work, "/./") {
			return nil, fmt.Errorf("the work directory %q is not one the script makes", clip(r.Work))
		}
		if r.Size <= 0 || r.Size > MaxImage {
			return nil, fmt.Errorf("image size %d is not within (0, %d]", r.Size, MaxImage)
		}
		if !sha256RE.MatchString(r.SHA256) || !sha256RE.MatchString(r.ToolSHA256) {
			return nil, errors.New("the image's or the tool's SHA-256 is not 64 lower-case hex digits")
		}
	case StatusToolHashMismatch:
		if !sha256RE.MatchString(r.ToolSHA256) {
			return nil, errors.New("the tool's SHA-256 is not 64 lower-case hex digits")
		}
	}
	return &r, nil
}

// printable keeps s when it is valid UTF-8 of printable characters and
// at most 256 of them, else returns what comes before the first problem.
func printable(s string) string {
	n := 0
	for i, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || n == 256 {
			return s[:i]
		}
		n++
	}
	return s
}

func clip(s string) string {
	s = printable(s)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.TrimSpace(s)
}
