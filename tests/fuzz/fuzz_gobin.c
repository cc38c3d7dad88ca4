// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the Go binary inspection (src/gobin/): a traced
 * user's executable is hostile input. Opened from memory, every reader
 * runs: build information, the symbol table lookup, the RET disassembly,
 * DWARF field offsets. What they find must lie inside the image. Seeds:
 * tests/fuzz/seeds/fuzz_gobin/tiny_go and tiny_go117, Go 1.20+'s and Go
 * 1.17's layouts (tests/fuzz/make_gobin_seed.py).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gobin/gobin.h"
#include "util/capstone_lazy.h"

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                             \
			abort();                                                       \
		}                                                                      \
	} while (0)

/* capstone stays loaded for the whole run (else each input would load it) */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!capstone_get())
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gobin *g;
	struct gobin_func fn;
	struct gobin_version v;
	uint32_t rets[8];
	uint64_t off;
	char buf[32];

	if (gobin__open_image(data, size, &g))
		return 0;
	if (gobin__version(g))
		CHECK(strlen(gobin__version(g)) < size);
	if (gobin__version_num(g, &v) == 0)
		CHECK(gobin__version(g) != NULL);
	(void)gobin__at_least(g, 1, 18);
	(void)gobin__main_path(g);
	if (gobin__build_setting(g, "GOARCH", buf, sizeof(buf)) == 0)
		CHECK(strlen(buf) < sizeof(buf));
	if (gobin__find_func(g, "main.main", &fn) == 0) {
		int n = gobin__func_returns(g, &fn, rets, 8);

		CHECK(fn.size > 0 && fn.file_offset < size && fn.size <= size - fn.file_offset);
		for (int i = 0; i < n && i < 8; i++)
			CHECK(rets[i] < fn.size);
		CHECK(n >= 0 || n == -EILSEQ || n == -ENOTSUP || n == -ENOMEM || n == -EINVAL);
	}
	(void)gobin__dwarf_offset(g, "FD", "Sysfd", &off);
	(void)gobin__field_offset(g, "internal/poll.FD", "Sysfd", &off, NULL);
	gobin__close(g);
	return 0;
}
