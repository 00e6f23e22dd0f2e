package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/ui"
)

// `cordon state locks` and `cordon state unlock`: the target locks that
// keep two applies off one target, and Terraform's force-unlock for a
// holder cordon cannot see die (one on another host).

func runStateLocks(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("state locks [-config DIR | -state PATH] [-history] [-json]", "state locks [options]")
	m.configFlags(fs)
	m.stateFlag(fs)
	m.outputFlags(fs)
	m.jsonFlag(fs, "print as JSON")
	history := fs.Bool("history", false, "list the locks removed from their holders (forced or taken over) instead of those held")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if !m.noArgs(fs, "state locks", pos, "") {
		return 1
	}
	_, st, code := m.openState(ctx)
	if st == nil {
		return code
	}
	defer st.Close()
	if *history {
		return m.listLockEvents(ctx, st)
	}
	locks, err := st.Locks(ctx)
	if err != nil {
		return m.fail("Cannot read state", err)
	}
	if m.jsonOut {
		if locks == nil {
			locks = []state.LockInfo{}
		}
		m.writeJSON(struct {
			FormatVersion string           `json:"format_version"`
			Locks         []state.LockInfo `json:"locks"`
		}{ui.FormatVersion, locks})
		return 0
	}
	if len(locks) == 0 {
		fmt.Fprintln(m.stdout, "No state locks are held.")
		return 0
	}
	tw := tabwriter.NewWriter(m.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCK\tKEY\tHOLDER\tPID\tHOST\tACQUIRED\tHOLDER IS")
	for _, l := range locks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", ui.Safe(l.ID), ui.Safe(l.Key), ui.Safe(l.Owner), l.PID, ui.Safe(l.Host),
			l.AcquiredAt.UTC().Format(time.RFC3339), livenessWord(l.Liveness))
	}
	tw.Flush()
	fmt.Fprintln(m.stdout, "\nThe next apply that needs a dead holder's lock takes it over. To remove the lock of a holder")
	fmt.Fprintln(m.stdout, "gone from another host: cordon state unlock LOCK")
	return 0
}

// listLockEvents lists the forced unlocks and takeovers.
func (m *meta) listLockEvents(ctx context.Context, st state.Store) int {
	events, err := st.LockEvents(ctx)
	if err != nil {
		return m.fail("Cannot read state", err)
	}
	if m.jsonOut {
		if events == nil {
			events = []state.LockEvent{}
		}
		m.writeJSON(struct {
			FormatVersion string            `json:"format_version"`
			LockEvents    []state.LockEvent `json:"lock_events"`
		}{ui.FormatVersion, events})
		return 0
	}
	if len(events) == 0 {
		fmt.Fprintln(m.stdout, "No lock was forced or taken over.")
		return 0
	}
	tw := tabwriter.NewWriter(m.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tEVENT\tLOCK\tKEY\tHOLDER\tHOLDER WAS\tBY")
	for _, e := range events {
		l := e.Lock
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), strings.ReplaceAll(string(e.Kind), "_", " "),
			ui.Safe(l.ID), ui.Safe(l.Key), ui.Safe(fmt.Sprintf("%s (pid %d on %s)", l.Owner, l.PID, l.Host)),
			livenessWord(l.Liveness), ui.Safe(fmt.Sprintf("%s (pid %d on %s)", e.By, e.ByPID, e.ByHost)))
	}
	tw.Flush()
	return 0
}

// livenessWord is the LOCKS column: what cordon can tell of a holder.
func livenessWord(l state.Liveness) string {
	switch l {
	case state.LivenessAlive:
		return "alive"
	case state.LivenessDead:
		return "dead"
	}
	return "unknown (another host)"
}

// livenessText explains, under a lock about to be forced, what cordon can
// tell of its holder and what removing the lock means.
func livenessText(l state.Liveness) string {
	switch l {
	case state.LivenessAlive:
		return "alive: its process runs on this host, and may still be acting on the target"
	case state.LivenessDead:
		return "dead: its process no longer runs on this host (the next apply would take the lock over)"
	}
	return "unknown: it ran on another host, so cordon cannot tell whether it still runs"
}

func runStateUnlock(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("state unlock LOCK_ID [-config DIR | -state PATH] [-force] [-json]", "state unlock LOCK_ID [options]")
	m.configFlags(fs)
	m.stateFlag(fs)
	m.outputFlags(fs)
	m.jsonFlag(fs, "print the removed lock as JSON (the question, without -force, goes to stderr)")
	force := fs.Bool("force", false, "remove the lock without asking for confirmation")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(m.stderr, "cordon state unlock: expected exactly one LOCK_ID (cordon state locks lists them)")
		fs.Usage()
		return 1
	}
	id := pos[0]
	_, st, code := m.openState(ctx)
	if st == nil {
		return code
	}
	defer st.Close()
	locks, err := st.Locks(ctx)
	if err != nil {
		return m.fail("Cannot read state", err)
	}
	var lock *state.LockInfo
	for i := range locks {
		if locks[i].ID == id {
			lock = &locks[i]
		}
	}
	if lock == nil {
		return m.fail("No such lock", unknownLock(id, locks))
	}

	// With -json, stdout holds only the document.
	human := m.stdout
	if m.jsonOut {
		human = m.stderr
	}
	fmt.Fprintf(human, "Lock %s\n", ui.Safe(lock.ID))
	fmt.Fprintf(human, "  key       %s\n", ui.Safe(lock.Key))
	fmt.Fprintf(human, "  holder    %s\n", ui.Safe(lock.Owner))
	fmt.Fprintf(human, "  process   pid %d on %s\n", lock.PID, ui.Safe(lock.Host))
	fmt.Fprintf(human, "  acquired  %s\n", lock.AcquiredAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(human, "  holder is %s\n", livenessText(lock.Liveness))
	if !*force {
		ok, err := confirm(m.stdin, human, "Do you really want to force-unlock?",
			"cordon will remove the lock above. If its holder still runs, another apply may then act on\n  the same target at the same time.")
		if errors.Is(err, ui.ErrNoTerminal) {
			return m.fail("No confirmation", errors.New("standard input is not a terminal, so cordon cannot ask; use -force to unlock without asking"))
		}
		if err != nil {
			return m.fail("No confirmation", err)
		}
		if !ok {
			fmt.Fprintln(human, "Unlock cancelled.")
			return 1
		}
	}
	removed, err := st.ForceUnlock(ctx, id, userAtHost())
	if errors.Is(err, state.ErrNotFound) {
		return m.fail("Lock not removed", fmt.Errorf("lock %s was released while cordon asked, so nothing was removed: %w", id, err))
	}
	if err != nil {
		return m.fail("Cannot unlock", err)
	}
	if m.jsonOut {
		m.writeJSON(struct {
			FormatVersion string         `json:"format_version"`
			Unlocked      state.LockInfo `json:"unlocked"`
		}{ui.FormatVersion, removed})
		return 0
	}
	fmt.Fprintf(m.stdout, "\nLock %s removed: %s is unlocked. The unlock is recorded in state (cordon state locks -history).\n",
		ui.Safe(removed.ID), ui.Safe(removed.Key))
	return 0
}

// unknownLock explains an id no lock held has: a lock key where an id
// belongs, or a lock released since it was seen.
func unknownLock(id string, locks []state.LockInfo) error {
	for _, l := range locks {
		if l.Key == id {
			return fmt.Errorf("%q is the key of lock %s; give its id: cordon state unlock %s", ui.Safe(id), l.ID, l.ID)
		}
	}
	if len(locks) == 0 {
		return fmt.Errorf("no state lock has id %q: no lock is held", ui.Safe(id))
	}
	return fmt.Errorf("no state lock has id %q (it may have been released); cordon state locks lists the %d held and their ids", ui.Safe(id), len(locks))
}

// confirm asks question and accepts only "yes", as Terraform's
// force-unlock does. It fails rather than waits when in is not a terminal
// (a pipe in CI); a reader that is not a file answers, for tests.
func confirm(in io.Reader, out io.Writer, question, detail string) (bool, error) {
	if f, ok := in.(*os.File); ok && !ui.IsTerminal(f) {
		return false, ui.ErrNoTerminal
	}
	fmt.Fprintf(out, "\n%s\n  %s\n  Only 'yes' will be accepted to confirm.\n\n  Enter a value: ", question, detail)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	fmt.Fprintln(out)
	return strings.TrimSpace(line) == "yes", nil
}

// userAtHost names who forces an unlock, for the record: user@host.
func userAtHost() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}
