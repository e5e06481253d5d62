/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The library's log, captured while a test program runs (it still goes
 * to stderr too), so tests can assert that a line was logged, or how
 * often.
 */
#ifndef FE_LOG_H
#define FE_LOG_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

/* Starts capturing rte_log output. Returns 0 or -1. */
int fe_log_capture_start(void);
/* Back to stderr alone; forgets what was captured. */
void fe_log_capture_stop(void);

/* Where the log ends now: later checks look only past it. */
size_t fe_log_mark(void);

/* True if a line logged since mark matches re. */
bool fe_log_has(size_t mark, const regex_t *re);

/*
 * True if a line logged since mark matches the extended regular
 * expression (case ignored) within FE_EVENT_MS (most lines come from the
 * event thread); says what was missing otherwise.
 */
bool fe_log_expect(size_t mark, const char *what, const char *pattern);

/* Lines logged since mark that match the extended regular expression
 * (case ignored), or -1 if the pattern is bad. */
int fe_log_count(size_t mark, const char *pattern);

#endif /* FE_LOG_H */
