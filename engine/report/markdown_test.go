package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cordonhq/cordon/internal/ui"
)

// hostileMarkdown is text an attacker plants in a finding or the facts to
// break out of its place in a Markdown report read in a terminal or
// pasted into a ticket.
var hostileMarkdown = []string{
	"\x1b[2J\x1b[H\x1b[31mFAKE OK\x1b[0m",
	"approved\rrejected",
	"\x1b]8;;https://attacker.example/\x07details\x1b]8;;\x07",
	"invoice\u202efdp.exe \u2066x\u2069 \u200b",
	"cell|split|more",
	"x\n  # action.stop[\"i-0fake\"] (aws_ec2_stop, disrupt)",
	"x\n\n| forged | row |\n\n# Forged heading",
	"a\u2028b\u2029c\u0085d",
	"bad \xff\xfe utf-8",
	"``|`` \\| \\",
}

// TestMarkdownHostileEverywhere fills every string of a report with
// hostile text and checks the Markdown: valid UTF-8, no control, bidi or
// line-breaking character from a value, the same lines as the report
// filled with placeholders, and the same table cells on each line.
func TestMarkdownHostileEverywhere(t *testing.T) {
	for seed := range uint64(12) {
		for _, h := range hostileMarkdown {
			var n int
			hr := fillReport(seed, func() string { n++; return fmt.Sprintf("%s@F%04d@", h, n) }, false)
			pr := fillReport(seed, func() string { n++; return "PH" }, false)
			var hb, pb bytes.Buffer
			if err := hr.WriteMarkdown(&hb); err != nil {
				t.Fatal(err)
			}
			if err := pr.WriteMarkdown(&pb); err != nil {
				t.Fatal(err)
			}
			out := hb.String()
			if !utf8.ValidString(out) {
				t.Errorf("seed %d, %q: the report is not valid UTF-8", seed, h)
			}
			got, want := strings.Split(out, "\n"), strings.Split(pb.String(), "\n")
			if len(got) != len(want) {
				t.Errorf("seed %d, %q: %d lines, %d with placeholders:\n%s", seed, h, len(got), len(want), out)
				continue
			}
			for i, line := range got {
				if ui.Safe(line) != line {
					t.Errorf("seed %d, %q: unsafe line %q", seed, h, line)
				}
				if strings.HasPrefix(line, "  # action.stop") || strings.HasPrefix(line, "# Forged") || strings.HasPrefix(line, "| forged") {
					t.Errorf("seed %d, %q: a value forged the line %q", seed, h, line)
				}
				if g, w := cells(line), cells(want[i]); g != w {
					t.Errorf("seed %d, %q: line %d has %d table cells, %d with placeholders:\n%s\n%s", seed, h, i+1, g, w, line, want[i])
				}
			}
		}
	}
}

// cells counts the cell separators of a Markdown table row: GFM splits a
// row at every pipe that no backslash precedes, inside code spans too.
func cells(line string) int {
	if !strings.HasPrefix(line, "|") {
		return 0
	}
	n := 0
	for i := 0; i < len(line); i++ {
		if line[i] == '|' && (i == 0 || line[i-1] != '\\') {
			n++
		}
	}
	return n
}
