// Package triage is the host triage of the aws_ssm_triage collector: the
// read-only shell script cordon runs on an instance by SSM Run Command
// (Script), and the parser that turns what it prints into the collector's
// facts (Parse).
//
// # The format
//
// The script prints a header line, "cordon-triage<TAB>1", then one record
// per line: a tag and its fields, separated by TABs. Fields are escaped:
// backslash, TAB, LF and CR as \\ \t \n \r, any other control byte as
// \xHH, so nothing the script read (a command line, a file name) can start
// a line or a field. Other bytes pass as they are, valid UTF-8 or not.
// The last line is "end"; output without it was cut short. Times are Unix
// seconds, addresses and names as the host gave them.
//
//	host    KEY VALUE                 hostname, kernel, time (of collection), boot, tz (+hhmm of syslog's local time)
//	who     LINE                      a line of who(1): a user logged in now
//	key     USER PATH LINE            a line of an authorized_keys file
//	cron    SOURCE USER LINE          a crontab line; USER is empty in system crontabs, whose lines name it
//	unit    PATH LINE                 a line of a systemd timer or of the service it starts (On…=, Unit=, ExecStart=, User=)
//	proc    PID PPID USER START NAME EXE SHA256 CMDLINE
//	sock    PROTO STATE LOCAL_IP LOCAL_PORT REMOTE_IP REMOTE_PORT PID
//	last    LINE                      a line of last -F -w -i (wtmp: logins)
//	lastb   LINE                      a line of lastb -F -w -i (btmp: failed logins)
//	auth    SOURCE LINE               an sshd line (Accepted, Failed, Invalid user) of the auth log or the journal
//	file    MTIME SIZE PATH           a file changed within 7 days, newest first
//	hash    SHA256 PATH               the SHA-256 of a changed file in a world-writable directory
//	skip    SECTION PATH REASON DETAIL  a file not read, or read in part, and why (Skipped); PATH empty for a whole section
//	limit   SECTION MAX               the script stopped a section at MAX records
//	note    TEXT                      a remark (a tool that is missing)
//	end
//
// Sections come most valuable first, because SSM returns only the first
// 24,000 characters of a command's output. With gzip and base64 on the
// host, the script compresses the records: it prints
// "cordon-triage-gz<TAB>1" and one line of base64, which carries five to
// ten times as much in the same characters. Output cut anywhere still
// parses, into what came before the cut, with Facts.Truncated set.
//
// Unknown tags and fields past the ones above are ignored, so the script
// can grow without breaking older parsers.
//
// # What the script does not read
//
// The host is compromised, and its users can put links, FIFOs and huge
// files wherever the script looks. So it follows no symbolic link to a
// file it reads or hashes, nor to a directory on the way (but those
// directly in /, which only root makes), opens only regular files, reads
// each within a size and a time bound, and stops collecting once its time
// budget (Commands) is spent. Each such file, and each section the budget
// left out, is a skip record: REASON symlink (DETAIL the link's target, as
// the link names it: never read), not_regular (DETAIL fifo, socket,
// character_device, block_device, other), too_large (DETAIL the size: a
// text file read in part, a log's end only, a file not hashed), timeout,
// budget, unreadable, or changed (a directory swapped while entered).
package triage

import (
	_ "embed"
	"fmt"
	"strings"
	"time"
)

// Script is the triage script, sent as the commands of AWS-RunShellScript.
//
//go:embed triage.sh
var Script string

// budgetLine is the line of Script that sets its budget, BUDGET=seconds.
const budgetLine = "\nBUDGET=150\n"

// Commands returns Script as the lines AWS-RunShellScript's "commands"
// parameter takes (the SSM agent joins them with newlines into one
// script), set to collect for at most budget (in whole seconds): then it
// skips what is left, says so, and prints what it has. Give it less than
// the command's execution timeout, with room for the output to reach SSM.
func Commands(budget time.Duration) []string {
	return strings.Split(strings.TrimSuffix(withBudget(budget), "\n"), "\n")
}

// withBudget is Script set to collect for at most budget.
func withBudget(budget time.Duration) string {
	seconds := max(0, int(budget/time.Second))
	return strings.Replace(Script, budgetLine, fmt.Sprintf("\nBUDGET=%d\n", seconds), 1)
}
