package ui

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrNoTerminal is returned when approval is needed and nobody can give it.
var ErrNoTerminal = errors.New("no terminal to ask for approval")

// Confirm asks Terraform's question and accepts only "yes". It fails
// rather than waits when in is not a terminal (a pipe in CI), unless
// interactive says otherwise for tests.
func Confirm(in io.Reader, out io.Writer, question, detail string) (bool, error) {
	if f, ok := in.(*os.File); ok && !IsTerminal(f) {
		return false, ErrNoTerminal
	}
	fmt.Fprintf(out, "\n%s\n  %s\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", question, detail)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	fmt.Fprintln(out)
	return strings.TrimSpace(line) == "yes", nil
}
