package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"

	"github.com/cordonhq/cordon/engine/state"
)

// recordReport appends a report written to path to its incident's chain
// of custody (docs/custody.md): its digest and size, and in its meta the format,
// where it was written and the chain head the report carries, so the
// report is itself evidence whose copies can be checked against state.
func recordReport(ctx context.Context, st state.Store, incidentID, path, format string, data []byte, head string) (state.CustodyEntry, error) {
	sum := sha256.Sum256(data)
	where := path
	if abs, err := filepath.Abs(path); err == nil {
		where = abs
	}
	meta, err := json.Marshal(struct {
		Format    string `json:"format"`
		Path      string `json:"path"`
		ChainHead string `json:"chain_head"`
	}{format, where, head})
	if err != nil {
		return state.CustodyEntry{}, err
	}
	return st.AppendCustody(ctx, state.CustodyEntry{
		IncidentID: incidentID, Kind: state.CustodyReport, Name: filepath.Base(path),
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Meta: string(meta),
	})
}
