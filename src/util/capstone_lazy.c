// SPDX-License-Identifier: Apache-2.0
/* capstone loaded on demand. See capstone_lazy.h. */
#include "util/capstone_lazy.h"

#include "util/log.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#ifndef CAPSTONE_SONAME
#define CAPSTONE_SONAME "libcapstone.so.4"
#endif

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *handle;
static unsigned int users;
static struct capstone_fns fns;
static bool said;

static bool resolve(void *h)
{
	/* POSIX dlsym() returns void *; a function pointer's value is what it holds */
#define SYM(field, name)                                         \
	do {                                                     \
		void *p = dlsym(h, name);                        \
		if (!p)                                          \
			return false;                            \
		memcpy(&fns.field, &p, sizeof(p));               \
	} while (0)
	SYM(open, "cs_open");
	SYM(close, "cs_close");
	SYM(option, "cs_option");
	SYM(disasm, "cs_disasm");
	SYM(disasm_iter, "cs_disasm_iter");
	SYM(malloc, "cs_malloc");
	SYM(free, "cs_free");
#undef SYM
	return true;
}

const struct capstone_fns *capstone_get(void)
{
	const struct capstone_fns *ret = NULL;

	pthread_mutex_lock(&lock);
	if (!handle) {
		const char *why = "a cs_ function is missing";

		handle = dlopen(CAPSTONE_SONAME, RTLD_NOW | RTLD_LOCAL);
		if (!handle) {
			why = dlerror();
		} else if (!resolve(handle)) {
			dlclose(handle);
			handle = NULL;
		}
		if (!handle && !said) {
			said = true;
			log_warn("cannot load %s (%s): TLS libraries and Go executables are not "
				 "disassembled, so their TLS traffic is not followed (install "
				 "Debian's libcapstone4)", CAPSTONE_SONAME, why ? why : "?");
		}
	}
	if (handle) {
		users++;
		ret = &fns;
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

void capstone_put(void)
{
	pthread_mutex_lock(&lock);
	if (users && !--users) {
		dlclose(handle);
		handle = NULL;
	}
	pthread_mutex_unlock(&lock);
}

bool capstone_loaded(void)
{
	bool loaded;

	pthread_mutex_lock(&lock);
	loaded = handle != NULL;
	pthread_mutex_unlock(&lock);
	return loaded;
}
