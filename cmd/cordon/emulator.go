package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
	"github.com/cordonhq/cordon/internal/ui"
)

// webhookPath is where the emulator receives cordon's webhook
// notifications, so that a configuration pointed at it can notify as
// well as act. No AWS API is served on it: the query protocols post to
// "/", and GuardDuty's REST paths start with /detector.
const webhookPath = "/webhook"

func runEmulator(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("emulator [-listen ADDR] [-seed FLEET.json]", "emulator [options]")
	listen := fs.String("listen", "127.0.0.1:4566", "`ADDR` to listen on")
	seedPath := fs.String("seed", "", "fleet seed `FILE` (JSON; see docs/emulator.md); default: the demo fleet")
	m.outputFlags(fs)
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if !m.noArgs(fs, "emulator", pos, "") {
		return 1
	}
	var (
		seed *awsemu.Seed
		err  error
	)
	if *seedPath != "" {
		seed, err = awsemu.LoadSeed(*seedPath)
	} else {
		seed, err = demo.Fleet()
	}
	if err != nil {
		return m.fail("Invalid seed", err)
	}
	emu := awsemu.New(seed)
	if *seedPath == "" {
		// The triage script's output on web-1 and the bastion, as the demo
		// plays it back, so a plan here shows the demo's evidence.
		demo.SeedTriage(emu)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return m.fail("Cannot listen", err)
	}
	out := &lockedWriter{w: m.stdout}
	mux := http.NewServeMux()
	mux.Handle(webhookPath, webhookPrinter(out))
	mux.Handle("/", emu)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	printGuide(out, "http://"+ln.Addr().String(), seed, *seedPath == "")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return m.fail("Emulator stopped", err)
		}
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}
	return 0
}

// lockedWriter serializes writes from the handlers' goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// emulatorAccess is what cordon needs to act in the emulated accounts: an
// access key of the seed, the region, and the role it assumes there.
type emulatorAccess struct {
	key, secret, user, account string
	region                     string
	// role is assume_role_arn with {account}; empty when the seed has no
	// role that the key's account may assume in another account.
	role     string
	roleName string
}

// demoAccess is cordon's own user in the demo fleet's security account,
// assuming cordon-responder in the production account.
func demoAccess() emulatorAccess {
	return emulatorAccess{
		key: demo.CordonAccessKey, secret: demo.CordonSecretKey, user: "cordon", account: demo.SecurityAccount,
		region: demo.Region, role: demo.ResponderRoleARN, roleName: "cordon-responder",
	}
}

// seedAccess picks, from any seed, the first user's access key, the first
// region with resources, and a role trusting the key's account in
// another account (as cordon's responder role would be).
func seedAccess(seed *awsemu.Seed) (emulatorAccess, bool) {
	var a emulatorAccess
	found := false
	for _, acct := range seed.Accounts {
		for _, u := range acct.Users {
			if len(u.AccessKeys) > 0 && !found {
				k := u.AccessKeys[0]
				a.key, a.secret, a.user, a.account, found = k.ID, k.Secret, u.Name, acct.ID, true
			}
		}
	}
	if !found {
		return a, false
	}
	if a.secret == "" {
		a.secret = "not-checked" // the SDK signs with it; the emulator does not verify signatures
	}
	var regions []string
	for _, acct := range seed.Accounts {
		for r := range acct.Regions {
			regions = append(regions, r)
		}
	}
	sort.Strings(regions)
	a.region = "us-east-1"
	if len(regions) > 0 {
		a.region = regions[0]
	}
	for _, acct := range seed.Accounts {
		if acct.ID == a.account {
			continue
		}
		for _, r := range acct.Roles {
			for _, t := range r.Trust {
				if t == a.account || t == "*" || strings.HasPrefix(t, "arn:aws:iam::"+a.account+":") {
					if a.roleName == "" {
						a.roleName = r.Name
						a.role = "arn:aws:iam::{account}:role/" + strings.TrimPrefix(r.Path+r.Name, "/")
					}
				}
			}
		}
	}
	return a, true
}

// printGuide tells a person what to give cordon to use the emulator:
// credentials as export lines, the provider block, the role, where
// notifications go, and what the fleet holds.
func printGuide(w io.Writer, endpoint string, seed *awsemu.Seed, isDemo bool) {
	fleet := "the seed's fleet"
	if isDemo {
		fleet = "the demo fleet"
	}
	fmt.Fprintf(w, "cordon emulator: an in-memory AWS holding %s, listening on %s\n\n", fleet, endpoint)

	access, ok := demoAccess(), true
	if !isDemo {
		access, ok = seedAccess(seed)
	}
	if !ok {
		fmt.Fprintln(w, "The seed has no IAM user with an access key, so nothing can sign requests to it: add one (docs/emulator.md).")
	} else {
		fmt.Fprintf(w, "1. In the terminal where you run cordon, its credentials: user %s of account %s\n   (the emulator does not check secrets, but the SDK needs one):\n\n", access.user, access.account)
		fmt.Fprintf(w, "  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_REGION=%s\n\n", access.key, access.secret, access.region)
	}
	fmt.Fprintln(w, "2. A provider block pointing the configuration at the emulator, in a file of its own (emulator.hcl):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, `  provider "aws" {`)
	if access.role != "" {
		fmt.Fprintf(w, "    endpoint        = %q\n", endpoint)
		fmt.Fprintf(w, "    assume_role_arn = %q\n", access.role)
	} else {
		fmt.Fprintf(w, "    endpoint = %q\n", endpoint)
	}
	fmt.Fprintln(w, "  }")
	fmt.Fprintln(w)
	if access.role != "" {
		fmt.Fprintf(w, "   cordon assumes the role %s in each finding's account ({account}), as it would in yours.\n", access.roleName)
	}
	fmt.Fprintln(w, "   Isolation needs no security group id: cordon keeps an isolation group in each VPC,")
	fmt.Fprintln(w, "   found by its cordon:isolation tag or its name (cordon-isolation), or created once.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "3. Notifications: the emulator receives webhooks and prints them here. For the starter configuration:\n\n")
	fmt.Fprintf(w, "  export CORDON_VAR_webhook_url=%s%s\n\n", endpoint, webhookPath)
	if isDemo {
		fmt.Fprintf(w, "4. Evidence: the security account holds an evidence bucket with Object Lock and the memory\n"+
			"   acquisition tool, pinned by its SHA-256; the hosts play the acquisition back. For the starter:\n\n")
		fmt.Fprintf(w, "  export CORDON_VAR_evidence_bucket=%s CORDON_VAR_memory_tool_s3_uri=%s CORDON_VAR_memory_tool_sha256=%s\n\n",
			demo.EvidenceBucket, demo.MemoryToolURI, demo.MemoryToolSHA256)
	}

	fmt.Fprintln(w, "The fleet:")
	printFleet(w, seed, isDemo)
	if isDemo {
		fmt.Fprintln(w, "\nThe triage script plays back on web-1 and the bastion what `cordon demo` shows, so in a configuration")
		fmt.Fprintln(w, "made by `cordon init`:")
		fmt.Fprintln(w, "\n  cordon plan -finding testdata/findings/ec2_cryptocurrency_bitcointool_dns.json")
	}
	var others []string
	for _, a := range seed.Accounts {
		for _, u := range a.Users {
			for _, k := range u.AccessKeys {
				if k.ID != access.key {
					others = append(others, fmt.Sprintf("  %s  user %s, account %s", k.ID, u.Name, a.ID))
				}
			}
		}
	}
	if len(others) > 0 {
		fmt.Fprintln(w, "\nThe seed's other access keys:")
		fmt.Fprintln(w, strings.Join(others, "\n"))
	}
	fmt.Fprintln(w, "\nPress Ctrl-C to stop.")
}

// printFleet lists the seed's instances by account and region.
func printFleet(w io.Writer, seed *awsemu.Seed, isDemo bool) {
	n := 0
	for _, a := range seed.Accounts {
		regions := make([]string, 0, len(a.Regions))
		for r := range a.Regions {
			regions = append(regions, r)
		}
		sort.Strings(regions)
		for _, r := range regions {
			for _, in := range a.Regions[r].Instances {
				note := ""
				if isDemo {
					switch in.ID {
					case demo.WebServerID:
						note = "  a cryptominer (triage: xmrig, a cron loader, a root SSH key)"
					case demo.BastionID:
						note = "  a failed SSH brute force (triage: failed logins)"
					}
				}
				if in.Tags["cordon:exempt"] == "true" {
					note += "  tagged cordon:exempt"
				}
				fmt.Fprintf(w, "  %-12s %s  %s %s%s\n", ui.Safe(in.Tags["Name"]), in.ID, a.ID, r, note)
				n++
			}
		}
	}
	if n == 0 {
		fmt.Fprintln(w, "  (no instances)")
	}
}

// webhookPrinter answers cordon's webhook notifications with 204 and
// prints one line for each: the incident, the finding's type, the
// verdict and the number of actions reported.
func webhookPrinter(w io.Writer) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			rw.Header().Set("Allow", http.MethodPost)
			http.Error(rw, "POST a notification here", http.StatusMethodNotAllowed)
			return
		}
		var n struct {
			IncidentID string                     `json:"incident_id"`
			Finding    struct{ Type string }      `json:"finding"`
			Verdicts   []struct{ Verdict string } `json:"verdicts"`
			Actions    []json.RawMessage          `json:"actions"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&n); err != nil {
			fmt.Fprintf(w, "webhook: a notification that is not JSON: %s\n", ui.Safe(err.Error()))
			http.Error(rw, "not JSON", http.StatusBadRequest)
			return
		}
		verdict := "no verdict"
		if len(n.Verdicts) > 0 {
			verdict = n.Verdicts[0].Verdict
		}
		fmt.Fprintf(w, "webhook: incident %s, %s (%s), %d actions reported\n",
			ui.Safe(n.IncidentID), ui.Safe(n.Finding.Type), ui.Safe(verdict), len(n.Actions))
		rw.WriteHeader(http.StatusNoContent)
	})
}
