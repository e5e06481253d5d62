#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Build the libFuzzer targets of lib/vhost with clang (ASan + UBSan),
# run each for a while, then replay every saved reproducer.
#
#   app/test/fuzz/run_fuzz.sh [seconds-per-target]      (default 60)
#
# Environment:
#   FUZZ_TARGETS    targets to run (default: all three)
#   FUZZ_BUILD_DIR  build and work directory (default: <repo>/build-fuzz)
#   FUZZ_BUILD_ONLY=1  build, replay the regressions, do not fuzz
#   FUZZ_COVERAGE=1    then print the line coverage of lib/vhost reached
#                      by each target's corpus (llvm-cov source coverage)
#   FUZZ_STRICT=1   fuzz without steering around known open bugs
#   CC              compiler (default: clang, Debian's clang 14)
#
# Needs bash >= 5.1 (wait -n -p).
#
# Exit status: 0 if no target crashed and every regression input passed.
# Findings are written to $FUZZ_BUILD_DIR/artifacts/<target>/; the
# corpus a run grows is kept in $FUZZ_BUILD_DIR/corpus/<target>/ (the
# seeds in app/test/fuzz/corpus/ are only read).

set -u

SECS=${1:-60}
case $SECS in
''|*[!0-9]*) echo "usage: $0 [seconds-per-target]" >&2; exit 2 ;;
esac

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
VHOST=$REPO/lib/vhost
BUILD=${FUZZ_BUILD_DIR:-$REPO/build-fuzz}
TARGETS=${FUZZ_TARGETS:-"fuzz_iotlb fuzz_desc_chain fuzz_messages"}
CC=${CC:-clang}
JOBS=$(nproc 2>/dev/null || echo 2)

# Longest input per target: a message sequence with packets is bigger
# than a chain, which is bigger than an IOTLB operation list.
max_len() {
	case $1 in
	fuzz_messages) echo 16384 ;;
	fuzz_desc_chain) echo 4096 ;;
	*) echo 1024 ;;
	esac
}

die() { echo "run_fuzz: $*" >&2; exit 2; }

command -v "$CC" >/dev/null || die "$CC not found (apt-get install clang-14 libclang-rt-14-dev)"
pkg-config --exists libdpdk || die "libdpdk not found (apt-get install dpdk-dev)"

# ---- build ----

# meson builds the targets (app/test/fuzz/meson.build, option fuzz) in
# a build directory of its own inside $BUILD; ninja's dependency
# tracking rebuilds whatever a changed header touches.
command -v meson >/dev/null || die "meson not found"
MESON_LOG=$BUILD/logs/meson.log

# meson_build DIR MODE: set DIR up for -Dfuzz=MODE (once), build $TARGETS.
meson_build() {
	local dir=$1 mode=$2 t ninja_targets=()
	mkdir -p "$BUILD/logs" || die "cannot create $BUILD"
	[ -e "$BUILD/.gitignore" ] || echo '*' > "$BUILD/.gitignore"
	if [ ! -e "$dir/build.ninja" ]; then
		echo "run_fuzz: meson setup $dir (-Dfuzz=$mode, CC=$CC)"
		CC=$CC meson setup "$dir" "$REPO" -Dfuzz="$mode" \
			--buildtype=plain -Db_ndebug=false >> "$MESON_LOG" 2>&1 \
			|| die "meson setup failed (see $MESON_LOG)"
	fi
	for t in $TARGETS; do
		[ -e "$HERE/$t.c" ] || die "unknown target $t"
		ninja_targets+=("app/test/fuzz/$t")
	done
	ninja -C "$dir" -j "$JOBS" "${ninja_targets[@]}" >> "$MESON_LOG" 2>&1 \
		|| die "building ${ninja_targets[*]} failed (see $MESON_LOG)"
}

build() {
	local t
	# What the build before meson left.
	rm -rf "$BUILD/obj" "$BUILD/flags"
	meson_build "$BUILD/meson" sanitizers
	# The targets where the commands in doc/fuzzing.md look for them.
	for t in $TARGETS; do
		ln -sfn "meson/app/test/fuzz/$t" "$BUILD/$t" || die "cannot link $BUILD/$t"
	done
}

# ---- running ----

# What a fuzzer process leaves behind if it dies: EAL's runtime
# directory and the message target's socket directory.
cleanup_pid() {
	rm -rf "/var/run/dpdk/fuzz$1" /tmp/vhost-fuzz-"$1"-* 2>/dev/null
}

# Run the fuzzer binary in the background (its pid names what it leaves
# behind), with a watchdog in case it hangs outside an input.
run_bin() {	# run_bin LOG TIMEOUT ARGS...
	local log=$1 limit=$2 pid wd done rc
	shift 2
	"$@" > "$log" 2>&1 &
	pid=$!
	sleep "$limit" &
	wd=$!
	wait -n -p done "$pid" "$wd"
	rc=$?
	if [ "$done" = "$pid" ]; then
		kill "$wd" 2>/dev/null
		wait "$wd" 2>/dev/null
	else
		echo "run_fuzz: watchdog: no exit after ${limit}s, killing $pid" >> "$log"
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rc=124
	fi
	cleanup_pid "$pid"
	return $rc
}

# Fields of libFuzzer's output.
final_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }
status_field() { grep -E '^#[0-9]+.* cov: ' "$2" | tail -1 | sed -n "s/.* $1: \([^ ]*\).*/\1/p"; }

FAILED=0
SUMMARY=()

fuzz_target() {
	local t=$1 log=$BUILD/logs/$t.log rc corpus=$BUILD/corpus/$t art=$BUILD/artifacts/$t
	mkdir -p "$corpus" "$art" "$BUILD/logs" "$BUILD/run"
	echo "run_fuzz: fuzzing $t for ${SECS}s (log: $log)"
	# New units go to the first directory; the seeds are read only.
	# The bugs the harness could steer around are fixed: fuzz strictly.
	(cd "$BUILD/run" && FUZZ_STRICT=1 UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
		run_bin "$log" $((SECS + 300)) "$BUILD/$t" -max_total_time="$SECS" \
		-max_len="$(max_len "$t")" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
		-artifact_prefix="$art/" "$corpus" "$HERE/corpus/$t")
	rc=$?
	local execs rate cov ft corp
	execs=$(final_stat number_of_executed_units "$log")
	rate=$(final_stat average_exec_per_sec "$log")
	cov=$(status_field cov "$log")
	ft=$(status_field ft "$log")
	corp=$(status_field corp "$log")
	if [ $rc -ne 0 ]; then
		FAILED=1
		SUMMARY+=("$(printf '%-16s CRASH  execs %-9s cov %-6s (exit %d; see %s)' \
			"$t" "${execs:-?}" "${cov:-?}" "$rc" "$log")")
		echo "run_fuzz: $t failed:"
		grep -m1 -E 'ERROR: |FUZZ CHECK FAILED|runtime error' "$log" | sed 's/^/    /'
		grep -m1 'Test unit written to' "$log" | sed 's/^/    /'
	else
		SUMMARY+=("$(printf '%-16s ok     execs %-9s exec/s %-6s cov %-6s ft %-7s corpus %s' \
			"$t" "$execs" "$rate" "$cov" "$ft" "$corp")")
	fi
}

# Every saved reproducer, strict (no suppression, no avoidance): a
# finding fails here until the library is fixed.
replay_regressions() {
	local t=$1 f log rc n=0 bad=0
	[ -d "$HERE/regressions/$t" ] || return 0
	mkdir -p "$BUILD/logs" "$BUILD/run"
	for f in "$HERE/regressions/$t"/*; do
		[ -f "$f" ] || continue
		case $f in *.md|*.txt) continue ;; esac
		n=$((n + 1))
		log=$BUILD/logs/regression-$t-$(basename "$f").log
		(cd "$BUILD/run" && FUZZ_STRICT=1 UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
			run_bin "$log" 300 "$BUILD/$t" -runs=1 "$f")
		rc=$?
		if [ $rc -ne 0 ]; then
			bad=$((bad + 1))
			FAILED=1
			echo "run_fuzz: regression FAILED: $t $(basename "$f") (log: $log)"
			grep -m1 -E 'ERROR: |FUZZ CHECK FAILED|runtime error' "$log" | sed 's/^/    /'
		fi
	done
	[ $n -gt 0 ] && SUMMARY+=("$(printf '%-16s regressions: %d passed, %d failed' \
		"$t" $((n - bad)) "$bad")")
}

# Line coverage of lib/vhost by the corpora: the same targets built with
# source-based coverage (-Dfuzz=coverage, no sanitizers), run once over
# every input.
coverage() {
	local cov=$BUILD/cov t bin profs=() first= objs_args=()
	local profdata=llvm-profdata llvmcov=llvm-cov
	command -v llvm-profdata-14 >/dev/null && profdata=llvm-profdata-14 && llvmcov=llvm-cov-14
	echo "run_fuzz: coverage build"
	meson_build "$cov" coverage
	rm -f "$cov"/*.profraw
	for t in $TARGETS; do
		bin=$cov/app/test/fuzz/$t
		mkdir -p "$BUILD/corpus/$t"
		(cd "$BUILD/run" && FUZZ_STRICT=1 LLVM_PROFILE_FILE="$cov/$t.profraw" \
			run_bin "$BUILD/logs/coverage-$t.log" 1200 "$bin" -runs=0 \
			"$BUILD/corpus/$t" "$HERE/corpus/$t")
		profs+=("$cov/$t.profraw")
		[ -z "$first" ] && first=$bin || objs_args+=(-object "$bin")
	done
	$profdata merge -o "$cov/all.profdata" "${profs[@]}" || die "llvm-profdata failed"
	echo
	echo "==== line coverage of lib/vhost (corpora of: $TARGETS) ===="
	# meson compiles with paths relative to the build directory, so the
	# report is filtered here rather than by llvm-cov's source list.
	$llvmcov report -instr-profile="$cov/all.profdata" "$first" "${objs_args[@]}" \
		| awk 'NF >= 13 && $1 ~ /lib\/vhost\/[^\/]*\.c$/ {
			sub(/.*lib\/vhost\//, "", $1)
			printf "%-24s %5s lines %5s missed %8s\n", $1, $8, $9, $10
			lines += $8; missed += $9 }
		END { if (lines > 0) printf "%-24s %5d lines %5d missed %7.2f%%\n",
			"TOTAL", lines, missed, 100 * (lines - missed) / lines }'
}

build
if [ "${FUZZ_BUILD_ONLY:-0}" != 1 ]; then
	for t in $TARGETS; do
		fuzz_target "$t"
	done
fi
for t in $TARGETS; do
	replay_regressions "$t"
done
[ "${FUZZ_COVERAGE:-0}" = 1 ] && coverage

echo
if [ "${FUZZ_BUILD_ONLY:-0}" = 1 ]; then
	echo "==== summary (build and regressions only) ===="
else
	echo "==== fuzz summary (${SECS}s per target) ===="
fi
printf '%s\n' "${SUMMARY[@]}"
exit $FAILED
