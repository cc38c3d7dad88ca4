/* SPDX-License-Identifier: Apache-2.0 */
/* What the parts of the Go binary inspection share (gobin.h is the API). */
#ifndef SONDE_GOBIN_INTERNAL_H
#define SONDE_GOBIN_INTERNAL_H

#include <libelf.h>

#include "gobin/gobin.h"

/* A section's bytes, read whole (bounded by GOBIN_SECTION_MAX). */
struct gobin_section {
	const uint8_t *data;
	uint64_t addr, offset, size;
};

struct gobin {
	int fd;		 /* -1 for an image in memory */
	void *image;	 /* our copy of an image in memory */
	Elf *elf;
	int machine;
	bool version_ok;
	struct gobin_version ver;
	char version[32];
	char *modinfo;	 /* the build information's text, NUL-terminated */
	char *main_path; /* its `path` line */
	struct gobin_section pclntab, text;
	struct Dwarf *dwarf; /* NULL without DWARF */
};

/* The section named @name, its bytes read (0), or a negative errno. */
int gobin_section(struct gobin *g, const char *name, struct gobin_section *s);

#endif /* SONDE_GOBIN_INTERNAL_H */
