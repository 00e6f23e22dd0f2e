package report

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cordonhq/cordon/engine/state"
)

func TestEscapeHTML(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"plain text, ünïcode ⫽", "plain text, ünïcode ⫽"},
		{`</script>`, `&lt;/script&gt;`},
		{`"><img src=x onerror=alert(1)>`, `&#34;&gt;&lt;img src=x onerror=alert(1)&gt;`},
		{`' onmouseover='x`, `&#39; onmouseover=&#39;x`},
		{"a&amp;b", "a&amp;amp;b"},
		{"1+1", "1&#43;1"},
		{"javascript:alert(1)", "javascript:alert(1)"},
		{"NUL\x00here", "NUL\uFFFDhere"},
		{"bad \xff\xfe utf-8 \xe2\x82", "bad \uFFFD\uFFFD utf-8 \uFFFD\uFFFD"},
		{"\u2028\u202e", "\u2028\u202e"},
	} {
		if got := escapeString(c.in); got != c.want {
			t.Errorf("escape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestHTMLHelpers(t *testing.T) {
	var w htmlWriter
	w.open("a", fragmentHref(`javascript:alert(1)"><script>`), idAttr("ev-1\" onclick=\"x"))
	if got, want := w.b.String(), `<a href="#javascriptalert1script" id="ev-1onclickx">`; got != want {
		t.Errorf("fragment and id: %s, want %s", got, want)
	}
	for _, ct := range []string{"text/html", "image/svg+xml", "image/png;x", "IMAGE/PNG", ""} {
		if _, ok := imageSrc(ct, []byte("<script>")); ok {
			t.Errorf("imageSrc accepted %q", ct)
		}
	}
	if at, ok := imageSrc("image/png", []byte("</script>\"")); !ok || at.value != "data:image/png;base64,PC9zY3JpcHQ+Ig==" {
		t.Errorf("imageSrc = %+v, %v", at, ok)
	}
	at := style(cssPercent{"left", math.NaN(), 3}, cssPercent{"width", math.Inf(1), 1}, cssPercent{"top", 12.34567, 3})
	if at.value != "left: 0.000%; width: 0.0%; top: 12.346%" {
		t.Errorf("style = %q", at.value)
	}

	for _, asset := range []struct {
		tag  markup
		body string
	}{{"style", htmlCSS}, {"script", htmlJS}} {
		var w htmlWriter
		w.rawTextElement(asset.tag, asset.body)
		if w.err != nil {
			t.Error(w.err)
		}
	}
	for _, body := range []string{"a</script>b", "a</SCRIPT b", "<!--"} {
		var w htmlWriter
		w.rawTextElement("script", body)
		if w.err == nil || w.b.Len() != 0 {
			t.Errorf("rawTextElement wrote %q", body)
		}
	}
}

// TestNoMarkupConversion keeps every value out of markup: only constants
// may become markup, implicitly.
func TestNoMarkupConversion(t *testing.T) {
	for _, name := range []string{"html.go", "html_writer.go"} {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(src), "markup(") {
			t.Errorf("%s converts a value to markup", name)
		}
	}
}

// TestHTMLVerified: a digest that does not match says so (the template
// this writer replaced tested the *bool for nil only and said "verified").
func TestHTMLVerified(t *testing.T) {
	no, yes := false, true
	r := &Report{Facts: FactsDigest{SHA256: "abc", Verified: &no,
		Collectors: []CollectorFacts{{Name: "c", SHA256: "def", Verified: &yes}}}}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, `<code class="hash">abc</code> <span class="res r-bad">does not match</span>`) ||
		!strings.Contains(out, `<code class="hash small">def</code> <span class="res r-ok">verified</span>`) {
		t.Errorf("verified badges wrong:\n%s", out)
	}
}

// filler fills a Report with pseudo-random content: every string from
// str, in a fixed order, so that two reports filled from the same seed
// differ only in their strings. Enumerations (sources, kinds, results,
// verdicts, content types) get a real value two times out of three, so
// that every branch of the page is taken.
type filler struct {
	rnd *rand.Rand
	str func() string
	// trueOnly makes every *bool true.
	trueOnly bool
}

var timeType = reflect.TypeFor[time.Time]()

var enumValues = map[string][]string{
	"Source":      {"finding", "related", "cloudtrail", "triage", "acquisition", "cordon"},
	"Kind":        {string(state.KindApply), string(state.KindRevert)},
	"Result":      {"applied", "recovered", "no_change", "failed", "interrupted", "drifted", "skipped", "started"},
	"Verdict":     {"malicious", "suspicious", "benign", "inconclusive"},
	"ContentType": {"image/png", "image/jpeg"},
}

func fillReport(seed uint64, str func() string, trueOnly bool) *Report {
	f := &filler{rnd: rand.New(rand.NewPCG(seed, 1)), str: str, trueOnly: trueOnly}
	r := &Report{}
	f.fill(reflect.ValueOf(r).Elem(), "", 0)
	return r
}

func (f *filler) fill(v reflect.Value, field string, depth int) {
	if v.Type() == timeType {
		if f.rnd.IntN(6) > 0 {
			base := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
			t := base.Add(time.Duration(f.rnd.IntN(3))*5*24*time.Hour + time.Duration(f.rnd.IntN(20000))*time.Second)
			v.Set(reflect.ValueOf(t))
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		if vals := enumValues[field]; vals != nil && f.rnd.IntN(3) > 0 {
			v.SetString(vals[f.rnd.IntN(len(vals))])
			return
		}
		v.SetString(f.str())
	case reflect.Bool:
		v.SetBool(f.rnd.IntN(2) == 0)
	case reflect.Int, reflect.Int64:
		v.SetInt([]int64{0, 1, 2, 1023, 1024, 5 << 20, 123456789}[f.rnd.IntN(7)])
	case reflect.Float64:
		v.SetFloat([]float64{0, 0.5, 0.97, 1, 8.1, 1e-7, 3}[f.rnd.IntN(7)])
	case reflect.Pointer:
		if f.rnd.IntN(3) == 0 {
			return
		}
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), field, depth+1)
		if f.trueOnly && p.Elem().Kind() == reflect.Bool {
			p.Elem().SetBool(true)
		}
		v.Set(p)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			switch {
			case f.rnd.IntN(4) == 0:
			case field == "Image": // not text: the same bytes in both
				img := make([]byte, f.rnd.IntN(40))
				for i := range img {
					img[i] = byte(f.rnd.IntN(256))
				}
				v.SetBytes(img)
			default:
				v.SetBytes([]byte(f.str()))
			}
			return
		}
		n := f.rnd.IntN(4)
		if field == "Entries" {
			n = f.rnd.IntN(12)
		}
		if depth > 4 {
			n = 0
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			f.fill(s.Index(i), field, depth+1)
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			if sf := v.Type().Field(i); sf.IsExported() {
				f.fill(v.Field(i), sf.Name, depth+1)
			}
		}
	}
}

// hostileHTML is text an attacker plants in a finding or the facts.
var hostileHTML = []string{
	`</script><script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`' autofocus onfocus='alert(1)`,
	`javascript:alert(1)`,
	`</style></title></textarea><svg onload=alert(1)>`,
	`<!--<script>`,
	"NUL \x00 here",
	"invalid \xff\xfe UTF-8 \xe2\x82",
	"&amp; &#60; 1+1 \u2028\u202e \ufffe",
}

var attrURL = regexp.MustCompile(`\s(?:href|src)="([^"]*)"`)

// checkHostileHTML renders a report with hostile text in every string
// field and the same report with a harmless placeholder in each, and
// checks that they are the same page once each field's escaped hostile
// text is put back to its placeholder: every string was escaped, in
// every place it is written, and changed nothing else.
func checkHostileHTML(t *testing.T, seed uint64, payload string) {
	t.Helper()
	var hostile, placeholders []string
	var nh, np int
	hr := fillReport(seed, func() string {
		nh++
		h := fmt.Sprintf("%s@F%04d@", payload, nh)
		hostile = append(hostile, h)
		return h
	}, false)
	pr := fillReport(seed, func() string {
		np++
		p := fmt.Sprintf("PH%04dPH", np)
		placeholders = append(placeholders, p)
		return p
	}, false)
	var hb, pb bytes.Buffer
	if err := hr.WriteHTML(&hb); err != nil {
		t.Fatal(err)
	}
	if err := pr.WriteHTML(&pb); err != nil {
		t.Fatal(err)
	}
	out := hb.String()
	if !utf8.ValidString(out) || strings.ContainsRune(out, 0) {
		t.Errorf("seed %d: the page is not valid UTF-8 or holds a NUL", seed)
	}
	if n := strings.Count(strings.ToLower(out), "<script"); n != 1 {
		t.Errorf("seed %d: %d script elements", seed, n)
	}
	for _, m := range attrURL.FindAllStringSubmatch(out, -1) {
		if !strings.HasPrefix(m[1], "#") && !strings.HasPrefix(m[1], "data:image/png;base64,") && !strings.HasPrefix(m[1], "data:image/jpeg;base64,") {
			t.Errorf("seed %d: URL attribute %q", seed, m[0])
		}
	}
	// Each string is written escaped as it is, upper-cased (a verdict)
	// or cleaned (a change's JSON value).
	type form struct{ from, to string }
	var forms []form
	for i, h := range hostile {
		for _, v := range []string{h, strings.ToUpper(h), clean(h, 600)} {
			forms = append(forms, form{escapeString(v), placeholders[i]})
		}
	}
	slices.SortStableFunc(forms, func(a, b form) int { return len(b.from) - len(a.from) })
	for _, f := range forms {
		out = strings.ReplaceAll(out, f.from, f.to)
	}
	if want := pb.String(); out != want {
		t.Errorf("seed %d, payload %q: the page differs beyond escaped text:\n%s", seed, payload, lineDiff(out, want))
	}
}

// lineDiff shows the first line that differs.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return ""
}

func TestWriteHTMLHostileEverywhere(t *testing.T) {
	for seed := range uint64(24) {
		for _, h := range hostileHTML {
			checkHostileHTML(t, seed, h)
		}
	}
}

func FuzzWriteHTMLHostile(f *testing.F) {
	for i, h := range hostileHTML {
		f.Add(uint64(i), h)
	}
	f.Fuzz(func(t *testing.T, seed uint64, payload string) {
		if up := strings.ToUpper(payload); len(payload) > 200 || strings.Contains(up, "@F") || strings.Contains(up, "PH") {
			t.Skip("payload too long or looks like a marker")
		}
		checkHostileHTML(t, seed, payload)
	})
}
