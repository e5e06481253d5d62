/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_FD_EVENT_H
#define VHOST_FD_EVENT_H

/* One event thread ("vhost-events") serves every listening socket and
 * connection of the process through epoll, plus a periodic tick used
 * for client-mode reconnection. */

typedef void (*fd_event_cb)(int fd, void *arg);

/* Watch fd for input; cb runs on the event thread. Starts the thread on
 * first use. Returns 0 or a negative errno. */
int fd_event_add(int fd, fd_event_cb cb, void *arg);

/* Stop watching fd. When called from another thread, waits until a
 * callback running for fd has returned, so the caller may free arg. */
void fd_event_del(int fd);

/* Start the event thread if it is not running (it also runs the tick
 * when no fd is watched yet). Returns 0 or a negative errno. */
int fd_event_start(void);

/* Function called by the event thread about every 100 ms. */
void fd_event_set_tick(void (*tick)(void));

/* True on the event thread. */
int fd_event_in_thread(void);

#endif /* VHOST_FD_EVENT_H */
