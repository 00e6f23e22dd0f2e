package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// Replicas of `cordon serve` are real processes on one PostgreSQL state:
// killed with SIGKILL, and running while PostgreSQL restarts.

// pgTestDSN is the test database (CORDON_PG_DSN), or a skip without one
// (CI, CORDON_CI=1, fails instead).
func pgTestDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("CORDON_PG_DSN")
	if dsn == "" {
		if os.Getenv("CORDON_CI") == "1" {
			t.Fatal("CORDON_PG_DSN is not set: CI must run the PostgreSQL tests")
		}
		t.Skip("set CORDON_PG_DSN=postgres://… to run the PostgreSQL tests")
	}
	return dsn
}

// withSchema is dsn with its search_path set to a new schema, dropped
// when the test ends: the replicas' state (and River's tables) live there.
func withSchema(t *testing.T, dsn string) string {
	t.Helper()
	admin, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := "cordon_cli_" + strings.ToLower(rand.Text()[:10])
	if _, err := admin.Exec(context.Background(), `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
		admin.Close()
	})
	return addParam(dsn, "search_path", schema)
}

func addParam(dsn, k, v string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + k + "=" + v
}

// postgresConfig is emulatedConfig on a PostgreSQL state: the daemon
// configuration of the apply tests, the emulator, and
// CORDON_PG_DSN set to dsn for every process the test starts.
func postgresConfig(t *testing.T, dsn string, seed *awsemu.Seed) (string, *awsemu.Emulator) {
	t.Helper()
	dir, emu := emulatedConfig(t)
	if seed != nil {
		emu = awsemu.New(seed)
		srv := httptest.NewServer(emu)
		t.Cleanup(srv.Close)
		provider := fmt.Sprintf("provider \"aws\" {\n  region = \"us-west-2\"\n  endpoint = %q\n  assume_role_arn = %q\n}\n", srv.URL, demo.ResponderRoleARN)
		os.WriteFile(filepath.Join(dir, "provider.hcl"), []byte(provider), 0o644)
	}
	stateHCL := "cordon {\n  state {\n    backend = \"postgres\"\n    dsn     = env(\"CORDON_PG_DSN\")\n  }\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "state.hcl"), []byte(stateHCL), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CORDON_PG_DSN", dsn)
	return dir, emu
}

// whoApplies waits for a replica to log that it applies action and
// returns it.
func whoApplies(t *testing.T, action string, ds ...*daemon) *daemon {
	t.Helper()
	var got *daemon
	waitUntil(t, "a replica applying "+action, func() bool {
		for _, d := range ds {
			if strings.Contains(d.log(), action+`: Applying`) {
				got = d
				return true
			}
		}
		return false
	}, func() string {
		var b strings.Builder
		for i, d := range ds {
			fmt.Fprintf(&b, "--- replica %d\n%s\n", i, d.log())
		}
		return b.String()
	})
	return got
}

// SIGKILL a replica while it holds an apply: the other completes it,
// repeating nothing, and nothing is left for `cordon state recover`.
func TestServeReplicaKilledMidApply(t *testing.T) {
	bin := buildCordon(t)
	dsn := withSchema(t, pgTestDSN(t))
	dir, emu := postgresConfig(t, dsn, nil)
	emu.Faults().Latency("ec2:StopInstances", time.Minute)
	a := startDaemon(t, bin, dir, "-rescue-after", "3s")
	b := startDaemon(t, bin, dir, "-rescue-after", "3s")
	body, _ := os.ReadFile(web1Finding)
	if code, out := a.post(body); code != 202 {
		t.Fatalf("POST: %d %s", code, out)
	}
	victim := whoApplies(t, `action.stop[\"i-0a1b2c3d4e5f67890\"]`, a, b)
	survivor := a
	if victim == a {
		survivor = b
	}
	time.Sleep(300 * time.Millisecond) // the stop call reaches the emulator, which holds it
	victim.signal(syscall.SIGKILL)
	victim.wait(10 * time.Second)
	emu.Faults().Clear()

	// River's rescuer (on its elected leader, every 30 s) gives the dead
	// replica's job to the survivor once it ran longer than -rescue-after.
	waitUntilFor(t, 2*time.Minute, "the survivor to finish the response", func() bool {
		s, _ := web1State(emu)
		return s == "stopped" && strings.Contains(survivor.log(), `msg="plan applied"`)
	}, survivor.log)
	if n := successfulCalls(emu, "ec2:ModifyNetworkInterfaceAttribute"); n != 1 {
		t.Errorf("isolation made %d times, want 1", n)
	}
	if n := successfulCalls(emu, "ec2:ModifyInstanceAttribute"); n != 2 { // termination protection: one call per attribute
		t.Logf("termination protection calls: %d", n)
	}
	survivor.signal(syscall.SIGTERM)
	if code := survivor.wait(30 * time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d", code)
	}
	code, out, errOut := cordon(t, "state", "recover", "-config", dir)
	if code != 0 || !strings.Contains(out, "Nothing to recover") {
		t.Errorf("state recover: %d %s %s", code, out, errOut)
	}
	code, out, _ = cordon(t, "state", "list", "-config", dir, "-json")
	var list struct {
		Incidents []state.IncidentSummary `json:"incidents"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Incidents) != 1 || list.Incidents[0].Status != state.StatusResponded {
		t.Errorf("state list: %d %s", code, out)
	}
}

// Two replicas; 200 distinct findings posted alternately to both, and
// every finding posted twice: each incident once, each action once.
func TestServeReplicasActOnce(t *testing.T) {
	bin := buildCordon(t)
	dsn := withSchema(t, pgTestDSN(t))
	const n = 200
	seed, copies, err := demo.ScaledFleet(n)
	if err != nil {
		t.Fatal(err)
	}
	dir, emu := postgresConfig(t, dsn, seed)
	a := startDaemon(t, bin, dir)
	b := startDaemon(t, bin, dir)
	var base map[string]any
	raw, _ := os.ReadFile(web1Finding)
	json.Unmarshal(raw, &base)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, c := range copies {
		body := copyFinding(base, i, c[0], c[1])
		for _, r := range []*daemon{a, b} {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if code, out := r.post(body); code != 202 {
					t.Errorf("POST: %d %s", code, out)
				}
			}()
		}
		a, b = b, a
	}
	wg.Wait()
	logs := func() string { return a.log() + "\n---\n" + b.log() }
	waitUntil(t, "every copy stopped", func() bool {
		r := emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region]
		for _, c := range copies {
			if r.Instances[c[0]].State != "stopped" {
				return false
			}
		}
		return true
	}, logs)
	isolated, stopped := map[string]int{}, map[string]int{}
	for _, c := range emu.Calls() {
		if c.Status != 200 {
			continue
		}
		for _, id := range c.ResourceIDs {
			switch c.Operation {
			case "ModifyNetworkInterfaceAttribute":
				isolated[id]++
			case "StopInstances":
				stopped[id]++
			}
		}
	}
	for _, c := range copies {
		if isolated[c[1]] != 1 || stopped[c[0]] != 1 {
			t.Errorf("%s: isolated %d times, stopped %d times; want once each", c[0], isolated[c[1]], stopped[c[0]])
		}
	}
	for _, d := range []*daemon{a, b} {
		d.signal(syscall.SIGTERM)
		d.wait(30 * time.Second)
	}
	st, err := state.OpenPostgres(context.Background(), dsn, state.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.Incidents(context.Background(), state.IncidentFilter{})
	if err != nil || len(list) != n {
		t.Fatalf("%d incidents (%v), want %d", len(list), err, n)
	}
	ds, _ := st.Deliveries(context.Background(), state.DeliveryFilter{})
	dups := 0
	for _, d := range ds {
		dups += d.Duplicates
	}
	if len(ds) != n || dups != n {
		t.Errorf("%d deliveries, %d duplicates; want %d and %d", len(ds), dups, n, n)
	}
	// Both replicas worked.
	for i, d := range []*daemon{a, b} {
		if !strings.Contains(d.log(), `msg="plan applied"`) {
			t.Errorf("replica %d applied no plan", i)
		}
	}
}

// copyFinding is web-1's finding about one of the fleet's copies.
func copyFinding(base map[string]any, i int, instance, eni string) []byte {
	raw, _ := json.Marshal(base)
	var m map[string]any
	json.Unmarshal(raw, &m)
	m["id"] = fmt.Sprintf("%032x", 0xbe0000+i)
	inst := m["resource"].(map[string]any)["instanceDetails"].(map[string]any)
	inst["instanceId"] = instance
	inst["networkInterfaces"].([]any)[0].(map[string]any)["networkInterfaceId"] = eni
	out, _ := json.Marshal(m)
	return out
}

// privatePostgres is a PostgreSQL server of the test's own, which it may
// stop and start: a restart must not cost a delivery.
type privatePostgres struct {
	t       *testing.T
	bin     string // PostgreSQL's bin directory
	data    string
	port    int
	runAs   []string // runuser prefix when the test runs as root
	started bool
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	var bin string
	for _, v := range []string{"17", "16", "15", "14"} {
		if _, err := os.Stat("/usr/lib/postgresql/" + v + "/bin/initdb"); err == nil {
			bin = "/usr/lib/postgresql/" + v + "/bin"
			break
		}
	}
	if bin == "" {
		if os.Getenv("CORDON_CI") == "1" {
			t.Fatal("PostgreSQL's server binaries are not installed: CI must run the PostgreSQL tests")
		}
		t.Skip("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
	}
	p := &privatePostgres{t: t, bin: bin}
	root := t.TempDir()
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: the server runs as postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			if os.Getenv("CORDON_CI") == "1" {
				t.Fatal("running as root and there is no postgres user to run a server as: CI must run the PostgreSQL tests")
			}
			t.Skip("running as root and there is no postgres user to run a server as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for d := root; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		os.Chown(root, uid, gid)
		p.runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	p.data = filepath.Join(root, "data")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p.run(filepath.Join(bin, "initdb"), "-D", p.data, "-U", "cordon", "--auth=trust", "-E", "UTF8")
	p.start()
	t.Cleanup(func() {
		if p.started {
			p.run(filepath.Join(p.bin, "pg_ctl"), "-D", p.data, "-m", "immediate", "stop")
		}
	})
	return p
}

func (p *privatePostgres) run(args ...string) {
	p.t.Helper()
	argv := append(append([]string{}, p.runAs...), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (p *privatePostgres) start() {
	p.t.Helper()
	p.run(filepath.Join(p.bin, "pg_ctl"), "-D", p.data, "-l", filepath.Join(p.data, "log"), "-w",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", p.port, p.data), "start")
	p.started = true
}

func (p *privatePostgres) stop() {
	p.t.Helper()
	p.run(filepath.Join(p.bin, "pg_ctl"), "-D", p.data, "-m", "fast", "-w", "stop")
	p.started = false
}

func (p *privatePostgres) dsn() string {
	return fmt.Sprintf("postgres://cordon@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// PostgreSQL restarted under load: the replicas reconnect and go on.
// Every finding is posted until it is accepted (as SQS redelivers what was
// not deleted); a 202 during the outage would be a delivery kept, and one
// that cannot have been kept is a 503, never a 202. In the end every
// finding was acted on, once.
func TestServeReplicasSurvivePostgresRestart(t *testing.T) {
	bin := buildCordon(t)
	pg := startPrivatePostgres(t)
	const n = 40
	seed, copies, err := demo.ScaledFleet(n)
	if err != nil {
		t.Fatal(err)
	}
	dir, emu := postgresConfig(t, pg.dsn(), seed)
	a := startDaemon(t, bin, dir)
	b := startDaemon(t, bin, dir)
	var base map[string]any
	raw, _ := os.ReadFile(web1Finding)
	json.Unmarshal(raw, &base)

	var (
		mu       sync.Mutex
		accepted = map[int]bool{}
		refused  int
	)
	post := func(r *daemon, i int) {
		req, _ := http.NewRequest("POST", r.base+"/v1/findings", strings.NewReader(string(copyFinding(base, i, copies[i][0], copies[i][1]))))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+serveToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		resp.Body.Close()
		mu.Lock()
		defer mu.Unlock()
		switch resp.StatusCode {
		case 202:
			accepted[i] = true
		case 503:
			refused++
		default:
			t.Errorf("finding %d: HTTP %d", i, resp.StatusCode)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			all := true
			for i := range n {
				mu.Lock()
				ok := accepted[i]
				mu.Unlock()
				if !ok {
					all = false
					post([]*daemon{a, b}[i%2], i)
				}
			}
			if all {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	pg.stop()
	time.Sleep(2 * time.Second)
	pg.start()
	<-done
	if len(accepted) != n {
		t.Fatalf("%d of %d findings accepted after the restart", len(accepted), n)
	}
	logs := func() string { return a.log() + "\n---\n" + b.log() }
	waitUntil(t, "every copy stopped", func() bool {
		r := emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region]
		for _, c := range copies {
			if r.Instances[c[0]].State != "stopped" {
				return false
			}
		}
		return true
	}, logs)
	stops := map[string]int{}
	for _, c := range emu.Calls() {
		if c.Status == 200 && c.Operation == "StopInstances" {
			for _, id := range c.ResourceIDs {
				stops[id]++
			}
		}
	}
	for _, c := range copies {
		if stops[c[0]] != 1 {
			t.Errorf("%s stopped %d times", c[0], stops[c[0]])
		}
	}
	t.Logf("%d requests refused with 503 during the outage", refused)
	for _, d := range []*daemon{a, b} {
		d.signal(syscall.SIGTERM)
		if code := d.wait(30 * time.Second); code != 0 {
			t.Errorf("SIGTERM: exit %d", code)
		}
	}
}
