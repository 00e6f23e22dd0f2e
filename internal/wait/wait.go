// Package wait is the one context-aware pause that actions and collectors
// use between retries and polls: it ends early, with the context's error,
// when the investigation or apply is cancelled or times out.
package wait

import (
	"context"
	"time"
)

// Sleep waits for d, or until ctx is done, in which case it returns
// ctx.Err(). A d of zero or less returns at once, with ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
