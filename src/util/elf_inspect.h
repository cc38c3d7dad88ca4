/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What Sonde asks of a target's executable, from its ELF image: is it a Go
 * binary (a .go.buildinfo or .gopclntab section)? The image belongs to the
 * traced user, so it is treated as hostile: every header is checked by
 * libelf, the section name table must be small (libelf reads it whole), and
 * nothing is mapped. Split out of discovery so that the same code runs on a
 * descriptor (the agent) and on a memory buffer (tests/fuzz/fuzz_elf.c).
 */
#ifndef SONDE_UTIL_ELF_INSPECT_H
#define SONDE_UTIL_ELF_INSPECT_H

#include <stdbool.h>
#include <stddef.h>

/* Section name tables larger than this are refused (real ones: a few KiB). */
#define ELF_SHSTRTAB_MAX (1u << 20)

/** elf_fd_is_go() - the ELF file open on @fd (read, not mapped) is a Go binary. */
bool elf_fd_is_go(int fd);

/** elf_image_is_go() - the ELF image @buf of @len bytes is a Go binary. @buf is not changed. */
bool elf_image_is_go(const void *buf, size_t len);

#endif /* SONDE_UTIL_ELF_INSPECT_H */
