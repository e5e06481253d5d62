/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * connect() attempts on one unix socket path, counted as they happen in
 * any thread of the process: the test program defines connect() (the
 * library's call resolves to it first) and passes each call on to the
 * C library. Shows that a client-mode backend tried and failed to
 * connect, which nothing else in the process or the file system shows.
 * Linked only into the programs that use it (meson.build).
 */
#ifndef FE_CONNECT_SPY_H
#define FE_CONNECT_SPY_H

#include <stdbool.h>

/* From now on, counts the calls on path that fail (and forgets the
 * counts of a path watched before). */
void fe_connect_spy_watch(const char *path);
/* Failed connect() calls on the watched path so far. */
int fe_connect_spy_failed(void);
/* Waits until at least n connect() calls on the watched path have
 * failed; false after timeout_ms. */
bool fe_connect_spy_wait_failed(int n, int timeout_ms);

#endif /* FE_CONNECT_SPY_H */
