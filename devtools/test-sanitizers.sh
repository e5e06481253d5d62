#!/bin/bash
# Unit and vhost-user socket tests again, built with AddressSanitizer and
# UndefinedBehaviorSanitizer: an out-of-bounds access, a use after free, a
# leak or undefined behaviour anywhere fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${SANITIZE_BUILD_DIR:-build-asan}
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" -Dbuildtype=debug -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null
fi
ninja -C "$dir" >/dev/null
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Sanitized code runs two to three times slower: fault-kill took 260 s
# of its 300 s limit under ASan on a loaded 2-core machine.
meson test -C "$dir" --suite unit --suite socket --print-errorlogs \
	--timeout-multiplier 3 || { devtools/meson-failures.py "$dir"; exit 1; }
