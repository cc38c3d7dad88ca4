// SPDX-License-Identifier: Apache-2.0
/* ELF inspection of target executables (see elf_inspect.h). */
#include "util/elf_inspect.h"

#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>

static bool shstrtab_small(Elf *elf, size_t shstrndx)
{
	Elf_Scn *scn = elf_getscn(elf, shstrndx);
	GElf_Shdr sh;

	return scn && gelf_getshdr(scn, &sh) && sh.sh_size <= ELF_SHSTRTAB_MAX;
}

/* Go binaries carry a .go.buildinfo (or, older, .gopclntab) section. */
static bool has_go_section(Elf *elf)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx) ||
	    !shstrtab_small(elf, shstrndx))
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (name && (!strcmp(name, ".go.buildinfo") || !strcmp(name, ".gopclntab")))
			return true;
	}
	return false;
}

bool elf_fd_is_go(int fd)
{
	Elf *elf;
	bool go;

	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	go = has_go_section(elf);
	if (elf)
		elf_end(elf);
	return go;
}

bool elf_image_is_go(const void *buf, size_t len)
{
	/* libelf may convert a foreign-endian image in place: work on a copy. */
	char *copy = malloc(len ? len : 1);
	Elf *elf;
	bool go;

	if (!copy)
		return false;
	memcpy(copy, buf, len);
	elf_version(EV_CURRENT);
	elf = elf_memory(copy, len);
	go = has_go_section(elf);
	if (elf)
		elf_end(elf);
	free(copy);
	return go;
}
