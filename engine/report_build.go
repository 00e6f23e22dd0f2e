package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cordonhq/cordon/engine/report"
	"github.com/cordonhq/cordon/engine/state"
)

// CollectorTypes maps the configuration's collector block names to their
// types, which the report reads facts by.
func (e *Engine) CollectorTypes() map[string]string {
	out := make(map[string]string, len(e.cfg.Collectors))
	for name, c := range e.cfg.Collectors {
		out[name] = c.Type
	}
	return out
}

// BuildReport reads incident id, its evidence and its custody log from st
// and builds its report (docs/state.md), the chain of custody verified. collectorTypes maps collector names to types (nil when
// no configuration is at hand: the report then recognises facts by their
// shape). A missing incident is state.ErrNotFound.
func BuildReport(ctx context.Context, st state.Store, id string, collectorTypes map[string]string) (*report.Report, error) {
	d, err := st.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	custody, ev, err := state.ReadCustody(ctx, st, id)
	if err != nil {
		return nil, fmt.Errorf("reading the evidence of incident %s: %w", id, err)
	}
	r := report.Build(d, ev, collectorTypes)
	r.AddCustody(custody, ev)
	r.CordonVersion = Version
	r.GeneratedAt = time.Now().UTC().Truncate(time.Second)
	return r, nil
}

// ReportFormats are the formats WriteReport writes.
var ReportFormats = []string{"md", "html", "json"}

// RenderReport renders r in format (md, html or json).
func RenderReport(w io.Writer, r *report.Report, format string) error {
	switch format {
	case "md", "markdown":
		return r.WriteMarkdown(w)
	case "html":
		return r.WriteHTML(w)
	case "json":
		return r.WriteJSON(w)
	}
	return fmt.Errorf("unknown report format %q: use md, html or json", format)
}

// WriteFileAtomic writes data to path with mode 0600: to a temporary file
// in the same directory, synced, then renamed over path, so that path
// holds either its old content or all of data, never part of it, and no
// temporary file is left behind on failure.
func WriteFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = io.Copy(tmp, bytes.NewReader(data)); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
