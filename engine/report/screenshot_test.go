package report_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/engine/report"
	"github.com/cordonhq/cordon/engine/report/reporttest"
	"github.com/cordonhq/cordon/engine/state"
)

// jpegScreenshot makes a 720×400 JPEG, the size and format of a real EC2
// console screenshot.
func jpegScreenshot(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 720, 400))
	for y := 0; y < 400; y++ {
		for x := 0; x < 720; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x), G: uint8(y), B: 40, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// jpegFixture is the cryptominer incident with its console screenshot
// kept as EC2 returns it: a JPEG, named console.jpeg, its content type in
// the evidence's metadata (as aws_ec2_console records it).
func jpegFixture(t testing.TB) *reporttest.Fixture {
	t.Helper()
	fx := load(t, "cryptominer")
	img := jpegScreenshot(t)
	n := 0
	for i := range fx.Evidence {
		ev := &fx.Evidence[i]
		if ev.Kind != "screenshot" {
			continue
		}
		n++
		ev.Name, ev.Data, ev.Size, ev.SHA256 = "console.jpeg", img, int64(len(img)), hexSHA256(img)
		ev.Meta = json.RawMessage(`{"collector":"console","instance_id":"i-0a1b2c3d4e5f67890","content_type":"image/jpeg","sha256":"` + ev.SHA256 + `"}`)
	}
	if n != 1 {
		t.Fatalf("%d screenshots in the fixture", n)
	}
	return fx
}

func TestScreenshotJPEG(t *testing.T) {
	fx := jpegFixture(t)
	r := report.Build(fx.Detail, fx.Evidence, fx.CollectorTypes)
	if len(r.Evidence.Screenshots) != 1 {
		t.Fatalf("screenshots %+v", r.Evidence.Screenshots)
	}
	s := r.Evidence.Screenshots[0]
	if s.ContentType != "image/jpeg" || s.Image == nil || s.Verified == nil || !*s.Verified || s.InstanceID != "i-0a1b2c3d4e5f67890" {
		t.Errorf("screenshot %+v", s)
	}
	if len(r.Notes) != 0 {
		t.Errorf("notes %q", r.Notes)
	}
	var html, md, js bytes.Buffer
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), `<img src="data:image/jpeg;base64,/9j/`) {
		t.Error("the HTML report does not embed the JPEG screenshot")
	}
	r.WriteMarkdown(&md)
	if !strings.Contains(md.String(), "`console.jpeg` of `i-0a1b2c3d4e5f67890`, image/jpeg, ") {
		t.Errorf("markdown screenshot line missing:\n%s", md.String())
	}
	r.WriteJSON(&js)
	if !strings.Contains(js.String(), `"content_type": "image/jpeg"`) {
		t.Error("the JSON report lacks the screenshot's content type")
	}
}

// TestScreenshotNotShown: bytes that are neither PNG nor JPEG are never
// put in a data: URI, whatever the metadata says, and one that does not
// match its digest is not shown.
func TestScreenshotNotShown(t *testing.T) {
	fx := jpegFixture(t)
	for i := range fx.Evidence {
		if fx.Evidence[i].Kind == "screenshot" {
			data := []byte(`<svg onload="window.__pwned=1"></svg>`)
			fx.Evidence[i].Data, fx.Evidence[i].SHA256 = data, hexSHA256(data)
		}
	}
	r := report.Build(fx.Detail, fx.Evidence, fx.CollectorTypes)
	if s := r.Evidence.Screenshots[0]; s.Image != nil || s.ContentType != "" {
		t.Errorf("not an image, yet embedded: %+v", s)
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "neither a PNG nor a JPEG") {
		t.Errorf("notes %q", r.Notes)
	}
	var html bytes.Buffer
	r.WriteHTML(&html)
	if strings.Contains(html.String(), "<img") || strings.Contains(html.String(), "data:image/") {
		t.Error("the HTML report embeds what is not an image")
	}

	fx = jpegFixture(t)
	for i := range fx.Evidence {
		if fx.Evidence[i].Kind == "screenshot" {
			fx.Evidence[i].SHA256 = strings.Repeat("0", 64)
		}
	}
	r = report.Build(fx.Detail, fx.Evidence, fx.CollectorTypes)
	if s := r.Evidence.Screenshots[0]; s.Image != nil || s.Verified == nil || *s.Verified {
		t.Errorf("tampered screenshot %+v", s)
	}
}

// TestScreenshotError: a screenshot aws_ec2_console could not take is
// said in every format.
func TestScreenshotError(t *testing.T) {
	fx := load(t, "cryptominer")
	var facts map[string]map[string]any
	if err := json.Unmarshal(fx.Detail.Incident.Facts, &facts); err != nil {
		t.Fatal(err)
	}
	console := facts["console"]
	delete(console, "screenshot_sha256")
	delete(console, "screenshot_bytes")
	const msg = "taking a screenshot: UnsupportedOperation: This instance type does not support screenshots."
	console["screenshot_error"] = msg
	raw, err := json.Marshal(facts)
	if err != nil {
		t.Fatal(err)
	}
	fx.Detail.Incident.Facts, fx.Detail.Incident.FactsSHA256 = raw, hexSHA256(raw)
	var ev []state.Evidence
	for _, e := range fx.Evidence {
		if e.Kind != "screenshot" {
			ev = append(ev, e)
		}
	}
	r := report.Build(fx.Detail, ev, fx.CollectorTypes)
	if got := r.Evidence.ScreenshotErrors; len(got) != 1 || got[0].Collector != "console" || got[0].Error != msg {
		t.Fatalf("screenshot errors %+v", got)
	}
	if len(r.Evidence.Screenshots) != 0 {
		t.Errorf("screenshots %+v", r.Evidence.Screenshots)
	}
	for _, c := range r.Facts.Collectors {
		if c.Name == "console" && !strings.Contains(c.Summary, "no screenshot (taking a screenshot: UnsupportedOperation") {
			t.Errorf("console summary %q", c.Summary)
		}
	}
	var html, md, js bytes.Buffer
	r.WriteHTML(&html)
	r.WriteMarkdown(&md)
	r.WriteJSON(&js)
	if !strings.Contains(html.String(), "Console screenshot not taken</strong> by <code>console</code>") ||
		!strings.Contains(html.String(), "UnsupportedOperation: This instance type does not support screenshots.") {
		t.Error("the HTML report does not say the screenshot was not taken")
	}
	if !strings.Contains(md.String(), "- Not taken by `console`: taking a screenshot: UnsupportedOperation") {
		t.Errorf("markdown:\n%s", md.String())
	}
	if !strings.Contains(js.String(), `"screenshot_errors": [`) || !strings.Contains(js.String(), "UnsupportedOperation") {
		t.Error("the JSON report lacks the screenshot error")
	}
}

func TestWriteTimelineText(t *testing.T) {
	r := build(t, "cryptominer")
	total := len(r.Timeline.Entries)
	var all bytes.Buffer
	if err := report.WriteTimelineText(&all, r, 0); err != nil {
		t.Fatal(err)
	}
	// One line per entry; a failed action of cordon's has its error on
	// an indented line below.
	n := 0
	for _, l := range strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n") {
		if !strings.HasPrefix(l, " ") {
			n++
		}
	}
	if n != total {
		t.Errorf("limit 0: %d entry lines, want %d:\n%s", n, total, all.String())
	}
	var b bytes.Buffer
	if err := report.WriteTimelineText(&b, r, 10); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if !strings.HasPrefix(l, " ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 11 || !strings.HasPrefix(lines[10], fmt.Sprintf("… %d more entries omitted (", total-10)) {
		t.Fatalf("limit 10:\n%s", b.String())
	}
	for i, l := range lines[:10] {
		if strings.Contains(l, "\x1b[") {
			t.Errorf("colour in %q", l)
		}
		// Pinned sources come first: no CloudTrail or triage entry is
		// kept while the finding's and cordon's fill the limit.
		if f := strings.Fields(l); len(f) < 3 || f[2] == "cloudtrail" || f[2] == "triage" {
			t.Errorf("line %d %q", i, l)
		}
		if i > 0 && l[:19] < lines[i-1][:19] {
			t.Errorf("not sorted at %q", l)
		}
	}
	if len(r.Timeline.Entries) != total {
		t.Error("WriteTimelineText changed the report")
	}
}
