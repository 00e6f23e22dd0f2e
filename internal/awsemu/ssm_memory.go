package awsemu

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/cordonhq/cordon/collectors/memory"
)

// The emulator's hosts play back cordon's memory acquisition (the
// aws_ssm_memory collector's scripts, package memory): a Run Command whose
// script is one of them is not answered from registered output but acted
// out, over HTTP, against the URLs its settings carry, as the script would
// on a real host. Capture downloads the tool by its presigned GET URL,
// compares its SHA-256 with the pinned one, and "captures" a deterministic
// image of the host's ImageSize (generated as it is hashed and uploaded,
// never held in memory); upload PUTs that image to the presigned URL with
// the headers the script sends, and reports S3's answer. MemoryHost.Fault
// makes a host fail as real ones do.
//
// The limit of one PUT is checked where each script checks it: on Linux
// against the image AVML wrote compressed (ImageSize, after the tool
// ran), so a host whose MemTotal is over it succeeds when its image is
// within it; on Windows, whose WinPmem does not compress, against
// MemTotal before the tool is downloaded.
//
// The playback runs in its own goroutine, outside the state lock; the
// invocation stays InProgress until it ends, and CancelCommand stops it.

// MemoryHost is how an instance's host answers a memory acquisition.
type MemoryHost struct {
	// ImageSize is the size of the image file the tool writes; default
	// 1 MiB. On Linux that is AVML's compressed image, which may be far
	// smaller than MemTotal (or, set over memory.MaxImage, too large for
	// one PUT all the same); on Windows WinPmem's raw image.
	ImageSize int64
	// MemTotal is the memory the host reports; default ImageSize.
	MemTotal int64
	// Fault makes the acquisition fail: MemoryFault….
	Fault string
}

// Faults of a MemoryHost.
const (
	// MemoryTimeout: the capture never ends (until cancelled or its
	// execution timeout).
	MemoryTimeout = "timeout"
	// MemoryLowDisk: no disk of the host has room for the image.
	MemoryLowDisk = "low_disk"
	// MemoryToolTampered: the tool the host downloads is not the bytes
	// served (a tampered mirror, a proxy): its SHA-256 is not the pinned one.
	MemoryToolTampered = "tool_tampered"
	// MemoryToolFails: the tool exits 1.
	MemoryToolFails = "tool_fails"
	// MemoryCorruptUpload: the bytes uploaded are not those hashed (one is
	// flipped on the way), so S3 refuses them.
	MemoryCorruptUpload = "corrupt_upload"
	// MemoryUncompressed: the capture reports an image without the
	// compression the script applies (a host that lies, or a tool that
	// ignored --compress).
	MemoryUncompressed = "uncompressed"
)

var memoryFaults = []string{"", MemoryTimeout, MemoryLowDisk, MemoryToolTampered, MemoryToolFails, MemoryCorruptUpload, MemoryUncompressed}

// defaultImageSize is a host's image unless it says otherwise.
const defaultImageSize = 1 << 20

// SeedMemory is an instance's MemoryHost in a seed (ssm_memory).
type SeedMemory struct {
	ImageSize int64  `json:"image_size"`
	MemTotal  int64  `json:"mem_total"`
	Fault     string `json:"fault"`
}

// SetMemoryHost sets how an instance's host answers memory acquisitions
// sent from now on.
func (e *Emulator) SetMemoryHost(instanceID string, h MemoryHost) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.memory[instanceID] = h
}

// memoryHost builds an instance's MemoryHost from its seed.
func (b *builder) memoryHost(path, instanceID string, sm *SeedMemory) {
	if sm == nil {
		return
	}
	// An image_size over memory.MaxImage is allowed: it plays a host
	// whose compressed image does not fit one PUT (nothing is generated).
	if sm.ImageSize < 0 {
		b.errorf(path+".ssm_memory.image_size", "must not be negative")
	}
	if sm.MemTotal < 0 {
		b.errorf(path+".ssm_memory.mem_total", "must not be negative")
	}
	if !contains(memoryFaults, sm.Fault) {
		b.errorf(path+".ssm_memory.fault", "must be one of %s, not %q", strings.Join(memoryFaults[1:], ", "), sm.Fault)
	}
	if b.opts.memory == nil {
		b.opts.memory = map[string]MemoryHost{}
	}
	b.opts.memory[instanceID] = MemoryHost{ImageSize: sm.ImageSize, MemTotal: sm.MemTotal, Fault: sm.Fault}
}

// hostImage is an image a host captured and has not uploaded or deleted.
type hostImage struct {
	size   int64
	sha256 string
	gen    imageGen
}

// startMemoryPlayback starts playing back the memory acquisitions among a
// command's invocations (sendCommand, which holds e.mu).
func (e *Emulator) startMemoryPlayback(cmd *Command) {
	p, s, ok := memory.ParseSettings(strings.Join(cmd.Parameters["commands"], "\n"))
	if !ok {
		return
	}
	for _, id := range cmd.InstanceIDs {
		inv := cmd.Invocations[id]
		inv.Stdout, inv.Stderr, inv.ExitCode, inv.RunningPolls = "", "", 0, -1
		host := e.memory[id]
		if host.ImageSize == 0 {
			host.ImageSize = defaultImageSize
		}
		if host.MemTotal == 0 {
			host.MemTotal = host.ImageSize
		}
		key := cmd.ID + "/" + id
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(inv.ExecutionTimeout)*time.Second)
		e.playbacks[key] = cancel
		pb := &playback{e: e, host: host, platform: p, s: s, instance: id, command: cmd.ID}
		go func() {
			defer cancel()
			res := pb.run(ctx)
			e.mu.Lock()
			defer e.mu.Unlock()
			delete(e.playbacks, key)
			switch inv.Status {
			case "Success", "Failed", "TimedOut", "Cancelled":
				return // cancelled or timed out meanwhile
			}
			if res == nil {
				return // never ending: it times out
			}
			inv.Stdout = res.Line()
			switch res.Status {
			case memory.StatusCaptured, memory.StatusUploaded, memory.StatusCleaned:
				inv.ExitCode = 0
			default:
				inv.ExitCode = 1
			}
			inv.RunningPolls = 0
		}()
	}
}

// stopPlayback stops a cancelled invocation's playback (cancelCommand,
// which holds e.mu).
func (e *Emulator) stopPlayback(commandID, instanceID string) {
	if cancel := e.playbacks[commandID+"/"+instanceID]; cancel != nil {
		cancel()
	}
}

// playback is one run of a script on one host.
type playback struct {
	e        *Emulator
	host     MemoryHost
	platform memory.Platform
	s        memory.Settings
	instance string
	command  string
}

func (pb *playback) result(status string) *memory.Result {
	return &memory.Result{Version: 1, Phase: pb.s.Mode, Status: status}
}

// run acts the script out; nil means it never printed (cancelled).
func (pb *playback) run(ctx context.Context) *memory.Result {
	switch pb.s.Mode {
	case memory.ModeCapture:
		return pb.capture(ctx)
	case memory.ModeUpload:
		return pb.upload(ctx)
	case memory.ModeCleanup:
		pb.e.mu.Lock()
		delete(pb.e.hostImages, pb.instance+"|"+pb.s.Work)
		pb.e.mu.Unlock()
		return pb.result(memory.StatusCleaned)
	}
	r := pb.result(memory.StatusBadSettings)
	r.Message = "MODE is not capture, upload or cleanup"
	return r
}

func (pb *playback) now() int64 {
	pb.e.mu.Lock()
	defer pb.e.mu.Unlock()
	return pb.e.now().Unix()
}

func (pb *playback) capture(ctx context.Context) *memory.Result {
	h := pb.host
	need := h.MemTotal + h.MemTotal/20 + 256<<20
	switch {
	case h.Fault == MemoryLowDisk:
		r := pb.result(memory.StatusInsufficientSpace)
		r.Need, r.Free, r.Dir, r.MemTotal = need, need/3, "/var/tmp", h.MemTotal
		if pb.platform == memory.Windows {
			r.Dir = `C:\`
		}
		return r
	case pb.platform.Compression() == "" && h.MemTotal > memory.MaxImage:
		// WinPmem does not compress: refused before the tool is fetched.
		r := pb.result(memory.StatusTooLarge)
		r.MemTotal, r.Need = h.MemTotal, h.MemTotal
		return r
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pb.s.ToolURL, nil)
	if err != nil {
		r := pb.result(memory.StatusToolDownloadFailed)
		r.Message = "curl: (3) URL rejected: Malformed input to a URL function"
		return r
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		r := pb.result(memory.StatusToolDownloadFailed)
		r.Message = "curl: (7) Failed to connect"
		return r
	}
	sum := sha256.New()
	_, err = io.Copy(sum, io.LimitReader(resp.Body, 256<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		r := pb.result(memory.StatusToolDownloadFailed)
		r.HTTPStatus = resp.StatusCode
		return r
	}
	if h.Fault == MemoryToolTampered {
		sum.Write([]byte("tampered"))
	}
	got := hex.EncodeToString(sum.Sum(nil))
	if got != pb.s.ToolSHA256 {
		r := pb.result(memory.StatusToolHashMismatch)
		r.ToolSHA256, r.Pinned = got, pb.s.ToolSHA256
		return r
	}
	switch h.Fault {
	case MemoryToolFails:
		r := pb.result(memory.StatusToolFailed)
		r.ExitCode, r.Message = 1, pb.platform.Tool()+": unable to read physical memory"
		return r
	case MemoryTimeout:
		<-ctx.Done()
		return nil
	}
	started := pb.now()
	if h.ImageSize > memory.MaxImage {
		// The tool ran, and its image, compressed or not, is over what
		// one PUT uploads; the script deletes it unhashed.
		r := pb.result(memory.StatusTooLarge)
		r.Size, r.MemTotal, r.Compression = h.ImageSize, h.MemTotal, pb.platform.Compression()
		return r
	}
	limeVersion := uint32(0) // WinPmem's raw image has no header
	if pb.platform.Compression() == memory.CompressionSnappy {
		limeVersion = 2 // AVML's header of a compressed range
	}
	gen := newImageGen(pb.instance+"/"+pb.command, h.ImageSize, limeVersion)
	imgSum := sha256.New()
	if _, err := io.Copy(imgSum, ctxReader{ctx, gen.reader(-1)}); err != nil {
		return nil
	}
	work := "/var/tmp/cordon-memory." + shortID(pb.command)
	image := work + "/memory" + memory.Linux.Extension()
	if pb.platform == memory.Windows {
		work = `C:\cordon-memory.` + strings.ToLower(shortID(pb.command))
		image = work + `\memory.raw`
	}
	img := hostImage{size: h.ImageSize, sha256: hex.EncodeToString(imgSum.Sum(nil)), gen: gen}
	pb.e.mu.Lock()
	pb.e.hostImages[pb.instance+"|"+work] = img
	pb.e.mu.Unlock()
	r := pb.result(memory.StatusCaptured)
	r.Work, r.Image, r.Size, r.SHA256, r.ToolSHA256, r.MemTotal = work, image, img.size, img.sha256, got, h.MemTotal
	r.StartedAt, r.FinishedAt = started, pb.now()
	if h.Fault != MemoryUncompressed {
		r.Compression = pb.platform.Compression()
	}
	return r
}

func (pb *playback) upload(ctx context.Context) *memory.Result {
	key := pb.instance + "|" + pb.s.Work
	pb.e.mu.Lock()
	img, ok := pb.e.hostImages[key]
	// The script deletes the work directory whatever S3 answers.
	delete(pb.e.hostImages, key)
	pb.e.mu.Unlock()
	if !ok {
		r := pb.result(memory.StatusImageMissing)
		r.Message = "the work directory of the capture is gone"
		return r
	}
	if img.size != pb.s.ImageSize {
		r := pb.result(memory.StatusImageChanged)
		r.Size = img.size
		return r
	}
	corruptAt := int64(-1)
	if pb.host.Fault == MemoryCorruptUpload {
		corruptAt = img.size / 2
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, pb.s.UploadURL, ctxReader{ctx, img.gen.reader(corruptAt)})
	if err != nil {
		r := pb.result(memory.StatusUploadFailed)
		r.Message = "curl: (3) URL rejected: Malformed input to a URL function"
		return r
	}
	req.ContentLength = img.size
	req.Header.Set("x-amz-checksum-sha256", pb.s.ImageChecksum)
	req.Header.Set("x-amz-sdk-checksum-algorithm", "SHA256")
	req.Header.Set("If-None-Match", "*")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		r := pb.result(memory.StatusUploadFailed)
		r.Message = "curl: (55) Send failure: Connection reset by peer"
		return r
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		r := pb.result(memory.StatusUploaded)
		r.HTTPStatus, r.Size = 200, img.size
		return r
	}
	r := pb.result(memory.StatusUploadRejected)
	r.HTTPStatus = resp.StatusCode
	if m := s3CodeInBody.FindSubmatch(body); m != nil {
		r.S3Code = string(m[1])
	}
	return r
}

var s3CodeInBody = regexp.MustCompile(`<Code>([A-Za-z0-9]+)</Code>`)

// shortID is 8 characters derived from s, as mktemp would choose them.
func shortID(s string) string {
	sum := sha256.Sum256([]byte(s))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	out := make([]byte, 8)
	for i := range out {
		out[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(out)
}

// imageGen generates a deterministic memory image: a LiME header (on
// Linux, of version 2 as AVML writes a compressed range) and 64 KiB blocks
// of pseudo-random bytes, each stamped with its index, so that no two
// blocks are alike and any offset is cheap to produce. The blocks stand in
// for the range's snappy frames: nothing in the emulator decompresses.
type imageGen struct {
	size int64
	// limeVersion is the LiME header's version; 0 for no header.
	limeVersion uint32
	block       []byte
}

const imageBlock = 64 << 10

func newImageGen(seed string, size int64, limeVersion uint32) imageGen {
	block := make([]byte, imageBlock)
	for i := 0; i < imageBlock; i += sha256.Size {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", seed, i)))
		copy(block[i:], sum[:])
	}
	return imageGen{size: size, limeVersion: limeVersion, block: block}
}

// reader reads the image, with the byte at corruptAt flipped (-1: none).
func (g imageGen) reader(corruptAt int64) io.Reader {
	return &imageReader{g: g, corruptAt: corruptAt}
}

type imageReader struct {
	g         imageGen
	off       int64
	corruptAt int64
}

func (r *imageReader) Read(p []byte) (int, error) {
	if r.off >= r.g.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.g.size-r.off)]
	n := 0
	for n < len(p) {
		blk := r.off / imageBlock
		in := int(r.off % imageBlock)
		c := copy(p[n:], r.g.block[in:])
		// Stamp the block index over its first 8 bytes.
		var stamp [8]byte
		binary.LittleEndian.PutUint64(stamp[:], uint64(blk))
		for i := in; i < 8 && i < in+c; i++ {
			p[n+i-in] ^= stamp[i]
		}
		n += c
		r.off += int64(c)
	}
	start := r.off - int64(n)
	if r.g.limeVersion != 0 && start < 32 {
		// LiME's header: magic, version, the range's start and end.
		var hdr [32]byte
		binary.LittleEndian.PutUint32(hdr[0:], 0x4C694D45)
		binary.LittleEndian.PutUint32(hdr[4:], r.g.limeVersion)
		binary.LittleEndian.PutUint64(hdr[16:], uint64(max(r.g.size-33, 0)))
		copy(p, hdr[start:])
	}
	if r.corruptAt >= start && r.corruptAt < r.off {
		p[r.corruptAt-start] ^= 0xff
	}
	return n, nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, errors.Join(io.ErrUnexpectedEOF, err)
	}
	return c.r.Read(p)
}
