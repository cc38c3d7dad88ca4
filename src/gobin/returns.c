// SPDX-License-Identifier: Apache-2.0
/* The RET instructions of a Go function, by disassembling it (gobin.h). */
#include "gobin/internal.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <gelf.h>

/* Go pads between functions with INT3 (cmd/link, amd64's function
 * alignment filler): bytes capstone left are only allowed to be that. */
static bool only_padding(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++ != 0xcc)
			return false;
	return true;
}

int gobin__func_returns(const struct gobin *g, const struct gobin_func *fn, uint32_t *offsets,
			size_t max)
{
	const uint8_t *code;
	uint64_t addr;
	size_t left;
	cs_insn *insn;
	csh cs;
	int n = 0;

	if (g->machine != EM_X86_64)
		return -ENOTSUP;
	/* @fn comes from gobin__find_func(): inside .text. Checked again. */
	if (!g->text.data || fn->addr < g->text.addr || fn->addr - g->text.addr > g->text.size ||
	    fn->size > g->text.size - (fn->addr - g->text.addr) || fn->size > UINT32_MAX)
		return -EINVAL;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK)
		return -ENOMEM;
	insn = cs_malloc(cs);
	if (!insn) {
		cs_close(&cs);
		return -ENOMEM;
	}
	code = g->text.data + (fn->addr - g->text.addr);
	left = fn->size;
	addr = fn->addr;
	while (left && cs_disasm_iter(cs, &code, &left, &addr, insn)) {
		if (insn->id != X86_INS_RET)
			continue;
		if (n < INT32_MAX && (size_t)n < max)
			offsets[n] = (uint32_t)(insn->address - fn->addr);
		n++;
	}
	if (left && !only_padding(code, left))
		n = -EILSEQ;
	cs_free(insn, 1);
	cs_close(&cs);
	return n;
}
