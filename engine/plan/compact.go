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
func (d *IncidentData) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := d.writeJSON(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeJSON writes d's JSON encoding to w; the plan file's writer uses it
// so that compacted data streams from its compressed form to the file,
// never held whole.
func (d *IncidentData) writeJSON(w io.Writer) error {
	if d == nil {
		_, err := io.WriteString(w, "null")
		return err
	}
	if d.compact == nil {
		b, err := json.Marshal((*incidentDataFields)(d))
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	src := bytes.NewReader(d.compact)
	zr, _ := flateReaders.Get().(io.ReadCloser)
	if zr == nil {
		zr = flate.NewReader(src)
	} else if err := zr.(flate.Resetter).Reset(src, nil); err != nil {
		return fmt.Errorf("decompressing incident data: %w", err)
	}
	defer flateReaders.Put(zr)
	if _, err := io.Copy(w, zr); err != nil {
		return fmt.Errorf("decompressing incident data: %w", err)
	}
	return nil
}

// flateReaders are reused: a plan of 10,000 incidents is read back twice
// as it is written (digest, then file), and each reader allocates tens of
// kilobytes.
var flateReaders sync.Pool

// flateWriters are reused: a flate writer allocates over half a megabyte.
var flateWriters = sync.Pool{New: func() any {
	zw, _ := flate.NewWriter(nil, flate.BestSpeed)
	return zw
}}
