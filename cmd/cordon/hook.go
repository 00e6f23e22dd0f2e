package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/internal/ui"
	"github.com/cordonhq/cordon/schema"
)

// progressInterval is how often a collector still running is reported,
// as Terraform reports a resource still being created.
var progressInterval = 10 * time.Second

// progressHook renders what planning does for a person: with a terminal
// on stderr (and no -json), a line for each collector still running every
// progressInterval; with -debug, each finding as normalized. It is the
// CLI's engine.PlanHook: the engine never prints.
type progressHook struct {
	// progress receives the still-running lines; nil: none.
	progress io.Writer
	// debug receives the normalized findings; nil: none.
	debug    io.Writer
	interval time.Duration

	mu      sync.Mutex
	running map[engine.CollectorEvent]int // → times reported
	ticker  *time.Ticker
	done    chan struct{}
	stopped bool
}

var _ engine.PlanHook = (*progressHook)(nil)

// planHook returns the hook for this command's flags and streams, nil
// when it would print nothing.
func (m *meta) planHook() engine.PlanHook {
	h := &progressHook{interval: progressInterval, running: map[engine.CollectorEvent]int{}}
	if m.debug {
		h.debug = m.stderr
	}
	// Progress is for a person watching a terminal: not for a log file,
	// a pipe or a program reading -json.
	if !m.jsonOut && isTerminalWriter(m.stderr) {
		h.progress = m.stderr
	}
	if h.debug == nil && h.progress == nil {
		return nil
	}
	return h
}

func (h *progressHook) FindingRead(f *schema.Finding) {
	if h.debug == nil {
		return
	}
	b, err := normalizedJSON(f)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(h.debug, "[DEBUG] finding %s (%s) as normalized:\n%s\n", ui.Safe(f.ID), ui.Safe(f.Source), b)
}

// normalizedJSON is a finding as the engine reads it, without the raw
// document it was normalized from (which the findings file holds).
func normalizedJSON(f *schema.Finding) ([]byte, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "raw")
	return json.MarshalIndent(m, "", "  ")
}

func (h *progressHook) CollectorStarted(ev engine.CollectorEvent) {
	if h.progress == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	h.running[ev] = 0
	if h.ticker == nil {
		tick := h.interval / 2
		h.ticker = time.NewTicker(tick)
		h.done = make(chan struct{})
		go h.loop(h.ticker, h.done)
	}
}

func (h *progressHook) CollectorFinished(ev engine.CollectorEvent, err error) {
	if h.progress == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	reported, ok := h.running[ev]
	delete(h.running, ev)
	if !ok || reported == 0 || h.stopped {
		return
	}
	// A collector reported as still running is reported as done, so the
	// last line about it is not "still running".
	outcome := "done"
	if err != nil {
		outcome = "failed"
	}
	fmt.Fprintf(h.progress, "%s %s: %s after %s\n", ui.Safe(ev.Collector), ui.Safe(ev.Resource), outcome, h.elapsed(ev))
}

func (h *progressHook) loop(t *time.Ticker, done chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-t.C:
			h.report()
		}
	}
}

// report writes a line for each collector that has run another interval
// since it was last reported, oldest first.
func (h *progressHook) report() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	var due []engine.CollectorEvent
	for ev, n := range h.running {
		if time.Since(ev.Started) >= time.Duration(n+1)*h.interval {
			due = append(due, ev)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].Started.Before(due[j].Started) })
	for _, ev := range due {
		h.running[ev]++
		fmt.Fprintf(h.progress, "%s %s: still running [%s elapsed]\n", ui.Safe(ev.Collector), ui.Safe(ev.Resource), h.elapsed(ev))
	}
}

func (h *progressHook) elapsed(ev engine.CollectorEvent) time.Duration {
	d := time.Since(ev.Started)
	if h.interval >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}

// stop ends the reporting: nothing is written after it returns.
func (h *progressHook) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	h.stopped = true
	if h.ticker != nil {
		h.ticker.Stop()
		close(h.done)
	}
}
