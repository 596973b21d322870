#!/usr/bin/env bash
# scripts/campaign.sh - an AFL++ campaign on every core of this machine, and
# across machines, the way AFL++'s docs/fuzzing_in_depth.md describes it
# (sections "Using multiple cores" and "Using multiple machines for
# fuzzing").  See docs/fuzzing.md, "Campaigns on many cores and machines".
#
# usage: scripts/campaign.sh -o OUT [options] -- TARGET [TARGET ARGS]
#   -o DIR          output directory shared by this machine's instances (-o)
#   -i DIR          seeds (needed when OUT has no earlier run: then it resumes)
#   -n N            instances on this machine (default: its cores)
#   -x DICT         dictionary (-x), for every instance
#   -c BIN          the target built with AFL_LLVM_CMPLOG=1: one secondary
#                   runs with -c BIN
#   -t SECONDS      stop after this long (default: at SIGINT / SIGTERM)
#   --host NAME     this machine's name: its main instance is main-NAME
#                   (default: hostname -s)
#   --sync-to DEST  after each sync interval and at the end, copy this
#                   machine's main-NAME directory into DEST: a directory
#                   (shared by the machines) or [user@]host:dir (rsync over
#                   ssh); may be repeated
#   --sync-from SRC each sync interval, copy every other machine's main-*
#                   directory from SRC into OUT, where this machine's
#                   instances import their queues; may be repeated
#   --sync-every S  sync interval (default: a tenth of -t, or 4 hours)
#   --status-every S  progress interval (default: 60, or a tenth of a -t
#                   under 10 minutes, at least 5; afl-fuzz itself rewrites
#                   the fuzzer_stats these come from once a minute)
#
# One `-M main-NAME` (with AFL_FINAL_SYNC=1 where afl-fuzz knows it) and
# N-1 `-S` secondaries (s1 with CMPLOG when -c is given; the others with
# different power schedules), all with AFL_NO_UI=1, logs in OUT/.campaign/.
# Progress: `afl-whatsup -s OUT` and one line per instance.  Stop (time
# up, SIGINT, SIGTERM): the secondaries first, then the main, which imports
# their last finds (AFL_FINAL_SYNC; with an afl-fuzz older than 4.10c that
# lacks it, a short resume of the main with AFL_IMPORT_FIRST=1 does the
# same); then the last sync to the other machines and a summary.
# Local copies use rsync when it is installed, else cp
# (UFFDBOX_CAMPAIGN_COPY=cp|rsync chooses); remote ones need rsync and ssh.
# Environment for afl-fuzz passes through (AFL_SKIP_CPUFREQ, ...);
# AFL_TRY_AFFINITY=1 is the default unless AFL_NO_AFFINITY is set.
# Exit: 0 the campaign ran (crashes are listed in the summary), 1 an
# instance failed to start or died, 2 usage error.
set -euo pipefail

die() {
	echo "campaign: $*" >&2
	exit 2
}
usage() {
	sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

out='' seeds='' n='' dict='' cmplog='' duration=0 host='' sync_every='' status_every=''
sync_to=() sync_from=()
while [ $# -gt 0 ]; do
	case "$1" in
	-o) out=${2:?-o needs a directory}; shift 2 ;;
	-i) seeds=${2:?-i needs a directory}; shift 2 ;;
	-n) n=${2:?-n needs a number}; shift 2 ;;
	-x) dict=${2:?-x needs a file}; shift 2 ;;
	-c) cmplog=${2:?-c needs the CMPLOG build}; shift 2 ;;
	-t) duration=${2:?-t needs seconds}; shift 2 ;;
	--host) host=${2:?--host needs a name}; shift 2 ;;
	--sync-to) sync_to+=("${2:?--sync-to needs a destination}"); shift 2 ;;
	--sync-from) sync_from+=("${2:?--sync-from needs a source}"); shift 2 ;;
	--sync-every) sync_every=${2:?--sync-every needs seconds}; shift 2 ;;
	--status-every) status_every=${2:?--status-every needs seconds}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done
[ $# -ge 1 ] || die "no target: scripts/campaign.sh -o OUT [options] -- TARGET [ARGS]"
target=("$@")
[ -n "$out" ] || die "-o OUT is required"
command -v afl-fuzz >/dev/null || die "afl-fuzz not found: install AFL++ (scripts/deps.sh afl++)"
[ -x "${target[0]}" ] || die "target '${target[0]}' is not an executable file"
[ -z "$cmplog" ] || [ -x "$cmplog" ] || die "CMPLOG build '$cmplog' is not an executable file"
[ -z "$dict" ] || [ -f "$dict" ] || die "dictionary '$dict' not found"
isnum() { [[ "$1" =~ ^[0-9]+$ ]]; }
n=${n:-$(nproc)}
isnum "$n" && [ "$n" -ge 1 ] || die "-n must be a number >= 1, not '$n'"
isnum "$duration" || die "-t must be seconds, not '$duration'"
host=${host:-$(hostname -s)}
[[ "$host" =~ ^[A-Za-z0-9_-]+$ ]] || die "--host must be letters, digits, '-' or '_' (it names main-$host), not '$host'"
if [ -z "$sync_every" ]; then
	sync_every=14400
	[ "$duration" -gt 0 ] && sync_every=$(((duration + 9) / 10))
fi
if [ -z "$status_every" ]; then
	status_every=60
	[ "$duration" -gt 0 ] && [ "$duration" -lt 600 ] && status_every=$(((duration + 9) / 10))
	[ "$status_every" -ge 5 ] || status_every=5
fi
isnum "$sync_every" && [ "$sync_every" -ge 1 ] || die "--sync-every must be seconds >= 1"
isnum "$status_every" && [ "$status_every" -ge 1 ] || die "--status-every must be seconds >= 1"
main=main-$host
if [ -d "$out/$main/queue" ]; then
	input=(-i -) # resume
	[ -z "$seeds" ] || echo "campaign: $out/$main exists: resuming it, -i $seeds ignored"
else
	[ -n "$seeds" ] || die "-i SEEDS is required for a new output directory"
	[ -d "$seeds" ] || die "seed directory '$seeds' not found"
	input=(-i "$seeds")
fi
mkdir -p "$out/.campaign"
logs=$out/.campaign

export AFL_NO_UI=1
[ -n "${AFL_NO_AFFINITY:-}" ] || export AFL_TRY_AFFINITY=1
final_sync=0
grep -q AFL_FINAL_SYNC "$(command -v afl-fuzz)" && final_sync=1

# --- copying main directories between machines ------------------------------
# A remote end ([user@]host:dir) goes through rsync over ssh; a local one
# through rsync when it is installed, else cp.  Both write each file under a
# temporary name and rename it, so an importing afl-fuzz never reads half a
# file.  Left out: the current input, the record of what that instance
# imported (.synced) and its is_main_node mark (afl-fuzz would warn that two
# main nodes share OUT).
# rsync's exit 24 (a source file vanished: another machine's rsync
# renamed its temporary file meanwhile) is not a failure.
rsync_() {
	local rc=0
	rsync "$@" || rc=$?
	[ "$rc" = 0 ] || [ "$rc" = 24 ]
}
copy_with='cp'
command -v rsync >/dev/null && copy_with=rsync
[ -z "${UFFDBOX_CAMPAIGN_COPY:-}" ] || copy_with=$UFFDBOX_CAMPAIGN_COPY
[[ "$copy_with" =~ ^(cp|rsync)$ ]] || die "UFFDBOX_CAMPAIGN_COPY must be cp or rsync, not '$copy_with'"
copy_dir() { # SRC_DIR DEST_PARENT
	local src=$1 dst=$2 f rel
	if [[ "$src" == *:* || "$dst" == *:* ]] || [ "$copy_with" = rsync ]; then
		command -v rsync >/dev/null || { echo "campaign: rsync is needed for $src -> $dst" >&2; return 1; }
		rsync_ -a --rsh=ssh --exclude=.cur_input --exclude=.synced --exclude=is_main_node \
			"$src" "$dst/"
		return
	fi
	[ -d "$src" ] || return 0
	rel=$(basename "$src")
	(cd "$src" && find . -path ./.synced -prune -o -type f ! -name .cur_input ! -name is_main_node \
		! -name '*.campaign-tmp' -print) |
		while IFS= read -r f; do
			# queue entries never change once written: copy new ones only;
			# stats files are refreshed.
			case "$f" in
			./queue/* | ./crashes/* | ./hangs/*) [ -e "$dst/$rel/$f" ] && continue ;;
			esac
			mkdir -p "$(dirname "$dst/$rel/$f")"
			cp -p "$src/$f" "$dst/$rel/$f.campaign-tmp" && mv -f "$dst/$rel/$f.campaign-tmp" "$dst/$rel/$f"
		done
}

sync_out() {
	local d
	for d in "${sync_to[@]}"; do
		[[ "$d" == *:* ]] || mkdir -p "$d"
		copy_dir "$out/$main" "$d" || echo "campaign: sync to $d failed" >&2
	done
}
sync_in() {
	local s d name
	for s in "${sync_from[@]}"; do
		if [[ "$s" == *:* ]]; then
			rsync_ -a --rsh=ssh --exclude="$main" --exclude=.cur_input --exclude=.synced \
				--exclude=is_main_node --include='main-*/***' --exclude='*' "$s/" "$out/" ||
				echo "campaign: sync from $s failed" >&2
			continue
		fi
		for d in "$s"/main-*; do
			[ -d "$d" ] || continue
			name=$(basename "$d")
			[ "$name" = "$main" ] && continue
			copy_dir "$d" "$out" || echo "campaign: sync from $d failed" >&2
		done
	done
}

# --- the instances ----------------------------------------------------------
names=() pids=()
schedules=(fast explore coe lin quad exploit rare)
start() { # NAME ENV|- ROLE_ARGS...
	local name=$1 e=()
	[ "$2" = - ] || e=("$2")
	shift 2
	local d=()
	[ -z "$dict" ] || d=(-x "$dict")
	env "${e[@]}" afl-fuzz "${input[@]}" -o "$out" "$@" "${d[@]}" -- "${target[@]}" >"$logs/$name.log" 2>&1 &
	names+=("$name")
	pids+=($!)
}
if [ "$final_sync" = 1 ]; then
	start "$main" AFL_FINAL_SYNC=1 -M "$main"
else
	start "$main" - -M "$main"
fi
for ((k = 1; k < n; k++)); do
	if [ "$k" = 1 ] && [ -n "$cmplog" ]; then
		start "s$k" - -S "s$k" -c "$cmplog"
	else
		start "s$k" - -S "s$k" -p "${schedules[$(((k - 1) % ${#schedules[@]}))]}"
	fi
done

stopped=0
stop_all() {
	[ "$stopped" = 1 ] && return
	stopped=1
	local i t
	# Secondaries first: the main's final sync then sees their last finds.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -INT "${pids[$i]}" 2>/dev/null || continue
		for ((t = 0; t < 100; t++)); do
			kill -0 "${pids[$i]}" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "${pids[$i]}" 2>/dev/null || true
		wait "${pids[$i]}" 2>/dev/null || true
	done
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

stat_of() { # DIR KEY
	awk -v k="$2" '$1 == k { print $3; exit }' "$1/fuzzer_stats" 2>/dev/null || true
}
instance_lines() {
	local name d
	for name in "${names[@]}"; do
		d=$out/$name
		printf '  %-16s execs %-10s exec/s %-8s corpus %-6s crashes %s\n' "$name" \
			"$(stat_of "$d" execs_done)" "$(stat_of "$d" execs_per_sec)" \
			"$(stat_of "$d" corpus_count)" "$(stat_of "$d" saved_crashes)"
	done
}
alive() {
	local i
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[$i]}" 2>/dev/null; then
			echo "campaign: ${names[$i]} (pid ${pids[$i]}) exited; the end of its log ($logs/${names[$i]}.log):" >&2
			tail -15 "$logs/${names[$i]}.log" >&2
			return 1
		fi
	done
}

# Up: every instance has written its fuzzer_stats (after calibration).
t0=$SECONDS
for name in "${names[@]}"; do
	while [ ! -f "$out/$name/fuzzer_stats" ]; do
		alive || exit 1
		[ $((SECONDS - t0)) -lt 120 ] || { echo "campaign: $name did not start within 120 s" >&2; exit 1; }
		sleep 0.2
	done
done
echo "campaign: $n instance(s) up on $host in $((SECONDS - t0)) s: ${names[*]}" \
	"(${cmplog:+s1 with CMPLOG, }final sync: $([ "$final_sync" = 1 ] && echo AFL_FINAL_SYNC || echo resume with AFL_IMPORT_FIRST))"

# From here on a SIGINT or SIGTERM ends the loop: final sync and summary.
interrupted=0
trap 'interrupted=1' INT TERM
last_sync=$SECONDS last_status=$SECONDS
[ ${#sync_from[@]} -eq 0 ] || sync_in
while :; do
	sleep 1 || true # a signal to the process group interrupts it
	[ "$interrupted" = 0 ] || { echo "campaign: stopping (signal)"; break; }
	alive || exit 1
	now=$SECONDS
	if [ "$duration" -gt 0 ] && [ $((now - t0)) -ge "$duration" ]; then
		break
	fi
	if [ $((now - last_sync)) -ge "$sync_every" ] && [ $((${#sync_to[@]} + ${#sync_from[@]})) -gt 0 ]; then
		sync_out
		sync_in
		last_sync=$now
		echo "campaign: [$((now - t0)) s] synced (to: ${sync_to[*]:-none}; from: ${sync_from[*]:-none})"
	fi
	if [ $((now - last_status)) -ge "$status_every" ]; then
		last_status=$now
		echo "campaign: [$((now - t0)) s] afl-whatsup -s $out"
		TERM=dumb afl-whatsup -s "$out" 2>&1 | grep -E ':' | sed 's/^ */  /'
		instance_lines
	fi
done

# --- stop, final sync, summary ----------------------------------------------
[ ${#sync_from[@]} -eq 0 ] || sync_in
stop_all
if [ "$final_sync" = 0 ]; then
	# The main imports what the secondaries (and the other machines) found
	# since its last sync: resume it for its first step only.
	before=$(find "$out/$main/queue" -maxdepth 1 -name 'id:*' | wc -l)
	d=()
	[ -z "$dict" ] || d=(-x "$dict")
	AFL_AUTORESUME=1 AFL_IMPORT_FIRST=1 AFL_BENCH_JUST_ONE=1 AFL_FAST_CAL=1 \
		timeout 120 afl-fuzz -i - -o "$out" -M "$main" "${d[@]}" -- "${target[@]}" >"$logs/$main.final-sync.log" 2>&1 ||
		echo "campaign: final sync of $main failed, see $logs/$main.final-sync.log" >&2
	after=$(find "$out/$main/queue" -maxdepth 1 -name 'id:*' | wc -l)
	echo "campaign: final sync: $main imported $((after - before)) inputs"
fi
sync_out
echo "campaign: summary after $((SECONDS - t0)) s (afl-whatsup -s -d $out):"
TERM=dumb afl-whatsup -s -d "$out" 2>&1 | grep -E ':' | sed 's/^ */  /'
instance_lines
crashes=$(find "$out"/*/crashes -maxdepth 1 -name 'id:*' 2>/dev/null | wc -l)
echo "campaign: $(find "$out/$main/queue" -maxdepth 1 -name 'id:*' | wc -l) inputs in $main's queue" \
	"($(find "$out/$main/queue" -maxdepth 1 -name 'id:*sync:*' | wc -l) imported), $crashes crashes" \
	"$([ "$crashes" = 0 ] || echo "in $out/*/crashes")"
trap - EXIT
