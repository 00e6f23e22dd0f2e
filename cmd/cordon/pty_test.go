package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// pty is a pseudo-terminal: what cordon writes to its terminal end is
// read back from its other end, so tests see what a person at a terminal
// sees (colour, progress) through the same IsTerminal check.
type pty struct {
	term *os.File // the terminal end, given to cordon

	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

// openPTY opens a pseudo-terminal, skipping the test where there is none.
func openPTY(t *testing.T) *pty {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		t.Skipf("naming the pseudo-terminal: %v", err)
	}
	term, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	p := &pty{term: term, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		term.Close()
		master.Close()
		<-p.done
	})
	return p
}

// output closes the terminal end and returns everything written to it,
// with the terminal's \r\n turned back into \n.
func (p *pty) output() string {
	p.term.Close()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.ReplaceAll(p.out.String(), "\r\n", "\n")
}

// cordonTTY runs the CLI in-process with stdout or stderr (or both) on a
// terminal; the other stream, if any, is a buffer. It returns the exit
// code, the terminal's output and the buffer's.
func cordonTTY(t *testing.T, stdoutTTY, stderrTTY bool, args ...string) (int, string, string) {
	t.Helper()
	p := openPTY(t)
	var buf bytes.Buffer
	var stdout, stderr io.Writer = &buf, &buf
	if stdoutTTY {
		stdout = p.term
	}
	if stderrTTY {
		stderr = p.term
	}
	code := run(context.Background(), args, strings.NewReader(""), stdout, stderr)
	return code, p.output(), buf.String()
}

func TestPTY(t *testing.T) {
	p := openPTY(t)
	fmt.Fprintln(p.term, "hello")
	if got := p.output(); got != "hello\n" {
		t.Errorf("read back %q", got)
	}
	if _, err := p.term.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write after output: %v", err)
	}
}
