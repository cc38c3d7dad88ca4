// SPDX-License-Identifier: Apache-2.0
/*
 * Go binary inspection (gobin.h): opening, the build information and the
 * Go symbol table. Layouts are those of Go's own readers, debug/buildinfo
 * and runtime/symtab.go (pcHeader, functab, _func), read here in C.
 */
#include "gobin/internal.h"

#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* .gopclntab magic numbers (runtime/symtab.go): Go 1.18-1.19 and 1.20+
 * share the header layout, 1.16-1.17's lacks one word (pcln_header());
 * 1.2-1.15's is another table, not read. */
#define PCLN_MAGIC_118 0xfffffff0u
#define PCLN_MAGIC_120 0xfffffff1u
#define PCLN_MAGIC_116 0xfffffffau
#define PCLN_MAGIC_12 0xfffffffbu

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

int gobin_section(struct gobin *g, const char *name, struct gobin_section *s)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(g->elf, &shstrndx))
		return -EINVAL;
	while ((scn = elf_nextscn(g->elf, scn))) {
		GElf_Shdr sh;
		const char *n;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || !(n = elf_strptr(g->elf, shstrndx, sh.sh_name)) ||
		    strcmp(n, name))
			continue;
		if (sh.sh_type == SHT_NOBITS || sh.sh_size > GOBIN_SECTION_MAX)
			return -E2BIG;
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf || d->d_size != sh.sh_size)
			return -EINVAL;
		*s = (struct gobin_section){ .data = d->d_buf, .addr = sh.sh_addr,
					     .offset = sh.sh_offset, .size = sh.sh_size };
		return 0;
	}
	return -ENOENT;
}

/* An unsigned LEB128 (Go's uvarint) at *@p, not past @end. */
static bool uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* The version string's text: "go1.17.13" and its numbers. */
static void set_version(struct gobin *g, const uint8_t *p, uint64_t n)
{
	if (n == 0 || n >= sizeof(g->version))
		return;
	memcpy(g->version, p, n);
	g->version[n] = 0;
	g->version_ok = sscanf(g->version, "go%d.%d.%d", &g->ver.major, &g->ver.minor,
			       &g->ver.patch) >= 2;
}

/* The module information's text, which sits between two 16-byte sentinels
 * (debug/buildinfo): its `path` line is the main package's. */
static void set_modinfo(struct gobin *g, const uint8_t *p, uint64_t n)
{
	if (n < 33 || p[n - 17] != '\n')
		return;
	g->modinfo = strndup((const char *)p + 16, n - 32);
	if (g->modinfo && !strncmp(g->modinfo, "path\t", 5))
		g->main_path = strndup(g->modinfo + 5, strcspn(g->modinfo + 5, "\n"));
}

/* @n bytes at virtual address @addr of the image, into @buf: from the
 * section that holds them whole (zeros in one without file bytes, .bss). */
static int vaddr_read(struct gobin *g, uint64_t addr, void *buf, uint64_t n)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(g->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_ALLOC) || addr < sh.sh_addr ||
		    addr - sh.sh_addr >= sh.sh_size || n > sh.sh_size - (addr - sh.sh_addr))
			continue;
		if (sh.sh_type == SHT_NOBITS) {
			memset(buf, 0, n);
			return 0;
		}
		if (sh.sh_size > GOBIN_SECTION_MAX)
			return -E2BIG;
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf || d->d_size != sh.sh_size)
			return -EINVAL;
		memcpy(buf, (const uint8_t *)d->d_buf + (addr - sh.sh_addr), n);
		return 0;
	}
	return -ENOENT;
}

/* The Go string (data pointer, length: @ptr bytes each) whose header is at
 * @addr, copied into a new NUL-terminated buffer (*@n bytes), or NULL. */
static uint8_t *vaddr_string(struct gobin *g, uint64_t addr, unsigned ptr, uint64_t max,
			     uint64_t *n)
{
	uint8_t hdr[16], *s;

	if (vaddr_read(g, addr, hdr, 2 * ptr))
		return NULL;
	*n = le(hdr + ptr, ptr);
	if (*n > max || !(s = malloc(*n + 1)))
		return NULL;
	if (*n && vaddr_read(g, le(hdr, ptr), s, *n)) {
		free(s);
		return NULL;
	}
	s[*n] = 0;
	return s;
}

/* The module information Sonde reads, at most (a large program's is a few KiB). */
#define MODINFO_MAX (1u << 20)

/*
 * The version and module information (debug/buildinfo): a 32-byte header,
 * the magic, the pointer size, flags. Go 1.18 and later (flag 2) follow it
 * with both strings inline, each after its length as a uvarint. Older
 * binaries (Go 1.13-1.17) have two pointers there instead, to the Go
 * string headers (data, length) of runtime.buildVersion and
 * runtime.modinfo; only little-endian ones (flag 1 clear) are read.
 */
static void read_buildinfo(struct gobin *g)
{
	static const char magic[] = "\xff Go buildinf:";
	struct gobin_section s;
	const uint8_t *p, *end;
	uint8_t *str;
	uint64_t n;
	unsigned ptr;

	if (gobin_section(g, ".go.buildinfo", &s) || s.size < 32 ||
	    memcmp(s.data, magic, sizeof(magic) - 1))
		return;
	if (!(s.data[15] & 2)) {
		ptr = s.data[14];
		if ((ptr != 4 && ptr != 8) || (s.data[15] & 1))
			return;
		str = vaddr_string(g, le(s.data + 16, ptr), ptr, sizeof(g->version) - 1, &n);
		if (str)
			set_version(g, str, n);
		free(str);
		str = vaddr_string(g, le(s.data + 16 + ptr, ptr), ptr, MODINFO_MAX, &n);
		if (str)
			set_modinfo(g, str, n);
		free(str);
		return;
	}
	p = s.data + 32;
	end = s.data + s.size;
	if (!uvarint(&p, end, &n) || n > (uint64_t)(end - p))
		return;
	set_version(g, p, n);
	p += n;
	if (!uvarint(&p, end, &n) || n > (uint64_t)(end - p))
		return;
	set_modinfo(g, p, n);
}

static int open_elf(struct gobin *g, struct gobin **out)
{
	GElf_Ehdr eh;
	struct gobin_section s;
	int err = -ENOEXEC;

	if (!g->elf || elf_kind(g->elf) != ELF_K_ELF || !gelf_getehdr(g->elf, &eh))
		goto fail;
	g->machine = eh.e_machine;
	if (gobin_section(g, ".go.buildinfo", &s) == -ENOENT &&
	    gobin_section(g, ".gopclntab", &s) == -ENOENT)
		goto fail;
	read_buildinfo(g);
	/* Absent or damaged: gobin__find_func() says so. A position-independent
	 * Go 1.16-1.17 binary has it among the data relocated at load time
	 * (its function table holds addresses), under another name. */
	if (gobin_section(g, ".gopclntab", &g->pclntab) &&
	    gobin_section(g, ".data.rel.ro.gopclntab", &g->pclntab))
		g->pclntab.data = NULL;
	if (gobin_section(g, ".text", &g->text))
		g->text.data = NULL;
	g->dwarf = dwarf_begin_elf(g->elf, DWARF_C_READ, NULL);
	*out = g;
	return 0;
fail:
	gobin__close(g);
	return err;
}

int gobin__open(const char *path, struct gobin **out)
{
	struct gobin *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (g->fd < 0) {
		int err = -errno;

		free(g);
		return err;
	}
	elf_version(EV_CURRENT);
	g->elf = elf_begin(g->fd, ELF_C_READ, NULL);
	return open_elf(g, out);
}

int gobin__open_image(const void *buf, size_t len, struct gobin **out)
{
	struct gobin *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->fd = -1;
	/* libelf may convert a foreign-endian image in place: work on a copy. */
	g->image = malloc(len ? len : 1);
	if (!g->image) {
		free(g);
		return -ENOMEM;
	}
	memcpy(g->image, buf, len);
	elf_version(EV_CURRENT);
	g->elf = elf_memory(g->image, len);
	return open_elf(g, out);
}

void gobin__close(struct gobin *g)
{
	if (!g)
		return;
	if (g->dwarf)
		dwarf_end(g->dwarf);
	if (g->elf)
		elf_end(g->elf);
	if (g->fd >= 0)
		close(g->fd);
	free(g->image);
	free(g->modinfo);
	free(g->main_path);
	free(g);
}

const char *gobin__version(const struct gobin *g)
{
	return g->version[0] ? g->version : NULL;
}

int gobin__version_num(const struct gobin *g, struct gobin_version *v)
{
	if (!g->version_ok)
		return -ENOENT;
	*v = g->ver;
	return 0;
}

bool gobin__at_least(const struct gobin *g, int major, int minor)
{
	return g->version_ok &&
	       (g->ver.major > major || (g->ver.major == major && g->ver.minor >= minor));
}

const char *gobin__main_path(const struct gobin *g)
{
	return g->main_path;
}

int gobin__build_setting(const struct gobin *g, const char *key, char *buf, size_t size)
{
	size_t klen = strlen(key);

	for (const char *l = g->modinfo; l && *l; l += strcspn(l, "\n"), l += *l == '\n') {
		size_t len = strcspn(l, "\n");

		if (len > 6 + klen && !strncmp(l, "build\t", 6) && !strncmp(l + 6, key, klen) &&
		    l[6 + klen] == '=') {
			if (size)
				snprintf(buf, size, "%.*s", (int)(len - 7 - klen), l + 7 + klen);
			return 0;
		}
	}
	return -ENOENT;
}

int gobin__machine(const struct gobin *g)
{
	return g->machine;
}

bool gobin__register_abi(const struct gobin *g)
{
	if (g->machine == EM_X86_64)
		return gobin__at_least(g, 1, 17);
	if (g->machine == EM_AARCH64)
		return gobin__at_least(g, 1, 18);
	return false;
}

/*
 * The .gopclntab header (runtime/symtab.go, pcHeader): magic, two zero
 * bytes, instruction size quantum, pointer size, then pointer-sized words:
 * nfunc, nfiles, [textStart: 1.18+], funcnameOffset, cuOffset,
 * filetabOffset, pctabOffset, pclnOffset. At pclnOffset, the function table
 * holds nfunc + 1 pairs (entry, offset of the function's _func from the
 * table), the last entry ending the text: two uint32, the entry an offset
 * from textStart, in Go 1.18+; two pointers, the entry an address, in Go
 * 1.16-1.17. A _func starts with its entry in the same form, then its
 * name's offset in the name table (int32).
 */
struct pcln {
	uint64_t nfunc, text_start, funcname, pcln;
	unsigned word; /* bytes of each half of a function table pair */
};

/* Where Go's runtime keeps its module data (runtime.firstmoduledata):
 * its own section since Go 1.26, before that among the data without
 * pointers. */
static const char *const moduledata_sections[] = { ".go.module", ".noptrdata" };

/* Words of the module data (runtime/symtab.go, moduledata, Go 1.16 and
 * later): the table's header address, then six slices (three words each),
 * findfunctab, minpc, maxpc, then the text start. */
#define MODULEDATA_TEXT_WORD 22

/*
 * The text start of an externally linked binary (cgo: the C code the
 * system linker puts first makes the text section begin before Go's), read
 * from the module data in the file: found as the word that holds the
 * table's own address, followed by the address of its function name table
 * (the header's offset from it), and checked to lie in the text section.
 */
static bool moduledata_text(const struct gobin *g, const struct pcln *h, unsigned ptr,
			    uint64_t *text)
{
	uint64_t names = g->pclntab.addr + h->funcname;

	for (size_t k = 0; k < sizeof(moduledata_sections) / sizeof(moduledata_sections[0]); k++) {
		struct gobin_section s;

		if (gobin_section((struct gobin *)g, moduledata_sections[k], &s))
			continue;
		for (uint64_t at = 0; s.size >= (MODULEDATA_TEXT_WORD + 1) * ptr &&
				      at <= s.size - (MODULEDATA_TEXT_WORD + 1) * ptr;
		     at += ptr) {
			uint64_t t;

			if (le(s.data + at, ptr) != g->pclntab.addr ||
			    le(s.data + at + ptr, ptr) != names)
				continue;
			t = le(s.data + at + MODULEDATA_TEXT_WORD * ptr, ptr);
			if (t < g->text.addr || t >= g->text.addr + g->text.size)
				return false;
			*text = t;
			return true;
		}
	}
	return false;
}

static int pcln_header(const struct gobin *g, struct pcln *h)
{
	const uint8_t *d = g->pclntab.data;
	uint64_t size = g->pclntab.size;
	uint32_t magic;
	unsigned ptr, skip;

	if (!d || size < 8)
		return -EINVAL;
	magic = le(d, 4);
	if (magic == PCLN_MAGIC_12)
		return -ENOTSUP;
	ptr = d[7];
	if ((magic != PCLN_MAGIC_116 && magic != PCLN_MAGIC_118 && magic != PCLN_MAGIC_120) ||
	    (ptr != 4 && ptr != 8) || size < 8 + 8 * ptr)
		return -EINVAL;
	skip = magic == PCLN_MAGIC_116 ? 0 : 1; /* no textStart word before 1.18 */
	h->nfunc = le(d + 8, ptr);
	h->text_start = skip ? le(d + 8 + 2 * ptr, ptr) : 0;
	h->funcname = le(d + 8 + (2 + skip) * ptr, ptr);
	h->pcln = le(d + 8 + (6 + skip) * ptr, ptr);
	h->word = skip ? 4 : ptr;
	/* nfunc + 1 pairs: the last one ends the text. */
	if (h->funcname >= size || h->pcln >= size ||
	    h->nfunc >= (size - h->pcln) / (2 * h->word))
		return -EINVAL;
	/* From Go 1.18 the header's text start is filled at run time in
	 * some binaries (0 in the file of an externally linked one, relocated
	 * in a PIE): then the runtime's module data says it, else the text
	 * section's start (a PIE linked by Go, whose Go code begins the
	 * section). Before 1.18 the table's entries are addresses. */
	if (skip && g->text.data &&
	    (h->text_start < g->text.addr || h->text_start >= g->text.addr + g->text.size) &&
	    !moduledata_text(g, h, ptr, &h->text_start))
		h->text_start = g->text.addr;
	return 0;
}

/* Whether the NUL-terminated name at @off of the table is @name. */
static bool name_is(const struct gobin *g, uint64_t off, const char *name, size_t len)
{
	return off < g->pclntab.size && g->pclntab.size - off > len &&
	       !memcmp(g->pclntab.data + off, name, len) && g->pclntab.data[off + len] == 0;
}

/* Function @i of the table: its entry and end (addresses before 1.18,
 * offsets from the text's start since) and where its name is in the table. */
static int func_row(const struct gobin *g, const struct pcln *h, uint64_t i, uint64_t *entry,
		    uint64_t *next, uint64_t *name)
{
	unsigned w = h->word;
	const uint8_t *d = g->pclntab.data, *ft = d + h->pcln + i * 2 * w;
	uint64_t f = le(ft + w, w);
	int32_t name_off;

	*entry = le(ft, w);
	*next = le(ft + 2 * w, w);
	if (f >= g->pclntab.size - h->pcln || g->pclntab.size - h->pcln - f < w + 4)
		return -EINVAL;
	f += h->pcln;
	name_off = (int32_t)le(d + f + w, 4);
	*name = name_off < 0 ? UINT64_MAX : h->funcname + (uint64_t)name_off;
	return 0;
}

/* @fn from a row: in .text, or -EINVAL. */
static int func_fill(const struct gobin *g, const struct pcln *h, uint64_t entry, uint64_t next,
		     struct gobin_func *fn)
{
	if (next <= entry || !g->text.data)
		return -EINVAL;
	fn->addr = h->text_start + entry;
	fn->size = next - entry;
	if (fn->addr < g->text.addr || fn->addr - g->text.addr > g->text.size ||
	    fn->size > g->text.size - (fn->addr - g->text.addr))
		return -EINVAL;
	fn->file_offset = fn->addr - g->text.addr + g->text.offset;
	return 0;
}

int gobin__find_func(const struct gobin *g, const char *name, struct gobin_func *fn)
{
	size_t len = strlen(name);
	struct pcln h;
	int err;

	if (!g->pclntab.data)
		return -ENOENT;
	err = pcln_header(g, &h);
	if (err)
		return err;
	for (uint64_t i = 0; i < h.nfunc; i++) {
		uint64_t entry, next, name_at;

		if (func_row(g, &h, i, &entry, &next, &name_at))
			return -EINVAL;
		if (name_is(g, name_at, name, len))
			return func_fill(g, &h, entry, next, fn);
	}
	return -ENOENT;
}

int gobin__func_at(const struct gobin *g, uint64_t addr, char *name, size_t size,
		   struct gobin_func *fn)
{
	struct pcln h;
	int err;

	if (!g->pclntab.data)
		return -ENOENT;
	err = pcln_header(g, &h);
	if (err)
		return err;
	if (addr < h.text_start)
		return -ENOENT;
	for (uint64_t i = 0; i < h.nfunc; i++) {
		uint64_t entry, next, name_at;

		if (func_row(g, &h, i, &entry, &next, &name_at))
			return -EINVAL;
		if (addr - h.text_start < entry || addr - h.text_start >= next)
			continue;
		if (name_at >= g->pclntab.size)
			return -EINVAL;
		if (size) {
			size_t n = strnlen((const char *)g->pclntab.data + name_at,
					   g->pclntab.size - name_at);

			snprintf(name, size, "%.*s", (int)n,
				 (const char *)g->pclntab.data + name_at);
		}
		return func_fill(g, &h, entry, next, fn);
	}
	return -ENOENT;
}
