#!/bin/sh
# cordon memory acquisition (collector type aws_ssm_memory), run as root by
# SSM Run Command (AWS-RunShellScript), in one of three modes:
#
#   capture  downloads the acquisition tool (AVML) by a presigned GET URL,
#            refuses to run it unless its SHA-256 is the pinned one, checks
#            that a disk (never a memory-backed file system) has room for an
#            image of the instance's memory, captures the image compressed
#            (avml --compress) into a private work directory there, checks
#            that it fits one PUT and prints its size and SHA-256;
#   upload   uploads that image by a presigned PUT URL, whose signature binds
#            the size and SHA-256 that capture printed (S3 stores nothing
#            else), then deletes the work directory;
#   cleanup  deletes the work directory.
#
# It writes nothing outside its work directory (created by mktemp -d, mode
# 0700, under one of WORK_PARENTS) and leaves nothing behind: a failed
# capture deletes it, an upload deletes it whatever the answer, and a
# detached reaper deletes it REAP_AFTER seconds after capture in case
# cordon never comes back (its timeout, a crash). It needs a POSIX shell,
# curl, sha256sum, awk, df, mktemp and wc; stat -f and setsid are used when
# present.
#
# It prints one line of JSON, {"cordon_memory":1,"phase":…,"status":…},
# whose fields collectors/memory/result.go documents; every string in it is
# one the script made (a path it chose, a hex digest, an S3 error code) or
# is cut to safe characters first. It exits 0 when the status is captured,
# uploaded or cleaned, 1 otherwise.

# --- settings (the collector sets these) ---
MODE='capture'
TOOL_URL=''
TOOL_SHA256=''
WORK=''
IMAGE_SIZE='0'
IMAGE_CHECKSUM=''
UPLOAD_URL=''
REAP_AFTER='1800'
# --- end of settings ---

# Where the work directory may go, instance store first, and where the
# memory's size is read (tests point both elsewhere).
WORK_PARENTS='/mnt /media/ephemeral0 /var/tmp /tmp'
MEMINFO=/proc/meminfo
# The largest image one PUT uploads (S3's limit for a single PUT). It
# bounds the compressed image, known only once captured: how well memory
# compresses depends on what it holds (free pages are zeros), so an
# instance of any size may fit, and only the image says.
MAX_IMAGE=5368709120
# Room kept besides the image: a twentieth of it and 256 MiB.
MARGIN=268435456

LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL PATH
unset CDPATH
umask 077

now() { date -u +%s; }

# safe cuts a string to the characters a result may carry, at most 200.
safe() {
	printf '%s' "$1" | tr -cd 'A-Za-z0-9 ._:/+=,@()-' | cut -c1-200
}

# result STATUS [NAME VALUE]... prints the result line. The numeric fields
# are printed as numbers (0 when not one), the others as strings.
result() {
	line="{\"cordon_memory\":1,\"phase\":\"$(safe "$MODE")\",\"status\":\"$1\""
	shift
	while [ "$#" -ge 2 ]; do
		case $1 in
		size | mem_total | need | free | http_status | exit_code | started_at | finished_at)
			case $2 in
			'' | *[!0-9]*) line="$line,\"$1\":0" ;;
			*) line="$line,\"$1\":$2" ;;
			esac
			;;
		*) line="$line,\"$1\":\"$(safe "$2")\"" ;;
		esac
		shift 2
	done
	printf '%s}\n' "$line"
}

# fail prints a result and exits 1 (the EXIT trap, when set, deletes the
# work directory).
fail() {
	result "$@"
	exit 1
}

need_commands() {
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || fail missing_command missing "$c"
	done
}

# work_ok says whether WORK is a work directory a capture made.
work_ok() {
	case $WORK in
	/*/cordon-memory.????????) ;;
	*) return 1 ;;
	esac
	case $WORK in
	*/../* | */./*) return 1 ;;
	esac
	[ -d "$WORK" ] && [ ! -L "$WORK" ]
}

remove_work() {
	if work_ok; then
		rm -rf -- "$WORK"
	fi
}

# size_of prints a regular file's size in bytes.
size_of() {
	wc -c <"$1" | tr -d ' '
}

# reaper deletes the work directory after REAP_AFTER seconds, detached
# from the command (its own session, no descriptor of the agent's), so
# that a cancelled command or an agent that kills the process group leaves
# no image behind.
reaper() {
	if command -v setsid >/dev/null 2>&1; then
		# shellcheck disable=SC2016 # $1 and $2 are the inner shell's.
		setsid sh -c 'sleep "$1"; rm -rf -- "$2"' reaper "$REAP_AFTER" "$WORK" </dev/null >/dev/null 2>&1 &
	else
		(
			trap '' HUP
			sleep "$REAP_AFTER"
			rm -rf -- "$WORK"
		) </dev/null >/dev/null 2>&1 &
	fi
}

capture() {
	[ "$(id -u)" = 0 ] || fail not_root
	need_commands curl sha256sum awk df mktemp wc
	case $TOOL_SHA256 in
	*[!0-9a-f]* | '') fail bad_settings message 'TOOL_SHA256 is not a lower-case hex SHA-256' ;;
	esac
	[ "${#TOOL_SHA256}" -eq 64 ] || fail bad_settings message 'TOOL_SHA256 is not 64 hex digits'
	case $REAP_AFTER in
	'' | *[!0-9]*) fail bad_settings message 'REAP_AFTER is not a number of seconds' ;;
	esac

	mem_kb=$(awk '$1 == "MemTotal:" { print $2; exit }' "$MEMINFO" 2>/dev/null)
	case $mem_kb in
	'' | *[!0-9]*) fail no_meminfo message "cannot read MemTotal from $MEMINFO" ;;
	esac
	mem=$((mem_kb * 1024))
	# The disk must hold the worst case, memory that does not compress:
	# snappy then stores each chunk as it is, with a few bytes of framing,
	# which the twentieth covers.
	need=$((mem + mem / 20 + MARGIN))

	# The first parent on a disk with room; a memory-backed file system
	# is never one, as the image is about the size of the memory.
	best_free=0
	best_dir=''
	for parent in $WORK_PARENTS; do
		if [ ! -d "$parent" ] || [ -L "$parent" ]; then
			continue
		fi
		fstype=$(stat -f -c %T "$parent" 2>/dev/null)
		case $fstype in
		tmpfs | ramfs) continue ;;
		esac
		free_kb=$(df -Pk "$parent" 2>/dev/null | awk 'NR == 2 { print $4 }')
		case $free_kb in
		'' | *[!0-9]*) continue ;;
		esac
		free=$((free_kb * 1024))
		if [ "$free" -gt "$best_free" ]; then
			best_free=$free
			best_dir=$parent
		fi
		if [ "$free" -ge "$need" ]; then
			WORK=$(mktemp -d "$parent/cordon-memory.XXXXXXXX" 2>/dev/null) && break
			WORK=''
		fi
	done
	if [ -z "$WORK" ]; then
		fail insufficient_space need "$need" free "$best_free" dir "$best_dir" mem_total "$mem"
	fi
	trap remove_work EXIT
	trap 'exit 1' HUP INT TERM
	reaper

	tool="$WORK/tool"
	code=$(curl -sS --max-time 600 --retry 2 --max-filesize 268435456 -o "$tool" -w '%{http_code}' -- "$TOOL_URL" 2>"$WORK/curl.err")
	if [ "$code" != 200 ]; then
		fail tool_download_failed http_status "$code" message "$(cat "$WORK/curl.err")"
	fi
	got=$(sha256sum "$tool" | awk '{ print $1 }')
	if [ "$got" != "$TOOL_SHA256" ]; then
		# Never run a binary that is not the pinned one.
		rm -f -- "$tool"
		fail tool_hash_mismatch tool_sha256 "$got" pinned "$TOOL_SHA256"
	fi
	chmod 0700 "$tool"

	# Always compressed, whatever the memory's size, so that every Linux
	# image has one format and one name (AVML's README calls it
	# .lime.compressed): snappy costs little beside reading the memory
	# and uploading it, and a smaller upload shortens the wait before S3
	# confirms the image and the stop may go ahead.
	image="$WORK/memory.lime.compressed"
	started=$(now)
	"$tool" --compress "$image" >"$WORK/tool.out" 2>&1
	rc=$?
	rm -f -- "$tool"
	if [ "$rc" -ne 0 ]; then
		fail tool_failed exit_code "$rc" message "$(tail -c 200 "$WORK/tool.out")"
	fi
	if [ ! -f "$image" ] || [ -L "$image" ]; then
		fail tool_failed exit_code 0 message 'the tool exited 0 but wrote no image'
	fi
	size=$(size_of "$image")
	if [ "$size" -gt "$MAX_IMAGE" ]; then
		# Too little of the memory compressed; the EXIT trap deletes it.
		fail too_large size "$size" mem_total "$mem" compression snappy
	fi
	sha=$(sha256sum "$image" | awk '{ print $1 }')
	finished=$(now)
	rm -f -- "$WORK/tool.out" "$WORK/curl.err"
	# The image waits for the upload command (or the reaper).
	trap - EXIT
	result captured work "$WORK" image "$image" size "$size" sha256 "$sha" tool_sha256 "$got" mem_total "$mem" \
		started_at "$started" finished_at "$finished" compression snappy
}

upload() {
	work_ok || fail image_missing message 'the work directory of the capture is gone'
	trap remove_work EXIT
	trap 'exit 1' HUP INT TERM
	need_commands curl wc
	image="$WORK/memory.lime.compressed"
	if [ ! -f "$image" ] || [ -L "$image" ]; then
		fail image_missing message 'the image of the capture is gone'
	fi
	size=$(size_of "$image")
	[ "$size" = "$IMAGE_SIZE" ] || fail image_changed size "$size"
	# Every header sent is one the URL signed: S3 refuses an unsigned
	# x-amz-* header, and checks the body against the checksum.
	code=$(curl -sS --max-time 86400 -o "$WORK/response" -w '%{http_code}' -X PUT --upload-file "$image" \
		-H "x-amz-checksum-sha256: $IMAGE_CHECKSUM" -H 'x-amz-sdk-checksum-algorithm: SHA256' -H 'If-None-Match: *' \
		-- "$UPLOAD_URL" 2>"$WORK/curl.err")
	case $code in
	200) result uploaded http_status 200 size "$size" ;;
	'' | 000) fail upload_failed message "$(cat "$WORK/curl.err")" ;;
	*)
		s3code=$(sed -n 's:.*<Code>\([A-Za-z0-9]*\)</Code>.*:\1:p' "$WORK/response" | head -n 1)
		fail upload_rejected http_status "$code" s3_code "$s3code"
		;;
	esac
}

case $MODE in
capture) capture ;;
upload) upload ;;
cleanup)
	remove_work
	result cleaned
	;;
*) fail bad_settings message 'MODE is not capture, upload or cleanup' ;;
esac
