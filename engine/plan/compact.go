package plan

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// A plan of 10,000 findings made to be saved holds each incident's data
// (the finding, its facts and resources) until the file is written, and as
// Go values that data is most of the plan's memory. Compact keeps it as
// what the file will hold, its JSON, compressed, about a tenth of the
// size; it is encoded into the file as it would have been.

// incidentDataFields is IncidentData without its methods: what its JSON
// encoding is made from.
type incidentDataFields IncidentData

// Compact replaces d's fields with their JSON encoding, compressed. The
// plan file holds the same bytes either way; but a compacted IncidentData
// can only be encoded: its fields are empty. Use it where the data is
// kept only to be written (cordon plan -out).
func (d *IncidentData) Compact() error {
	if d.compact != nil {
		return nil
	}
	b, err := json.Marshal((*incidentDataFields)(d))
	if err != nil {
		return fmt.Errorf("encoding incident data: %w", err)
	}
	var buf bytes.Buffer
	zw := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(b); err != nil {
		return fmt.Errorf("compressing incident data: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compressing incident data: %w", err)
	}
	*d = IncidentData{compact: bytes.Clone(buf.Bytes())}
	return nil
}

// Compacted reports whether Compact emptied d's fields.
func (d *IncidentData) Compacted() bool { return d.compact != nil }

// MarshalJSON encodes d as json.Marshal encodes its fields, compacted or
// not.
func (d *IncidentData) MarshalJSON() ([]byte, error) { return d.encodeJSON() }

// encodeJSON is MarshalJSON for the plan file's writer, which writes the
// bytes as they are: json.Marshal would check and copy them again.
func (d *IncidentData) encodeJSON() ([]byte, error) {
	if d == nil {
		return []byte("null"), nil
	}
	if d.compact == nil {
		return json.Marshal((*incidentDataFields)(d))
	}
	zr := flate.NewReader(bytes.NewReader(d.compact))
	defer zr.Close()
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decompressing incident data: %w", err)
	}
	return b, nil
}

// flateWriters are reused: a flate writer allocates over half a megabyte.
var flateWriters = sync.Pool{New: func() any {
	zw, _ := flate.NewWriter(nil, flate.BestSpeed)
	return zw
}}
