/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Go binary inspection: what Sonde's Go uprobes need to know about an
 * executable built by Go, read from its ELF image alone (nothing runs):
 *
 *   - the Go version and build information (.go.buildinfo),
 *   - where a function starts and how long it is, by its Go name, from the
 *     Go symbol table (.gopclntab), which stripping (-ldflags=-s -w) keeps,
 *   - the offsets of a function's RET instructions (capstone), where
 *     Sonde puts uprobes instead of uretprobes: a uretprobe rewrites the
 *     return address on the stack, and Go moves goroutine stacks; and of
 *     the branch of its stack-bound check, a cheaper place for an entry
 *     uprobe,
 *   - struct field offsets from DWARF (libdw) when the binary has it, else
 *     from a table of known offsets per Go version (gobin_offsets.c).
 *
 * The image belongs to the traced user, so it is treated as hostile: every
 * offset read from it is checked against the section it points into, and
 * the file is read, not mapped (a file truncated under us cannot fault).
 * Go 1.16 and later are understood (the .gopclntab layouts of 1.16-1.17,
 * 1.18-1.19 and 1.20+; the build information's pointer form before 1.18
 * and inline one since); older binaries open, give their version, and
 * find no function.
 */
#ifndef SONDE_GOBIN_GOBIN_H
#define SONDE_GOBIN_GOBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gobin;

/* Sections larger than this are refused (a large Go binary's .text and
 * .gopclntab are tens of MiB). */
#define GOBIN_SECTION_MAX (512u << 20)

struct gobin_version {
	int major, minor, patch; /* go1.26.8: 1, 26, 8; go1.21rc2: 1, 21, 0 */
};

/** struct gobin_func - a function found in the Go symbol table. */
struct gobin_func {
	uint64_t addr;	      /* entry, virtual address */
	uint64_t size;	      /* up to the next function (alignment padding included) */
	uint64_t file_offset; /* entry as an offset in the file: what uprobes take */
};

/**
 * gobin__open() - inspect the ELF file at @path (e.g. /proc/PID/exe).
 * Return: 0 and *@out; -ENOEXEC when it is not a Go ELF binary (no
 * .go.buildinfo nor .gopclntab section); another negative errno when it
 * cannot be read.
 */
int gobin__open(const char *path, struct gobin **out);

/** gobin__open_image() - the same on an ELF image in memory (copied). */
int gobin__open_image(const void *buf, size_t len, struct gobin **out);

void gobin__close(struct gobin *g);

/** gobin__version() - "go1.26.8", or NULL when the build information is
 * missing or not understood. */
const char *gobin__version(const struct gobin *g);

/** gobin__version_num() - the version as numbers. Return: 0, or -ENOENT. */
int gobin__version_num(const struct gobin *g, struct gobin_version *v);

/** gobin__at_least() - built by Go @major.@minor or later (false when unknown). */
bool gobin__at_least(const struct gobin *g, int major, int minor);

/** gobin__main_path() - the main package's path ("command-line-arguments"
 * for `go build file.go`), or NULL (Go before 1.18 records none outside a
 * module). */
const char *gobin__main_path(const struct gobin *g);

/**
 * gobin__build_setting() - one `build` line of the build information, by
 * key ("GOARCH", "CGO_ENABLED", "-ldflags", "vcs.revision"...), copied
 * NUL-terminated into @buf (cut to @size).
 * Return: 0, or -ENOENT when the binary does not record it.
 */
int gobin__build_setting(const struct gobin *g, const char *key, char *buf, size_t size);

/** gobin__machine() - the ELF e_machine (EM_X86_64, EM_AARCH64...). */
int gobin__machine(const struct gobin *g);

/** gobin__register_abi() - Go passes arguments and results in registers
 * (ABIInternal): Go 1.17 on amd64, 1.18 on arm64 and later. */
bool gobin__register_abi(const struct gobin *g);

/**
 * gobin__find_func() - the function named @name as Go writes it
 * ("crypto/tls.(*Conn).Read", "main.main").
 * Return: 0 and *@fn; -ENOENT when absent; -ENOTSUP when the symbol table
 * predates Go 1.16; -EINVAL when it is damaged.
 */
int gobin__find_func(const struct gobin *g, const char *name, struct gobin_func *fn);

/**
 * gobin__func_at() - the function whose code holds address @addr: its name
 * copied into @name (cut to @size) and *@fn.
 * Return: 0; -ENOENT when no function holds it; as gobin__find_func().
 */
int gobin__func_at(const struct gobin *g, uint64_t addr, char *name, size_t size,
		   struct gobin_func *fn);

/**
 * gobin__func_returns() - the offsets from @fn's entry of its RET
 * instructions, found by disassembling it (x86-64), in address order.
 * Disassembly must account for every byte up to the function's trailing
 * padding: an instruction capstone cannot decode fails the whole function
 * (-EILSEQ) rather than guess where instructions start, since a uprobe in
 * the middle of an instruction would break the traced program.
 * Return: the number of RETs (those beyond @max are counted, not stored),
 * or a negative errno (-ENOTSUP on other architectures).
 */
int gobin__func_returns(const struct gobin *g, const struct gobin_func *fn, uint32_t *offsets,
			size_t max);

/**
 * gobin__func_calls() - the offsets from @fn's entry of its direct CALLs of
 * the function named @callee (x86-64), decoded as gobin__func_returns()
 * does. Return: how many (beyond @max counted, not stored; 0 when @callee
 * is not in the binary), or a negative errno.
 */
int gobin__func_calls(const struct gobin *g, const struct gobin_func *fn, const char *callee,
		      uint32_t *offsets, size_t max);

/**
 * gobin__func_stack_check() - the offset from @fn's entry of the JBE that
 * ends Go's stack-bound check (x86-64): an instruction the kernel emulates
 * for a uprobe (a conditional jump: one trap), where the entry's cmp is
 * single-stepped (two), with the arguments still in their registers. When
 * it jumps (the flags say below-or-equal), the stack grows and the function
 * starts over: a uprobe there sees each call once by ignoring that case.
 * Return: 0 and *@off; -ENOENT when the prologue is not the expected one
 * (a function without a stack check, or an unknown compiler's).
 */
int gobin__func_stack_check(const struct gobin *g, const struct gobin_func *fn, uint32_t *off);

/** gobin__has_dwarf() - the binary carries DWARF that libdw reads. */
bool gobin__has_dwarf(const struct gobin *g);

/**
 * gobin__dwarf_offset() - the offset of @field in the struct type @type
 * ("internal/poll.FD", "Sysfd"), from DWARF. @field may be a path through
 * nested (not pointed-to) structs: "pfd.Sysfd" in "net.netFD".
 * Return: 0 and *@off; -ENODATA without DWARF; -ENOENT when the type or a
 * field is not there.
 */
int gobin__dwarf_offset(const struct gobin *g, const char *type, const char *field,
			uint64_t *off);

/**
 * gobin__field_offset() - as gobin__dwarf_offset(), and when the binary has
 * no DWARF, from the table of known offsets for the binary's Go version
 * (gobin_offsets.c). *@from_dwarf (may be NULL) tells which.
 * Return: 0, or -ENOENT when neither knows.
 */
int gobin__field_offset(const struct gobin *g, const char *type, const char *field,
			uint64_t *off, bool *from_dwarf);

/** gobin__known_offset() - the table alone, for Go @v. Return: 0 or -ENOENT. */
int gobin__known_offset(const struct gobin_version *v, const char *type, const char *field,
			uint64_t *off);

/** gobin__known_offset_row() - row @i of that table (for its tests).
 * Return: 0, or -ENOENT past the end. */
int gobin__known_offset_row(size_t i, const char **type, const char **field);

#endif /* SONDE_GOBIN_GOBIN_H */
