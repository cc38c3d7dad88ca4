// SPDX-License-Identifier: Apache-2.0
/* What Sonde reads in a Go function's machine code, by capstone (gobin.h):
 * its RET instructions, its calls of a given function, and the branch of
 * its stack-bound check. */
#include "gobin/internal.h"

#include "util/capstone_lazy.h"

#include <errno.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Go pads between functions with INT3 (cmd/link, amd64's function
 * alignment filler): bytes capstone left are only allowed to be that. */
static bool only_padding(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++ != 0xcc)
			return false;
	return true;
}

/* @fn's code in .text (@fn comes from gobin__find_func(): checked again). */
static const uint8_t *func_code(const struct gobin *g, const struct gobin_func *fn)
{
	if (g->machine != EM_X86_64 || !g->text.data || fn->addr < g->text.addr ||
	    fn->addr - g->text.addr > g->text.size ||
	    fn->size > g->text.size - (fn->addr - g->text.addr) || fn->size > UINT32_MAX)
		return NULL;
	return g->text.data + (fn->addr - g->text.addr);
}

static int disasm_open(const struct capstone_fns **cf, csh *cs, cs_insn **insn)
{
	*cf = capstone_get();
	if (!*cf)
		return -ENOSYS;
	if ((*cf)->open(CS_ARCH_X86, CS_MODE_64, cs) != CS_ERR_OK) {
		capstone_put();
		return -ENOMEM;
	}
	*insn = (*cf)->malloc(*cs);
	if (!*insn) {
		(*cf)->close(cs);
		capstone_put();
		return -ENOMEM;
	}
	return 0;
}

static void disasm_close(const struct capstone_fns *cf, csh *cs, cs_insn *insn)
{
	cf->free(insn, 1);
	cf->close(cs);
	capstone_put();
}

int gobin__func_returns(const struct gobin *g, const struct gobin_func *fn, uint32_t *offsets,
			size_t max)
{
	const uint8_t *code = func_code(g, fn);
	uint64_t addr = fn->addr;
	size_t left = fn->size;
	cs_insn *insn;
	const struct capstone_fns *cf;
	csh cs;
	int n = 0, err;

	if (!code)
		return g->machine != EM_X86_64 ? -ENOTSUP : -EINVAL;
	err = disasm_open(&cf, &cs, &insn);
	if (err)
		return err;
	while (left && cf->disasm_iter(cs, &code, &left, &addr, insn)) {
		if (insn->id != X86_INS_RET)
			continue;
		if (n < INT32_MAX && (size_t)n < max)
			offsets[n] = (uint32_t)(insn->address - fn->addr);
		n++;
	}
	if (left && !only_padding(code, left))
		n = -EILSEQ;
	disasm_close(cf, &cs, insn);
	return n;
}

int gobin__func_calls(const struct gobin *g, const struct gobin_func *fn, const char *callee,
		      uint32_t *offsets, size_t max)
{
	const uint8_t *code = func_code(g, fn);
	uint64_t addr = fn->addr;
	size_t left = fn->size;
	struct gobin_func target;
	char want[24];
	cs_insn *insn;
	const struct capstone_fns *cf;
	csh cs;
	int n = 0, err;

	if (!code)
		return g->machine != EM_X86_64 ? -ENOTSUP : -EINVAL;
	err = gobin__find_func(g, callee, &target);
	if (err)
		return err == -ENOENT ? 0 : err;
	/* capstone writes a direct call's target as its operand */
	snprintf(want, sizeof(want), "0x%llx", (unsigned long long)target.addr);
	err = disasm_open(&cf, &cs, &insn);
	if (err)
		return err;
	while (left && cf->disasm_iter(cs, &code, &left, &addr, insn)) {
		if (insn->id != X86_INS_CALL || strcmp(insn->op_str, want))
			continue;
		if (n < INT32_MAX && (size_t)n < max)
			offsets[n] = (uint32_t)(insn->address - fn->addr);
		n++;
	}
	if (left && !only_padding(code, left))
		n = -EILSEQ;
	disasm_close(cf, &cs, insn);
	return n;
}

/* A call at the top of the prologue to the runtime's maymorestack test
 * hook (a build with -gcflags=-d=maymorestack=runtime.mayMoreStack...). */
static bool calls_maymorestack(const struct gobin *g, const cs_insn *insn)
{
	struct gobin_func hook;
	char name[64];
	unsigned long long target;
	char *end;

	target = strtoull(insn->op_str, &end, 16);
	return *end == 0 && gobin__func_at(g, target, name, sizeof(name), &hook) == 0 &&
	       !strncmp(name, "runtime.mayMoreStack", 20);
}

/*
 * Go's amd64 prologue (cmd/internal/obj/x86/obj6.go, stacksplit) compares
 * the stack pointer, or for a larger frame SP minus the frame in R12, with
 * the goroutine's stack bound at 16(R14), then JBE (JLS) to morestack,
 * which grows the stack and jumps back to the compare. Recognised: a CMP
 * with 16(R14) after instructions that write R12 only (LEA, MOV, SUB into
 * R12), then JBE. The argument registers are untouched up to there. A
 * build with Go's maymorestack test hook (which the end-to-end tests use
 * to move stacks at every call) first spills the argument registers to
 * the caller's frame, calls the hook and reloads them: that is accepted
 * too, the registers being the arguments again at the JBE.
 */
int gobin__func_stack_check(const struct gobin *g, const struct gobin_func *fn, uint32_t *off)
{
	enum { SPILLS, RELOADS, CHECK } phase = SPILLS;
	const uint8_t *code = func_code(g, fn);
	uint64_t addr = fn->addr;
	size_t left = fn->size;
	cs_insn *insn;
	const struct capstone_fns *cf;
	csh cs;
	int err = -ENOENT;
	bool compared = false;

	if (!code)
		return g->machine != EM_X86_64 ? -ENOTSUP : -EINVAL;
	if (disasm_open(&cf, &cs, &insn))
		return -ENOMEM;
	for (int i = 0; i < 24 && left && cf->disasm_iter(cs, &code, &left, &addr, insn); i++) {
		if (insn->id == X86_INS_JBE) {
			if (compared) {
				*off = (uint32_t)(insn->address - fn->addr);
				err = 0;
			}
			break;
		}
		if (insn->id == X86_INS_CMP && strstr(insn->op_str, "[r14 + 0x10]")) {
			compared = true;
			phase = CHECK;
			continue;
		}
		if ((insn->id == X86_INS_LEA || insn->id == X86_INS_MOV || insn->id == X86_INS_SUB) &&
		    !strncmp(insn->op_str, "r12,", 4)) {
			phase = CHECK;
			continue;
		}
		if (phase == SPILLS && insn->id == X86_INS_MOV &&
		    !strncmp(insn->op_str, "qword ptr [rsp + ", 17))
			continue;
		if (phase == SPILLS && insn->id == X86_INS_CALL && calls_maymorestack(g, insn)) {
			phase = RELOADS;
			continue;
		}
		if (phase == RELOADS && insn->id == X86_INS_MOV &&
		    strstr(insn->op_str, ", qword ptr [rsp + "))
			continue;
		break;
	}
	disasm_close(cf, &cs, insn);
	return err;
}
