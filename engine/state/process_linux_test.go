package state

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	// Fields 3 to 22 after the command name; 22 is the start time.
	rest := " S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 20 21"
	for _, tc := range []struct {
		name, line   string
		state, start string
		wantErr      string
	}{
		{"plain", "42 (cordon)" + rest, "S", "424242", ""},
		{"name with spaces and parentheses", "42 (a) b (c))" + rest, "S", "424242", ""},
		{"zombie", "42 (cordon) Z" + strings.TrimPrefix(rest, " S"), "Z", "424242", ""},
		{"no command name", "42 cordon" + rest, "", "", "no command name"},
		{"too few fields", "42 (cordon) S 1 2 3", "", "", "4 fields after the command name, want at least 20"},
		{"start not a number", "42 (cordon) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 soon", "", "", `start time "soon"`},
		{"negative start", "42 (cordon) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 -1", "", "", `start time "-1"`},
		{"empty", "", "", "", "no command name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, start, err := parseStat([]byte(tc.line))
			if tc.wantErr != "" {
				wantErr(t, err, tc.wantErr)
				return
			}
			if err != nil || state != tc.state || start != tc.start {
				t.Errorf("parseStat = %q, %q, %v; want %q, %q", state, start, err, tc.state, tc.start)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("42 (cordon) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 20 21"))
	f.Add([]byte("1 ((sd-pam)) S 0 1 1 0 -1 4194560 53435 50832661 0 2497 236 735 148017 42782 10 -10 40 0 21 57860096"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		state, start, err := parseStat(b)
		if err != nil {
			return
		}
		if state == "" || strings.ContainsAny(state, " \t\n") {
			t.Errorf("state %q", state)
		}
		if _, err := strconv.ParseUint(start, 10, 64); err != nil {
			t.Errorf("start %q accepted: %v", start, err)
		}
	})
}

// This process's identity is read from /proc: the boot id the kernel
// gives, and its own start time, which /proc/PID/stat repeats.
func TestSelfIdentity(t *testing.T) {
	boot, start := selfIdentity()
	want, err := os.ReadFile(bootIDPath)
	if err != nil {
		t.Skipf("no boot id: %v", err)
	}
	if boot != strings.TrimSpace(string(want)) || boot == "" {
		t.Errorf("boot id %q, want %q", boot, want)
	}
	again, exited, err := processStart(os.Getpid())
	if err != nil || exited || start == "" || again != start {
		t.Errorf("start time %q, then %q (exited %v, %v)", start, again, exited, err)
	}
	if _, _, err := processStart(deadPID(t)); !os.IsNotExist(err) {
		t.Errorf("start time of a dead process: %v, want not exist", err)
	}
}
