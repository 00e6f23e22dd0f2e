package ui

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Findings are written by whoever controls the resource or the detector
// feeding them, and policies quote them in reasons, so any text cordon
// prints for a person can carry terminal escapes (clear the screen, move
// the cursor, OSC 8 hyperlinks), carriage returns and backspaces that
// overwrite what was printed, bidi overrides and invisible characters that
// disguise it, or newlines that forge lines of a plan. Safe and SafeText
// turn each of these into a visible escape, so a reviewer sees that
// something odd is there instead of a repainted plan. They apply to values,
// never to cordon's own painted output: colour codes keep working.

// Safe returns s for one line of human output: every character that could
// move the cursor, change the terminal's state, reorder or hide text, or
// start a new line is shown as an escape (\n, \r, \t, \x1b, \u202e,
// \U000e0041), and each byte of invalid UTF-8 as \xff. Letters, marks and
// symbols of every script pass unchanged, emoji included. When nothing
// needs escaping, s itself is returned without allocating.
func Safe(s string) string { return sanitize(s, false) }

// SafeText is Safe for free text that may span lines, such as an error's
// detail or a policy's print output: newlines and tabs are kept (CRLF
// becomes LF), everything else is escaped as by Safe. Callers indent the
// lines after the first, so a newline in a value cannot forge a line.
func SafeText(s string) string { return sanitize(s, true) }

// SafeDiagnostics returns diags with each summary made Safe and each
// detail SafeText, for rendering: details can quote findings. The
// diagnostics are copied, so diags, which may also be written as JSON,
// keep their exact text.
func SafeDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	for i, d := range diags {
		summary, detail := Safe(d.Summary), SafeText(d.Detail)
		if summary == d.Summary && detail == d.Detail {
			if out != nil {
				out = append(out, d)
			}
			continue
		}
		if out == nil {
			out = make(hcl.Diagnostics, i, len(diags))
			copy(out, diags[:i])
		}
		c := *d
		c.Summary, c.Detail = summary, detail
		out = append(out, &c)
	}
	if out == nil {
		return diags
	}
	return out
}

func sanitize(s string, multiline bool) string {
	// Scan for the first character to escape; most values are plain ASCII
	// or plain text in some script, and are returned as they are.
	i := 0
	for {
		i = printableASCII(s, i)
		if i == len(s) {
			return s
		}
		c := s[i]
		if multiline && (c == '\n' || c == '\t') {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			break
		}
		n, ok := safeUnit(s, i)
		if !ok {
			break
		}
		i += n
	}

	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		switch {
		case c-0x20 < 0x7f-0x20 || multiline && (c == '\n' || c == '\t'):
			b.WriteByte(c)
			i++
			continue
		case c < utf8.RuneSelf:
			if multiline && c == '\r' && i+1 < len(s) && s[i+1] == '\n' {
				b.WriteByte('\n')
				i += 2
				continue
			}
			writeEscape(&b, rune(c))
			i++
			continue
		}
		n, ok := safeUnit(s, i)
		if ok {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		} else {
			writeEscape(&b, r)
		}
		i += size
	}
	return b.String()
}

// printableASCII returns the index of the first byte from i on that is
// not printable ASCII, or len(s). It tests eight bytes at a time: with one
// 0x20 taken from each byte, a byte below 0x20 borrows and sets its top
// bit; with one added, 0x7f carries into it; bytes from 0x80 have it set.
// Borrows and carries only start at such bytes, so a word without any
// has no top bit set.
func printableASCII(s string, i int) int {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if ((w-ones*0x20)|(w+ones)|w)&tops != 0 {
			break
		}
	}
	for i < len(s) && s[i]-0x20 < 0x7f-0x20 {
		i++
	}
	return i
}

// The subdivision flags (England, Scotland, Wales) are the only emoji
// spelled with tag characters, which are otherwise invisible.
var tagFlags = [...]string{
	"\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F",
	"\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F",
	"\U0001F3F4\U000E0067\U000E0062\U000E0077\U000E006C\U000E0073\U000E007F",
}

// safeUnit looks at the non-ASCII character at s[i]: it reports whether it
// can be shown as it is and how many bytes it spans (a subdivision flag
// spans several characters).
func safeUnit(s string, i int) (int, bool) {
	r, size := utf8.DecodeRuneInString(s[i:])
	switch {
	case size == 1:
		// Invalid UTF-8 (s[i] is not ASCII).
		return 1, false
	case r <= 0xffff:
		if unsafeBMP[r>>6]&(1<<(r&63)) == 0 {
			return size, true
		}
		if r == '\u200c' || r == '\u200d' {
			return size, joins(s, i, size)
		}
		return size, false
	case r == '\U0001F3F4':
		for _, f := range tagFlags {
			if strings.HasPrefix(s[i:], f) {
				return len(f), true
			}
		}
		return size, true
	}
	return size, !unicode.Is(unicode.Cf, r) && !unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

// unsafeBMP is a bit per character of the Basic Multilingual Plane, set
// for those Safe escapes: C1 controls (U+009B is CSI, U+009D OSC, U+0085 a
// line break), the line and paragraph separators, and the format and
// default-ignorable characters: bidi embeddings, overrides and isolates
// (U+202A–U+202E, U+2066–U+2069), marks (U+200E, U+200F, U+061C),
// zero-width spaces and joiners, word joiners, the BOM, and fillers that
// render as nothing. A table, because looking each character up in
// Unicode's tables made Safe five times slower on non-Latin text.
var unsafeBMP = func() *[1 << 10]uint64 {
	var t [1 << 10]uint64
	set := func(r rune) { t[r>>6] |= 1 << (r & 63) }
	for r := rune(0x80); r < 0xa0; r++ {
		set(r)
	}
	set('\u2028')
	set('\u2029')
	for _, tab := range []*unicode.RangeTable{unicode.Cf, unicode.Other_Default_Ignorable_Code_Point} {
		for _, rg := range tab.R16 {
			for r := rune(rg.Lo); r <= rune(rg.Hi); r += rune(rg.Stride) {
				set(r)
			}
		}
	}
	return &t
}()

// joins reports whether the zero-width joiner or non-joiner at s[i] does
// the job it exists for, so is kept: between two emoji (👩‍💻, 🏳️‍🌈) or
// inside a word of a script that shapes with it (Persian, the Indic
// scripts). Anywhere else, an identifier in particular, it only hides a
// difference between two strings that look the same.
func joins(s string, i, size int) bool {
	prev, _ := utf8.DecodeLastRuneInString(s[:i])
	next, _ := utf8.DecodeRuneInString(s[i+size:])
	if prev == utf8.RuneError || next == utf8.RuneError {
		// The start or end of s, or invalid UTF-8 (U+FFFD is a symbol).
		return false
	}
	if emojiPart(prev) && unicode.Is(unicode.So, next) {
		return true
	}
	return scriptPart(prev) && next >= 0x80 && unicode.IsLetter(next) && !unicode.Is(unicode.Cf, next)
}

// emojiPart reports whether r can end an emoji before a joiner: the emoji
// itself, its presentation selector or a skin-tone modifier.
func emojiPart(r rune) bool {
	return unicode.Is(unicode.So, r) || r == '\ufe0f' || r >= 0x1F3FB && r <= 0x1F3FF
}

// scriptPart reports whether r is a non-ASCII letter or mark (a virama
// precedes the joiner in the Indic scripts), not a variation selector.
func scriptPart(r rune) bool {
	if r < 0x80 || r == utf8.RuneError || unicode.Is(unicode.Variation_Selector, r) {
		return false
	}
	return unicode.IsLetter(r) || unicode.IsMark(r)
}

const hexDigits = "0123456789abcdef"

// writeEscape writes r as Go writes it in a string literal: \n, \r, \t,
// \x1b for other ASCII controls, \u202e or \U000e0041 beyond.
func writeEscape(b *strings.Builder, r rune) {
	switch r {
	case '\n':
		b.WriteString(`\n`)
		return
	case '\r':
		b.WriteString(`\r`)
		return
	case '\t':
		b.WriteString(`\t`)
		return
	}
	digits := 2
	switch {
	case r < 0x80:
		b.WriteString(`\x`)
	case r <= 0xffff:
		b.WriteString(`\u`)
		digits = 4
	default:
		b.WriteString(`\U`)
		digits = 8
	}
	for shift := (digits - 1) * 4; shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[(r>>shift)&0xf])
	}
}
