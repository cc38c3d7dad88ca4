// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the Go binary inspection (src/gobin/) on real Go binaries:
 * tests/e2e/servers/gotls (an HTTPS server and client) built by the
 * Makefile with Go 1.17, Debian's Go 1.19 and Go 1.26, each with symbols and
 * DWARF and stripped (-ldflags='-s -w'), into GOBIN_DIR. What the module
 * finds is checked against independent readers: the ELF symbol table of the
 * unstripped binary, GNU objdump's disassembly, and each Go's own
 * `go version` output.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "gobin/gobin.h"
#include "util/capstone_lazy.h"

#define READ_FN "crypto/tls.(*Conn).Read"
#define WRITE_FN "crypto/tls.(*Conn).Write"

/* Each build's Go, and the go command that built it (GOENV=off: a go env
 * file's GOFLAGS would stop Go 1.17, as in the Makefile). */
static const char *const versions[] = { "1.17", "1.19", "1.26" };
static const char *const toolchains[] = { "/var/cache/sonde/go1.17/go/bin/go",
					  "/usr/lib/go-1.19/bin/go", "/usr/local/go/bin/go" };
static const int minors[] = { 17, 19, 26 };
#define NVERSIONS (sizeof(versions) / sizeof(versions[0]))

static struct gobin *open_fixture(const char *version, bool stripped)
{
	char path[512];
	struct gobin *g = NULL;

	snprintf(path, sizeof(path), GOBIN_DIR "/gotls-%s%s", version, stripped ? "-stripped" : "");
	assert_int_equal(gobin__open(path, &g), 0);
	assert_non_null(g);
	return g;
}

/* The unstripped binary's ELF symbol @name: value and size. */
static void elf_symbol(const char *version, const char *name, uint64_t *value, uint64_t *size)
{
	char path[512];
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd;
	bool found = false;

	snprintf(path, sizeof(path), GOBIN_DIR "/gotls-%s", version);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(elf);
	while (!found && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *n;

			if (gelf_getsym(d, (int)i, &sym) &&
			    (n = elf_strptr(elf, sh.sh_link, sym.st_name)) && !strcmp(n, name)) {
				*value = sym.st_value;
				*size = sym.st_size;
				found = true;
				break;
			}
		}
	}
	elf_end(elf);
	close(fd);
	assert_true(found);
}

/* The RET offsets GNU objdump shows in [@fn->addr, +size). */
static int objdump_rets(const char *path, const struct gobin_func *fn, uint32_t *out, int max)
{
	char cmd[1024], line[512];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd),
		 "objdump -d --no-show-raw-insn --start-address=0x%llx --stop-address=0x%llx '%s'",
		 (unsigned long long)fn->addr, (unsigned long long)(fn->addr + fn->size), path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		unsigned long long a;
		char mnem[32];

		if (sscanf(line, " %llx:\t%31s", &a, mnem) == 2 && !strncmp(mnem, "ret", 3)) {
			assert_true(n < max);
			out[n++] = (uint32_t)(a - fn->addr);
		}
	}
	assert_int_equal(pclose(p), 0);
	return n;
}

/* GNU objdump's view of [@start, @at]: is the instruction at @at a
 * jbe, preceded by a compare with the stack bound 0x10(%r14)? */
static bool objdump_stack_check(const char *path, uint64_t start, uint64_t at)
{
	char cmd[1024], line[512];
	bool compared = false, jbe = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "objdump -d --no-show-raw-insn --start-address=0x%llx --stop-address=0x%llx '%s'",
		 (unsigned long long)start, (unsigned long long)(at + 8), path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		unsigned long long a;
		char mnem[32];

		if (sscanf(line, " %llx:\t%31s", &a, mnem) != 2)
			continue;
		if (a < at && !strcmp(mnem, "cmp") && strstr(line, "0x10(%r14)"))
			compared = true;
		if (a == at)
			jbe = !strcmp(mnem, "jbe");
	}
	assert_int_equal(pclose(p), 0);
	return compared && jbe;
}

static void test_version(void **state)
{
	for (size_t i = 0; i < NVERSIONS; i++) {
		for (int stripped = 0; stripped < 2; stripped++) {
			struct gobin *g = open_fixture(versions[i], stripped);
			struct gobin_version v;
			char buf[64], cmd[128], want[64] = "";
			bool inline_info = minors[i] >= 18; /* the build information's form */
			FILE *p;

			/* The same string as the toolchain's own `go version`. */
			snprintf(cmd, sizeof(cmd), "GOENV=off %s version", toolchains[i]);
			p = popen(cmd, "r");
			assert_non_null(p);
			assert_int_equal(fscanf(p, "go version %63s", want), 1);
			pclose(p);
			assert_non_null(gobin__version(g));
			assert_string_equal(gobin__version(g), want);
			assert_int_equal(gobin__version_num(g, &v), 0);
			assert_int_equal(v.major, 1);
			assert_int_equal(v.minor, minors[i]);
			assert_true(gobin__at_least(g, 1, 17));
			assert_true(gobin__at_least(g, 1, v.minor));
			assert_false(gobin__at_least(g, 1, v.minor + 1));
			assert_false(gobin__at_least(g, 2, 0));
			assert_true(gobin__register_abi(g));
			assert_int_equal(gobin__machine(g), EM_X86_64);
			if (!inline_info) {
				/* Go 1.17 outside a module records no module
				 * information: the version alone. */
				assert_null(gobin__main_path(g));
				assert_int_equal(gobin__build_setting(g, "GOARCH", buf, sizeof(buf)),
						 -ENOENT);
				gobin__close(g);
				continue;
			}
			assert_non_null(gobin__main_path(g));
			assert_string_equal(gobin__main_path(g), "command-line-arguments");
			assert_int_equal(gobin__build_setting(g, "GOARCH", buf, sizeof(buf)), 0);
			assert_string_equal(buf, "amd64");
			assert_int_equal(gobin__build_setting(g, "CGO_ENABLED", buf, sizeof(buf)), 0);
			assert_string_equal(buf, "0");
			if (stripped) {
				assert_int_equal(gobin__build_setting(g, "-ldflags", buf, sizeof(buf)), 0);
				assert_string_equal(buf, "\"-s -w\"");
			} else {
				assert_int_equal(gobin__build_setting(g, "-ldflags", buf, sizeof(buf)),
						 -ENOENT);
			}
			assert_int_equal(gobin__build_setting(g, "GOARC", buf, sizeof(buf)), -ENOENT);
			gobin__close(g);
		}
	}
}

static void test_functions(void **state)
{
	static const char *const names[] = { READ_FN, WRITE_FN, "main.main", "main.serve" };

	for (size_t i = 0; i < NVERSIONS; i++) {
		struct gobin *g = open_fixture(versions[i], false);
		struct gobin *s = open_fixture(versions[i], true);

		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			struct gobin_func f, fs;
			uint64_t value, size;

			assert_int_equal(gobin__find_func(g, names[k], &f), 0);
			elf_symbol(versions[i], names[k], &value, &size);
			assert_int_equal(f.addr, value);
			/* Up to the next function: the symbol plus alignment padding. */
			assert_true(f.size >= size && f.size < size + 64);
			assert_true(f.file_offset > 0 && f.file_offset < f.addr);
			/* Found the same without symbols or DWARF. */
			assert_int_equal(gobin__find_func(s, names[k], &fs), 0);
			assert_int_equal(fs.addr, f.addr);
			assert_int_equal(fs.size, f.size);
			assert_int_equal(fs.file_offset, f.file_offset);
		}
		{
			struct gobin_func f;

			assert_int_equal(gobin__find_func(s, "crypto/tls.(*Conn).Reads", &f), -ENOENT);
			assert_int_equal(gobin__find_func(s, "crypto/tls.(*Conn).Rea", &f), -ENOENT);
			assert_int_equal(gobin__find_func(s, "", &f), -ENOENT);
		}
		gobin__close(g);
		gobin__close(s);
	}
}

/* GNU objdump's instruction at @at: does it call @callee? */
static bool objdump_calls(const char *path, uint64_t at, const char *callee)
{
	char cmd[1024], line[512], want[128];
	bool found = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "objdump -d --no-show-raw-insn --start-address=0x%llx --stop-address=0x%llx '%s'",
		 (unsigned long long)at, (unsigned long long)(at + 5), path);
	snprintf(want, sizeof(want), "<%s>", callee);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		if (strstr(line, "\tcall ") && strstr(line, want))
			found = true;
	assert_int_equal(pclose(p), 0);
	return found;
}

/* Read's one copy of plaintext into b: a call of runtime.memmove, where
 * objdump shows it; none in a build without optimisation or inlining. */
static void test_calls(void **state)
{
	static const char *const builds[] = { "1.17", "1.19", "1.26", "1.26-stackmove" };

	for (size_t i = 0; i < 4; i++) {
		for (int stripped = 0; stripped < 2; stripped++) {
			struct gobin *g;
			struct gobin_func f;
			uint32_t off[4];
			char path[512];

			if (stripped && i == 3)
				continue; /* the stack-moving build is stripped already */
			snprintf(path, sizeof(path), GOBIN_DIR "/gotls-%s%s", builds[i],
				 stripped ? "-stripped" : "");
			assert_int_equal(gobin__open(path, &g), 0);
			assert_int_equal(gobin__find_func(g, READ_FN, &f), 0);
			assert_int_equal(gobin__func_calls(g, &f, "runtime.memmove", off, 4), 1);
			assert_true(off[0] > 0 && off[0] < f.size);
			if (!stripped && i < 3)
				assert_true(objdump_calls(path, f.addr + off[0], "runtime.memmove"));
			assert_int_equal(gobin__func_calls(g, &f, "runtime.noSuchFunction", off, 4), 0);
			gobin__close(g);
		}
	}
	{
		static const char path[] = GOBIN_DIR "/gotls-1.26-noopt";
		struct gobin *g;
		struct gobin_func f;
		uint32_t off[4], jbe = 0;

		assert_int_equal(gobin__open(path, &g), 0);
		assert_int_equal(gobin__find_func(g, READ_FN, &f), 0);
		assert_int_equal(gobin__func_calls(g, &f, "runtime.memmove", off, 4), 0);
		assert_true(gobin__func_returns(g, &f, off, 4) >= 1);
		/* A larger frame's check: lea -X(%rsp),%r12; cmp 0x10(%r14),%r12; jbe */
		assert_int_equal(gobin__func_stack_check(g, &f, &jbe), 0);
		assert_int_equal(jbe, 12);
		assert_true(objdump_stack_check(path, f.addr, f.addr + jbe));
		gobin__close(g);
	}
}

/* From an address back to its function, as the symbol table says. */
static void test_func_at(void **state)
{
	for (size_t i = 0; i < NVERSIONS; i++) {
		struct gobin *s = open_fixture(versions[i], true);
		struct gobin_func f, at;
		char name[64];

		assert_int_equal(gobin__find_func(s, READ_FN, &f), 0);
		assert_int_equal(gobin__func_at(s, f.addr + f.size / 2, name, sizeof(name), &at), 0);
		assert_string_equal(name, READ_FN);
		assert_int_equal(at.addr, f.addr);
		assert_int_equal(at.size, f.size);
		assert_int_equal(gobin__func_at(s, f.addr + f.size, name, sizeof(name), &at), 0);
		assert_string_not_equal(name, READ_FN); /* the next one */
		assert_int_equal(at.addr, f.addr + f.size);
		assert_int_equal(gobin__func_at(s, f.addr, name, 4, &at), 0);
		assert_string_equal(name, "cry"); /* cut */
		assert_int_equal(gobin__func_at(s, 0x1000, name, sizeof(name), &at), -ENOENT);
		assert_int_equal(gobin__func_at(s, UINT64_MAX, name, sizeof(name), &at), -ENOENT);
		gobin__close(s);
	}
}

/* A build whose every call moves its stack (Go's maymorestack test hook):
 * the prologue spills, calls the hook and reloads before the stack check. */
static void test_stack_check_hooked(void **state)
{
	static const char path[] = GOBIN_DIR "/gotls-1.26-stackmove";
	static const char *const names[] = { READ_FN, WRITE_FN };
	struct gobin *g;

	assert_int_equal(gobin__open(path, &g), 0);
	for (size_t k = 0; k < 2; k++) {
		struct gobin_func f;
		uint32_t jbe = 0;

		assert_int_equal(gobin__find_func(g, names[k], &f), 0);
		assert_int_equal(gobin__func_stack_check(g, &f, &jbe), 0);
		assert_true(jbe > 32 && jbe < 96); /* past 4 spills, the call, 4 reloads */
		assert_true(objdump_stack_check(path, f.addr, f.addr + jbe));
	}
	gobin__close(g);
}

/* Read of build @build (its version @want) where its symbols say, at a
 * file offset that holds its code. */
static void check_read_at_symbol(const char *build, const char *want)
{
	char path[512];
	struct gobin *g;
	struct gobin_func f;
	uint8_t head[4];
	uint64_t value, size;
	uint32_t jbe = 0;
	int fd;

	snprintf(path, sizeof(path), GOBIN_DIR "/gotls-%s", build);
	assert_int_equal(gobin__open(path, &g), 0);
	assert_non_null(gobin__version(g));
	assert_true(!strncmp(gobin__version(g), want, strlen(want)));
	assert_int_equal(gobin__find_func(g, READ_FN, &f), 0);
	elf_symbol(build, READ_FN, &value, &size);
	assert_int_equal(f.addr, value);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, head, 4, (off_t)f.file_offset), 4);
	close(fd);
	/* cmp 0x10(%r14),%rsp: the stack-bound check every Go function opens with */
	assert_memory_equal(head, "\x49\x3b\x66\x10", 4);
	assert_int_equal(gobin__func_stack_check(g, &f, &jbe), 0);
	assert_true(gobin__func_returns(g, &f, NULL, 0) >= 1);
	gobin__close(g);
}

/* Position-independent executables: the table's text start relocated at
 * run time (Go 1.26), the version read through pointers the loader
 * relocates (Go 1.17). */
static void test_pie(void **state)
{
	check_read_at_symbol("1.26-pie", "go1.26");
	check_read_at_symbol("1.17-pie", "go1.17");
}

/* Linked by the system's linker (cgo): C code begins the text section, Go's
 * starts later, and the table's header leaves its start to the run time:
 * the module data says it. */
static void test_external_link(void **state)
{
	check_read_at_symbol("1.26-cgo", "go1.26");
}

/* The function's entry bytes in the file: what a uprobe at file_offset hits. */
static void test_file_offset(void **state)
{
	for (size_t i = 0; i < NVERSIONS; i++) {
		struct gobin *g = open_fixture(versions[i], true);
		char path[512];
		struct gobin_func f;
		uint8_t head[4];
		int fd;

		assert_int_equal(gobin__find_func(g, READ_FN, &f), 0);
		snprintf(path, sizeof(path), GOBIN_DIR "/gotls-%s-stripped", versions[i]);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, head, 4, (off_t)f.file_offset), 4);
		close(fd);
		/* Go's stack check prologue: cmp 0x10(%r14),%rsp (49 3b 66 10). */
		assert_memory_equal(head, "\x49\x3b\x66\x10", 4);
		gobin__close(g);
	}
}

static void test_returns(void **state)
{
	static const char *const names[] = { READ_FN, WRITE_FN, "main.client" };
	const struct capstone_fns *held;

	/* one user keeps it loaded across readings; the last one unloads it */
	assert_false(capstone_loaded());
	held = capstone_get();
	assert_non_null(held);
	assert_true(capstone_loaded());
	assert_ptr_equal(capstone_get(), held);
	capstone_put();
	assert_true(capstone_loaded());
	capstone_put();
	assert_false(capstone_loaded());
	for (size_t i = 0; i < NVERSIONS; i++) {
		for (int stripped = 0; stripped < 2; stripped++) {
			struct gobin *g = open_fixture(versions[i], stripped);
			char path[512];

			snprintf(path, sizeof(path), GOBIN_DIR "/gotls-%s%s", versions[i],
				 stripped ? "-stripped" : "");
			for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
				uint32_t ours[64], theirs[64];
				struct gobin_func f;
				int n, m;

				assert_int_equal(gobin__find_func(g, names[k], &f), 0);
				n = gobin__func_returns(g, &f, ours, 64);
				m = objdump_rets(path, &f, theirs, 64);
				assert_true(n >= 1);
				assert_int_equal(n, m);
				assert_memory_equal(ours, theirs, (size_t)n * sizeof(ours[0]));
				/* Fewer slots: counted, only the first stored. */
				assert_int_equal(gobin__func_returns(g, &f, ours, 1), n);
				assert_int_equal(ours[0], theirs[0]);
				assert_int_equal(gobin__func_returns(g, &f, NULL, 0), n);
				/* The stack check's branch, where objdump sees it. */
				uint32_t jbe = 0;

				assert_int_equal(gobin__func_stack_check(g, &f, &jbe), 0);
				assert_true(jbe >= 4 && jbe < 32);
				assert_true(objdump_stack_check(path, f.addr, f.addr + jbe));
				/* capstone was loaded for the reading and let go after */
				assert_false(capstone_loaded());
			}
			gobin__close(g);
		}
	}
}

static void test_offsets(void **state)
{
	for (size_t i = 0; i < NVERSIONS; i++) {
		struct gobin *g = open_fixture(versions[i], false);
		struct gobin *s = open_fixture(versions[i], true);
		struct gobin_version v;
		const char *type, *field;
		uint64_t off, whole;
		bool dwarf;

		assert_true(gobin__has_dwarf(g));
		assert_false(gobin__has_dwarf(s));
		assert_int_equal(gobin__version_num(g, &v), 0);
		/* Every row of the fallback table equals this version's DWARF. */
		for (size_t r = 0; gobin__known_offset_row(r, &type, &field) == 0; r++) {
			uint64_t known;

			assert_int_equal(gobin__dwarf_offset(g, type, field, &off), 0);
			assert_int_equal(gobin__known_offset(&v, type, field, &known), 0);
			assert_int_equal(known, off);
			assert_int_equal(gobin__field_offset(s, type, field, &known, &dwarf), 0);
			assert_false(dwarf);
			assert_int_equal(known, off);
			assert_int_equal(gobin__field_offset(g, type, field, &known, &dwarf), 0);
			assert_true(dwarf);
			assert_int_equal(gobin__dwarf_offset(s, type, field, &off), -ENODATA);
		}
		/* Fields that are not first, and a path through a nested struct. */
		assert_int_equal(gobin__dwarf_offset(g, "internal/poll.FD", "Sysfd", &off), 0);
		assert_int_equal(off, 16);
		assert_int_equal(gobin__dwarf_offset(g, "net.netFD", "pfd.Sysfd", &whole), 0);
		assert_int_equal(whole, 16);
		assert_int_equal(gobin__dwarf_offset(g, "net.netFD", "family", &off), 0);
		assert_true(off > 16);
		assert_int_equal(gobin__dwarf_offset(g, "runtime.g", "goid", &off), 0);
		assert_true(off > 0 && off < 512);
		/* A pointer member is not walked into; unknown names are refused. */
		assert_int_equal(gobin__dwarf_offset(g, "net.conn", "fd.pfd", &off), -ENOENT);
		assert_int_equal(gobin__dwarf_offset(g, "net.netFD", "pfd.Nope", &off), -ENOENT);
		assert_int_equal(gobin__dwarf_offset(g, "net.NoSuchType", "x", &off), -ENOENT);
		assert_int_equal(gobin__field_offset(s, "net.NoSuchType", "x", &off, NULL), -ENOENT);
		gobin__close(g);
		gobin__close(s);
	}
	/* Outside the versions the table was checked on: nothing. */
	{
		struct gobin_version old = { 1, 16, 0 }, future = { 1, 27, 0 };
		uint64_t off;

		assert_int_equal(gobin__known_offset(&old, "internal/poll.FD", "Sysfd", &off), -ENOENT);
		assert_int_equal(gobin__known_offset(&future, "internal/poll.FD", "Sysfd", &off),
				 -ENOENT);
	}
}

static void test_not_go(void **state)
{
	struct gobin *g = NULL;
	static const char junk[] = "not an ELF file at all";

	assert_int_equal(gobin__open("/bin/sh", &g), -ENOEXEC);
	assert_null(g);
	assert_int_equal(gobin__open("/nonexistent/binary", &g), -ENOENT);
	assert_int_equal(gobin__open_image(junk, sizeof(junk), &g), -ENOEXEC);
	assert_int_equal(gobin__open_image(junk, 0, &g), -ENOEXEC);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* The file offset of section @name in @img, found by libelf. */
static size_t section_offset(const uint8_t *img, size_t len, const char *name)
{
	Elf *elf = elf_memory((char *)img, len);
	Elf_Scn *scn = NULL;
	size_t shstrndx, off = 0;

	assert_non_null(elf);
	assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		gelf_getshdr(scn, &sh);
		if (!strcmp(elf_strptr(elf, shstrndx, sh.sh_name), name))
			off = sh.sh_offset;
	}
	elf_end(elf);
	assert_true(off > 0);
	return off;
}

/* The file offset of virtual address @addr in @img (a section with bytes). */
static size_t vaddr_offset(const uint8_t *img, size_t len, uint64_t addr)
{
	Elf *elf = elf_memory((char *)img, len);
	Elf_Scn *scn = NULL;
	size_t off = 0;

	assert_non_null(elf);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		gelf_getshdr(scn, &sh);
		if (sh.sh_type == SHT_PROGBITS && addr >= sh.sh_addr && addr < sh.sh_addr + sh.sh_size)
			off = sh.sh_offset + (addr - sh.sh_addr);
	}
	elf_end(elf);
	assert_true(off > 0);
	return off;
}

/* @img with @n bytes of @bytes at @at, opened: @want from gobin__find_func(). */
static void damaged_find(const uint8_t *img, uint8_t *bad, size_t len, size_t at,
			 const void *bytes, size_t n, int want)
{
	struct gobin *g;
	struct gobin_func f;

	memcpy(bad, img, len);
	memcpy(bad + at, bytes, n);
	assert_int_equal(gobin__open_image(bad, len, &g), 0);
	assert_int_equal(gobin__find_func(g, READ_FN, &f), want);
	gobin__close(g);
}

/* Damaged images of both symbol table layouts (Go 1.26's, Go 1.17's):
 * clear errors, nothing read out of bounds (ASan). */
static void test_damaged(void **state)
{
	static const char *const builds[] = { "1.26", "1.17" };
	/* header words: the function count, name table and function table */
	static const unsigned at[][3] = { { 8, 8 + 3 * 8, 8 + 7 * 8 }, { 8, 8 + 2 * 8, 8 + 6 * 8 } };
	static const uint8_t far[8] = { 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f };

	for (size_t b = 0; b < 2; b++) {
		char path[512];
		size_t len, pcln;
		uint8_t *img, *bad;
		struct gobin *g;
		struct gobin_func f;

		snprintf(path, sizeof(path), GOBIN_DIR "/gotls-%s-stripped", builds[b]);
		img = read_file(path, &len);
		bad = malloc(len);
		assert_non_null(bad);
		pcln = section_offset(img, len, ".gopclntab");

		/* The untouched image works from memory too. */
		assert_int_equal(gobin__open_image(img, len, &g), 0);
		assert_int_equal(gobin__find_func(g, READ_FN, &f), 0);
		gobin__close(g);

		/* Go 1.2-1.15's symbol table is refused as such; an unknown one
		 * as damaged. */
		damaged_find(img, bad, len, pcln, "\xfb\xff\xff\xff", 4, -ENOTSUP);
		damaged_find(img, bad, len, pcln, "\xfc\xff\xff\xff", 4, -EINVAL);
		/* A function count, name table and function table out of range. */
		for (int field = 0; field < 3; field++)
			damaged_find(img, bad, len, pcln + at[b][field], far, 8, -EINVAL);
		if (b == 1) {
			/* Go 1.17: the first function's _func offset (a pointer-sized
			 * word after its entry) out of range. */
			uint64_t table = 0;

			memcpy(&table, img + pcln + at[1][2], 8);
			damaged_find(img, bad, len, pcln + table + 8, far, 8, -EINVAL);
		}

		/* Cut anywhere: opens or is refused, never reads past the end. */
		for (size_t cut = 0; cut < len; cut += len / 97 + 1) {
			if (gobin__open_image(img, cut, &g) == 0) {
				if (gobin__find_func(g, READ_FN, &f) == 0)
					gobin__func_returns(g, &f, NULL, 0);
				gobin__close(g);
			}
		}
		free(bad);
		free(img);
	}
}

/* Go 1.17's build information points at the version's Go string: damaged
 * pointers, pointer sizes and flags leave the version unknown (nothing read
 * out of bounds), the symbol table still read. */
static void test_damaged_buildinfo(void **state)
{
	static const struct {
		unsigned at;
		uint8_t bytes[8];
		unsigned n;
	} cases[] = {
		{ 16, { 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 8 }, /* nowhere */
		{ 16, { 0 }, 8 },				       /* address 0 */
		{ 14, { 3 }, 1 },				       /* pointer size */
		{ 15, { 1 }, 1 },				       /* big-endian */
	};
	size_t len, info;
	uint8_t *img = read_file(GOBIN_DIR "/gotls-1.17-stripped", &len);
	uint8_t *bad = malloc(len);

	assert_non_null(bad);
	info = section_offset(img, len, ".go.buildinfo");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gobin *g;
		struct gobin_func f;
		struct gobin_version v;

		memcpy(bad, img, len);
		memcpy(bad + info + cases[i].at, cases[i].bytes, cases[i].n);
		assert_int_equal(gobin__open_image(bad, len, &g), 0);
		assert_null(gobin__version(g));
		assert_int_equal(gobin__version_num(g, &v), -ENOENT);
		assert_false(gobin__register_abi(g));
		assert_int_equal(gobin__find_func(g, READ_FN, &f), 0);
		gobin__close(g);
	}
	/* The version's Go string (in .data) with a wrong length: refused
	 * past the version buffer, cut when shorter. */
	{
		static const uint64_t lens[] = { 200, 5, UINT64_MAX };
		uint64_t hdr = 0;
		size_t at;

		memcpy(&hdr, img + info + 16, 8);
		at = vaddr_offset(img, len, hdr + 8);
		for (size_t i = 0; i < 3; i++) {
			struct gobin *g;

			memcpy(bad, img, len);
			memcpy(bad + at, &lens[i], 8);
			assert_int_equal(gobin__open_image(bad, len, &g), 0);
			if (lens[i] == 5)
				assert_string_equal(gobin__version(g), "go1.1");
			else
				assert_null(gobin__version(g));
			assert_false(gobin__register_abi(g));
			gobin__close(g);
		}
	}
	/* Go 1.16 (the 1.17 build saying go1.16.13: 1.16 has the same
	 * layouts): read, its functions found, but its arguments are on the
	 * stack, which is what gates Sonde's uprobes. */
	{
		uint64_t hdr = 0, data = 0;
		struct gobin_version v;
		struct gobin_func f;
		struct gobin *g;

		memcpy(&hdr, img + info + 16, 8);
		memcpy(&data, img + vaddr_offset(img, len, hdr), 8);
		memcpy(bad, img, len);
		assert_memory_equal(bad + vaddr_offset(img, len, data), "go1.17.13", 9);
		memcpy(bad + vaddr_offset(img, len, data), "go1.16", 6);
		assert_int_equal(gobin__open_image(bad, len, &g), 0);
		assert_string_equal(gobin__version(g), "go1.16.13");
		assert_int_equal(gobin__version_num(g, &v), 0);
		assert_int_equal(v.minor, 16);
		assert_int_equal(gobin__find_func(g, READ_FN, &f), 0);
		assert_false(gobin__register_abi(g));
		gobin__close(g);
	}
	free(bad);
	free(img);
}

/* The fuzz target's seed (tests/fuzz/make_gobin_seed.py) is read as meant:
 * every structure in it reaches the fuzzer. */
static void test_fuzz_seed(void **state)
{
	/* tiny_go: Go 1.20+'s layouts; tiny_go117: Go 1.17's */
	static const char *const seeds[] = { "tiny_go", "tiny_go117" };
	static const char *const want[] = { "go1.26.8", "go1.17.13" };

	for (size_t i = 0; i < 2; i++) {
		struct gobin *g;
		struct gobin_func f;
		uint32_t ret = 99;
		char path[512], buf[32];
		uint64_t off;

		snprintf(path, sizeof(path), GOLDEN_DIR "/../fuzz/seeds/fuzz_gobin/%s", seeds[i]);
		assert_int_equal(gobin__open(path, &g), 0);
		assert_string_equal(gobin__version(g), want[i]);
		assert_string_equal(gobin__main_path(g), "command-line-arguments");
		assert_int_equal(gobin__build_setting(g, "-ldflags", buf, sizeof(buf)),
				 i == 0 ? 0 : -ENOENT);
		assert_int_equal(gobin__find_func(g, "main.main", &f), 0);
		assert_int_equal(f.size, 1);
		assert_int_equal(gobin__func_returns(g, &f, &ret, 1), 1);
		assert_int_equal(ret, 0);
		assert_int_equal(gobin__func_stack_check(g, &f, &ret), -ENOENT); /* no prologue */
		assert_true(gobin__has_dwarf(g));
		assert_int_equal(gobin__dwarf_offset(g, "FD", "Sysfd", &off), 0);
		assert_int_equal(off, 16);
		gobin__close(g);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),	    cmocka_unit_test(test_functions),
		cmocka_unit_test(test_file_offset), cmocka_unit_test(test_returns),
		cmocka_unit_test(test_offsets),	    cmocka_unit_test(test_not_go),
		cmocka_unit_test(test_damaged),	    cmocka_unit_test(test_fuzz_seed),
		cmocka_unit_test(test_func_at),	    cmocka_unit_test(test_stack_check_hooked),
		cmocka_unit_test(test_calls),	    cmocka_unit_test(test_pie),
		cmocka_unit_test(test_external_link),
		cmocka_unit_test(test_damaged_buildinfo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
