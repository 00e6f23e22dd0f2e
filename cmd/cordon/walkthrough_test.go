package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sys/unix"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/demo"
)

// walkthroughDoc is the file the quick start's walkthrough lives in: the
// test runs the commands it shows, so the two cannot drift apart.
const walkthroughDoc = "../../README.md"

// walkthrough is the walkthrough as the document marks it: each block is
// a fenced sh block after a <!-- walkthrough: terminal N --> comment, and
// the expected output after <!-- walkthrough: output -->.
type walkthrough struct {
	terminal1 string   // the emulator's command
	terminal2 []string // the blocks typed in the other terminal, in order
	output    []string // blocks of output the document shows
}

var walkthroughMarker = regexp.MustCompile(`^<!-- walkthrough: (terminal 1|terminal 2|output) -->$`)

// parseWalkthrough reads the marked blocks of a Markdown document. A
// marker not followed by a fenced block, or an unclosed block, is an
// error naming its line.
func parseWalkthrough(name string, doc []byte) (*walkthrough, error) {
	w := &walkthrough{}
	lines := strings.Split(string(doc), "\n")
	for i := 0; i < len(lines); i++ {
		m := walkthroughMarker.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			continue
		}
		marker := i + 1
		i++
		for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
			i++
		}
		if i == len(lines) || !strings.HasPrefix(lines[i], "```") {
			return nil, fmt.Errorf("%s:%d: the walkthrough marker is not followed by a fenced block", name, marker)
		}
		if lang := strings.TrimPrefix(lines[i], "```"); m[1] != "output" && lang != "sh" {
			return nil, fmt.Errorf("%s:%d: a walkthrough command block must be ```sh, not ```%s", name, i+1, lang)
		}
		start := i + 1
		for i++; i < len(lines) && lines[i] != "```"; i++ {
		}
		if i == len(lines) {
			return nil, fmt.Errorf("%s:%d: the walkthrough block is not closed", name, start) // its opening fence
		}
		block := strings.Join(lines[start:i], "\n") + "\n"
		switch m[1] {
		case "terminal 1":
			if w.terminal1 != "" {
				return nil, fmt.Errorf("%s:%d: a second terminal 1 block: the emulator runs once", name, marker)
			}
			w.terminal1 = block
		case "terminal 2":
			w.terminal2 = append(w.terminal2, block)
		case "output":
			w.output = append(w.output, block)
		}
	}
	if w.terminal1 == "" || len(w.terminal2) == 0 {
		return nil, fmt.Errorf("%s: no walkthrough: it needs a terminal 1 block and terminal 2 blocks", name)
	}
	return w, nil
}

func TestParseWalkthrough(t *testing.T) {
	for _, tt := range []struct {
		name, doc, err string
	}{
		{"no marker", "# cordon\n", "no walkthrough"},
		{"marker without block", "<!-- walkthrough: terminal 1 -->\ntext\n", "README.md:1: the walkthrough marker is not followed by a fenced block"},
		{"not sh", "<!-- walkthrough: terminal 1 -->\n```console\ncordon emulator\n```\n", "README.md:2: a walkthrough command block must be ```sh"},
		{"unclosed", "<!-- walkthrough: terminal 1 -->\n```sh\ncordon emulator\n", "README.md:2: the walkthrough block is not closed"},
		{"two emulators", "<!-- walkthrough: terminal 1 -->\n```sh\na\n```\n<!-- walkthrough: terminal 1 -->\n```sh\nb\n```\n", "README.md:5: a second terminal 1 block"},
		{"only the emulator", "<!-- walkthrough: terminal 1 -->\n```sh\na\n```\n", "no walkthrough"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseWalkthrough("README.md", []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("got %v, want %q", err, tt.err)
			}
		})
	}
	w, err := parseWalkthrough("README.md", []byte("<!-- walkthrough: terminal 1 -->\n\n```sh\ncordon emulator\n```\n"+
		"text\n<!-- walkthrough: terminal 2 -->\n```sh\ncordon init ir\ncd ir\n```\n<!-- walkthrough: output -->\n```\nPlan: 1\n```\n"+
		"<!-- walkthrough: terminal 2 -->\n```sh\ncordon validate\n```\n"))
	if err != nil || w.terminal1 != "cordon emulator\n" || len(w.terminal2) != 2 || w.terminal2[0] != "cordon init ir\ncd ir\n" ||
		w.terminal2[1] != "cordon validate\n" || len(w.output) != 1 || w.output[0] != "Plan: 1\n" {
		t.Errorf("got %+v, %v", w, err)
	}
}

// walkthroughSteps are the steps the walkthrough must keep: from the
// emulator to a revert, every command a newcomer needs.
var walkthroughSteps = []string{
	"cordon init ir", "cd ir", `provider "aws"`, "endpoint", "assume_role_arn", "cordon validate",
	"cordon plan -finding testdata/findings/", "-out web1.plan", "cordon show web1.plan", "cordon apply web1.plan",
	"cordon state list", "cordon state show inc-", "cordon report inc-", "-format html -out report.html",
	"cordon state verify", "cordon revert inc-",
}

// TestREADMEWalkthrough runs the quick start exactly as the README shows
// it: `cordon emulator` as a process on a free port (the walkthrough's
// EMULATOR_PORT), and in a second shell, in an empty directory, every
// command of the terminal 2 blocks, in order, with the real binary on
// PATH and no AWS configuration but what the walkthrough exports. The
// revert's question is answered "yes" on a terminal, as a person would.
// Then the emulator's fleet is read back through the SDK: the snapshots
// apply took are there, and revert restored the instance.
func TestREADMEWalkthrough(t *testing.T) {
	doc, err := os.ReadFile(walkthroughDoc)
	if err != nil {
		t.Fatal(err)
	}
	w, err := parseWalkthrough("README.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	script := strings.Join(w.terminal2, "")
	for _, step := range walkthroughSteps {
		if !strings.Contains(script, step) {
			t.Errorf("the walkthrough lost a step: no %q in\n%s", step, script)
		}
	}
	bin := buildCordon(t)
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("the walkthrough runs in sh: %v", err)
	}

	port := freePort(t)
	home := t.TempDir()
	env := []string{
		"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + home,
		"EMULATOR_PORT=" + port,
		// Nothing of the machine's AWS configuration: the walkthrough's
		// exports are all cordon has.
		"AWS_CONFIG_FILE=" + filepath.Join(home, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// Terminal 1: the emulator, stopped at the end as Ctrl-C stops it.
	emulator := exec.CommandContext(ctx, sh, "-c", w.terminal1)
	emulator.Dir, emulator.Env = home, env
	emulator.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var guide syncBuffer
	emulator.Stdout, emulator.Stderr = &guide, &guide
	if err := emulator.Start(); err != nil {
		t.Fatal(err)
	}
	var emulatorErr error
	emulatorDone := make(chan struct{}) // closed when it has exited, emulatorErr set
	go func() { emulatorErr = emulator.Wait(); close(emulatorDone) }()
	stopped := false
	// Ctrl-C signals the terminal's foreground process group: the shell,
	// which dies of it, and cordon emulator, which must shut down.
	stopEmulator := func() error {
		if stopped {
			return nil
		}
		stopped = true
		pgid := emulator.Process.Pid
		syscall.Kill(-pgid, syscall.SIGINT)
		deadline := time.Now().Add(30 * time.Second)
		for syscall.Kill(-pgid, 0) == nil {
			if time.Now().After(deadline) {
				syscall.Kill(-pgid, syscall.SIGKILL)
				return errors.New("cordon emulator did not stop on Ctrl-C within 30s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		<-emulatorDone
		err := emulatorErr
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGINT {
				return nil // the shell, ended by Ctrl-C as at a terminal
			}
		}
		return err
	}
	t.Cleanup(func() { stopEmulator() })
	if err := waitFor(ctx, &guide, "Press Ctrl-C to stop.", emulatorDone); err != nil {
		t.Fatalf("cordon emulator: %v\n%s", err, guide.String())
	}
	endpoint := "http://127.0.0.1:" + port
	for _, want := range []string{
		"listening on " + endpoint,
		fmt.Sprintf("export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_REGION=%s", demo.CordonAccessKey, demo.CordonSecretKey, demo.Region),
		fmt.Sprintf("endpoint        = %q", endpoint),
		fmt.Sprintf("assume_role_arn = %q", demo.ResponderRoleARN),
		"export CORDON_VAR_webhook_url=" + endpoint + "/webhook",
		fmt.Sprintf("export CORDON_VAR_evidence_bucket=%s CORDON_VAR_memory_tool_s3_uri=%s CORDON_VAR_memory_tool_sha256=%s",
			demo.EvidenceBucket, demo.MemoryToolURI, demo.MemoryToolSHA256),
		"Isolation needs no security group id",
	} {
		if !strings.Contains(guide.String(), want) {
			t.Errorf("cordon emulator does not print %q:\n%s", want, guide.String())
		}
	}
	// What the emulator tells a person to paste is what the walkthrough
	// pastes.
	pasted := 0
	for _, line := range strings.Split(script, "\n") {
		for _, prefix := range []string{"export AWS_ACCESS_KEY_ID=", "export CORDON_VAR_evidence_bucket="} {
			if strings.HasPrefix(line, prefix) {
				pasted++
				if !strings.Contains(guide.String(), line) {
					t.Errorf("the walkthrough exports %q, which cordon emulator does not print", line)
				}
			}
		}
	}
	if pasted != 2 {
		t.Errorf("the walkthrough pastes %d of the emulator's 2 export lines for credentials and evidence", pasted)
	}

	// Terminal 2, on a terminal for revert's question.
	master, term := openPTYPair(t)
	out, err := runWalkthroughShell(ctx, t, sh, script, home, env, master, term)
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s\n--- terminal 1:\n%s", err, out, guide.String())
	}
	t.Logf("terminal 2:\n%s", out)

	ir := filepath.Join(home, "ir")
	for _, want := range []string{
		"Success! The configuration is valid.",
		" passed, 0 failed",
		"triage: cryptocurrency miner running: xmrig (pid 24811, user nginx, /tmp/.xm/xmrig)",
		"Plan: 6 to apply, 0 findings unmatched.",
		"Saved the plan to: web1.plan",
		"Apply complete! Actions: 6 applied, 0 failed, 0 drifted.",
		"inc-fa6dd59559fea244  CryptoCurrency:EC2/BitcoinTool.B!DNS  i-0a1b2c3d4e5f67890  malicious  responded  6 applied",
		"The chain of custody verifies.",
		"Do you want to revert these actions?",
		"Revert complete! Actions: 4 reverted, 0 failed, 0 drifted.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the walkthrough's output lacks %q", want)
		}
	}
	if strings.Contains(out, "collector failed") || strings.Contains(out, "Warning:") {
		t.Errorf("the walkthrough planned without all its evidence:\n%s", out)
	}
	// The output the README shows is what cordon printed.
	for _, block := range w.output {
		for _, line := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
			if strings.Contains(line, "…") {
				continue // abridged in the document
			}
			if !containsLine(out, line) {
				t.Errorf("the README shows %q, which cordon did not print", line)
			}
		}
	}
	if fi, err := os.Stat(filepath.Join(ir, "report.html")); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 1000 {
		t.Errorf("report.html: %v %v", fi, err)
	} else if data, _ := os.ReadFile(filepath.Join(ir, "report.html")); !bytes.Contains(data, []byte("inc-fa6dd59559fea244")) {
		t.Errorf("report.html does not name the incident")
	}

	// The emulator received the notification, and stops on Ctrl-C.
	if err := waitFor(ctx, &guide, "webhook: incident inc-fa6dd59559fea244, CryptoCurrency:EC2/BitcoinTool.B!DNS (malicious)", emulatorDone); err != nil {
		t.Errorf("the emulator printed no notification: %v\n%s", err, guide.String())
	}
	checkRevertedFleet(ctx, t, endpoint)
	checkMemoryImage(ctx, t, endpoint, filepath.Join(ir, ".cordon", "state.db"))
	if err := stopEmulator(); err != nil {
		t.Errorf("cordon emulator on Ctrl-C: %v\n%s", err, guide.String())
	}
}

// runWalkthroughShell runs the script in sh -e -x from dir, standard input
// on the terminal term, standard output and error together; it answers
// "yes" to each approval question. It returns what the shell printed.
func runWalkthroughShell(ctx context.Context, t *testing.T, sh, script, dir string, env []string, master, term *os.File) (string, error) {
	t.Helper()
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, sh, "-e", "-x", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term, wr, wr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wr.Close()
	var out bytes.Buffer
	reader := bufio.NewReader(r)
	answered := 0
	buf := make([]byte, 4096)
	for {
		n, err := reader.Read(buf)
		out.Write(buf[:n])
		// Each question is answered once, as it is asked.
		if asked := strings.Count(out.String(), "Enter a value: "); asked > answered {
			answered = asked
			if _, err := master.Write([]byte("yes\n")); err != nil {
				t.Errorf("answering on the terminal: %v", err)
			}
		}
		if err != nil {
			break
		}
	}
	return out.String(), cmd.Wait()
}

// checkRevertedFleet reads the emulator's web-1 through the SDK, as
// cordon's responder role: running again, back in its security group,
// without cordon's tags, and its volumes' snapshots kept as evidence.
func checkRevertedFleet(ctx context.Context, t *testing.T, endpoint string) {
	t.Helper()
	f, err := awsclient.New(ctx, awsclient.Options{
		Region: demo.Region, Endpoint: endpoint, AssumeRoleARN: demo.ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	client := f.EC2(demo.ProdAccount, demo.Region)
	d, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{demo.WebServerID}})
	if err != nil || len(d.Reservations) != 1 || len(d.Reservations[0].Instances) != 1 {
		t.Fatalf("DescribeInstances web-1: %v", err)
	}
	in := d.Reservations[0].Instances[0]
	if in.State.Name != ec2types.InstanceStateNameRunning {
		t.Errorf("web-1 is %s after revert, not running", in.State.Name)
	}
	var groups []string
	for _, g := range in.SecurityGroups {
		groups = append(groups, aws.ToString(g.GroupId))
	}
	if strings.Join(groups, ",") != "sg-0123456789abcdef0" {
		t.Errorf("web-1 is in %v after revert, not its own group", groups)
	}
	for _, tag := range in.Tags {
		if strings.HasPrefix(aws.ToString(tag.Key), "cordon:") {
			t.Errorf("web-1 keeps %s = %s after revert", aws.ToString(tag.Key), aws.ToString(tag.Value))
		}
	}
	snaps, err := client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{
		Filters: []ec2types.Filter{{Name: aws.String("tag:cordon:incident"), Values: []string{"inc-fa6dd59559fea244"}}},
	})
	if err != nil || len(snaps.Snapshots) != 2 {
		t.Errorf("snapshots of the incident: %v, %v; want web-1's two volumes'", snapshotIDs(snaps), err)
	}
}

// checkMemoryImage reads the memory image the apply recorded in state
// (through a saved plan) and the object in the emulator's evidence bucket,
// through the SDK as the responder role: the state holds the object's
// size and SHA-256, and the object is under Object Lock.
func checkMemoryImage(ctx context.Context, t *testing.T, endpoint, statePath string) {
	t.Helper()
	st, err := state.OpenSQLite(statePath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ev, err := st.Evidence(ctx, "inc-fa6dd59559fea244")
	if err != nil {
		t.Fatal(err)
	}
	var image *state.Evidence
	for i := range ev {
		if ev[i].Kind == "memory_image" {
			image = &ev[i]
		}
	}
	if image == nil {
		t.Fatalf("no memory image in the state: %+v", ev)
	}
	key, ok := strings.CutPrefix(image.Name, "s3://"+demo.EvidenceBucket+"/")
	if !ok {
		t.Fatalf("memory image %s is not in %s", image.Name, demo.EvidenceBucket)
	}
	f, err := awsclient.New(ctx, awsclient.Options{
		Region: demo.Region, Endpoint: endpoint, AssumeRoleARN: demo.ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	client := s3.NewFromConfig(f.Config(demo.ProdAccount, demo.Region), func(o *s3.Options) { o.UsePathStyle = true })
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(demo.EvidenceBucket), Key: aws.String(key), ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil {
		t.Fatalf("HeadObject %s: %v", image.Name, err)
	}
	sum, _ := hex.DecodeString(image.SHA256)
	if aws.ToInt64(head.ContentLength) != image.Size || image.Size == 0 || aws.ToString(head.ChecksumSHA256) != base64.StdEncoding.EncodeToString(sum) ||
		head.ObjectLockMode != s3types.ObjectLockModeCompliance {
		t.Errorf("state records %s as %d bytes, SHA-256 %s; S3 holds %d bytes, SHA-256 %s (base64), lock %q",
			image.Name, image.Size, image.SHA256, aws.ToInt64(head.ContentLength), aws.ToString(head.ChecksumSHA256), head.ObjectLockMode)
	}
}

func snapshotIDs(out *ec2.DescribeSnapshotsOutput) []string {
	if out == nil {
		return nil
	}
	var ids []string
	for _, s := range out.Snapshots {
		ids = append(ids, aws.ToString(s.SnapshotId)+" of "+aws.ToString(s.VolumeId))
	}
	return ids
}

// containsLine reports whether out has line as one of its lines, trailing
// space aside.
func containsLine(out, line string) bool {
	line = strings.TrimRight(line, " ")
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimRight(l, " \r") == line {
			return true
		}
	}
	return false
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// waitFor waits until b holds want, failing if the process ends first.
func waitFor(ctx context.Context, b *syncBuffer, want string, done <-chan struct{}) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(b.String(), want) {
		select {
		case <-done:
			if strings.Contains(b.String(), want) {
				return nil
			}
			return fmt.Errorf("exited before printing %q", want)
		case <-ctx.Done():
			return fmt.Errorf("%q not printed: %w", want, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// syncBuffer is a bytes.Buffer a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// openPTYPair opens a pseudo-terminal and returns both ends: what is
// written to master is read from term, as typed on a keyboard. It skips
// the test where there is none, as openPTY does.
func openPTYPair(t *testing.T) (master, term *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("naming the pseudo-terminal: %v", err)
	}
	term, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { term.Close() })
	// What the terminal echoes goes to master; drain it so the echo of an
	// answer never fills the buffer.
	go io.Copy(io.Discard, master)
	return master, term
}
