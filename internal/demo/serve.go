package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/serve"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/policies"
)

// QueueName is the demo's SQS queue, in the prod account: EventBridge
// routes GuardDuty's findings to it, and cordon serve reads it.
const QueueName = "cordon-findings"

// RunServe runs the daemon demo: the emulator with the demo fleet and an
// SQS queue, `cordon serve` on the starter policies reading that queue,
// a GuardDuty finding published to the queue as EventBridge would, and the
// daemon isolating the instance with no command typed; then a credential
// finding whose plan waits for approval, approved through the API.
func RunServe(ctx context.Context, o Options) error {
	d := &runner{o: o}
	return d.serve(ctx)
}

// serveOverlay is what the demo adds to the starter configuration: the
// queue as a source, and manual approval for the credential rule (
// disabling a key breaks what legitimately uses it, so a person decides).
func serveOverlay(queueURL string) string {
	return fmt.Sprintf(`# Added by cordon demo -serve.
source "sqs" "guardduty_events" {
  queue_url = %q
  wait      = "1s"
}

serve {
  max_concurrent   = 2
  approval_timeout = "1h"
}
`, queueURL)
}

func (d *runner) serve(ctx context.Context) error {
	out := d.o.Out
	seed, err := Fleet()
	if err != nil {
		return err
	}
	emu := awsemu.New(seed)
	SeedTriage(emu)
	srv := httptest.NewServer(emu)
	defer srv.Close()
	hook := httptest.NewServer(http.HandlerFunc(d.receive))
	defer hook.Close()
	stateDir := d.o.StateDir
	if stateDir == "" {
		if stateDir, err = os.MkdirTemp("", "cordon-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(stateDir)
	}

	d.step("Starting an in-memory AWS (the emulator) with a small fleet and an SQS queue")
	factory, err := awsclient.New(ctx, awsclient.Options{
		Region: Region, Endpoint: srv.URL, AssumeRoleARN: ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider(CordonAccessKey, CordonSecretKey, ""),
		Version:     engine.Version, Debug: d.o.Debug,
	})
	if err != nil {
		return err
	}
	// The queue EventBridge feeds, made as an operator would make it.
	sqsc := factory.SQS(ProdAccount, Region)
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(QueueName)})
	if err != nil {
		return fmt.Errorf("creating the queue: %w", err)
	}
	queueURL := aws.ToString(q.QueueUrl)
	before := emu.Snapshot()
	d.printFleet(before)
	fmt.Fprintf(out, "\nQueue %s: an EventBridge rule sends every GuardDuty finding here.\n", queueURL)

	d.step("Starting cordon serve on the starter policies, reading the queue")
	overlay := serveOverlay(queueURL)
	fmt.Fprintf(out, "The starter configuration, plus:\n\n%s\nand rule iam_credential_compromise with approval = \"manual\".\n", indent(overlay))
	fsys, err := overlayStarter(overlay)
	if err != nil {
		return err
	}
	st, err := state.OpenSQLite(filepath.Join(stateDir, "state.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	logs := &lineLog{out: out, color: d.o.Color}
	listening := make(chan string, 1)
	daemon, diags, err := serve.New(ctx, serve.Options{
		Engine: engine.Options{Dir: "starter", FS: fsys, Debug: d.o.Debug,
			Values: StarterValues(hook.URL + "/incidents"), ValuesSource: "cordon demo"},
		Listen: "127.0.0.1:0", Token: "cordon-demo-token", Store: st, AWS: factory,
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		OnListen: func(api, _ string) { listening <- api },
	})
	if err != nil {
		return fmt.Errorf("starting cordon serve: %v %s", err, diagsText(diags))
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- daemon.Run(runCtx) }()
	var base string
	select {
	case addr := <-listening:
		base = "http://" + addr
	case err := <-done:
		return fmt.Errorf("cordon serve stopped: %v", err)
	}
	fmt.Fprintf(out, "Listening on %s. Its log follows (abridged).\n", base)

	d.step("GuardDuty publishes a finding about web-1: nobody types a command")
	crypto, err := fs.ReadFile(policies.Starter(), "testdata/findings/ec2_cryptocurrency_bitcointool_dns.json")
	if err != nil {
		return err
	}
	if err := publish(ctx, sqsc, queueURL, crypto); err != nil {
		return err
	}
	fmt.Fprintln(out, "  (sent to the queue as an EventBridge \"GuardDuty Finding\" event)")
	logs.show(true)
	if err := waitFor(ctx, 60*time.Second, func() bool {
		r := emu.Snapshot().Accounts[ProdAccount].Regions[Region]
		return r.Instances[web1ID].State == "stopped"
	}); err != nil {
		return fmt.Errorf("the daemon did not contain web-1: %w", err)
	}
	if err := waitIdle(ctx, st); err != nil {
		return err
	}
	logs.show(false)
	d.step("What the daemon changed in the emulator")
	afterFirst := emu.Snapshot()
	d.printChanges(before, afterFirst)

	d.step("A credential finding: the rule asks for a person's approval")
	key, err := fs.ReadFile(policies.Starter(), "testdata/findings/iam_discovery_anomalous_behavior.json")
	if err != nil {
		return err
	}
	if err := publish(ctx, sqsc, queueURL, key); err != nil {
		return err
	}
	logs.show(true)
	var pending state.PlanRecord
	if err := waitFor(ctx, 60*time.Second, func() bool {
		p, _ := st.Plans(ctx, state.PlanFilter{Status: []state.PlanStatus{state.PlanPending}})
		if len(p) == 1 {
			pending = p[0]
			return true
		}
		return false
	}); err != nil {
		return fmt.Errorf("no plan waited for approval: %w", err)
	}
	time.Sleep(200 * time.Millisecond) // the approval request goes out
	logs.show(false)
	fmt.Fprintf(out, "\nPending (cordon state list -pending):\n  %s  %s  %d actions  %s\n", pending.ID, pending.IncidentID, pending.Actions, pending.Reason)
	d.mu.Lock()
	for _, h := range d.hooks[len(d.hooks)-1:] {
		fmt.Fprintf(out, "  webhook received: %s\n", h)
	}
	d.mu.Unlock()
	if n := changed(afterFirst, emu.Snapshot()); n != 0 {
		return fmt.Errorf("the pending plan changed %d things before its approval", n)
	}
	fmt.Fprintln(out, "  Nothing has changed in AWS: the plan waits.")

	d.step("Alice approves it (cordon approve %s, or the API as here)", pending.ID)
	body := `{"approver": "alice", "note": "the key made calls from a new network"}`
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/plans/"+pending.ID+"/approve", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer cordon-demo-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("approving: HTTP %d", resp.StatusCode)
	}
	fmt.Fprintf(out, "POST /v1/plans/%s/approve %s\n", pending.ID, body)
	logs.show(true)
	if err := waitFor(ctx, 60*time.Second, func() bool {
		p, _ := st.Plan(ctx, pending.ID)
		return p != nil && (p.Status == state.PlanApplied || p.Status == state.PlanFailed)
	}); err != nil {
		return fmt.Errorf("the approved plan was not applied: %w", err)
	}
	logs.show(false)
	d.step("What the approved plan changed")
	d.printChanges(afterFirst, emu.Snapshot())

	d.step("Stopping cordon serve (SIGTERM drains it)")
	stop()
	if err := <-done; err != nil {
		return err
	}
	list, err := st.Incidents(ctx, state.IncidentFilter{})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "Incidents in state (cordon state list):")
	for _, s := range list {
		verdict := "-"
		if len(s.Verdicts) > 0 {
			verdict = s.Verdicts[0].Verdict
		}
		fmt.Fprintf(out, "  %s  %-38s %-22s %-10s %s\n", s.ID, s.Finding.Type, s.Finding.Resource.ID, verdict, s.Status)
	}
	fmt.Fprintf(out, "\nRun it yourself: docs/daemon.md.\n")
	return nil
}

// web1ID is the demo's compromised web server.
const web1ID = "i-0a1b2c3d4e5f67890"

// publish sends a GuardDuty finding to the queue wrapped in an EventBridge
// event, as an EventBridge rule with an SQS target delivers it.
func publish(ctx context.Context, c *sqs.Client, queueURL string, finding []byte) error {
	var detail map[string]any
	if err := json.Unmarshal(finding, &detail); err != nil {
		return err
	}
	event := map[string]any{
		"version": "0", "id": fmt.Sprintf("demo-%d", time.Now().UnixNano()), "detail-type": "GuardDuty Finding",
		"source": "aws.guardduty", "account": detail["accountId"], "time": time.Now().UTC().Format(time.RFC3339),
		"region": detail["region"], "resources": []string{}, "detail": detail,
	}
	body, err := json.Marshal(event)
	if err != nil {
		return err
	}
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(string(body))})
	return err
}

// overlayStarter is the embedded starter configuration with the demo's
// additions.
func overlayStarter(overlay string) (fs.FS, error) {
	m := fstest.MapFS{}
	err := fs.WalkDir(policies.Starter(), ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := fs.ReadFile(policies.Starter(), p)
		if err != nil {
			return err
		}
		if p == "cordon.hcl" {
			b = manualRule(b, "iam_credential_compromise")
		}
		m[p] = &fstest.MapFile{Data: b, Mode: 0o644}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m["demo_serve.hcl"] = &fstest.MapFile{Data: []byte(overlay), Mode: 0o644}
	return m, nil
}

// manualRule sets approval = "manual" in a rule of the starter.
func manualRule(hcl []byte, rule string) []byte {
	start := bytes.Index(hcl, []byte(`rule "`+rule+`" {`))
	if start < 0 {
		return hcl
	}
	end := bytes.Index(hcl[start:], []byte("\n}"))
	block := hcl[start : start+end]
	fixed := bytes.Replace(block, []byte(`approval      = "auto"`), []byte(`approval      = "manual"`), 1)
	return append(append(append([]byte{}, hcl[:start]...), fixed...), hcl[start+end:]...)
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// waitIdle waits until the daemon has nothing queued or approved to apply.
func waitIdle(ctx context.Context, st state.Store) error {
	return waitFor(ctx, 60*time.Second, func() bool {
		q, err := st.QueuedDeliveries(ctx, 0, 0)
		if err != nil || len(q) > 0 {
			return false
		}
		p, err := st.Plans(ctx, state.PlanFilter{Status: []state.PlanStatus{state.PlanApproved}})
		return err == nil && len(p) == 0
	})
}

// changed counts what differs between two emulator states in the prod
// account: instance states and groups, and key statuses.
func changed(a, b *awsemu.State) int {
	n := 0
	ra, rb := a.Accounts[ProdAccount].Regions[Region], b.Accounts[ProdAccount].Regions[Region]
	for id, ib := range rb.Instances {
		if ra.Instances[id].State != ib.State {
			n++
		}
	}
	for id, eb := range rb.NetworkInterfaces {
		if strings.Join(ra.NetworkInterfaces[id].Groups, ",") != strings.Join(eb.Groups, ",") {
			n++
		}
	}
	for name, ub := range b.Accounts[ProdAccount].Users {
		ua := a.Accounts[ProdAccount].Users[name]
		for i, k := range ub.AccessKeys {
			if i < len(ua.AccessKeys) && ua.AccessKeys[i].Status != k.Status {
				n++
			}
		}
	}
	return n
}

// lineLog shows the daemon's log lines while the demo watches, abridged
// to what a reader follows: what came in, the verdicts, the actions, the
// plans.
type lineLog struct {
	out   io.Writer
	color bool
	mu    sync.Mutex
	on    bool
	buf   []byte
}

func (l *lineLog) show(on bool) {
	l.mu.Lock()
	l.on = on
	l.mu.Unlock()
}

var interesting = []string{"msg=verdict", "Applying", "complete", "No changes", "Failed", "Withheld",
	"held for approval", "approval requested", "plan approved", "plan applied", "recurrence", "rejected input"}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		if !l.on {
			continue
		}
		for _, k := range interesting {
			if strings.Contains(line, k) {
				fmt.Fprintf(l.out, "  %s\n", abridge(line))
				break
			}
		}
	}
	return len(p), nil
}

// abridge drops the time and level of a log line.
func abridge(line string) string {
	if i := strings.Index(line, "msg="); i >= 0 {
		return line[i:]
	}
	return line
}
