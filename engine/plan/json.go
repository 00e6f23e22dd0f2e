package plan

import (
	"bufio"
	"encoding/json"
	"io"
)

// WriteJSON writes the plan JSON document, indented, one incident at a
// time: the plan of 10,000 findings is never held encoded in memory whole.
// The bytes are those json.MarshalIndent(p, "", "  ") gives, but that an
// empty list is always [] (a plan file from an older cordon has no
// warnings).
func (p *Plan) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	put := func(s string) { bw.WriteString(s) }
	field := func(name string, v any, indent string) error {
		b, err := json.MarshalIndent(v, indent, "  ")
		if err != nil {
			return err
		}
		put(indent + `"` + name + `": `)
		bw.Write(b)
		return nil
	}
	put("{\n")
	if err := field("format_version", p.FormatVersion, "  "); err != nil {
		return err
	}
	put(",\n")
	field("cordon_version", p.CordonVersion, "  ")
	put(",\n")
	field("config_digest", p.ConfigDigest, "  ")
	put(",\n")
	if err := writeList(bw, "warnings", len(p.Warnings), func(i int) any { return p.Warnings[i] }); err != nil {
		return err
	}
	put(",\n")
	if err := writeList(bw, "incidents", len(p.Incidents), func(i int) any { return p.Incidents[i] }); err != nil {
		return err
	}
	put(",\n")
	if err := writeList(bw, "unmatched", len(p.Unmatched), func(i int) any { return p.Unmatched[i] }); err != nil {
		return err
	}
	put(",\n")
	if err := field("summary", p.Summary, "  "); err != nil {
		return err
	}
	put("\n}\n")
	return bw.Flush()
}

func writeList(bw *bufio.Writer, name string, n int, elem func(int) any) error {
	if n == 0 {
		bw.WriteString(`  "` + name + `": []`)
		return nil
	}
	bw.WriteString(`  "` + name + "\": [\n")
	for i := range n {
		b, err := json.MarshalIndent(elem(i), "    ", "  ")
		if err != nil {
			return err
		}
		bw.WriteString("    ")
		bw.Write(b)
		if i < n-1 {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
	}
	bw.WriteString("  ]")
	return nil
}
