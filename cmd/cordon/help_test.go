package main

import (
	"regexp"
	"sort"
	"strings"
	"testing"
)

// stateSubcommands are the subcommands of cordon state, as runState
// dispatches them.
var stateSubcommands = []string{"list", "show", "recover", "locks", "unlock", "verify"}

// TestHelpOnStdout holds every command, the daemon's and state verify
// included, to one convention: `cordon help COMMAND` and `COMMAND -help`
// print the usage on stdout, nothing on stderr, and exit 0; a flag that
// does not exist prints it on stderr and exits 1; every flag that takes a
// value names what it takes.
func TestHelpOnStdout(t *testing.T) {
	var names [][]string
	for name := range commands {
		if name != "state" {
			names = append(names, []string{name})
		}
	}
	sort.Slice(names, func(i, j int) bool { return names[i][0] < names[j][0] })
	for _, sub := range stateSubcommands {
		names = append(names, []string{"state", sub})
	}
	untyped := regexp.MustCompile(`(?m)^  -\S+ (string|value|duration|int|float)$`)
	for _, name := range names {
		command := strings.Join(name, " ")
		t.Run(command, func(t *testing.T) {
			for _, args := range [][]string{
				append([]string{"help"}, name...),
				append(append([]string{}, name...), "-help"),
				append(append([]string{}, name...), "--help"),
			} {
				code, out, errOut := cordon(t, args...)
				if code != 0 || errOut != "" || !strings.HasPrefix(out, "Usage: cordon "+command) {
					t.Errorf("cordon %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, firstLine(out), errOut)
				}
				if m := untyped.FindString(out); m != "" {
					t.Errorf("cordon %s: %q does not name its argument", strings.Join(args, " "), m)
				}
				if !strings.Contains(out, "  -no-color") && command != "state" {
					t.Errorf("cordon %s: no -no-color, which every command that prints takes", strings.Join(args, " "))
				}
			}
			args := append(append([]string{}, name...), "-no-such-flag")
			code, out, errOut := cordon(t, args...)
			if code != 1 || out != "" || !strings.Contains(errOut, "-no-such-flag") || !strings.Contains(errOut, "Usage: cordon "+command) {
				t.Errorf("cordon %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errOut)
			}
		})
	}
	// cordon state alone: its subcommands, on stdout for -help.
	code, out, errOut := cordon(t, "state", "-help")
	if code != 0 || errOut != "" || !strings.Contains(out, "verify [INCIDENT]") {
		t.Errorf("cordon state -help: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestFlagsAfterArgumentsForTheDaemonsCommands: serve, approve, reject and
// state verify take their flags after their arguments too, as every other
// command does.
func TestFlagsAfterArgumentsForTheDaemonsCommands(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string // on stderr
	}{
		// The flags after the argument are parsed: the configuration is
		// looked for in -config's directory, which holds none.
		{[]string{"approve", "0123456789abcdef", "-config", dir, "-approver", "alice"}, "The directory " + dir + " contains no cordon configuration files"},
		{[]string{"reject", "0123456789abcdef", "-config", dir}, "The directory " + dir + " contains no cordon configuration files"},
		// An argument serve does not take is named, whatever follows it.
		{[]string{"serve", "extra", "-config", dir}, `unexpected argument "extra"`},
		{[]string{"state", "verify", "inc-0000000000000000", "-head", "nothex", "-config", dir}, `-head "nothex" is not a chain head`},
	} {
		code, _, errOut := cordon(t, tt.args...)
		if code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("cordon %s: exit %d, want 1 and %q on stderr:\n%s", strings.Join(tt.args, " "), code, tt.want, errOut)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
