package plan

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// writeCanonical writes f's content as json.Marshal(f) would, with the id
// and mac blank (or filled in, when id is set), one incident at a time: a
// plan of 10,000 findings is never held encoded in memory whole. Map keys
// are sorted and HTML characters escaped exactly as json.Marshal does, so
// the bytes are those canonical gives (a test checks it).
func writeCanonical(w io.Writer, f *File, id, mac string) error {
	f.Format = fileFormat
	f.FormatVersion = fileFormatVersion
	bw := bufio.NewWriterSize(w, 64<<10)

	// The fields before the plan: everything but the two large ones.
	head := *f
	head.ID, head.MAC, head.Plan, head.Incidents = "", "", nil, nil
	b, err := json.Marshal(&head)
	if err != nil {
		return fmt.Errorf("encoding plan: %w", err)
	}
	const tail = `"plan":null,"incident_data":null}`
	if !bytes.HasPrefix(b, []byte(blankHead)) || !bytes.HasSuffix(b, []byte(tail)) {
		return errors.New("encoding plan: internal error: unexpected field order")
	}
	b = b[:len(b)-len(tail)]
	if id != "" {
		b = splice(b, id, mac)
	}
	bw.Write(b)

	bw.WriteString(`"plan":`)
	if err := writePlan(bw, f.Plan); err != nil {
		return err
	}
	bw.WriteString(`,"incident_data":`)
	if f.Incidents == nil {
		bw.WriteString("null")
	} else {
		keys := make([]string, 0, len(f.Incidents))
		for k := range f.Incidents {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		bw.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				bw.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			bw.Write(kb)
			bw.WriteByte(':')
			if err := f.Incidents[k].writeJSON(bw); err != nil {
				return fmt.Errorf("encoding plan: incident data %s: %w", k, err)
			}
		}
		bw.WriteByte('}')
	}
	bw.WriteByte('}')
	return bw.Flush()
}

// writePlan writes the plan compactly, as json.Marshal would, streaming
// its incidents and unmatched findings.
func writePlan(bw *bufio.Writer, p *Plan) error {
	if p == nil {
		bw.WriteString("null")
		return nil
	}
	shell := *p
	shell.Incidents, shell.Unmatched = []*Incident{}, []*Unmatched{}
	b, err := json.Marshal(&shell)
	if err != nil {
		return fmt.Errorf("encoding plan: %w", err)
	}
	const inc, unm = `"incidents":[]`, `"unmatched":[]`
	i, u := bytes.Index(b, []byte(inc)), bytes.Index(b, []byte(unm))
	if i < 0 || u < i {
		return errors.New("encoding plan: internal error: unexpected plan field order")
	}
	bw.Write(b[:i])
	if err := writeElems(bw, `"incidents":`, p.Incidents == nil, len(p.Incidents), func(k int) any { return p.Incidents[k] }); err != nil {
		return err
	}
	bw.Write(b[i+len(inc) : u])
	if err := writeElems(bw, `"unmatched":`, p.Unmatched == nil, len(p.Unmatched), func(k int) any { return p.Unmatched[k] }); err != nil {
		return err
	}
	bw.Write(b[u+len(unm):])
	return nil
}

func writeElems(bw *bufio.Writer, name string, isNil bool, n int, elem func(int) any) error {
	bw.WriteString(name)
	if isNil {
		bw.WriteString("null")
		return nil
	}
	bw.WriteByte('[')
	for k := range n {
		if k > 0 {
			bw.WriteByte(',')
		}
		b, err := json.Marshal(elem(k))
		if err != nil {
			return fmt.Errorf("encoding plan: %w", err)
		}
		bw.Write(b)
	}
	bw.WriteByte(']')
	return nil
}

// digest is the SHA-256 of f's canonical content, computed as it streams.
func digest(f *File) ([sha256.Size]byte, error) {
	h := sha256.New()
	if err := writeCanonical(h, f, "", ""); err != nil {
		return [sha256.Size]byte{}, err
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
