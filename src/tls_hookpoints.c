// SPDX-License-Identifier: Apache-2.0
/* Where OpenSSL's uprobes go in an image (see tls_hookpoints.h). */
#include "tls_hookpoints.h"

#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>

#include "util/capstone_lazy.h"
#include "util/str.h"

#define CODE_WINDOW 192 /* bytes of a wrapper decoded to find its first call */
#define SYMTAB_MAX (256u << 20)

bool tls_insn_emulated(const uint8_t *b, unsigned int n)
{
	if (n < 1)
		return false;
	/* push %reg, push %r8..%r15 (arch/x86/kernel/uprobes.c: push_setup_xol_ops) */
	if (b[0] >= 0x50 && b[0] <= 0x57)
		return true;
	if (n >= 2 && b[0] == 0x41 && b[1] >= 0x50 && b[1] <= 0x57)
		return true;
	/* call, jmp rel32/rel8, jcc rel8, nop (branch_setup_xol_ops) */
	if (b[0] == 0xe8 || b[0] == 0xe9 || b[0] == 0xeb || b[0] == 0x90 ||
	    (b[0] >= 0x70 && b[0] <= 0x7f))
		return true;
	/* jcc rel32 */
	return n >= 2 && b[0] == 0x0f && b[1] >= 0x80 && b[1] <= 0x8f;
}

/* A defined function's address, from the symbol table or the dynamic one. */
static bool func_vaddr(Elf *elf, const char *name, uint64_t *vaddr)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    !sh.sh_entsize || sh.sh_size > SYMTAB_MAX || !(data = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *s;

			if (!gelf_getsym(data, i, &sym) || sym.st_shndx == SHN_UNDEF ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC || !sym.st_value)
				continue;
			s = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (s && !strcmp(s, name)) {
				*vaddr = sym.st_value;
				return true;
			}
		}
	}
	return false;
}

/* The file offset of code at @vaddr (an executable loaded segment). */
static bool vaddr_offset(Elf *elf, uint64_t vaddr, uint64_t *off)
{
	size_t n;

	if (elf_getphdrnum(elf, &n))
		return false;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			return true;
		}
	}
	return false;
}

struct func {
	bool present;
	uint64_t vaddr, off;
	uint8_t code[CODE_WINDOW];
	unsigned int len; /* bytes of code read */
};

static void func_load(Elf *elf, int fd, const char *name, struct func *f)
{
	ssize_t n;

	memset(f, 0, sizeof(*f));
	if (!func_vaddr(elf, name, &f->vaddr) || !vaddr_offset(elf, f->vaddr, &f->off))
		return;
	n = pread(fd, f->code, sizeof(f->code), (off_t)f->off);
	if (n <= 0)
		return;
	f->len = n;
	f->present = true;
}

/* An endbr64 (CET builds) is not a stack change: a probe after it still
 * sees the return address at the top of the stack. */
static unsigned int skip_endbr(const struct func *f)
{
	static const uint8_t endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };

	return f->len >= 4 && !memcmp(f->code, endbr64, 4) ? 4 : 0;
}

static bool entry_emulated(const struct func *f, unsigned int *skip)
{
	*skip = skip_endbr(f);
	return tls_insn_emulated(f->code + *skip, f->len - *skip);
}

static bool is_rcx(x86_reg r)
{
	return r == X86_REG_RCX || r == X86_REG_ECX;
}

/*
 * The first call a wrapper makes, before any return or jump: its target,
 * when the fourth argument register then holds where the count goes: a
 * stack address (SSL_read's own variable) or, untouched, the wrapper's own
 * fourth argument (@ex: SSL_read_ex's size_t *).
 */
/* capstone's functions and an open handle (cs.f NULL: no disassembler) */
struct disasm {
	const struct capstone_fns *f;
	csh h;
};

static bool first_call(const struct disasm *cs, const struct func *f, bool ex, uint64_t *target)
{
	cs_insn *insn = NULL;
	size_t count = cs->f->disasm(cs->h, f->code, f->len, f->vaddr, 0, &insn);
	bool rcx_stack = ex, found = false;

	for (size_t i = 0; i < count; i++) {
		cs_x86 *x = &insn[i].detail->x86;

		if (insn[i].id == X86_INS_CALL) {
			if (x->op_count == 1 && x->operands[0].type == X86_OP_IMM) {
				*target = (uint64_t)x->operands[0].imm;
				found = rcx_stack;
			}
			break;
		}
		if (insn[i].id == X86_INS_RET || insn[i].id == X86_INS_JMP)
			break;
		if (x->op_count >= 1 && x->operands[0].type == X86_OP_REG && is_rcx(x->operands[0].reg)) {
			/* mov %rsp,%rcx or lea N(%rsp),%rcx: else rcx is something else */
			rcx_stack = x->op_count == 2 &&
				    ((insn[i].id == X86_INS_MOV && x->operands[1].type == X86_OP_REG &&
				      x->operands[1].reg == X86_REG_RSP) ||
				     (insn[i].id == X86_INS_LEA && x->operands[1].type == X86_OP_MEM &&
				      x->operands[1].mem.base == X86_REG_RSP));
		}
	}
	cs->f->free(insn, count);
	return found;
}

static void point_at(struct tls_hook_point *p, const struct func *f, enum tls_hook_kind kind,
		     const char *name)
{
	unsigned int skip, at;

	p->emulated = entry_emulated(f, &skip);
	/* past an endbr64 only when what follows is emulated */
	at = p->emulated ? skip : 0;
	p->offset = f->off + at;
	memset(p->code, 0, sizeof(p->code));
	memcpy(p->code, f->code + at, f->len - at < TLS_HOOK_CODE ? f->len - at : TLS_HOOK_CODE);
	p->kind = kind;
	p->internal = false;
	str_copy(p->name, sizeof(p->name), name);
}

/* The hook points of one direction: @names[0] the int wrapper, [1] the _ex one. */
static int direction_points(Elf *elf, int fd, const struct disasm *cs, const char *const names[2],
			    enum tls_hook_kind kind, enum tls_hook_kind kind_ex,
			    struct tls_hook_point *out)
{
	struct func f[2], callee;
	uint64_t target[2] = { 0, 0 };
	bool all_emulated = true, same_callee = true;
	unsigned int skip;
	int n = 0;

	for (int i = 0; i < 2; i++) {
		func_load(elf, fd, names[i], &f[i]);
		if (f[i].present)
			all_emulated &= entry_emulated(&f[i], &skip);
	}
	if (!f[0].present && !f[1].present)
		return 0;
	if (!all_emulated && cs->f) {
		for (int i = 0; i < 2; i++)
			if (f[i].present && !first_call(cs, &f[i], i == 1, &target[i]))
				same_callee = false;
		if (f[0].present && f[1].present && target[0] != target[1])
			same_callee = false;
		if (same_callee) {
			uint64_t t = f[0].present ? target[0] : target[1];

			memset(&callee, 0, sizeof(callee));
			callee.vaddr = t;
			if (vaddr_offset(elf, t, &callee.off)) {
				ssize_t r = pread(fd, callee.code, TLS_HOOK_CODE, (off_t)callee.off);

				callee.len = r > 0 ? r : 0;
				callee.present = callee.len > 0;
			}
			if (callee.present && entry_emulated(&callee, &skip)) {
				point_at(&out[0], &callee, kind_ex, names[0]);
				out[0].internal = true;
				str_copy(out[0].name, sizeof(out[0].name), names[0]);
				strncat(out[0].name, "*", sizeof(out[0].name) - strlen(out[0].name) - 1);
				return 1;
			}
		}
	}
	if (f[0].present)
		point_at(&out[n++], &f[0], kind, names[0]);
	if (f[1].present)
		point_at(&out[n++], &f[1], kind_ex, names[1]);
	return n;
}

int tls_hook_points(int fd, struct tls_hook_point out[TLS_HOOK_POINTS_MAX])
{
	static const char *const reads[2] = { "SSL_read", "SSL_read_ex" };
	static const char *const writes[2] = { "SSL_write", "SSL_write_ex" };
	struct disasm cs = { NULL, 0 };
	Elf *elf;
	int n = 0;

	GElf_Ehdr eh;

	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf)
		return 0;
	/* capstone decodes x86-64 here: another machine's code is not read as such */
	if (elf_kind(elf) != ELF_K_ELF || gelf_getclass(elf) != ELFCLASS64 || !gelf_getehdr(elf, &eh) ||
	    eh.e_machine != EM_X86_64) {
		elf_end(elf);
		return TLS_HOOK_WRONG_MACHINE;
	}
	{
		cs.f = capstone_get();
		if (cs.f && cs.f->open(CS_ARCH_X86, CS_MODE_64, &cs.h) == CS_ERR_OK) {
			cs.f->option(cs.h, CS_OPT_DETAIL, CS_OPT_ON);
		} else if (cs.f) {
			capstone_put();
			cs.f = NULL;
		}
		n = direction_points(elf, fd, &cs, reads, TLS_HOOK_READ, TLS_HOOK_READ_EX, out);
		n += direction_points(elf, fd, &cs, writes, TLS_HOOK_WRITE, TLS_HOOK_WRITE_EX, out + n);
		if (cs.f) {
			cs.f->close(&cs.h);
			capstone_put();
		}
	}
	elf_end(elf);
	return n;
}

void tls_file_id_of(struct tls_file_id *id, const struct stat *st)
{
	memset(id, 0, sizeof(*id));
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

bool tls_file_id_eq(const struct tls_file_id *a, const struct tls_file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

bool tls_code_matches(int fd, uint64_t off, const uint8_t *code, unsigned int n)
{
	uint8_t now[TLS_HOOK_CODE];

	if (n > sizeof(now))
		n = sizeof(now);
	return pread(fd, now, n, (off_t)off) == (ssize_t)n && !memcmp(now, code, n);
}
