package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCrashMidNotification kills a real `cordon apply` with SIGKILL while
// its webhook POST is at the receiver (which holds it), before the
// receiver's answer is recorded. Whether the notification arrived is then
// unknown: `cordon state recover` must record it interrupted, not sent,
// and applying the plan again must send it exactly once more, with the
// X-Cordon-Delivery of the copy the receiver already has, so the receiver
// can drop it.
func TestCrashMidNotification(t *testing.T) {
	bin := buildCordon(t)
	dir, _ := emulatedConfig(t)

	var (
		mu      sync.Mutex
		keys    []string
		held    = true
		arrived = make(chan struct{}, 1)
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		keys = append(keys, r.Header.Get("X-Cordon-Delivery"))
		hold := held
		held = false
		mu.Unlock()
		if hold {
			arrived <- struct{}{}
			select { // until the apply is killed
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	received := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), keys...)
	}
	t.Setenv("CORDON_VAR_webhook_url", hook.URL+"/cordon")

	planFile := filepath.Join(t.TempDir(), "web1.plan")
	if code, _, errOut := cordon(t, "plan", "-config", dir, "-finding", web1Finding, "-out", planFile); code != 0 {
		t.Fatalf("plan: %s", errOut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "apply", "-config", dir, "-no-color", planFile)
	cmd.Env = os.Environ()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-ctx.Done():
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the notification never reached the receiver:\n%s", out.String())
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on unix
		t.Fatal(err)
	}
	cmd.Wait()
	first := received()
	if len(first) != 1 || len(first[0]) != 32 {
		t.Fatalf("before the crash the receiver got %q", first)
	}

	code, stdout, errOut := cordon(t, "state", "recover", "-config", dir)
	if code != 0 || !strings.Contains(stdout, `action.notify["i-0a1b2c3d4e5f67890"]`) || !strings.Contains(stdout, "interrupted") ||
		!strings.Contains(stdout, first[0]) {
		t.Fatalf("recover: exit %d\n%s\n%s", code, stdout, errOut)
	}

	code, stdout, errOut = cordon(t, "apply", "-config", dir, "-no-color", planFile)
	if code != 0 {
		t.Fatalf("re-apply: exit %d\n%s\n%s", code, stdout, errOut)
	}
	for _, want := range []string{
		`action.stop["i-0a1b2c3d4e5f67890"]: Already done`,
		`action.notify["i-0a1b2c3d4e5f67890"]: Apply complete`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("re-apply output lacks %q:\n%s", want, stdout)
		}
	}
	if got := received(); len(got) != 2 || got[1] != first[0] {
		t.Errorf("the receiver got keys %q; want the interrupted notification once more, with its key %s", got, first[0])
	}

}
