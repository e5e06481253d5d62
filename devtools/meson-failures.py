#!/usr/bin/env python3
"""What each failed meson test said about its failure.

meson --print-errorlogs shows the tail of a failed test's output, and
with a chatty stderr (the library's log lines) that tail can hold
nothing but log lines: the CUnit failures and the tests' own "FE:" lines
are lost from a CI log that keeps only its end. This prints, from
meson-logs/testlog.json, those lines of every failed test.

Usage: devtools/meson-failures.py BUILD_DIR
"""
import json
import re
import sys

# CUnit's failure list ("Suite x, Test y had failures:", "  1. file.c:12
# - expr"), the fault and socket tests' own messages, sanitizer reports.
WANTED = re.compile(r"had failures|^\s+\d+\.\s+\S+:\d+\s+-|^\s*FE: |"
                    r"Sanitizer|runtime error|Assertion|Run Summary|"
                    r"^\s+(suites|tests|asserts)\s+\d")
MAX_LINES = 60


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = sys.argv[1] + "/meson-logs/testlog.json"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            results = [json.loads(line) for line in f if line.strip()]
    except OSError as e:
        sys.exit("meson-failures: %s" % e)
    for r in results:
        if r.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
            continue
        print("---- %s: %s (exit %s, %.1f s)" % (r.get("name"), r.get("result"),
              r.get("returncode"), r.get("duration", 0.0)))
        lines = [l for stream in ("stdout", "stderr")
                 for l in (r.get(stream) or "").splitlines()
                 if WANTED.search(l)]
        for l in lines[:MAX_LINES]:
            print("   ", l)
        if len(lines) > MAX_LINES:
            print("    ... %d more" % (len(lines) - MAX_LINES))


if __name__ == "__main__":
    main()
