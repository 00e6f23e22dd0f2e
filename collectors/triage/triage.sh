#!/bin/sh
# cordon host triage (collector type aws_ssm_triage), run as root by SSM
# Run Command (AWS-RunShellScript).
#
# Read-only: it reads /proc, /etc, logs and home directories and writes
# nothing (no temporary files), reaches no network and installs nothing.
# It needs a POSIX shell, awk, tr, sort, head and tail, and stat, readlink
# and dd (coreutils or busybox) to read files; everything else (find, who,
# last, journalctl, sha256sum, gzip, base64, timeout) is used when present
# and skipped when not.
#
# The host is compromised and its users may be hostile, so whatever they
# can put where the script looks is never followed, opened or read without
# a bound:
#   - no symbolic link is followed to a file that is read or hashed, nor to
#     a directory on the way to one (but those directly in /, which only
#     root makes, such as /lib -> usr/lib): the link is reported instead,
#     with the target it names, which is never read. dd opens files with
#     O_NOFOLLOW, and a directory entered must be, with its parents, the
#     very directories looked at before (enter), so swapping a file or a
#     directory for a link between the look and the read is caught too;
#   - only files seen to be regular are opened (a FIFO, a device or a
#     socket is reported), and without waiting (O_NONBLOCK), so one swapped
#     in since is read for what little it holds, if anything;
#   - every read is bounded in size (MAX_TEXT_KB of a text file, the last
#     MAX_LOG_KB of a log, no hash of a file over MAX_HASH_KB: each cut or
#     skip reported) and in time (timeout(1) per file and per step), and the
#     whole run by BUDGET seconds, after which the remaining sections are
#     skipped, reported, so that the output always gets out before the
#     collector's timeout.
#
# It prints cordon's triage format (collectors/triage/triage.go documents
# it): "cordon-triage<TAB>1", then one record per line, TAB-separated,
# every field escaped by esc() below so that no byte of what it read can
# start a line or a field; then "end". Sections come most valuable first,
# because SSM returns only the first 24,000 characters of the output:
# whatever is cut is the least useful. With gzip and base64 the records
# are sent compressed, "cordon-triage-gz<TAB>1" and one base64 line, which
# carries five to ten times as much.

# Settings. The collector sets BUDGET, the seconds the script may collect
# for, from its own timeout. ROOT is the file system whose files are read
# (not /proc): empty, the host's, but for tests that build one.
BUDGET=150
ROOT=

exec 2>/dev/null
# Local time of the logs written by syslog, before everything else runs in
# UTC.
TZ_OFFSET=$(date +%z)
LC_ALL=C TZ=UTC0 PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL TZ PATH
unset CDPATH
umask 077
# A production host comes first: run at low priority.
renice -n 10 -p $$ >/dev/null 2>&1

# Bounds: records per section, bytes read or hashed, seconds per step and
# per file.
MAX_PROCS=5000
MAX_SOCKS=10000
MAX_FILES=5000
MAX_LINES=1000
MAX_LOG=1000
MAX_LOGINS=500
MAX_HASHES=100
MAX_HASH_KB=32768
MAX_TEXT_KB=256
MAX_LOG_KB=16384
# Large files in world-writable directories reported, not hashed.
MAX_LARGE=20
STEP_SECONDS=30
FILE_SECONDS=5
HASH_SECONDS=10
# Changed files sorted at most: sort holds them in memory.
MAX_SORTED=100000

# now sets NOW to the seconds since boot, read without a process (a
# process costs time on a busy host); the wall clock where /proc has none.
now() {
	if read -r NOW _ </proc/uptime; then
		NOW=${NOW%.*}
	else
		NOW=$(date +%s)
	fi
}
now
DEADLINE=$((NOW + BUDGET))
TAB=$(printf '\t')
NL='
'
# What find's paths' newlines are turned into, to travel as lines.
RS036=$(printf '\036')

have() { command -v "$1" >/dev/null 2>&1; }

# left sets LEFT to the seconds left of the budget.
left() {
	now
	LEFT=$((DEADLINE - NOW))
}

# run_for SECONDS COMMAND...: COMMAND for at most SECONDS and at most what
# is left of the budget, when timeout(1) exists; 124 when it timed out, or
# at once when nothing is left.
if have timeout; then
	TIMEOUT=1
else
	TIMEOUT=
fi
run_for() {
	_limit=$1
	shift
	left
	[ "$LEFT" -lt "$_limit" ] && _limit=$LEFT
	[ "$_limit" -gt 0 ] || return 124
	if [ -n "$TIMEOUT" ]; then
		timeout "$_limit" "$@"
	else
		"$@"
	fi
}

# dd opens what it reads without following a symbolic link (nofollow) and
# without waiting on a FIFO swapped in (nonblock); /proc/PID/exe, a link by
# nature, without the first. A dd without them (busybox) reads files only
# after they were checked (a note says so).
DD_FILE=
DD_PROC=
READ_FILES=1
if ! have dd || ! have stat || ! have readlink; then
	READ_FILES=
elif dd if=/dev/null iflag=nofollow,nonblock count=0 >/dev/null 2>&1; then
	DD_FILE=iflag=nofollow,nonblock
	DD_PROC=iflag=nonblock
fi

# sort must not spill to temporary files: the script writes nothing, not
# even there (a write can overwrite a deleted file's blocks, evidence). GNU
# sort keeps MAX_SORTED records within -S; its -T names no directory, so
# if it ever needed to spill it fails instead. Other sorts (busybox) sort in
# memory.
SORT_IN_MEMORY=
if printf '1\n' | sort -S 1M -T /nonexistent/cordon >/dev/null 2>&1; then
	SORT_IN_MEMORY="-S 64M -T /nonexistent/cordon"
fi

HASHER=
if have sha256sum; then
	HASHER=sha256sum
elif have shasum; then
	HASHER='shasum -a 256'
elif have openssl; then
	HASHER='openssl dgst -sha256 -r'
fi

# ESC is the awk prelude every section shares: esc(s) writes backslash,
# TAB, LF and CR as \\ \t \n \r and every other control byte as \xHH, so a
# field is one line without TABs whatever it holds; cut(s, n) bounds it.
ESC='
function esc(s,    i, n, c, out) {
	if (s !~ /[\\\001-\037\177]/)
		return s
	out = ""
	n = length(s)
	for (i = 1; i <= n; i++) {
		c = substr(s, i, 1)
		out = out ((c in ESCAPED) ? ESCAPED[c] : c)
	}
	return out
}
function cut(s, n) {
	return length(s) > n ? substr(s, 1, n) : s
}
BEGIN {
	for (i = 1; i < 32; i++)
		ESCAPED[sprintf("%c", i)] = sprintf("\\x%02x", i)
	ESCAPED[sprintf("%c", 127)] = "\\x7f"
	ESCAPED["\\"] = "\\\\"
	ESCAPED["\t"] = "\\t"
	ESCAPED["\n"] = "\\n"
	ESCAPED["\r"] = "\\r"
}
'

# FRAME is the awk prelude of the sections that read frames() output:
# each line sets file (escaped already) and line (as read).
# shellcheck disable=SC2016 # awk's $0
FRAME='
{
	i = index($0, "\t")
	file = substr($0, 1, i - 1)
	line = substr($0, i + 1)
}
'

# emit prints one record of its arguments, escaped.
emit() {
	awk "$ESC"'BEGIN {
		s = ARGV[1]
		for (i = 2; i < ARGC; i++)
			s = s "\t" esc(ARGV[i])
		print s
	}' "$@"
}

# skip SECTION PATH REASON [DETAIL] reports a file not read, or read in
# part, and why; on the triage output (fd 3), whatever the caller's
# standard output is. PATH is empty when a whole section is skipped.
skip() { emit skip "$1" "$2" "$3" "${4-}" >&3; }

# open_section SECTION is false, and reports it, once the budget is spent.
open_section() {
	left
	[ "$LEFT" -gt 0 ] && return 0
	skip "$1" "" budget
	return 1
}

# file_kind names a type stat(1) gives (%F) in a word.
file_kind() {
	case $1 in
	*fifo* | *pipe*) printf fifo ;;
	*socket*) printf socket ;;
	*character*) printf character_device ;;
	*block*) printf block_device ;;
	*) printf other ;;
	esac
}

# enter SECTION DIR makes DIR (absolute) the working directory without
# going through a symbolic link but those directly in /, which only root
# makes (/lib -> usr/lib on merged-/usr systems, /home on some): a link
# met is reported as a skip of SECTION, never followed. Every component is
# looked at (lstat) first, then entered, then the directory entered and
# its parents (., .., ../.. ...) must be the very directories looked at:
# a directory has one parent, so had a component been swapped for a link
# on the way in, the chain would differ (reported as changed). A component
# missing, unreadable or not a directory fails quietly. Two processes, at
# any depth. Run it in a subshell: it changes the working directory.
enter() {
	_section=$1 _rest=$2 _path='' _hops=0
	# The path without . and .. (as written: any link it names is refused
	# anyway), links directly in / replaced by their targets.
	while [ -n "$_rest" ]; do
		_comp=${_rest%%/*}
		case $_rest in
		*/*) _rest=${_rest#*/} ;;
		*) _rest= ;;
		esac
		case $_comp in
		'' | .) continue ;;
		..)
			_path=${_path%/*}
			continue
			;;
		esac
		if [ -z "$_path" ] && [ -L "/$_comp" ] && [ "$_hops" -lt 8 ]; then
			_hops=$((_hops + 1))
			_rest=$(readlink -- "/$_comp")/$_rest
			continue
		fi
		_path=$_path/$_comp
	done
	cd / || return 1
	[ -n "$_path" ] || return 0
	# Each component's path, from the top.
	set --
	_p=$_path
	while [ -n "$_p" ]; do
		set -- "$_p" "$@"
		_p=${_p%/*}
	done
	# One line a path, in order, for those from the top that exist: the
	# first missing one ends them (names are never printed: a newline in
	# one cannot shift them). A link is reported though what follows it is
	# missing.
	_named=$(stat -c '%F:%d:%i' -- "$@")
	_want=
	for _c; do
		[ -n "$_named" ] || return 1
		_line=${_named%%"$NL"*}
		case $_named in
		*"$NL"*) _named=${_named#*"$NL"} ;;
		*) _named= ;;
		esac
		case $_line in
		'symbolic link:'*)
			skip "$_section" "$_c" symlink "$(readlink -- "$_c")"
			return 1
			;;
		directory:*) ;;
		*) return 1 ;;
		esac
		_want=$_line$NL$_want
	done
	# What was looked at, from the bottom: . .. ../.. ... must be those.
	_up=.
	for _c; do
		shift
		set -- "$@" "$_up"
		_up=$_up/..
	done
	cd -P -- "$_path" || return 1
	_held=$(stat -c '%F:%d:%i' -- "$@") || return 1
	if [ "$_held$NL" != "$_want" ]; then
		skip "$_section" "$_path" changed
		return 1
	fi
}

# QUIET_LINKS, when set, passes over systemd's own links quietly: masks
# (to /dev/null) and links to a unit file in a unit directory, which is
# read there.
QUIET_LINKS=
quiet_link() {
	[ -n "$QUIET_LINKS" ] || return 1
	case $1 in
	*/../* | */./*) return 1 ;;
	/dev/null | /etc/systemd/* | /run/systemd/* | /usr/lib/systemd/* | /lib/systemd/* | /usr/local/lib/systemd/*) return 0 ;;
	# A unit file next to the link, or in the directory above (links in
	# NAME.wants).
	[!/.]* | ../*)
		case ${1#../} in
		*/*) return 1 ;;
		*) return 0 ;;
		esac
		;;
	esac
	return 1
}

# regular SECTION PATH NAME: NAME, in the working directory, is a regular
# file (SIZE its size), looked at without following a link. A link or a
# FIFO, device or socket is reported, a directory or a file gone passed
# over.
regular() {
	_info=$(stat -c '%s:%F' -- "$3") || return 1
	SIZE=${_info%%:*}
	case ${_info#*:} in
	'regular file' | 'regular empty file') return 0 ;;
	'symbolic link')
		_target=$(readlink -- "$3")
		quiet_link "$_target" || skip "$1" "$2" symlink "$_target"
		;;
	directory) ;;
	*) skip "$1" "$2" not_regular "$(file_kind "${_info#*:}")" ;;
	esac
	return 1
}

# text_of SECTION PATH NAME sets TEXT to the first MAX_TEXT_KB of NAME, a
# regular file in the working directory, read for at most FILE_SECONDS. A
# file cut, or not read in time, is reported.
text_of() {
	regular "$1" "$2" "$3" && [ -r "$3" ] || return 1
	[ "$SIZE" -le $((MAX_TEXT_KB * 1024)) ] || skip "$1" "$2" too_large "$SIZE"
	# shellcheck disable=SC2086 # DD_FILE is options
	TEXT=$(run_for "$FILE_SECONDS" dd if="$3" $DD_FILE bs=1024 count="$MAX_TEXT_KB" 2>/dev/null; echo "/$?")
	_rc=${TEXT##*/}
	TEXT=${TEXT%/*}
	case $_rc in
	0) return 0 ;;
	124) skip "$1" "$2" timeout ;;
	*) skip "$1" "$2" unreadable ;;
	esac
	return 1
}

# frames SECTION DIR PATTERN... prints the regular files of DIR whose
# names PATTERNs (names or globs) match, at most MAX_TEXT_KB of each, as
# lines "PATH<TAB>LINE": PATH escaped, LINE as read (a file's own lines
# cannot start one). Directories that PATTERNs match are passed over.
frames() (
	_section=$1 _dir=$2
	shift 2
	enter "$_section" "$_dir" || exit 0
	# shellcheck disable=SC2048,SC2086 # the patterns are globs, matched here
	set -- $*
	for _name; do
		[ -e "./$_name" ] || [ -L "./$_name" ] || continue
		text_of "$_section" "$_dir/$_name" "./$_name" || continue
		[ -n "$TEXT" ] || continue
		# A text an environment variable can hold goes as one, a process
		# less than a pipe.
		if [ "${#TEXT}" -lt 65536 ]; then
			T=$TEXT P="$_dir/$_name" awk "$ESC"'BEGIN {
				p = esc(ENVIRON["P"])
				n = split(ENVIRON["T"], lines, "\n")
				for (i = 1; i <= n; i++)
					print p "\t" lines[i]
			}'
		else
			printf '%s\n' "$TEXT" | P="$_dir/$_name" awk "$ESC"'
				BEGIN { p = esc(ENVIRON["P"]) }
				{ print p "\t" $0 }'
		fi
	done
)

# sha256 FILE FLAGS sets SHA to the SHA-256 of FILE, read by dd with
# FLAGS (at most MAX_HASH_KB and a block, for at most HASH_SECONDS); false
# when it could not be read, REASON saying why. dd's report on its stderr
# tells whether it read to the end: "... copied", an error "dd: ...", or
# nothing when timeout killed it. (No shell around dd to take its status:
# a process less for each file.)
sha256() {
	SHA='' REASON=''
	left
	_limit=$HASH_SECONDS
	[ "$LEFT" -lt "$_limit" ] && _limit=$LEFT
	if [ "$_limit" -le 0 ]; then
		REASON=timeout
		return 1
	fi
	_timeout=
	# KILL: a dd stopped must not print its report.
	[ -z "$TIMEOUT" ] || _timeout="timeout -s KILL $_limit"
	# shellcheck disable=SC2086 # commands and options as words
	_out=$({ $_timeout dd if="$1" $2 bs=65536 count=$((MAX_HASH_KB / 64 + 1)) 2>&4 | $HASHER; } 4>&1)
	case $_out in
	*' copied'*) ;;
	*dd:*)
		REASON=unreadable
		return 1
		;;
	*)
		REASON=timeout
		return 1
		;;
	esac
	set -f
	for _w in $_out; do
		case $_w in
		*[!0-9a-f]*) ;;
		*) [ "${#_w}" != 64 ] || SHA=$_w ;;
		esac
	done
	set +f
	[ -n "$SHA" ] || REASON=unreadable
	[ -n "$SHA" ]
}

# hash_dir SECTION DIR NAME... prints the hash records of files NAME of
# DIR, which find saw were regular files of at most MAX_HASH_KB, or
# reports why not; it fails with 2 once the budget is spent. dd opens them
# without following a link or waiting on a FIFO, so one swapped in since
# find saw it is refused (unreadable) or read for what little it holds;
# a dd that cannot (busybox) reads only what is still a regular file.
hash_dir() (
	_section=$1 _dir=$2
	shift 2
	enter "$_section" "$_dir" || exit 0
	for _name; do
		_path=$_dir/$_name
		if [ -z "$DD_FILE" ]; then
			regular "$_section" "$_path" "./$_name" || continue
		fi
		[ -r "./$_name" ] || continue
		if ! sha256 "./$_name" "$DD_FILE"; then
			left
			if [ "$LEFT" -le 0 ]; then
				skip "$_section" "" budget
				exit 2
			fi
			skip "$_section" "$_path" "$REASON"
			continue
		fi
		# Most paths need no escaping, and no awk.
		case $_path in
		*[![:print:]]* | *\\*) emit hash "$SHA" "$_path" ;;
		*) printf 'hash\t%s\t%s\n' "$SHA" "$_path" ;;
		esac
	done
)

# exe_sha256 EXE prints the SHA-256 of a process's executable read through
# its /proc/PID/exe (the very file the kernel runs, wherever it is or was),
# when that is a regular file of at most MAX_HASH_KB; else
# "skip:REASON:DETAIL".
exe_sha256() {
	_info=$(stat -L -c '%s:%F' -- "$1") || return 0
	case ${_info#*:} in
	'regular file' | 'regular empty file') ;;
	*)
		printf 'skip:not_regular:%s' "$(file_kind "${_info#*:}")"
		return 0
		;;
	esac
	if [ "${_info%%:*}" -gt $((MAX_HASH_KB * 1024)) ]; then
		printf 'skip:too_large:%s' "${_info%%:*}"
	elif sha256 "$1" "$DD_PROC"; then
		printf '%s' "$SHA"
	else
		printf 'skip:%s:' "$REASON"
	fi
}

host() {
	awk -v now="$(date +%s)" -v tz="$TZ_OFFSET" "$ESC"'BEGIN {
		if ((getline h < "/proc/sys/kernel/hostname") > 0)
			print "host\thostname\t" esc(h)
		if ((getline k < "/proc/sys/kernel/osrelease") > 0)
			print "host\tkernel\t" esc(k)
		while ((getline l < "/proc/stat") > 0)
			if (l ~ /^btime /) {
				split(l, f, " ")
				print "host\tboot\t" f[2]
			}
		print "host\ttime\t" now
		print "host\ttz\t" tz
	}'
}

notes() {
	[ -n "$TIMEOUT" ] || printf 'note\ttimeout is not installed: reads are bounded in size, not in time\n'
	if [ -z "$READ_FILES" ]; then
		printf 'note\tstat, readlink or dd is not installed: no file read (keys, cron, auth logs, hashes)\n'
	elif [ -z "$DD_FILE" ]; then
		printf 'note\tdd cannot refuse links (iflag=nofollow): files are checked just before they are read\n'
	fi
}

# users: who is logged in now.
users() {
	have who || return 0
	open_section users || return 0
	run_for "$STEP_SECONDS" who | awk -v max="$MAX_LINES" "$ESC"'NR <= max { print "who\t" esc($0) }'
}

# keys: the authorized_keys files of every user in /etc/passwd, where
# sshd_config says they are (AuthorizedKeysFile, %h %u %%), and any under
# /home that /etc/passwd does not name.
keys() {
	[ -n "$READ_FILES" ] || return 0
	open_section authorized_keys || return 0
	# The first AuthorizedKeysFile outside Match blocks wins, as in sshd;
	# the drop-in files come first, as sshd_config includes them first.
	patterns=$({
		frames authorized_keys "$ROOT/etc/ssh/sshd_config.d" '*.conf'
		frames authorized_keys "$ROOT/etc/ssh" sshd_config
	} | awk "$FRAME"'
	tolower(line) ~ /^[ \t]*match[ \t]/ { in_match = 1 }
	!in_match && patterns == "" && tolower(line) ~ /^[ \t]*authorizedkeysfile[ \t=]/ {
		sub(/^[ \t]*[A-Za-z]+[ \t=]+/, "", line)
		patterns = line
	}
	END { print patterns }')
	[ -n "$patterns" ] || patterns=".ssh/authorized_keys .ssh/authorized_keys2"
	# USER<TAB>PATH, each path once: every user's, then those under /home.
	{
		frames authorized_keys "$ROOT/etc" passwd | awk -v root="$ROOT" -v patterns="$patterns" "$FRAME"'
		function expand(p, user, home,    out, i, c) {
			out = ""
			for (i = 1; i <= length(p); i++) {
				c = substr(p, i, 1)
				if (c == "%" && i < length(p)) {
					c = substr(p, ++i, 1)
					out = out (c == "h" ? home : c == "u" ? user : c)
				} else
					out = out c
			}
			return root (out ~ /^\// ? out : home "/" out)
		}
		BEGIN { np = split(patterns, pattern, /[ \t]+/) }
		{
			split(line, f, ":")
			if (f[6] == "" || f[6] == "/")
				next
			for (i = 1; i <= np; i++)
				if (pattern[i] != "" && tolower(pattern[i]) != "none")
					print f[1] "\t" expand(pattern[i], f[1], f[6])
		}'
		for f in "$ROOT"/home/*/.ssh/authorized_keys "$ROOT"/home/*/.ssh/authorized_keys2; do
			user=${f#"$ROOT"/home/}
			printf '%s\t%s\n' "${user%%/*}" "$f"
		done
	} | awk -F '\t' '!seen[$2]++' | while IFS=$TAB read -r user path; do
		[ -e "$path" ] || [ -L "$path" ] || continue
		frames authorized_keys "${path%/*}" "${path##*/}" |
			U=$user awk -v max="$MAX_LINES" "$ESC$FRAME"'
			file != last { last = file; n = 0 }
			line ~ /^[ \t]*(#|$)/ { next }
			++n > max {
				if (n == max + 1)
					print "limit\tauthorized_keys\t" max
				next
			}
			{ print "key\t" esc(ENVIRON["U"]) "\t" file "\t" esc(cut(line, 8192)) }'
	done
}

# cron_records KIND turns frames of crontabs into cron records: KIND
# "user" for users' crontabs, named by user, else "system" (their lines
# name the user).
cron_records() {
	awk -v kind="$1" -v max="$MAX_LINES" "$ESC$FRAME"'
	file != last {
		last = file
		n = 0
		user = ""
		if (kind == "user") {
			user = file
			sub(/.*\//, "", user)
		}
	}
	line ~ /^[ \t]*(#|$)/ { next }
	++n > max { next }
	# file and user are escaped already.
	{ print "cron\t" file "\t" user "\t" esc(cut(line, 4096)) }'
}

# cron: system crontabs (with a user field), users' crontabs (named by
# user), anacron, and the scripts run-parts runs from /etc/cron.*.
cron() {
	open_section cron || return 0
	if [ -n "$READ_FILES" ]; then
		{
			frames cron "$ROOT/etc" crontab anacrontab
			frames cron "$ROOT/etc/cron.d" '*'
		} | cron_records system
		{
			frames cron "$ROOT/var/spool/cron" '*'
			frames cron "$ROOT/var/spool/cron/crontabs" '*'
		} | cron_records user
	fi
	for period in hourly daily weekly monthly; do
		for f in "$ROOT/etc/cron.$period"/*; do
			[ -f "$f" ] && [ -x "$f" ] && emit cron "$f" root "@$period $f"
		done
	done
}

# unit_records turns frames of unit files into unit records: the lines
# that say when and what run.
unit_records() {
	awk -v max="$MAX_LINES" "$ESC$FRAME"'
	file != last { last = file; n = 0 }
	line ~ /^[ \t]*(On[A-Za-z]+|Unit|ExecStart|User)[ \t]*=/ && ++n <= max {
		print "unit\t" file "\t" esc(cut(line, 4096))
	}'
}

# service_names prints, from frames of timers, the service each starts:
# its Unit=, else its own name's.
service_names() {
	awk "$FRAME"'
	function done() {
		if (last != "" && svc == "") {
			svc = last
			sub(/.*\//, "", svc)
			sub(/\.timer$/, ".service", svc)
		}
		# A unit name, nothing a shell would expand.
		if (svc ~ /^[A-Za-z0-9:_.@\\-]+$/)
			print svc
	}
	file != last { done(); last = file; svc = "" }
	svc == "" && line ~ /^[ \t]*Unit[ \t]*=/ {
		svc = line
		sub(/^[^=]*=[ \t]*/, "", svc)
		sub(/[ \t]+$/, "", svc)
	}
	END { done() }'
}

# units: systemd timers and the services they start, from the unit files
# (a unit name's first file wins, as in systemd), and users' timers. Only
# the lines that say when and what run are kept.
UNIT_DIRS="/etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system /usr/lib/systemd/system /lib/systemd/system"
units() {
	[ -n "$READ_FILES" ] || return 0
	open_section cron || return 0
	QUIET_LINKS=1
	# The unit directories there are, each once (/lib/systemd/system is
	# /usr/lib/systemd/system on merged-/usr systems).
	dirs=
	ids=' '
	for dir in $UNIT_DIRS; do
		[ -d "$ROOT$dir" ] || continue
		id=$(stat -L -c %d:%i -- "$ROOT$dir") || continue
		case $ids in *" $id "*) continue ;; esac
		ids="$ids$id "
		dirs="$dirs $dir"
	done
	timers=$(for dir in $dirs; do
		frames cron "$ROOT$dir" '*.timer'
		# Timers in subdirectories (timers.target.wants) are links.
		subs=' '
		for t in "$ROOT$dir"/*/*.timer; do
			[ -e "$t" ] || [ -L "$t" ] || continue
			sub=${t%/*}
			case $subs in *" $sub "*) continue ;; esac
			subs="$subs$sub "
			frames cron "$sub" '*.timer'
		done
	done | awk "$FRAME"'
	file != last {
		last = file
		name = file
		sub(/.*\//, "", name)
		if (!(name in first))
			first[name] = file
	}
	first[name] == file')
	if [ -n "$timers" ]; then
		printf '%s\n' "$timers" | unit_records
		services=$(printf '%s\n' "$timers" | service_names)
		found=' '
		for dir in $dirs; do
			set --
			for svc in $services; do
				case $found in *" $svc "*) continue ;; esac
				if [ -L "$ROOT$dir/$svc" ]; then
					# Reported, unless systemd's own; the search goes on.
					set -- "$@" "$svc"
				elif [ -e "$ROOT$dir/$svc" ]; then
					set -- "$@" "$svc"
					found="$found$svc "
				fi
			done
			[ $# -eq 0 ] || frames cron "$ROOT$dir" "$@"
		done | unit_records
	fi
	for dir in "$ROOT/etc/systemd/user" "$ROOT/root/.config/systemd/user" "$ROOT"/home/*/.config/systemd/user; do
		[ -d "$dir" ] || continue
		timers=$(frames cron "$dir" '*.timer')
		[ -n "$timers" ] || continue
		printf '%s\n' "$timers" | unit_records
		# shellcheck disable=SC2046 # service names, one a line, nothing to expand
		set -- $(printf '%s\n' "$timers" | service_names)
		[ $# -eq 0 ] || frames cron "$dir" "$@" | unit_records
	done
	QUIET_LINKS=
}

# procs: every process, from /proc. The shell reads what awk cannot (the
# executable's path, a hash), awk the rest. Fields travel NUL-terminated:
# none can hold a NUL. An awk that splits records at NULs (gawk, mawk)
# reads the command lines itself; with any other, tr brings them, and
# turns the fields into lines, a field's own newlines into \036.
if [ "$(printf 'a\000b\000' | awk 'BEGIN { RS = "\0" } END { print NR }')" = 2 ]; then
	AWK_NUL=1
else
	AWK_NUL=0
fi
procs() {
	open_section processes || return 0
	set -- /proc/[0-9]*
	total=$#
	n=0
	hashed=0
	for d in "$@"; do
		[ "$n" -lt "$MAX_PROCS" ] || break
		n=$((n + 1))
		if [ $((n % 100)) = 0 ]; then
			left
			if [ "$LEFT" -le 0 ]; then
				# A process the awk below turns into the skip record.
				printf 'budget\000\000\000'
				[ "$AWK_NUL" = 1 ] || printf '\000'
				break
			fi
		fi
		exe=$(readlink "$d/exe")
		sha=
		case $exe in
		/tmp/* | /var/tmp/* | /dev/shm/* | /run/shm/* | /home/* | /root/* | /run/user/* | *' (deleted)')
			if [ -n "$HASHER" ] && [ -n "$READ_FILES" ] && [ "$hashed" -lt "$MAX_HASHES" ]; then
				hashed=$((hashed + 1))
				sha=$(exe_sha256 "$d/exe")
			fi
			;;
		esac
		printf '%s\000%s\000%s\000' "${d#/proc/}" "$exe" "$sha"
		if [ "$AWK_NUL" = 0 ]; then
			tr '\000' ' ' <"$d/cmdline"
			printf '\000'
		fi
	done | if [ "$AWK_NUL" = 1 ]; then cat; else tr '\n\000' '\036\n'; fi |
		awk -v nul="$AWK_NUL" -v hz="$(getconf CLK_TCK)" "$ESC"'
	# slurp reads a whole file (with RS at NUL, one record).
	function slurp(path,    s, line) {
		s = ""
		while ((getline line < path) > 0)
			s = s (s == "" ? "" : RS) line
		close(path)
		return s
	}
	BEGIN {
		while ((getline line < "/etc/passwd") > 0) {
			split(line, f, ":")
			if (!(f[3] in user))
				user[f[3]] = f[1]
		}
		close("/etc/passwd")
		while ((getline line < "/proc/stat") > 0)
			if (line ~ /^btime /) {
				split(line, f, " ")
				btime = f[2]
			}
		close("/proc/stat")
		hz += 0
		if (hz <= 0)
			hz = 100
		if (nul) {
			RS = "\0"
			fields = 3
		} else
			fields = 4
	}
	{ field[++k] = $0 }
	k == fields {
		k = 0
		pid = field[1]
		exe = field[2]
		sha = field[3]
		if (pid == "budget") {
			print "skip\tprocesses\t\tbudget\t"
			next
		}
		if (nul) {
			cmd = ""
			file = "/proc/" pid "/cmdline"
			while ((getline arg < file) > 0)
				if (length(cmd) <= 4096)
					cmd = cmd (cmd == "" ? "" : " ") arg
			close(file)
		} else {
			cmd = field[4]
			gsub(/\036/, "\n", exe)
			gsub(/\036/, "\n", cmd)
			sub(/ +$/, "", cmd)
		}
		# The executable not hashed, and why.
		if (sha ~ /^skip:/) {
			split(sha, s, ":")
			print "skip\tprocesses\t" esc(cut(exe, 4096)) "\t" s[2] "\t" s[3]
			sha = ""
		}
		# /proc/PID/stat: "pid (comm) state ppid ...", comm being anything
		# up to the last ")".
		stat = slurp("/proc/" pid "/stat")
		name = ""
		ppid = ""
		start = ""
		open = index(stat, "(")
		shut = 0
		rest = stat
		while ((i = index(rest, ")")) > 0) {
			shut += i
			rest = substr(rest, i + 1)
		}
		if (open > 0 && shut > open) {
			name = substr(stat, open + 1, shut - open - 1)
			split(substr(stat, shut + 2), f, " ")
			ppid = f[2]
			if (btime != "" && f[20] != "")
				start = btime + int(f[20] / hz)
		}
		# The effective uid, the second of "Uid:".
		uid = ""
		status = slurp("/proc/" pid "/status")
		if (match(status, /Uid:[ \t]*[0-9]+[ \t]+[0-9]+/)) {
			split(substr(status, RSTART, RLENGTH), f, /[ \t]+/)
			uid = f[3]
		}
		owner = (uid in user) ? user[uid] : uid
		if (sha !~ /^[0-9a-f]+$/ || length(sha) != 64)
			sha = ""
		print "proc\t" pid "\t" ppid "\t" esc(owner) "\t" start "\t" esc(name) "\t" esc(cut(exe, 4096)) "\t" sha "\t" esc(cut(cmd, 4096))
	}'
	[ "$total" -le "$MAX_PROCS" ] || printf 'limit\tprocesses\t%s\n' "$MAX_PROCS"
}

# socks: TCP and UDP sockets from /proc/net (kernel-formatted: no process
# can put text in them, as it can in ss -p), with the processes holding
# each, found through their file descriptors (ls -q: no name can break a
# line). A socket several processes hold is listed once for each.
socks() {
	open_section connections || return 0
	left
	ls="ls -lq /proc/[0-9]*/fd"
	[ -z "$TIMEOUT" ] || ls="timeout $((LEFT < STEP_SECONDS ? LEFT : STEP_SECONDS)) $ls"
	awk -v max="$MAX_SOCKS" -v ls="$ls" "$ESC"'
	function hex(s,    i, v) {
		v = 0
		s = toupper(s)
		for (i = 1; i <= length(s); i++)
			v = v * 16 + index("0123456789ABCDEF", substr(s, i, 1)) - 1
		return v
	}
	# Addresses are in the kernel byte order of 32-bit words (little
	# endian on EC2: x86_64, arm64).
	function ip(h,    w, g, b, out) {
		if (length(h) == 8)
			return hex(substr(h, 7, 2)) "." hex(substr(h, 5, 2)) "." hex(substr(h, 3, 2)) "." hex(substr(h, 1, 2))
		out = ""
		for (w = 0; w < 4; w++) {
			g = substr(h, w * 8 + 1, 8)
			b = substr(g, 7, 2) substr(g, 5, 2) substr(g, 3, 2) substr(g, 1, 2)
			out = out (w ? ":" : "") substr(b, 1, 4) ":" substr(b, 5, 4)
		}
		return tolower(out)
	}
	function table(proto, path,    line, f, c, local, remote, state, owners, m, p, i) {
		while ((getline line < path) > 0) {
			if (line ~ /^ *sl/)
				continue
			split(line, f, " ")
			local = f[2]
			remote = f[3]
			c = index(local, ":")
			d = index(remote, ":")
			if (c == 0 || d == 0)
				continue
			state = (proto == "udp" && f[4] == "07") ? "UNCONN" : ((f[4] in STATE) ? STATE[f[4]] : f[4])
			owners = (f[10] in OWNERS) ? OWNERS[f[10]] : "0"
			m = split(owners, p, " ")
			for (i = 1; i <= m && i <= 16; i++) {
				if (++count > max) {
					limited = 1
					return
				}
				print "sock\t" proto "\t" state "\t" ip(substr(local, 1, c - 1)) "\t" hex(substr(local, c + 1)) "\t" ip(substr(remote, 1, d - 1)) "\t" hex(substr(remote, d + 1)) "\t" p[i]
			}
		}
		close(path)
	}
	BEGIN {
		split("ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2 TIME_WAIT CLOSE CLOSE_WAIT LAST_ACK LISTEN CLOSING NEW_SYN_RECV", names, " ")
		for (i = 1; i <= 12; i++)
			STATE[sprintf("%02X", i)] = names[i]
		pid = 0
		while ((ls | getline line) > 0) {
			if (line ~ /^\/proc\/[0-9]+\/fd:$/) {
				pid = substr(line, 7, length(line) - 10)
				continue
			}
			if (pid && match(line, /socket:\[[0-9]+\]$/)) {
				inode = substr(line, RSTART + 8, RLENGTH - 9)
				OWNERS[inode] = (inode in OWNERS) ? OWNERS[inode] " " pid : pid
			}
		}
		close(ls)
		table("tcp", "/proc/net/tcp")
		table("tcp", "/proc/net/tcp6")
		table("udp", "/proc/net/udp")
		table("udp", "/proc/net/udp6")
		if (limited)
			print "limit\tconnections\t" max
	}'
}

# log_tail SECTION PATH prints the last MAX_LOG_KB of a log (reported when
# that is not all of it).
log_tail() (
	enter "$1" "${2%/*}" || exit 0
	_name=./${2##*/}
	regular "$1" "$2" "$_name" && [ -r "$_name" ] || exit 0
	_blocks=$((SIZE / 1024 - MAX_LOG_KB))
	if [ "$_blocks" -gt 0 ]; then
		skip "$1" "$2" too_large "$SIZE"
	else
		_blocks=0
	fi
	# shellcheck disable=SC2086 # DD_FILE is options
	run_for "$STEP_SECONDS" dd if="$_name" $DD_FILE bs=1024 skip="$_blocks" count="$MAX_LOG_KB" 2>/dev/null
)

# logins: wtmp and btmp through last and lastb (full times, addresses),
# and sshd's own lines from the auth log, or from the journal when the
# distribution keeps none (Amazon Linux 2023).
SSHD_LINES='sshd(-session)?\[[0-9]+\]: (Accepted|Failed|Invalid user|message repeated)'
logins() {
	open_section logins || return 0
	if have last; then
		run_for "$STEP_SECONDS" last -F -w -i -n "$MAX_LOGINS" | awk "$ESC"'{ print "last\t" esc($0) }'
	fi
	if have lastb; then
		run_for "$STEP_SECONDS" lastb -F -w -i -n "$MAX_LOGINS" | awk "$ESC"'{ print "lastb\t" esc($0) }'
	fi
	found=
	for f in /var/log/auth.log /var/log/secure; do
		[ -e "$ROOT$f" ] || [ -L "$ROOT$f" ] || continue
		found=1
		[ -n "$READ_FILES" ] || continue
		log_tail logins "$ROOT$f" | grep -a -E "$SSHD_LINES" | tail -n "$MAX_LOG" |
			F="$ROOT$f" awk "$ESC"'{ print "auth\t" esc(ENVIRON["F"]) "\t" esc(cut($0, 2048)) }'
	done
	if [ -z "$found" ] && have journalctl; then
		run_for "$STEP_SECONDS" journalctl -q --no-pager -o short-unix --since=-7d SYSLOG_FACILITY=4 SYSLOG_FACILITY=10 |
			grep -a -E "$SSHD_LINES" | tail -n "$MAX_LOG" |
			awk "$ESC"'{ print "auth\tjournal\t" esc(cut($0, 2048)) }'
	fi
}

# files: regular files changed within 7 days where intruders leave things,
# newest first. Only their names and metadata are read; find -P descends
# into no link.
files() {
	if ! have find; then
		printf 'note\tfind is not installed: no changed files\n'
		return 0
	fi
	open_section files || return 0
	set --
	for d in /etc /tmp /var/tmp /dev/shm /root /home /var/spool/cron; do
		[ -d "$ROOT$d" ] && set -- "$@" "$ROOT$d"
	done
	[ $# -gt 0 ] || return 0
	# shellcheck disable=SC2086 # SORT_IN_MEMORY is options
	run_for "$STEP_SECONDS" find -P "$@" -xdev -type f -mtime -7 -printf '%T@ %s %p\000' |
		tr '\n\000' '\036\n' | head -n "$MAX_SORTED" |
		sort -rn $SORT_IN_MEMORY | head -n $((MAX_FILES + 1)) |
		awk -v max="$MAX_FILES" "$ESC"'
		NR > max { print "limit\tfiles\t" max; exit }
		{
			mtime = $1
			size = $2
			path = substr($0, length($1) + length($2) + 3)
			gsub(/\036/, "\n", path)
			print "file\t" int(mtime) "\t" size "\t" esc(cut(path, 4096))
		}'
}

# hashes: SHA-256 of the files changed within 7 days in world-writable
# directories, where droppers put their payloads; the larger ones are
# reported instead.
hashes() {
	[ -n "$HASHER" ] && [ -n "$READ_FILES" ] && have find || return 0
	open_section files || return 0
	set --
	for d in /tmp /var/tmp /dev/shm; do
		[ -d "$ROOT$d" ] && set -- "$@" "$ROOT$d"
	done
	[ $# -gt 0 ] || return 0
	# The first MAX_HASHES files to hash and MAX_LARGE too large to, in
	# find's order, which keeps a directory's files together: each
	# directory is entered once for its run of files.
	run_for "$STEP_SECONDS" find -P "$@" -xdev -type f -mtime -7 -printf '%s %p\000' |
		tr '\n\000' '\036\n' |
		awk -v bound=$((MAX_HASH_KB * 1024)) -v max="$MAX_HASHES" -v max_large="$MAX_LARGE" '
		{ size = $1; path = substr($0, length($1) + 2) }
		size > bound && large < max_large { large++; print "large\t" size "\t" path }
		size <= bound && hashed < max { hashed++; print "hash\t" size "\t" path }
		hashed >= max && large >= max_large { exit }' | {
		set --
		dir=
		while IFS= read -r line; do
			kind=${line%%"$TAB"*}
			line=${line#*"$TAB"}
			size=${line%%"$TAB"*}
			path=${line#*"$TAB"}
			case $path in
			*"$RS036"*)
				path=$(printf '%s' "$path" | tr '\036' '\n'; printf x)
				path=${path%x}
				;;
			esac
			if [ "$kind" = large ]; then
				skip files "$path" too_large "$size"
				continue
			fi
			if [ "${path%/*}" != "$dir" ]; then
				if [ $# -gt 0 ]; then
					hash_dir files "$dir" "$@"
					[ $? != 2 ] || exit 0
				fi
				set --
				dir=${path%/*}
			fi
			set -- "$@" "${path##*/}"
		done
		[ $# -eq 0 ] || hash_dir files "$dir" "$@"
	}
}

triage() {
	# Records of skipped files go to fd 3, whatever a section's output.
	exec 3>&1
	printf 'cordon-triage\t1\n'
	host
	notes
	users
	keys
	cron
	units
	procs
	socks
	logins
	files
	hashes
	printf 'end\n'
}

if have gzip && have base64; then
	printf 'cordon-triage-gz\t1\n'
	triage | gzip -9c | base64 | tr -d '\n'
	printf '\n'
else
	triage
fi
