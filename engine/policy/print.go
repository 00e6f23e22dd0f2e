package policy

import (
	"fmt"
	"io"
	"sync"

	"github.com/open-policy-agent/opa/v1/topdown/print"
)

// printer routes print() output from policies to a writer as
// "file:line: message" lines. Evaluations run concurrently, so writes are
// serialized to keep lines whole. A failing writer is ignored: debug output
// must never change a verdict.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) Print(ctx print.Context, msg string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if loc := ctx.Location; loc != nil {
		fmt.Fprintf(p.w, "%s:%d: %s\n", loc.File, loc.Row, msg)
	} else {
		fmt.Fprintln(p.w, msg)
	}
	return nil
}
