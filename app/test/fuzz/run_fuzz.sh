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

# The library's sources, as its meson.build lists them.
SOURCES=$(sed -n "/^vhost_sources = files(/,/^)/p" "$VHOST/meson.build" | grep -o "'[a-z_0-9]*\.c'" | tr -d "'")
[ -n "$SOURCES" ] || die "no sources found in $VHOST/meson.build"

# -fsanitize-recover for UB, made fatal at run time (halt_on_error, see
# fuzz_common.h): that way a known open bug can be suppressed while
# exploring, and still fails the strict replays.
SAN="-fsanitize=address,undefined -fsanitize-recover=undefined"
CFLAGS="-g -O1 -fno-omit-frame-pointer $SAN $(pkg-config --cflags libdpdk) \
-DALLOW_EXPERIMENTAL_API -DALLOW_INTERNAL_API -D_GNU_SOURCE -I$VHOST -Wall -Wextra"
# The library is built with meson's GCC warnings; clang's extra ones are
# not ours to fix here.
LIB_CFLAGS="-Wno-unused-parameter -Wno-array-bounds -Wno-format"
# Debian's DPDK without its librte_vhost: the library under test is
# compiled in.
LIBS="-lrte_ethdev -lrte_net -lrte_mbuf -lrte_mempool -lrte_ring -lrte_eal \
-lrte_kvargs -lrte_telemetry -lnuma -lpthread"

newer_than() {	# newer_than FILE DEP... : true if FILE is missing or older
	local f=$1 d
	shift
	[ -e "$f" ] || return 0
	for d in "$@"; do
		[ "$d" -nt "$f" ] && return 0
	done
	return 1
}

build() {
	local stale=() s o t objs=() deps
	mkdir -p "$BUILD/obj" || die "cannot create $BUILD"
	[ -e "$BUILD/.gitignore" ] || echo '*' > "$BUILD/.gitignore"
	# Flags changed: rebuild everything.
	if [ "$(cat "$BUILD/flags" 2>/dev/null)" != "$CC $CFLAGS $LIB_CFLAGS" ]; then
		rm -f "$BUILD"/obj/*.o "$BUILD"/fuzz_*
		echo "$CC $CFLAGS $LIB_CFLAGS" > "$BUILD/flags"
	fi
	# Any header change rebuilds every object: structure layouts must
	# agree between the objects (others edit lib/vhost meanwhile).
	for s in $SOURCES; do
		o=$BUILD/obj/${s%.c}.o
		objs+=("$o")
		newer_than "$o" "$VHOST/$s" "$VHOST"/*.h && stale+=("$s")
	done
	if [ ${#stale[@]} -gt 0 ]; then
		echo "run_fuzz: compiling ${#stale[@]} lib/vhost sources"
		printf '%s\n' "${stale[@]%.c}" | xargs -P "$JOBS" -I{} sh -c \
			"$CC $CFLAGS $LIB_CFLAGS -fsanitize=fuzzer-no-link -c '$VHOST/{}.c' -o '$BUILD/obj/{}.o'" \
			|| die "compiling lib/vhost failed"
	fi
	for t in $TARGETS; do
		[ -e "$HERE/$t.c" ] || die "unknown target $t"
		deps=("$HERE/$t.c" "$HERE/fuzz_common.h" "$HERE/../common/test_res.h" "$VHOST"/*.h)
		if [ "$t" = fuzz_iotlb ]; then
			# The IOTLB alone, no EAL: fast and self-contained.
			newer_than "$BUILD/$t" "${deps[@]}" "$VHOST/iotlb.c" || continue
			echo "run_fuzz: linking $t"
			$CC $CFLAGS -fsanitize=fuzzer "$HERE/$t.c" "$VHOST/iotlb.c" $LIB_CFLAGS -o "$BUILD/$t" \
				|| die "building $t failed"
		else
			newer_than "$BUILD/$t" "${deps[@]}" "${objs[@]}" || continue
			echo "run_fuzz: linking $t"
			$CC $CFLAGS -fsanitize=fuzzer "$HERE/$t.c" "${objs[@]}" $LIBS -o "$BUILD/$t" \
				|| die "building $t failed"
		fi
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
# source-based coverage (no sanitizers), run once over every input.
coverage() {
	local cov=$BUILD/cov s t objs=() profs=() first=
	local cf="-g -O0 -fprofile-instr-generate -fcoverage-mapping $(pkg-config --cflags libdpdk) \
-DALLOW_EXPERIMENTAL_API -DALLOW_INTERNAL_API -D_GNU_SOURCE -I$VHOST -w"
	local profdata=llvm-profdata llvmcov=llvm-cov
	command -v llvm-profdata-14 >/dev/null && profdata=llvm-profdata-14 && llvmcov=llvm-cov-14
	mkdir -p "$cov/obj"
	echo "run_fuzz: coverage build"
	printf '%s\n' $SOURCES | sed 's/\.c$//' | xargs -P "$JOBS" -I{} \
		$CC $cf -fsanitize=fuzzer-no-link -c "$VHOST/{}.c" -o "$cov/obj/{}.o" \
		|| die "coverage build failed"
	for s in $SOURCES; do objs+=("$cov/obj/${s%.c}.o"); done
	rm -f "$cov"/*.profraw
	for t in $TARGETS; do
		if [ "$t" = fuzz_iotlb ]; then
			$CC $cf -fsanitize=fuzzer "$HERE/$t.c" "$VHOST/iotlb.c" -o "$cov/$t" || die "coverage build failed"
		else
			$CC $cf -fsanitize=fuzzer "$HERE/$t.c" "${objs[@]}" $LIBS -o "$cov/$t" || die "coverage build failed"
		fi
		mkdir -p "$BUILD/corpus/$t"
		(cd "$BUILD/run" && FUZZ_STRICT=1 LLVM_PROFILE_FILE="$cov/$t.profraw" \
			run_bin "$BUILD/logs/coverage-$t.log" 1200 "$cov/$t" -runs=0 \
			"$BUILD/corpus/$t" "$HERE/corpus/$t")
		profs+=("$cov/$t.profraw")
		[ -z "$first" ] && first=$cov/$t || objs_args+=(-object "$cov/$t")
	done
	$profdata merge -o "$cov/all.profdata" "${profs[@]}" || die "llvm-profdata failed"
	echo
	echo "==== line coverage of lib/vhost (corpora of: $TARGETS) ===="
	$llvmcov report -instr-profile="$cov/all.profdata" "$first" "${objs_args[@]}" "$VHOST"/*.c \
		| sed "s|$VHOST/||" | awk 'NF >= 13 && $1 != "Filename" {
			printf "%-24s %5s lines %5s missed %8s\n", $1, $8, $9, $10 }'
}

objs_args=()
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
