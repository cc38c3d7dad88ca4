// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for what Sonde reads of a traced process's OpenSSL
 * files (src/probes_tls.c, src/tls_hookpoints.c): the executable check
 * and the hook points, on a hostile image read from a descriptor as the
 * agent does (a memfd holding the input). Every hook point must lie inside
 * the file: an offset past it would be a uprobe on nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "probes_tls.h"
#include "tls_hookpoints.h"
#include "util/capstone_lazy.h"

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                             \
			abort();                                                       \
		}                                                                      \
	} while (0)

static int memfd = -1;

/* capstone stays loaded for the whole run (else each input would load it) */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!capstone_get())
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_hook_point pts[TLS_HOOK_POINTS_MAX];
	int n;

	if (memfd < 0 && (memfd = memfd_create("fuzz_tls_elf", 0)) < 0)
		abort();
	if (ftruncate(memfd, 0) || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	(void)tls_exe_kind(memfd);
	n = tls_hook_points(memfd, pts);
	CHECK(n == TLS_HOOK_WRONG_MACHINE || (n >= 0 && n <= TLS_HOOK_POINTS_MAX));
	for (int i = 0; i < n; i++) {
		CHECK(pts[i].offset < size);
		CHECK(pts[i].kind < TLS_HOOK__MAX);
		CHECK(memchr(pts[i].name, 0, sizeof(pts[i].name)));
	}
	return 0;
}
