/* SPDX-License-Identifier: Apache-2.0 */
/*
 * capstone, loaded when code must be read and let go after.
 *
 * Sonde disassembles a few functions per TLS library or Go executable it
 * finds, rarely; libcapstone holds every architecture's tables and costs
 * ~3 MiB of resident memory once loaded (its relocations touch them). So it
 * is not linked: capstone_get() dlopen()s it and counts its users,
 * capstone_put() dlclose()s it when the last one is done.
 */
#ifndef SONDE_UTIL_CAPSTONE_LAZY_H
#define SONDE_UTIL_CAPSTONE_LAZY_H

#include <capstone/capstone.h>

struct capstone_fns {
	cs_err (*open)(cs_arch arch, cs_mode mode, csh *handle);
	cs_err (*close)(csh *handle);
	cs_err (*option)(csh handle, cs_opt_type type, size_t value);
	size_t (*disasm)(csh handle, const uint8_t *code, size_t code_size, uint64_t address,
			 size_t count, cs_insn **insn);
	bool (*disasm_iter)(csh handle, const uint8_t **code, size_t *size, uint64_t *address,
			    cs_insn *insn);
	cs_insn *(*malloc)(csh handle);
	void (*free)(cs_insn *insn, size_t count);
};

/*
 * capstone_get() - capstone's functions, loading the library on first use
 * (thread-safe). Return: NULL when it cannot be loaded (said once in the
 * log); else a pointer valid until the matching capstone_put().
 */
const struct capstone_fns *capstone_get(void);

/* capstone_put() - one user done; the last one unloads the library. */
void capstone_put(void);

/* capstone_loaded() - whether the library is mapped now (for tests). */
bool capstone_loaded(void);

#endif
