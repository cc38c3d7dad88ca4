// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the ELF inspection of target executables
 * (util/elf_inspect.c): a hostile binary must be survived, read from a
 * descriptor as the agent does (a memfd holding the input) and from memory
 * alike, with the same answer; a "Go" answer needs a Go section name in the
 * bytes (section names are read from the image, never made up).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/elf_inspect.h"

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                             \
			abort();                                                       \
		}                                                                      \
	} while (0)

static int memfd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool from_fd, from_image;

	if (memfd < 0) {
		memfd = memfd_create("fuzz_elf", MFD_CLOEXEC);
		CHECK(memfd >= 0);
	}
	CHECK(ftruncate(memfd, 0) == 0);
	CHECK(pwrite(memfd, data, size, 0) == (ssize_t)size);
	from_fd = elf_fd_is_go(memfd);
	from_image = elf_image_is_go(data, size);
	CHECK(from_fd == from_image);
	if (from_image)
		CHECK(memmem(data, size, ".go.buildinfo", 14) || memmem(data, size, ".gopclntab", 11));
	return 0;
}
