package report

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The HTML report is written by plain Go code, not html/template:
// text/template finds methods by name at run time (reflect's
// MethodByName), which makes the linker keep every exported method of
// every reachable type, and doubles the size of the cordon binary. The
// writer below has one escaping function for text and attribute values and
// a typed helper for each other place a value goes (an inline style, a
// fragment link, a data: URI, the stylesheet and the script).

// markup is HTML the report writes as it is: tags, attribute names and the
// page's fixed text. An untyped string constant converts to it implicitly;
// a string variable does not, so a value from a finding or the facts can
// reach the page only through an escaping method. Never convert a variable
// to markup.
type markup string

// attr is an attribute: its value is always escaped and quoted.
type attr struct {
	name  markup
	value string
}

// a is an attribute with a value from anywhere: it is escaped.
func a(name markup, value string) attr { return attr{name, value} }

// htmlWriter accumulates a page. Every value goes through text or an
// attribute; fixed markup through raw.
type htmlWriter struct {
	b   bytes.Buffer
	err error
}

// raw writes fixed markup.
func (w *htmlWriter) raw(m markup) { w.b.WriteString(string(m)) }

// text writes s escaped as text content (of a normal element, or of
// title's RCDATA).
func (w *htmlWriter) text(s string) { escapeHTML(&w.b, s) }

// open writes a start tag with its attributes, each value escaped and
// double-quoted.
func (w *htmlWriter) open(tag markup, attrs ...attr) {
	w.b.WriteByte('<')
	w.b.WriteString(string(tag))
	for _, at := range attrs {
		w.b.WriteByte(' ')
		w.b.WriteString(string(at.name))
		w.b.WriteString(`="`)
		escapeHTML(&w.b, at.value)
		w.b.WriteByte('"')
	}
	w.b.WriteByte('>')
}

// close writes an end tag.
func (w *htmlWriter) close(tag markup) {
	w.b.WriteString("</")
	w.b.WriteString(string(tag))
	w.b.WriteByte('>')
}

// elem writes an element whose content is the text s.
func (w *htmlWriter) elem(tag markup, s string, attrs ...attr) {
	w.open(tag, attrs...)
	w.text(s)
	w.close(tag)
}

// rawTextElement writes a style or script element whose content is one of
// the assets compiled into cordon. Their content is not parsed as HTML and
// cannot be escaped: it must not hold the element's end tag (nor a comment
// opener, which changes how a script's content ends), else the writer
// fails.
func (w *htmlWriter) rawTextElement(tag markup, asset string) {
	lower := strings.ToLower(asset)
	if strings.Contains(lower, "</"+string(tag)) || strings.Contains(lower, "<!--") {
		if w.err == nil {
			w.err = errors.New("report: the embedded " + string(tag) + " asset contains </" + string(tag) + " or <!--")
		}
		return
	}
	w.open(tag)
	w.b.WriteString(asset)
	w.close(tag)
}

// escapeHTML writes s escaped for HTML text and double-quoted attribute
// values, as html/template escapes them: & < > " ' and + (which UTF-7
// would read as the start of an encoded run) become character references,
// NUL becomes U+FFFD (the HTML parser would drop or replace it), and so
// does every byte that is not valid UTF-8 (the page is declared UTF-8).
func escapeHTML(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case 0:
				b.WriteString("\uFFFD")
			case '"':
				b.WriteString("&#34;")
			case '&':
				b.WriteString("&amp;")
			case '\'':
				b.WriteString("&#39;")
			case '+':
				b.WriteString("&#43;")
			case '<':
				b.WriteString("&lt;")
			case '>':
				b.WriteString("&gt;")
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
}

// escapeString is escapeHTML returning a string.
func escapeString(s string) string {
	var b bytes.Buffer
	escapeHTML(&b, s)
	return b.String()
}

// cssPercent is one declaration of an inline style whose value is a
// percentage the report computed: "left: 12.500%".
type cssPercent struct {
	prop   markup
	value  float64
	digits int // after the decimal point
}

// style is an inline style of percentages. A value is only ever digits, a
// sign, a point and a per cent sign: strconv formats it, and a value that
// is not finite is written as 0.
func style(decls ...cssPercent) attr {
	var b strings.Builder
	for i, d := range decls {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(string(d.prop))
		b.WriteString(": ")
		b.WriteString(percent(d.value, d.digits))
	}
	return attr{"style", b.String()}
}

// percent formats v with the given digits after the point and a per cent
// sign.
func percent(v float64, digits int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	return strconv.FormatFloat(v, 'f', digits, 64) + "%"
}

// htmlID keeps of id only what an id the report generates is made of
// (ASCII letters, digits, - and _), so that it is a plain fragment.
func htmlID(id string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '_':
			return r
		}
		return -1
	}, id)
}

// idAttr is an id attribute: a generated id, sanitised by htmlID.
func idAttr(id string) attr { return attr{"id", htmlID(id)} }

// fragmentHref is a link to an element of the page: #id, the id sanitised
// by htmlID, so it can never be a URL with a scheme.
func fragmentHref(id string) attr { return attr{"href", "#" + htmlID(id)} }

// imageSrc is the src of an image embedded as a data: URI: only a PNG or
// JPEG, base64-encoded, so nothing in it can leave the attribute or be
// anything but an image. ok is false for any other content type.
func imageSrc(contentType string, image []byte) (at attr, ok bool) {
	switch contentType {
	case "image/png", "image/jpeg":
	default:
		return attr{}, false
	}
	return attr{"src", "data:" + contentType + ";base64," + base64.StdEncoding.EncodeToString(image)}, true
}
