package plan

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

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
type File struct {
	Format        string                     `json:"format"`
	FormatVersion int                        `json:"format_version"`
	ID            string                     `json:"id"`
	CordonVersion string                     `json:"cordon_version"`
	CreatedAt     string                     `json:"created_at"`
	ConfigDigest  string                     `json:"config_digest"`
	Variables     map[string]json.RawMessage `json:"variables"`
	Plan          *Plan                      `json:"plan"`
	Incidents     map[string]*IncidentData   `json:"incident_data"`
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
	f.Format = fileFormat
	f.FormatVersion = fileFormatVersion
	saved := f.ID
	f.ID = ""
	body, err := json.Marshal(f)
	f.ID = saved
	if err != nil {
		return "", fmt.Errorf("encoding plan: %w", err)
	}
	sum := sha256.Sum256(body)
	return "plan-" + hex.EncodeToString(sum[:8]), nil
}

// ErrNotPlanFile is returned for a file that is not a cordon plan file.
var ErrNotPlanFile = errors.New("not a cordon plan file")

// Encode returns f as plan file bytes (gzip-compressed JSON), setting
// f.ID from the content. The daemon keeps plans in state in this form.
func Encode(f *File) ([]byte, error) {
	id, err := ID(f)
	if err != nil {
		return nil, err
	}
	f.ID = id
	body, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encoding plan: %w", err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(body); err != nil {
		return nil, fmt.Errorf("encoding plan: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encoding plan: %w", err)
	}
	return buf.Bytes(), nil
}

// Write writes f to path atomically (a temporary file renamed into place)
// with mode 0600: plans hold findings and facts, which are sensitive. It
// sets f.ID from the content, so two identical plans have one id.
func Write(path string, f *File) error {
	data, err := Encode(f)
	if err != nil {
		return err
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
	if _, err := tmp.Write(data); err != nil {
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
