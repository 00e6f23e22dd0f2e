package report_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/cordonhq/cordon/engine/report"
)

// The HTML report in a real browser: headless Chromium (Debian's chromium
// package) driven over the DevTools protocol. The test runs wherever a
// chromium binary is on PATH, as in CI, and is skipped only where none is.

var shots = flag.String("shots", "", "write the browser test's screenshots to `DIR`")

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CORDON_CI") != "" {
		t.Fatal("no chromium binary on PATH, and CI (CORDON_CI) requires the browser test: .ci/run installs Debian's chromium package")
	}
	t.Skip("no chromium binary on PATH: install Debian's chromium package to run the browser test")
	return ""
}

// browser is a headless Chromium with one tab, recording what the page
// says on its console, throws, logs (CSP violations are logged) and every
// request it makes.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	problems []string
	requests []string
}

func newBrowser(t *testing.T) *browser {
	exe := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("headless", "new"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(profileDir(t)),
		chromedp.WindowSize(1280, 900),
	)
	// The browser runs in a process group of its own, so that all of it
	// (the browser and its zygote, renderer, GPU and crash-handler
	// processes) can be stopped at once.
	opts = append(opts, chromedp.ModifyCmdFunc(ownProcessGroup))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(tab, 90*time.Second)
	// Cleanups run last-registered first: this one, registered after
	// profileDir's, stops the browser before its profile is removed.
	// Cancelling the allocator kills the browser process and waits for it
	// to exit, but its helper processes would go on writing into the
	// profile for a moment: they are killed with their group. (A graceful
	// chromedp.Cancel is no better here: Debian's headless chromium often
	// never answers Browser.close.)
	t.Cleanup(func() {
		var pid int
		if c := chromedp.FromContext(tab); c != nil && c.Browser != nil && c.Browser.Process() != nil {
			pid = c.Browser.Process().Pid
		}
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		if pid > 0 {
			killProcessGroup(pid)
		}
	})
	b := &browser{ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeWarning || ev.Type == runtime.APITypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			b.problems = append(b.problems, "exception: "+ev.ExceptionDetails.Error())
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.LevelError || ev.Entry.Level == log.LevelWarning {
				b.problems = append(b.problems, fmt.Sprintf("log %s/%s: %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text))
			}
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request.URL)
		}
	})
	if err := chromedp.Run(ctx, log.Enable(), runtime.Enable(), network.Enable()); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

// profileDir makes the browser's user-data directory and removes it when
// the test ends, after the browser has closed. Chromium's helper processes
// (the crash handler, a renderer being torn down) can outlive the browser
// process by a moment and still write into the profile, so the removal is
// retried for a few seconds rather than failing on "directory not empty".
func profileDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cordon-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; {
			if err = os.RemoveAll(dir); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("removing the chromium profile: %v", err)
		}
	})
	return dir
}

// open writes the report to a file and loads it.
func (b *browser) open(t *testing.T, r *report.Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "file://" + path
	if err := chromedp.Run(b.ctx, chromedp.Navigate(url), chromedp.WaitReady("#tl-status")); err != nil {
		t.Fatalf("loading the report: %v", err)
	}
	return url
}

func (b *browser) eval(t *testing.T, js string, out any) {
	t.Helper()
	if err := chromedp.Run(b.ctx, chromedp.Evaluate(js, out)); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
}

// visible counts the timeline entries shown.
func (b *browser) visible(t *testing.T) int {
	var n int
	b.eval(t, `Array.from(document.querySelectorAll("#tl-list li.ev")).filter(e => !e.hidden && e.offsetParent !== null).length`, &n)
	return n
}

func (b *browser) check(t *testing.T, url string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("browser: %s", p)
	}
	for _, r := range b.requests {
		// The page itself, and the screenshot's data: URI, are no fetch.
		if r != url && !strings.HasPrefix(r, "data:image/png;base64,") && !strings.HasPrefix(r, "data:image/jpeg;base64,") {
			t.Errorf("the report made a request: %.200s", r)
		}
	}
}

// screenshot saves the page as a PNG under -shots (and always takes it,
// so the rendering path is exercised).
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(b.ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot is not a PNG")
	}
	dir := *shots
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHTMLInBrowser(t *testing.T) {
	b := newBrowser(t)
	r := build(t, "cryptominer")
	url := b.open(t, r)
	total := len(r.Timeline.Entries)

	// Every entry of the report is rendered, and shown.
	var rendered int
	b.eval(t, `document.querySelectorAll("#tl-list li.ev").length`, &rendered)
	if rendered != total || b.visible(t) != total {
		t.Fatalf("%d entries rendered, %d visible, want %d", rendered, b.visible(t), total)
	}
	var marks int
	b.eval(t, `document.querySelectorAll(".overview .mark").length`, &marks)
	if marks != total {
		t.Errorf("%d marks on the overview, want %d", marks, total)
	}
	var shot bool
	b.eval(t, `(() => { const i = document.querySelector("figure.shot img"); return !!i && i.complete && i.naturalWidth === 720; })()`, &shot)
	if !shot {
		t.Error("the console screenshot did not render")
	}
	b.screenshot(t, "report.png")

	counts := r.Timeline.Count()
	status := func() string {
		var s string
		b.eval(t, `document.getElementById("tl-status").textContent`, &s)
		return s
	}
	// A click on a source's toggle hides its entries; another shows them.
	for _, src := range []report.Source{report.SourceTriage, report.SourceCordon} {
		sel := fmt.Sprintf(`button[data-filter=%q]`, src)
		if err := chromedp.Run(b.ctx, chromedp.Click(sel, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if got, want := b.visible(t), total-counts[src]; got != want {
			t.Errorf("%s off: %d entries visible, want %d", src, got, want)
		}
		var pressed string
		b.eval(t, fmt.Sprintf(`document.querySelector(%q).getAttribute("aria-pressed")`, sel), &pressed)
		if pressed != "false" {
			t.Errorf("%s off: aria-pressed %q", src, pressed)
		}
		if want := fmt.Sprintf("Showing %d of %d entries", total-counts[src], total); status() != want {
			t.Errorf("status %q, want %q", status(), want)
		}
		if src == report.SourceTriage {
			b.screenshot(t, "report-filtered.png")
		}
		// The keyboard turns it back on: focus and Enter.
		if err := chromedp.Run(b.ctx, chromedp.Focus(sel, chromedp.ByQuery), chromedp.KeyEvent("\r")); err != nil {
			t.Fatal(err)
		}
		if got := b.visible(t); got != total {
			t.Errorf("%s on again by keyboard: %d visible, want %d", src, got, total)
		}
	}

	// The text filter keeps the entries that mention the text.
	if err := chromedp.Run(b.ctx, chromedp.SendKeys("#tl-q", "kworkerd", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, e := range r.Timeline.Entries {
		if entryMentions(e, "kworkerd") {
			want++
		}
	}
	if got := b.visible(t); got != want || want == 0 {
		t.Errorf("filtered by text: %d visible, want %d", got, want)
	}
	if err := chromedp.Run(b.ctx, chromedp.Click("#tl-all", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	if got := b.visible(t); got != total {
		t.Errorf("after Show all: %d visible, want %d", got, total)
	}

	// Printed: the toolbar goes, every entry stays.
	if err := chromedp.Run(b.ctx, emulation.SetEmulatedMedia().WithMedia("print")); err != nil {
		t.Fatal(err)
	}
	var toolbar string
	b.eval(t, `getComputedStyle(document.querySelector(".toolbar")).display`, &toolbar)
	if toolbar != "none" || b.visible(t) != total {
		t.Errorf("print: toolbar display %q, %d entries visible", toolbar, b.visible(t))
	}
	b.screenshot(t, "report-print.png")
	b.check(t, url)
}

// entryMentions reports whether an entry's rendered text contains s.
func entryMentions(e report.Entry, s string) bool {
	if strings.Contains(strings.ToLower(e.Title+e.Error+e.Result+e.Source.Label()), s) {
		return true
	}
	for _, f := range e.Details {
		if strings.Contains(strings.ToLower(f.Name+f.Value), s) {
			return true
		}
	}
	return false
}

// TestHTMLInBrowserHostile loads a report full of markup an attacker
// planted in the facts and the finding: none of it runs, all of it is
// shown as text, and the page logs no error (a blocked script or image
// would).
func TestHTMLInBrowserHostile(t *testing.T) {
	b := newBrowser(t)
	fx := hostileFixture(t)
	r := report.Build(fx.Detail, fx.Evidence, fx.CollectorTypes)
	url := b.open(t, r)
	var pwned any
	b.eval(t, `window.__pwned === undefined ? null : window.__pwned`, &pwned)
	if pwned != nil {
		t.Fatalf("planted script ran: window.__pwned = %v", pwned)
	}
	var scripts, imgs, svgs int
	b.eval(t, `document.scripts.length`, &scripts)
	b.eval(t, `document.images.length`, &imgs)
	b.eval(t, `document.querySelectorAll("svg").length`, &svgs)
	if scripts != 1 || imgs != 1 || svgs != 0 {
		t.Errorf("%d scripts, %d images, %d svgs: want the report's own script and screenshot only", scripts, imgs, svgs)
	}
	var shown bool
	b.eval(t, `document.body.textContent.includes("<script>window.__pwned=1</script>") && document.body.textContent.includes("onerror=\"window.__pwned=2\"")`, &shown)
	if !shown {
		t.Error("planted markup is not shown as text")
	}
	var rendered int
	b.eval(t, `document.querySelectorAll("#tl-list li.ev").length`, &rendered)
	if rendered != len(r.Timeline.Entries) {
		t.Errorf("%d entries rendered, want %d", rendered, len(r.Timeline.Entries))
	}
	b.screenshot(t, "report-hostile.png")
	b.check(t, url)
}

// TestHTMLInBrowserJPEG: a console screenshot as EC2 takes it, a JPEG,
// renders in the report.
func TestHTMLInBrowserJPEG(t *testing.T) {
	b := newBrowser(t)
	fx := jpegFixture(t)
	r := report.Build(fx.Detail, fx.Evidence, fx.CollectorTypes)
	url := b.open(t, r)
	var shot bool
	b.eval(t, `(() => { const i = document.querySelector("figure.shot img"); return !!i && i.complete && i.naturalWidth === 720 && i.src.startsWith("data:image/jpeg;base64,"); })()`, &shot)
	if !shot {
		t.Error("the JPEG console screenshot did not render")
	}
	b.check(t, url)
}
