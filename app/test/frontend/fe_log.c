/* SPDX-License-Identifier: BSD-3-Clause */
/* The library's log, captured: see fe_log.h. */
#include "fe_log.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_log.h>

#include "fe_harness.h"
#include "fe_traffic.h"

/* The buffer is mmap'd rather than malloc'd, so that capturing a log
 * line never looks like heap growth of the library. */
#define LOG_CAP (64u << 20)

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char *log_buf;
static size_t log_len;
static FILE *log_stream;
static bool capturing;		/* with log_lock */

/* The level of the message being written, as the capture shows it. */
static const char *
level_name(void)
{
	switch (rte_log_cur_msg_loglevel()) {
	case RTE_LOG_EMERG: return "EMERG";
	case RTE_LOG_ALERT: return "ALERT";
	case RTE_LOG_CRIT: return "CRIT";
	case RTE_LOG_ERR: return "ERR";
	case RTE_LOG_WARNING: return "WARNING";
	case RTE_LOG_NOTICE: return "NOTICE";
	case RTE_LOG_INFO: return "INFO";
	default: return "DEBUG";
	}
}

static void
append(const char *buf, size_t size)
{
	if (size > LOG_CAP - log_len)
		log_len = 0; /* full: start again, old marks read from 0 */
	if (size <= LOG_CAP) {
		memcpy(log_buf + log_len, buf, size);
		log_len += size;
	}
}

/* rte_log writes each message at once, from the logging thread: the
 * capture prefixes it with its level ("WARNING: VHOST: ..."), so tests
 * can check the level too. */
static ssize_t
log_write(void *cookie, const char *buf, size_t size)
{
	char prefix[16];
	int n = snprintf(prefix, sizeof(prefix), "%s: ", level_name());

	(void)cookie;
	pthread_mutex_lock(&log_lock);
	if (capturing) {
		append(prefix, (size_t)n);
		append(buf, size);
	}
	pthread_mutex_unlock(&log_lock);
	/* Still on stderr, where meson keeps it. */
	fwrite(buf, 1, size, stderr);
	return (ssize_t)size;
}

int
fe_log_capture_start(void)
{
	cookie_io_functions_t io = { .write = log_write };

	/* Made once, kept to the end (fe_log_capture_stop). */
	if (log_buf == NULL) {
		void *p = mmap(NULL, LOG_CAP + 1, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				-1, 0);

		if (p == MAP_FAILED)
			return -1;
		log_buf = p;
	}
	if (log_stream == NULL)
		log_stream = fopencookie(NULL, "w", io);
	if (log_stream == NULL)
		return -1;
	pthread_mutex_lock(&log_lock);
	log_len = 0;
	capturing = true;
	pthread_mutex_unlock(&log_lock);
	/* rte_log flushes after every message: one write per line. */
	rte_openlog_stream(log_stream);
	return 0;
}

void
fe_log_capture_stop(void)
{
	rte_openlog_stream(stderr);
	/* A thread that fetched the stream just before may still write to
	 * it, however late: the stream and the buffer stay (the next start
	 * reuses them), only the capture ends. */
	pthread_mutex_lock(&log_lock);
	capturing = false;
	log_len = 0;
	pthread_mutex_unlock(&log_lock);
}

size_t
fe_log_mark(void)
{
	size_t n;

	pthread_mutex_lock(&log_lock);
	n = log_len;
	pthread_mutex_unlock(&log_lock);
	return n;
}

bool
fe_log_has(size_t mark, const regex_t *re)
{
	bool found;

	pthread_mutex_lock(&log_lock);
	if (log_buf == NULL) {
		pthread_mutex_unlock(&log_lock);
		return false;
	}
	if (mark > log_len)
		mark = 0;
	log_buf[log_len] = '\0';
	found = regexec(re, log_buf + mark, 0, NULL, 0) == 0;
	pthread_mutex_unlock(&log_lock);
	return found;
}

bool
fe_log_expect(size_t mark, const char *what, const char *pattern)
{
	int64_t deadline = fm_now_ms() + FE_EVENT_MS;
	regex_t re;
	bool found;

	if (regcomp(&re, pattern, REG_EXTENDED | REG_ICASE | REG_NEWLINE |
			REG_NOSUB) != 0)
		return fe_fail("%s: bad pattern /%s/", what, pattern);
	while (!(found = fe_log_has(mark, &re)) && fm_now_ms() < deadline)
		usleep(1000);
	regfree(&re);
	if (!found)
		fe_fail("%s: no log line matches /%s/", what, pattern);
	return found;
}

int
fe_log_count(size_t mark, const char *pattern)
{
	regex_t re;
	regmatch_t m;
	const char *p;
	int n = 0;

	if (regcomp(&re, pattern, REG_EXTENDED | REG_ICASE | REG_NEWLINE) != 0)
		return -1;
	pthread_mutex_lock(&log_lock);
	if (log_buf != NULL) {
		if (mark > log_len)
			mark = 0;
		log_buf[log_len] = '\0';
		for (p = log_buf + mark; regexec(&re, p, 1, &m, 0) == 0; n++) {
			/* On to the line after the match. */
			p += m.rm_eo;
			p = strchr(p, '\n');
			if (p == NULL)
				break;
			p++;
		}
	}
	pthread_mutex_unlock(&log_lock);
	regfree(&re);
	return n;
}
