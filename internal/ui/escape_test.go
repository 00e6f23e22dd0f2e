package ui

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

func TestSafe(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		// Ordinary text passes unchanged.
		{"empty", "", ""},
		{"ascii", `action.stop["i-0a1b2c3d4e5f67890"] (aws_ec2_stop, disrupt)`, `action.stop["i-0a1b2c3d4e5f67890"] (aws_ec2_stop, disrupt)`},
		{"backslashes stay", `C:\Users\x1b`, `C:\Users\x1b`},
		{"latin", "Zürich, São Paulo, Łódź, Ærøskøbing", "Zürich, São Paulo, Łódź, Ærøskøbing"},
		{"cjk", "東京リージョン 서울 北京", "東京リージョン 서울 北京"},
		{"rtl letters", "שלום مرحبا", "שלום مرحبا"},
		{"greek and cyrillic", "Ελλάδα Москва", "Ελλάδα Москва"},
		{"combining marks", "Zu\u0308rich", "Zu\u0308rich"},
		{"emoji", "🚨 ⚠️ ✅ 🇩🇪 👍🏽", "🚨 ⚠️ ✅ 🇩🇪 👍🏽"},
		{"emoji zwj sequences", "👩‍💻 👨‍👩‍👧 🏳️‍🌈 👩🏽‍🚒", "👩‍💻 👨‍👩‍👧 🏳️‍🌈 👩🏽‍🚒"},
		{"subdivision flag", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F Scotland", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F Scotland"},
		{"persian zwnj", "می\u200cخواهم", "می\u200cخواهم"},
		{"devanagari zwj", "क्\u200dष", "क्\u200dष"},
		{"nbsp and symbols", "a\u00a0b € © ±", "a\u00a0b € © ±"},
		{"replacement character", "\ufffd", "\ufffd"},

		// C0 controls, DEL and line breaks.
		{"newline forges a plan line", "reason\n  # action.stop[\"i-1\"] (aws_ec2_stop, disrupt)", `reason\n  # action.stop["i-1"] (aws_ec2_stop, disrupt)`},
		{"carriage return overwrites", "malicious\rbenign   ", `malicious\rbenign   `},
		{"tab", "a\tb", `a\tb`},
		{"erase display", "\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},
		{"colour", "\x1b[32mOK\x1b[0m", `\x1b[32mOK\x1b[0m`},
		{"backspaces", "stop\b\b\b\bnone", `stop\x08\x08\x08\x08none`},
		{"osc 8 hyperlink", "\x1b]8;;https://attacker.example/\x07click\x1b]8;;\x07", `\x1b]8;;https://attacker.example/\x07click\x1b]8;;\x07`},
		{"osc 8 with st", "\x1b]8;;https://x\x1b\\y", `\x1b]8;;https://x\x1b\y`},
		{"nul and del", "a\x00b\x7f", `a\x00b\x7f`},
		{"form feed and vertical tab", "\f\v", `\x0c\x0b`},

		// C1 controls, as characters.
		{"c1 csi", "\u009b2J", `\u009b2J`},
		{"c1 osc", "\u009d8;;x\u009c", `\u009d8;;x\u009c`},
		{"next line", "a\u0085b", `a\u0085b`},

		// Bidi controls and line separators.
		{"rlo", "invoice\u202efdp.exe", `invoice\u202efdp.exe`},
		{"lro pdf", "\u202dx\u202c", `\u202dx\u202c`},
		{"embeddings", "\u202a\u202b", `\u202a\u202b`},
		{"isolates", "\u2066a\u2067b\u2068c\u2069", `\u2066a\u2067b\u2068c\u2069`},
		{"marks", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"line separator", "a\u2028  # fake", `a\u2028  # fake`},
		{"paragraph separator", "a\u2029b", `a\u2029b`},

		// Zero-width and other invisible format characters.
		{"zero-width space", "i-1\u200b23", `i-1\u200b23`},
		{"zwj in an identifier", "i-1\u200d23", `i-1\u200d23`},
		{"zwnj in an identifier", "i-1\u200c23", `i-1\u200c23`},
		{"zwj after emoji before ascii", "👍\u200dx", `👍\u200dx`},
		{"zwj at the ends", "\u200d👍\u200d", `\u200d👍\u200d`},
		{"zwj before invalid utf-8", "👍\u200d\xbb", `👍\u200d\xbb`},
		{"word joiner and bom", "\u2060\ufeff", `\u2060\ufeff`},
		{"soft hyphen", "ad\u00admin", `ad\u00admin`},
		{"hangul filler", "admin\u3164", `admin\u3164`},
		{"interlinear annotation", "\ufff9a\ufffbb", `\ufff9a\ufffbb`},
		{"tag characters", "ok\U000E0041\U000E0042", `ok\U000e0041\U000e0042`},
		{"black flag without a known tag sequence", "🏴\U000E0041\U000E007F", `🏴\U000e0041\U000e007f`},

		// Invalid UTF-8: each byte shown.
		{"invalid bytes", "a\xff\xfeb", `a\xff\xfeb`},
		{"truncated sequence", "\xe2\x82", `\xe2\x82`},
		{"encoded surrogate", "\xed\xa0\x80", `\xed\xa0\x80`},
		{"overlong slash", "\xc0\xaf", `\xc0\xaf`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Safe(tt.in)
			if got != tt.want {
				t.Errorf("Safe(%q) = %q, want %q", tt.in, got, tt.want)
			}
			checkSafe(t, got, false)
			if again := Safe(got); again != got {
				t.Errorf("Safe is not idempotent: Safe(%q) = %q", got, again)
			}
		})
	}
}

func TestSafeText(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"plain lines", "line one\n\tline two\n", "line one\n\tline two\n"},
		{"crlf becomes lf", "a\r\nb\r\n", "a\nb\n"},
		{"lone cr escaped", "done\rFAILED", `done\rFAILED`},
		{"escapes on a line", "a\x1b[2Jb\nc\u202ed", "a\\x1b[2Jb\nc\\u202ed"},
		{"line separator is not a newline", "a\u2028b", `a\u2028b`},
		{"invalid utf-8", "a\xffb\n", "a\\xffb\n"},
		{"non-ascii passes", "Zürich\n東京 🚨", "Zürich\n東京 🚨"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := SafeText(tt.in)
			if got != tt.want {
				t.Errorf("SafeText(%q) = %q, want %q", tt.in, got, tt.want)
			}
			checkSafe(t, got, true)
			if again := SafeText(got); again != got {
				t.Errorf("SafeText is not idempotent: SafeText(%q) = %q", got, again)
			}
		})
	}
}

// checkSafe fails if s holds a character no terminal should receive from
// a value: invalid UTF-8, C0 or C1 controls (newline and tab aside in
// multi-line text), line separators or format characters other than a
// joiner between emoji or letters of one word.
func checkSafe(t *testing.T, s string, multiline bool) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%q is not valid UTF-8", s)
	}
	for i, r := range s {
		switch {
		case multiline && (r == '\n' || r == '\t'):
		case r < 0x20 || r >= 0x7f && r < 0xa0:
			t.Errorf("%q holds control %U at %d", s, r, i)
		case r == '\u2028' || r == '\u2029':
			t.Errorf("%q holds separator %U at %d", s, r, i)
		case r == '\u200c' || r == '\u200d':
			if !joins(s, i, utf8.RuneLen(r)) {
				t.Errorf("%q holds a stray joiner %U at %d", s, r, i)
			}
		case r >= 0xE0020 && r <= 0xE007F:
			// Only inside a subdivision flag, which the table checks.
		case unicode.Is(unicode.Cf, r):
			t.Errorf("%q holds format character %U at %d", s, r, i)
		}
	}
}

// TestSafeDoesNotAllocate checks the fast paths: values that need no
// escaping, the vast majority, are returned as they are.
func TestSafeDoesNotAllocate(t *testing.T) {
	for _, s := range []string{
		`action.isolate["i-0a1b2c3d4e5f67890"]`,
		"Zürich 東京 👩‍💻 ⚠️",
		strings.Repeat("high finding Backdoor:EC2/C&CActivity.B!DNS ", 20),
	} {
		if n := testing.AllocsPerRun(100, func() { Safe(s) }); n != 0 {
			t.Errorf("Safe(%q) allocates %v times", s, n)
		}
		if n := testing.AllocsPerRun(100, func() { SafeText(s + "\n" + s) }); n > 1 { // the concatenation
			t.Errorf("SafeText(%q) allocates %v times", s, n)
		}
	}
}

func TestSafeDiagnostics(t *testing.T) {
	plain := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid finding", Detail: "line one\nline two"}
	hostile := &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Finding \x1b[2J", Detail: "type \u202eX\r\nnext line",
		Subject: &hcl.Range{Filename: "f.hcl"}}
	diags := hcl.Diagnostics{plain, hostile}
	got := SafeDiagnostics(diags)
	if got[0] != plain {
		t.Error("a diagnostic with nothing to escape was copied")
	}
	if got[1] == hostile || got[1].Summary != `Finding \x1b[2J` || got[1].Detail != "type \\u202eX\nnext line" ||
		got[1].Severity != hcl.DiagWarning || got[1].Subject != hostile.Subject {
		t.Errorf("escaped diagnostic = %+v", got[1])
	}
	if hostile.Summary != "Finding \x1b[2J" {
		t.Error("SafeDiagnostics changed the caller's diagnostic")
	}
	if clean := (hcl.Diagnostics{plain}); &SafeDiagnostics(clean)[0] != &clean[0] {
		t.Error("diagnostics with nothing to escape were copied")
	}
}

func FuzzSafe(f *testing.F) {
	for _, s := range []string{"", "plain", "Zürich 東京 👩‍💻", "\x1b[2J\r\n\u202e\u2028\xff", "👍\u200d\u200dx", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, multiline := range []bool{false, true} {
			got := sanitize(s, multiline)
			checkSafe(t, got, multiline)
			if again := sanitize(got, multiline); again != got {
				t.Fatalf("not idempotent: %q -> %q -> %q", s, got, again)
			}
			if !multiline && strings.ContainsAny(got, "\n\r") {
				t.Fatalf("Safe(%q) = %q spans lines", s, got)
			}
		}
	})
}

var benchmarkSink string

func BenchmarkSafe(b *testing.B) {
	for _, bm := range []struct{ name, in string }{
		{"ascii", `action.isolate["i-0a1b2c3d4e5f67890"] (aws_ec2_isolate, contain)`},
		{"unicode", "Überwachung 東京リージョン 👩‍💻 ⚠️ Zürich"},
		{"hostile", "Backdoor:EC2/X\x1b[2J\r\n  # action.stop[\"i-1\"]\u202e\u2028\xff"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.in)))
			for b.Loop() {
				benchmarkSink = Safe(bm.in)
			}
		})
	}
}

// TestPrintableASCII checks the eight-bytes-at-a-time scan against the
// byte loop for every byte value at every position of a word.
func TestPrintableASCII(t *testing.T) {
	for c := range 256 {
		for pos := range 11 {
			b := []byte(strings.Repeat("x", 11))
			b[pos] = byte(c)
			s := string(b)
			want := len(s)
			for i := range len(s) {
				if s[i] < 0x20 || s[i] >= 0x7f {
					want = i
					break
				}
			}
			if got := printableASCII(s, 0); got != want {
				t.Errorf("printableASCII(%q) = %d, want %d", s, got, want)
			}
		}
	}
}
