package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/serve"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// benchFleet is the demo fleet with n more copies of web-1, so every
// finding of a benchmark acts on a target no other finding touched.
func benchFleet(b testing.TB, n int) (*awsemu.Seed, []benchInstance) {
	b.Helper()
	seed, copies, err := demo.ScaledFleet(n)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]benchInstance, len(copies))
	for i, c := range copies {
		out[i] = benchInstance{id: c[0], eni: c[1]}
	}
	return seed, out
}

const web1ID = "i-0a1b2c3d4e5f67890"

type benchInstance struct{ id, eni string }

// benchFinding is web-1's finding about instance in: its own id, instance
// and network interface.
func benchFinding(b testing.TB, base map[string]any, i int, in benchInstance) []byte {
	raw, _ := json.Marshal(base)
	var m map[string]any
	json.Unmarshal(raw, &m)
	m["id"] = fmt.Sprintf("%032x", 0xbe0000+i)
	m["updatedAt"] = time.Now().UTC().Format(time.RFC3339Nano)
	inst := m["resource"].(map[string]any)["instanceDetails"].(map[string]any)
	inst["instanceId"] = in.id
	eni := inst["networkInterfaces"].([]any)[0].(map[string]any)
	eni["networkInterfaceId"] = in.eni
	out, err := json.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkReaction measures the daemon's reaction: from a finding's POST
// to the start of the first containment call (the isolation's
// ModifyNetworkInterfaceAttribute reaching the emulator), with in-memory
// facts and no emulator latency, one finding at a time. It reports the
// median and 99th percentile beside ns/op, on SQLite, and on PostgreSQL
// with one and two replicas (the findings posted to the first; with two,
// either may do the work). The PostgreSQL cases need CORDON_PG_DSN.
//
//	go test ./engine/serve -run XXX -bench Reaction -benchtime 200x
func BenchmarkReaction(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchReaction(b, 0) })
	b.Run("postgres", func(b *testing.B) { benchReaction(b, 1) })
	b.Run("postgres-2-replicas", func(b *testing.B) { benchReaction(b, 2) })
}

func benchReaction(b *testing.B, replicas int) {
	if b.N > 200 {
		b.Skip("the bench fleet has 200 instances: use -benchtime 200x or fewer")
	}
	seed, fleet := benchFleet(b, 200)
	emu := awsemu.New(seed)
	srv := httptest.NewServer(emu)
	defer srv.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	aws, err := awsclient.New(context.Background(), awsclient.Options{
		Region: demo.Region, Endpoint: srv.URL, AssumeRoleARN: demo.ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, ""),
	})
	if err != nil {
		b.Fatal(err)
	}
	facts := filepath.Join(b.TempDir(), "facts.json")
	os.WriteFile(facts, []byte(`{}`), 0o600)
	var stores []state.Store
	if replicas == 0 {
		st, err := state.OpenSQLite(filepath.Join(b.TempDir(), "state.db"))
		if err != nil {
			b.Fatal(err)
		}
		stores = append(stores, st)
	} else {
		dsn, schema := pgSchema(b)
		for range replicas {
			st, err := state.OpenPostgres(context.Background(), dsn, state.PostgresOptions{Schema: schema})
			if err != nil {
				b.Fatal(err)
			}
			stores = append(stores, st)
		}
	}
	var base string
	var done []chan error
	ctx, cancel := context.WithCancel(context.Background())
	for _, st := range stores {
		defer st.Close()
		listening := make(chan string, 1)
		d, diags, err := serve.New(context.Background(), serve.Options{
			Engine: engine.Options{Dir: "testdata/daemon", Values: map[string]cty.Value{"webhook_url": cty.StringVal(hook.URL)}},
			Listen: "127.0.0.1:0", Token: testToken, Store: st, AWS: aws, FactsFile: facts,
			Logger:   slog.New(slog.DiscardHandler),
			OnListen: func(api, _ string) { listening <- api },
		})
		if err != nil {
			b.Fatal(err, diags)
		}
		ch := make(chan error, 1)
		done = append(done, ch)
		go func() { ch <- d.Run(ctx) }()
		if addr := <-listening; base == "" {
			base = "http://" + addr
		}
	}

	var finding map[string]any
	raw, _ := os.ReadFile(web1Finding)
	json.Unmarshal(raw, &finding)
	client := &http.Client{}
	var reactions []time.Duration
	b.ResetTimer()
	for i := range b.N {
		body := benchFinding(b, finding, i, fleet[i])
		req, _ := http.NewRequest("POST", base+"/v1/findings", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testToken)
		posted := time.Now()
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			b.Fatalf("POST: %v %v", err, resp)
		}
		resp.Body.Close()
		eni := fleet[i].eni
		var at time.Time
		for at.IsZero() {
			for _, c := range emu.Calls() {
				if c.Operation == "ModifyNetworkInterfaceAttribute" && slices.Contains(c.ResourceIDs, eni) {
					at = c.Time
				}
			}
			if at.IsZero() {
				if time.Since(posted) > 30*time.Second {
					b.Fatalf("no isolation of %s", fleet[i].id)
				}
				time.Sleep(500 * time.Microsecond)
			}
		}
		reactions = append(reactions, at.Sub(posted))
		// Let the rest of the response finish before the next finding, and
		// keep the call record small: Calls copies it.
		time.Sleep(5 * time.Millisecond)
		emu.ResetCalls()
	}
	b.StopTimer()
	cancel()
	for _, ch := range done {
		<-ch
	}
	slices.Sort(reactions)
	q := func(p int) float64 {
		i := (len(reactions)*p + 99) / 100
		return float64(reactions[max(i-1, 0)].Microseconds()) / 1000
	}
	b.ReportMetric(q(50), "p50-ms")
	b.ReportMetric(q(99), "p99-ms")
}
