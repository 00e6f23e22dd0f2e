// Command loadgen posts findings to a running `cordon serve` and reports
// the sustained rate of accepted findings and the latency of the 202s:
//
//	go run ./internal/cmd/genfindings -n 20000 > /tmp/findings.ndjson
//	cordon serve -config policies -facts policies/testdata/facts/ec2_cryptominer.json &
//	go run ./internal/cmd/loadgen -findings /tmp/findings.ndjson -c 16 \
//	    -token-file policies/.cordon/api-token
//
// Each line of the NDJSON file is one request (with -batch N, N lines are
// one NDJSON request). It is bounded in count (-n) and time (-duration),
// and talks to loopback addresses only: it is a measuring tool, not a way
// to flood a production daemon.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

const (
	maxFindings = 1_000_000
	maxDuration = 10 * time.Minute
)

func run() error {
	target := flag.String("url", "http://127.0.0.1:8080", "the daemon's API `URL` (loopback only)")
	findings := flag.String("findings", "", "NDJSON `FILE` of findings, one per line (go run ./internal/cmd/genfindings)")
	n := flag.Int("n", 0, "post at most `N` findings (default: every line, at most 1,000,000)")
	conc := flag.Int("c", 8, "concurrent requests")
	batch := flag.Int("batch", 1, "findings per request (NDJSON)")
	duration := flag.Duration("duration", time.Minute, "stop after this long (at most 10m)")
	tokenFile := flag.String("token-file", "", "read the bearer token from `FILE` (default $CORDON_API_TOKEN)")
	flag.Parse()

	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-url %q is not a URL", *target)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-url %s is not a loopback address: loadgen measures a local daemon only", *target)
	}
	if *findings == "" {
		return errors.New("-findings FILE is required")
	}
	if *duration <= 0 || *duration > maxDuration {
		return fmt.Errorf("-duration must be between 0 and %s", maxDuration)
	}
	if *conc < 1 || *conc > 256 || *batch < 1 || *batch > 1000 {
		return errors.New("-c must be 1..256 and -batch 1..1000")
	}
	token := strings.TrimSpace(os.Getenv("CORDON_API_TOKEN"))
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(b))
	}
	limit := *n
	if limit <= 0 || limit > maxFindings {
		limit = maxFindings
	}
	lines, err := readLines(*findings, limit)
	if err != nil {
		return err
	}
	var bodies [][]byte
	for i := 0; i < len(lines); i += *batch {
		bodies = append(bodies, bytes.Join(lines[i:min(i+*batch, len(lines))], []byte("\n")))
	}

	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc}, Timeout: 30 * time.Second}
	endpoint := strings.TrimRight(*target, "/") + "/v1/findings"
	var (
		next                                     atomic.Int64
		accepted, duplicates, failed, rejections atomic.Int64
		mu                                       sync.Mutex
		latencies                                []time.Duration
		firstErr                                 atomic.Value
	)
	start := time.Now()
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			defer func() {
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) {
					return
				}
				t0 := time.Now()
				code, body, err := post(ctx, client, endpoint, token, bodies[i], *batch > 1)
				mine = append(mine, time.Since(t0))
				switch {
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				case code == http.StatusAccepted:
					var r struct{ Accepted, Duplicates int }
					json.Unmarshal(body, &r)
					accepted.Add(int64(r.Accepted))
					duplicates.Add(int64(r.Duplicates))
				case code == http.StatusBadRequest:
					rejections.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("HTTP %d: %s", code, body))
				default:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("HTTP %d: %s", code, body))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	fmt.Printf("requests   %d in %s (%d concurrent, %d findings each)\n", len(latencies), elapsed.Round(time.Millisecond), *conc, *batch)
	fmt.Printf("accepted   %d findings (%.0f/s), %d duplicates, %d rejected requests, %d failed requests\n",
		accepted.Load(), float64(accepted.Load())/elapsed.Seconds(), duplicates.Load(), rejections.Load(), failed.Load())
	if len(latencies) > 0 {
		fmt.Printf("latency    p50 %s  p90 %s  p99 %s  max %s\n", pct(latencies, 50), pct(latencies, 90), pct(latencies, 99), latencies[len(latencies)-1].Round(10*time.Microsecond))
	}
	if e := firstErr.Load(); e != nil {
		fmt.Printf("first error: %s\n", e)
	}
	if failed.Load() > 0 {
		return errors.New("some requests failed")
	}
	return nil
}

func post(ctx context.Context, c *http.Client, endpoint, token string, body []byte, ndjson bool) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if ndjson {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

func readLines(path string, limit int) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var out [][]byte
	for sc.Scan() && len(out) < limit {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, bytes.Clone(line))
		}
	}
	return out, sc.Err()
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	if i > 0 {
		i--
	}
	return sorted[i].Round(10 * time.Microsecond)
}
