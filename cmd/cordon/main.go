// Command cordon is automated cloud incident response as code: HCL says
// where automation may act and what it may do, Rego decides verdicts and
// responses, and the engine plans and applies the response the way
// Terraform plans and applies infrastructure.
//
// This package only parses flags and calls the engine; everything else
// lives in the engine, schema, actions and collectors packages.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand.
type command struct {
	synopsis string
	run      func(ctx context.Context, m *meta, args []string) int
}

var commands = map[string]command{
	"validate":   {"Check the configuration and policies", runValidate},
	"emulator":   {"Run the in-memory AWS emulator", runEmulator},
	"demo":       {"Run cordon end to end against the emulator, no account needed", runDemo},
	"apply":      {"Apply a plan: act on the findings, recorded in state", runApply},
	"state":      {"List, show, recover and unlock what state recorded", runState},
	"revert":     {"Undo an incident's reversible actions", runRevert},
	"report":     {"Write an incident's report: verdict, timeline, scope, evidence", runReport},
	"iam-policy": {"Print the least-privilege IAM policy for the configuration", runIAMPolicy},
	"fmt":        {"Rewrite HCL and Rego files to the canonical format", runFmt},
	"plan":       {"Show the response cordon would take for findings", runPlan},
	"show":       {"Show a saved plan", runShow},
	"init":       {"Write the starter configuration and policies", runInit},
	"test":       {"Run the Rego unit tests and scenario tests", runTest},
	"version":    {"Show the cordon version", runVersion},
	"serve":      {"Run the daemon: act on live findings (HTTP, SQS, GuardDuty)", runServe},
	"approve":    {"Approve a plan the daemon holds for approval", runApprove},
	"reject":     {"Reject a plan the daemon holds for approval", runReject},
}

func main() {
	// A soft memory limit makes the garbage collector work harder before
	// the heap outgrows it, instead of letting a plan of tens of thousands
	// of findings double its live heap between collections. GOMEMLIMIT
	// overrides it.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(160 << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the process exit code.
// Global options come before the command, as Terraform's: -chdir=DIR
// (run in DIR), -help and -version.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	chdir := ""
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		opt := strings.TrimPrefix(args[0], "-")
		opt = strings.TrimPrefix(opt, "-")
		name, value, hasValue := strings.Cut(opt, "=")
		switch name {
		case "help", "h":
			usage(stdout)
			return 0
		case "version", "v":
			args = append([]string{"version"}, args[1:]...)
			continue
		case "chdir":
			if !hasValue {
				if len(args) < 2 {
					fmt.Fprintln(stderr, "cordon: -chdir needs a directory: cordon -chdir=DIR COMMAND")
					return 1
				}
				value, args = args[1], args[1:]
			}
			if value == "" {
				fmt.Fprintln(stderr, "cordon: -chdir needs a directory: cordon -chdir=DIR COMMAND")
				return 1
			}
			chdir = value
			args = args[1:]
			continue
		}
		fmt.Fprintf(stderr, "cordon: unknown option %q before the command (global options: -chdir=DIR, -help, -version)\n\n", args[0])
		usage(stderr)
		return 1
	}
	if len(args) == 0 {
		usage(stderr)
		return 1
	}
	if chdir != "" {
		// As Terraform's -chdir: the command runs as if started in DIR,
		// with every relative path resolved there.
		prev, err := os.Getwd()
		if err == nil {
			err = os.Chdir(chdir)
		}
		if err != nil {
			fmt.Fprintf(stderr, "cordon: -chdir: %v\n", err)
			return 1
		}
		defer os.Chdir(prev)
	}
	name := args[0]
	if name == "help" {
		if len(args) == 1 {
			usage(stdout)
			return 0
		}
		// cordon help COMMAND [SUBCOMMAND]: the command's own -help.
		name, args = args[1], append(args[1:], "-help")
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "cordon: unknown command %q\n\n", name)
		usage(stderr)
		return 1
	}
	m := newMeta(stdin, stdout, stderr)
	code := cmd.run(ctx, m, args[1:])
	m.finish(code)
	return code
}

func usage(w io.Writer) {
	fmt.Fprint(w, "Usage: cordon [-chdir=DIR] [-version] [-help] <command> [args]\n\n")
	fmt.Fprint(w, "Automated cloud incident response: HCL scopes and rules, Rego verdicts and\nresponses, Terraform-style plan and apply.\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].synopsis)
	}
	fmt.Fprint(w, "\nGlobal options (before the command):\n  -chdir=DIR  run the command in DIR, as if started there\n  -help       show this help\n  -version    show the version\n")
	fmt.Fprint(w, "\nRun `cordon help COMMAND` (or `cordon COMMAND -help`) for a command's flags.\n")
}

// multiFlag is a repeatable string flag (-finding, -var): each use adds a
// value, in order.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
