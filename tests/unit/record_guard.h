/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pipeline decodes a transaction record where it lies in the ring
 * buffer (src/pipeline.c: on_event), and a record ends after its prefixes'
 * valid bytes: what follows may be the next record, or unmapped. Tests put
 * a record exactly there, its last byte against a page no access is
 * allowed to, so that a decoder reading past req_len + resp_len crashes the
 * test instead of passing it.
 */
#ifndef SONDE_TESTS_RECORD_GUARD_H
#define SONDE_TESTS_RECORD_GUARD_H

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sonde/abi.h"

/* Two pages: the record's, then the guard. Made once per test program. */
static unsigned char *record_guard_area(void)
{
	static unsigned char *area;
	long page = sysconf(_SC_PAGESIZE);

	if (!area) {
		/* the largest record fits in the first page(s) */
		size_t room = (sizeof(struct sonde_txn_event) + page - 1) / page * page;

		area = mmap(NULL, room + page, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (area == MAP_FAILED || mprotect(area + room, page, PROT_NONE))
			abort();
		area += room; /* the guard page's start */
	}
	return area;
}

/* @ev as the ring buffer holds it: its bytes up to the end of its
 * prefixes, 8-byte aligned, then the ring's padding to 8 bytes (junk
 * here), then the guard page. */
static inline const struct sonde_txn_event *record_at_guard(const struct sonde_txn_event *ev)
{
	size_t size = SONDE_TXN_EVENT_MIN_SIZE + ev->req_len + ev->resp_len;
	size_t slot = (size + 7) & ~(size_t)7;
	unsigned char *start = record_guard_area() - slot;

	if (size > sizeof(*ev))
		abort();
	memcpy(start, ev, size);
	memset(start + size, 0xa5, slot - size);
	return (const struct sonde_txn_event *)start;
}

#endif /* SONDE_TESTS_RECORD_GUARD_H */
