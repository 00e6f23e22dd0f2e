package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// What every backend's Lock shares: the arguments it accepts, and how a
// waiter polls.

// Waiting for a lock polls: the first retry after lockPollMin, doubling up
// to lockPollMax, each with up to half again of random jitter so that
// waiters do not retry in step.
const (
	lockPollMin = 10 * time.Millisecond
	lockPollMax = time.Second
)

// lockKeys checks Lock's arguments and returns the keys sorted, without
// duplicates, leaving the caller's slice as it was.
func lockKeys(keys []string, owner string) ([]string, error) {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for _, k := range keys {
		if k == "" {
			return nil, errors.New("state lock: empty key")
		}
	}
	if owner == "" {
		return nil, errors.New("state lock: owner is empty")
	}
	return keys, nil
}

// waitForLock calls try until it takes the locks (it returns a nil
// holder), fails, the timeout passes (a *LockError naming the last holder)
// or ctx ends. A timeout of 0 tries once.
func waitForLock(ctx context.Context, timeout time.Duration, try func() (*LockInfo, error)) error {
	deadline := time.Now().Add(timeout)
	wait := lockPollMin
	var timer *time.Timer
	var last *LockInfo
	for {
		held, err := try()
		if err != nil && last != nil && ctx.Err() != nil {
			// Cancelled while trying again: the holder is still the news.
			return fmt.Errorf("waiting for state lock %q held by %s: %w", last.Key, last.Owner, ctx.Err())
		}
		if err != nil {
			return err
		}
		if held == nil {
			return nil
		}
		last = held
		left := time.Until(deadline)
		if timeout <= 0 || left <= 0 {
			return &LockError{Holder: *held, Timeout: timeout}
		}
		d := min(wait+rand.N(wait/2+1), left)
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for state lock %q held by %s: %w", held.Key, held.Owner, ctx.Err())
		case <-timer.C:
		}
		wait = min(wait*2, lockPollMax)
	}
}
