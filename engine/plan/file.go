package plan

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cordonhq/cordon/collectors"
	"github.com/cordonhq/cordon/schema"
)

// A plan file is gzip-compressed JSON. Gzip's CRC makes a truncated or
// corrupted file fail to read instead of applying half a plan, and findings
// compress well. The first JSON key identifies the format, so a foreign
// gzip file is rejected too.
const (
	fileFormat        = "cordon-plan"
	fileFormatVersion = 1
	// maxFileSize bounds what a plan file may decompress to, so a hostile
	// file cannot exhaust memory.
	maxFileSize = 1 << 30
)

// File is everything `cordon apply` needs, with no access to the findings
// or facts the plan was made from: the plan, the findings, the facts, the
// resources actions may target, the variable values and the config digest.
//
// Its integrity is checked twice when it is read. ID is a digest of the
// content, so a file edited by hand no longer matches its id (CheckID).
// MAC, written by `cordon plan -out`, is an HMAC of the same content keyed
// by a secret kept with the state (see Seal), so a file forged or made
// against another state is refused (Verify): anyone can recompute an id,
// only the holder of the state's plan key can sign.
type File struct {
	Format        string `json:"format"`
	FormatVersion int    `json:"format_version"`
	ID            string `json:"id"`
	MAC           string `json:"mac,omitempty"`
	CordonVersion string `json:"cordon_version"`
	CreatedAt     string `json:"created_at"`
	ConfigDigest  string `json:"config_digest"`
	// ConfigFiles are the digests ("sha256:…") of the configuration's files
	// (HCL and Rego) that ConfigDigest covers, by path relative to the
	// configuration directory, so that apply can name the files that
	// changed since the plan was made. Absent in files of older cordons.
	ConfigFiles map[string]string          `json:"config_files,omitempty"`
	Variables   map[string]json.RawMessage `json:"variables"`
	Plan        *Plan                      `json:"plan"`
	Incidents   map[string]*IncidentData   `json:"incident_data"`

	// decoded is set on a File read from bytes; sum is then the SHA-256 of
	// its content as written with id and mac blank, and integrity why the
	// content does not match its id (nil when it does).
	decoded   bool
	sum       [sha256.Size]byte
	integrity error
}

// IncidentData is what an incident's actions need at apply.
type IncidentData struct {
	Finding *schema.Finding `json:"finding"`
	// File is the findings file the finding came from.
	File string `json:"file"`
	// Facts by collector block name.
	Facts map[string]map[string]any `json:"facts"`
	// Resources are the resources the incident's actions may target: the
	// finding's and those its facts revealed.
	Resources []schema.Resource `json:"resources"`
	// Artefacts are the evidence collectors kept (screenshots, snapshot
	// ids), stored in state when the plan is applied.
	Artefacts []collectors.Artefact `json:"artefacts,omitempty"`

	// compact, when set, is the data's JSON encoding compressed, and the
	// fields above are empty (see Compact).
	compact []byte
}

// Resource returns the incident's resource with the given id.
func (d *IncidentData) Resource(id string) (schema.Resource, bool) {
	for _, r := range d.Resources {
		if r.ID == id {
			return r, true
		}
	}
	return schema.Resource{}, false
}

// ID returns the plan file's id: a digest of its content, so the same plan
// has one id however often it is written, and state can tell whether it
// was applied.
func ID(f *File) (string, error) {
	sum, err := digest(f)
	if err != nil {
		return "", err
	}
	return idOf(sum), nil
}

// canonical returns f's content as JSON with its id and mac blank: what
// the id digests and the MAC signs. The written file is exactly these
// bytes with the two filled in (see splice), so both can be checked
// against the bytes read, with nothing decoded and encoded again.
func canonical(f *File) ([]byte, error) {
	f.Format = fileFormat
	f.FormatVersion = fileFormatVersion
	id, mac := f.ID, f.MAC
	f.ID, f.MAC = "", ""
	body, err := json.Marshal(f)
	f.ID, f.MAC = id, mac
	if err != nil {
		return nil, fmt.Errorf("encoding plan: %w", err)
	}
	if !bytes.HasPrefix(body, []byte(blankHead)) {
		return nil, fmt.Errorf("encoding plan: internal error: the content does not begin with %s", blankHead)
	}
	return body, nil
}

// The head of every plan file's JSON: the fields before the id, then the
// id and mac. canonical checks that encoding/json writes them first.
const (
	headPrefix = `{"format":"` + fileFormat + `","format_version":1,"id":"`
	blankHead  = headPrefix + `"`
	macField   = `,"mac":"`
)

func idOf(sum [sha256.Size]byte) string { return "plan-" + hex.EncodeToString(sum[:8]) }

// splice fills the id and mac into a canonical body.
func splice(body []byte, id, mac string) []byte {
	rest := body[len(blankHead):]
	out := make([]byte, 0, len(body)+len(id)+len(mac)+len(macField)+1)
	out = append(out, headPrefix...)
	out = append(out, id...)
	out = append(out, '"')
	if mac != "" {
		out = append(out, macField...)
		out = append(out, mac...)
		out = append(out, '"')
	}
	return append(out, rest...)
}

// ErrNotPlanFile is returned for a file that is not a cordon plan file.
var ErrNotPlanFile = errors.New("not a cordon plan file")

// Encode returns f as plan file bytes (gzip-compressed JSON), setting
// f.ID from the content, unsigned. The daemon keeps plans in state in
// this form: state is where it would keep the key, so a signature would
// add nothing.
func Encode(f *File) ([]byte, error) { return encode(f, nil) }

// Seal is Encode, signing the content with key (see Verify): the form
// `cordon plan -out` writes.
func Seal(f *File, key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, errors.New("signing plan: the plan key is empty")
	}
	return encode(f, key)
}

// encode is encodeTo for a plan held in memory: the daemon encodes one
// for every investigation, so the content is encoded once (digested from
// the bytes, its id spliced in) rather than twice, and compressed for
// speed rather than size.
func encode(f *File, key []byte) ([]byte, error) {
	var body bytes.Buffer
	if err := writeCanonical(&body, f, "", ""); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body.Bytes())
	f.ID, f.MAC = idOf(sum), ""
	if key != nil {
		f.MAC = mac(key, sum)
	}
	var out bytes.Buffer
	out.Grow(body.Len() / 4)
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	if _, err := zw.Write(splice(body.Bytes(), f.ID, f.MAC)); err != nil {
		return nil, fmt.Errorf("encoding plan: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encoding plan: %w", err)
	}
	return out.Bytes(), nil
}

// encodeTo writes f's plan file bytes to w, streaming: one pass digests the
// content, a second writes it with its id (and mac) through gzip.
func encodeTo(w io.Writer, f *File, key []byte) error {
	sum, err := digest(f)
	if err != nil {
		return err
	}
	f.ID, f.MAC = idOf(sum), ""
	if key != nil {
		f.MAC = mac(key, sum)
	}
	zw := gzip.NewWriter(w)
	if err := writeCanonical(zw, f, f.ID, f.MAC); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("encoding plan: %w", err)
	}
	return nil
}

// Write writes f to path atomically (a temporary file renamed into place)
// with mode 0600: plans hold findings and facts, which are sensitive. It
// sets f.ID from the content, so two identical plans have one id, and
// signs the content with key (nil: unsigned, which apply refuses). The
// file is written as it is encoded, never held whole in memory.
func Write(path string, f *File, key []byte) error {
	if key != nil && len(key) == 0 {
		return errors.New("signing plan: the plan key is empty")
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".cordon-plan-*")
	if err != nil {
		return fmt.Errorf("writing plan file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing plan file: %w", err)
	}
	bw := bufio.NewWriterSize(tmp, 256<<10)
	if err := encodeTo(bw, f, key); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing plan file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing plan file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing plan file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing plan file: %w", err)
	}
	return nil
}

// Read reads and checks a plan file. Every failure names the file and says
// why: not a plan file, truncated or corrupt, an unsupported version.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Decode parses plan file bytes.
func Decode(data []byte) (*File, error) {
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return nil, fmt.Errorf("%w (a plan file is written by `cordon plan -out FILE`)", ErrNotPlanFile)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("plan file is corrupt: %v", err)
	}
	body, err := io.ReadAll(io.LimitReader(zr, maxFileSize+1))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("plan file is truncated (it ends before its data does); write it again with `cordon plan -out`")
		}
		return nil, fmt.Errorf("plan file is corrupt: %v", err)
	}
	if len(body) > maxFileSize {
		return nil, errors.New("plan file is too large")
	}
	var head struct {
		Format        string `json:"format"`
		FormatVersion int    `json:"format_version"`
	}
	if err := json.Unmarshal(body, &head); err != nil || head.Format != fileFormat {
		return nil, ErrNotPlanFile
	}
	if head.FormatVersion != fileFormatVersion {
		return nil, fmt.Errorf("plan file format version %d is not supported by this cordon (it reads version %d)", head.FormatVersion, fileFormatVersion)
	}
	var f File
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("plan file is corrupt: %v", err)
	}
	f.decoded = true
	f.sum, f.integrity = contentSum(body, f.ID, f.MAC)
	if f.Plan == nil {
		return nil, errors.New("plan file is corrupt: it holds no plan")
	}
	for i, inc := range f.Plan.Incidents {
		if inc == nil {
			return nil, fmt.Errorf("plan file is corrupt: null incident at index %d", i)
		}
		if slices.Contains(inc.Actions, nil) {
			return nil, fmt.Errorf("plan file is corrupt: null action in incident %s", inc.ID)
		}
		if len(inc.Actions) > 0 && f.Incidents[inc.ID] == nil {
			return nil, fmt.Errorf("plan file is corrupt: no data for incident %s", inc.ID)
		}
	}
	return &f, nil
}

// contentSum digests a plan file's JSON as canonical wrote it (id and mac
// blank) and says whether it matches the id and mac decoded from it. A
// file not in the form Encode writes (re-indented, keys reordered, a
// second id) does not match: whatever edited it was not cordon.
func contentSum(body []byte, id, mac string) (sum [sha256.Size]byte, err error) {
	modified := func(why string) error {
		return fmt.Errorf("%w: %s", ErrModified, why)
	}
	rest, ok := bytes.CutPrefix(body, []byte(headPrefix))
	if !ok {
		return sum, modified("it does not begin as cordon writes plan files")
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return sum, modified("its id is unterminated")
	}
	rawID := string(rest[:end])
	rest = rest[end+1:]
	rawMAC := ""
	if after, ok := bytes.CutPrefix(rest, []byte(macField)); ok {
		end = bytes.IndexByte(after, '"')
		if end < 0 {
			return sum, modified("its signature is unterminated")
		}
		rawMAC, rest = string(after[:end]), after[end+1:]
	}
	h := sha256.New()
	h.Write([]byte(blankHead))
	h.Write(rest)
	h.Sum(sum[:0])
	switch {
	case rawID != id || rawMAC != mac:
		return sum, modified("its id or signature is not written as cordon writes them")
	case id != idOf(sum):
		return sum, modified(fmt.Sprintf("its content digests to %s, not to the id %q it records", idOf(sum), id))
	}
	return sum, nil
}

// Errors of Verify. Each is wrapped with the specifics.
var (
	// ErrModified: the content does not match the id it records.
	ErrModified = errors.New("the plan file was modified after cordon wrote it")
	// ErrUnsigned: the file has no signature.
	ErrUnsigned = errors.New("the plan file is not signed")
	// ErrOtherKey: the file is signed with another state's plan key.
	ErrOtherKey = errors.New("the plan file was signed with another plan key")
	// ErrBadSignature: the signature does not match the content.
	ErrBadSignature = errors.New("the plan file's signature does not match its content")
)

// CheckID reports whether the content of a File read from bytes matches
// the id it records (ErrModified when it does not). A File built in memory
// has nothing to check.
func (f *File) CheckID() error {
	if !f.decoded {
		return nil
	}
	return f.integrity
}

// Verify checks a File read from bytes against the plan key of the state
// it is to be applied with: its content matches its id, and it is signed
// with that key. A File built in memory was never written, and passes.
func (f *File) Verify(key []byte) error {
	if !f.decoded {
		return nil
	}
	if err := f.CheckID(); err != nil {
		return err
	}
	if f.MAC == "" {
		return ErrUnsigned
	}
	scheme, rest, _ := strings.Cut(f.MAC, ":")
	keyID, _, _ := strings.Cut(rest, ":")
	if scheme != macScheme {
		return fmt.Errorf("%w: it uses %q, not %s", ErrBadSignature, scheme, macScheme)
	}
	if keyID != KeyID(key) {
		return fmt.Errorf("%w (%q; this state's is %s)", ErrOtherKey, keyID, KeyID(key))
	}
	if !hmac.Equal([]byte(f.MAC), []byte(mac(key, f.sum))) {
		return ErrBadSignature
	}
	return nil
}

// macScheme names how a plan file is signed: HMAC-SHA256 of the SHA-256
// of its canonical content.
const macScheme = "hmac-sha256"

// mac signs a canonical content digest: scheme, the key's id (so a plan
// signed by another state's key is told apart from a forged one), and the
// HMAC.
func mac(key []byte, sum [sha256.Size]byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("cordon plan file\x00"))
	m.Write(sum[:])
	return macScheme + ":" + KeyID(key) + ":" + hex.EncodeToString(m.Sum(nil))
}

// KeyID names a plan key without revealing it: the start of its SHA-256.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}
