package serve

import (
	"bytes"
	"log/slog"
	"sync"
)

// logWriter turns the engine's progress lines (one per action as it
// starts and ends) into log records carrying the investigation's
// attributes: finding id, incident id, plan.
type logWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if line := bytes.TrimSpace(w.buf[:i]); len(line) > 0 {
			w.log.Info(string(line))
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}
