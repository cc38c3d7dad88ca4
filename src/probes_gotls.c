// SPDX-License-Identifier: Apache-2.0
/* Go crypto/tls uprobes per traced process (see probes_gotls.h). */
#include "probes_gotls.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "gobin/gobin.h"
#include "util/capstone_lazy.h"
#include "sonde/abi.h"
#include "tls_hookpoints.h"
#include "util/log.h"

/* More RETs than this in one function is not what Go's compiler makes of
 * Read (7 seen with Go 1.19 and 1.26): refused rather than half-covered. */
#define GOTLS_MAX_RETS 64
#define PLAN_CACHE 64

static const struct {
	const char *name;
	bool inbound;
} hooked[] = {
	{ "crypto/tls.(*Conn).Read", true },
	{ "crypto/tls.(*Conn).Write", false },
};
#define NFUNCS (sizeof(hooked) / sizeof(hooked[0]))

struct gotls_fn {
	uint64_t entry;	 /* file offset */
	uint32_t enter;	 /* the entry uprobe's offset from it: the stack check's JBE, or 0 */
	uint64_t cookie;
	uint32_t copy;	 /* Read: its one call of runtime.memmove, from the entry; 0: none */
	int nrets;	 /* Read without such a call: its RETs */
	uint32_t rets[GOTLS_MAX_RETS]; /* from the entry */
};

/* What one executable allows, decided once. */
struct gotls_plan {
	struct tls_file_id id;
	bool ok;
	uint64_t code; /* digest of the code at every probed offset, checked before attaching */
	struct gotls_fn fns[NFUNCS];
};

struct gotls {
	struct bpf_program *enter, *ret, *copy;
	struct gotls_plan plans[PLAN_CACHE];
	unsigned int nplans; /* entries used, then overwritten round-robin */
};

struct gotls_links {
	int n;
	struct bpf_link *links[];
};

/* The sum of the offsets of @n (type, field) steps, each < 64 KiB. */
static int offset_sum(struct gobin *g, const char *const steps[][2], int n, uint16_t *out,
		      bool *all_dwarf)
{
	uint64_t sum = 0;

	for (int i = 0; i < n; i++) {
		uint64_t off;
		bool dwarf;
		int err = gobin__field_offset(g, steps[i][0], steps[i][1], &off, &dwarf);

		if (err)
			return err;
		*all_dwarf &= dwarf;
		sum += off;
	}
	if (sum > UINT16_MAX)
		return -ERANGE;
	*out = (uint16_t)sum;
	return 0;
}

/* The pointer walk from a *tls.Conn to its descriptor (bpf/tls_go.bpf.h). */
static int walk_offsets(struct gobin *g, uint16_t *conn, uint16_t *fd, uint16_t *sysfd,
			bool *dwarf)
{
	static const char *const conn_steps[][2] = { { "crypto/tls.Conn", "conn" },
						     { "runtime.iface", "data" } };
	static const char *const fd_steps[][2] = { { "net.TCPConn", "conn" }, { "net.conn", "fd" } };
	static const char *const sysfd_steps[][2] = { { "net.netFD", "pfd" },
						      { "internal/poll.FD", "Sysfd" } };
	int err;

	*dwarf = true;
	err = offset_sum(g, conn_steps, 2, conn, dwarf);
	if (!err)
		err = offset_sum(g, fd_steps, 2, fd, dwarf);
	if (!err)
		err = offset_sum(g, sysfd_steps, 2, sysfd, dwarf);
	return err;
}

/* Inspect @path for @plan; the reason it cannot be followed said once. */
static void plan_make(struct gotls_plan *plan, const char *path, uint32_t pid)
{
	const char *ver;
	char read_at[32];
	struct gobin *g;
	uint16_t conn, fd, sysfd;
	bool dwarf, disasm;
	int err = gobin__open(path, &g);

	plan->ok = false;
	if (err) {
		if (err != -ENOEXEC)
			log_debug("gotls: cannot inspect %s: %s", path, strerror(-err));
		return; /* not Go: nothing to say */
	}
	ver = gobin__version(g) ? gobin__version(g) : "an unknown Go version";
	/* capstone loaded once for all this file's readings, unloaded after */
	disasm = capstone_get() != NULL;
	for (size_t i = 0; i < NFUNCS; i++) {
		struct gotls_fn *fn = &plan->fns[i];
		struct gobin_func f;

		err = gobin__find_func(g, hooked[i].name, &f);
		if (err == -ENOENT)
			goto out; /* a Go program without TLS */
		if (err) {
			log_warn("gotls: process %u's executable (%s) has a Go symbol table Sonde "
				 "does not read (%s): Go 1.17 and later are followed (before 1.17 "
				 "Go passed arguments on the stack); its crypto/tls traffic is not",
				 pid, ver, strerror(-err));
			goto out;
		}
		if (gobin__machine(g) != EM_X86_64) {
			log_warn("gotls: process %u's Go executable is not x86-64: its crypto/tls "
				 "traffic is not followed", pid);
			goto out;
		}
		if (!gobin__register_abi(g)) {
			log_warn("gotls: process %u runs a Go binary built by %s, which passes "
				 "arguments on the stack (Go before 1.17): its crypto/tls traffic "
				 "is not followed", pid, ver);
			goto out;
		}
		fn->entry = f.file_offset;
		/* Read and Write always begin with the stack-bound check: code
		 * that does not is not the function the table named (a text
		 * start misread), and a uprobe inside an instruction there
		 * would break the program. */
		if (gobin__func_stack_check(g, &f, &fn->enter)) {
			log_warn("gotls: process %u (%s): %s does not begin as a Go function "
				 "does: its crypto/tls traffic is not followed", pid, ver,
				 hooked[i].name);
			goto out;
		}
		fn->nrets = 0;
		fn->copy = 0;
		if (!hooked[i].inbound)
			continue; /* a Write is taken whole at its entry (bpf/tls_go.bpf.h) */
		/* A Read's bytes: at its one copy into b when there is one (an
		 * emulated call), else at its RETs (single-stepped). */
		if (gobin__func_calls(g, &f, "runtime.memmove", &fn->copy, 1) == 1)
			continue;
		fn->copy = 0;
		fn->nrets = gobin__func_returns(g, &f, fn->rets, GOTLS_MAX_RETS);
		if (fn->nrets <= 0 || fn->nrets > GOTLS_MAX_RETS) {
			log_warn("gotls: process %u (%s): %s has %s: its crypto/tls traffic is not "
				 "followed", pid, ver, hooked[i].name,
				 fn->nrets == 0 ? "no RET" : fn->nrets > 0 ? "too many RETs"
									: "code capstone cannot decode");
			goto out;
		}
	}
	err = walk_offsets(g, &conn, &fd, &sysfd, &dwarf);
	if (err) {
		log_warn("gotls: process %u runs a Go binary built by %s without DWARF, and its "
			 "struct layout is not in Sonde's table (src/gobin/offsets.c): its "
			 "crypto/tls traffic is not followed", pid, ver);
		goto out;
	}
	for (size_t i = 0; i < NFUNCS; i++)
		plan->fns[i].cookie = SONDE_GOTLS_COOKIE(conn, fd, sysfd, hooked[i].inbound) |
				      (plan->fns[i].enter ? SONDE_GOTLS_AT_JBE : 0);
	plan->ok = true;
	if (plan->fns[0].copy)
		snprintf(read_at, sizeof(read_at), "at its copy");
	else
		snprintf(read_at, sizeof(read_at), "at its %d RETs", plan->fns[0].nrets);
	log_info("gotls: %s (%s): Read %s, entries at the stack check, struct offsets from %s",
		 path, ver, read_at, dwarf ? "DWARF" : "the table for its Go version");
out:
	if (disasm)
		capstone_put();
	gobin__close(g);
	/* The reading took megabytes of heap (the symbol table, decompressed
	 * DWARF), freed now: give them back rather than keep them resident. */
	malloc_trim(0);
}

/* FNV-1a over the first bytes at each offset a uprobe goes to; 0: unreadable. */
static uint64_t code_digest(const struct gotls_plan *plan, const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	for (size_t i = 0; i < NFUNCS; i++) {
		const struct gotls_fn *fn = &plan->fns[i];
		uint64_t at[2 + GOTLS_MAX_RETS];
		int n = 0;

		at[n++] = fn->entry + fn->enter;
		if (fn->copy)
			at[n++] = fn->entry + fn->copy;
		for (int r = 0; r < fn->nrets; r++)
			at[n++] = fn->entry + fn->rets[r];
		for (int k = 0; k < n; k++) {
			uint8_t b[TLS_HOOK_CODE];

			if (pread(fd, b, sizeof(b), (off_t)at[k]) != (ssize_t)sizeof(b)) {
				close(fd);
				return 0;
			}
			for (size_t j = 0; j < sizeof(b); j++)
				h = (h ^ b[j]) * 0x100000001b3ull;
		}
	}
	close(fd);
	return h ? h : 1;
}

static struct gotls_plan *plan_of(struct gotls *t, const char *path, const struct stat *st,
				  uint32_t pid)
{
	struct gotls_plan *plan;
	struct tls_file_id id;

	tls_file_id_of(&id, st);
	for (unsigned int i = 0; i < t->nplans && i < PLAN_CACHE; i++)
		if (tls_file_id_eq(&t->plans[i].id, &id))
			return &t->plans[i];
	plan = &t->plans[t->nplans++ % PLAN_CACHE];
	memset(plan, 0, sizeof(*plan));
	plan->id = id;
	plan_make(plan, path, pid);
	if (plan->ok && !(plan->code = code_digest(plan, path)))
		plan->ok = false;
	return plan;
}

static bool attach_one(struct gotls_links *l, struct bpf_program *prog, uint32_t pid,
		       const char *path, uint64_t offset, uint64_t cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookie);
	struct bpf_link *link =
		bpf_program__attach_uprobe_opts(prog, (pid_t)pid, path, (size_t)offset, &opts);

	if (!link)
		return false;
	l->links[l->n++] = link;
	return true;
}

int gotls__attach(struct gotls *t, uint32_t pid, const char *path, const struct stat *st,
		  struct gotls_links **out)
{
	struct gotls_plan *plan;
	struct gotls_links *l;
	int want = 0, err;

	*out = NULL;
	if (!t)
		return -ENOENT;
	plan = plan_of(t, path, st, pid);
	if (!plan->ok)
		return -ENOENT;
	if (code_digest(plan, path) != plan->code) {
		/* changed under the same identity: planned again next time */
		memset(&plan->id, 0, sizeof(plan->id));
		return -ESTALE;
	}
	for (size_t i = 0; i < NFUNCS; i++)
		want += 1 + !!plan->fns[i].copy + plan->fns[i].nrets;
	l = calloc(1, sizeof(*l) + (size_t)want * sizeof(l->links[0]));
	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < NFUNCS; i++) {
		const struct gotls_fn *fn = &plan->fns[i];

		/* The exits first: an entry is never recorded without them. */
		if (fn->copy && !attach_one(l, t->copy, pid, path, fn->entry + fn->copy, fn->cookie))
			goto fail;
		for (int r = 0; r < fn->nrets; r++)
			if (!attach_one(l, t->ret, pid, path, fn->entry + fn->rets[r], fn->cookie))
				goto fail;
		if (!attach_one(l, t->enter, pid, path, fn->entry + fn->enter, fn->cookie))
			goto fail;
	}
	log_info("gotls: %d uprobes on %s in process %u", l->n, path, pid);
	*out = l;
	return 0;
fail:
	err = errno ? -errno : -EINVAL;
	gotls_links__free(l);
	return err == -ENOENT ? -EINVAL : err;
}

int gotls__describe(const char *path, FILE *out)
{
	struct gotls_plan *plan = calloc(1, sizeof(*plan));
	int n = 0;

	if (!plan)
		return -ENOMEM;
	plan_make(plan, path, 0);
	for (size_t i = 0; plan->ok && i < NFUNCS; i++) {
		const struct gotls_fn *fn = &plan->fns[i];

		fprintf(out, "go\t%s\t%#llx\tentry\n", hooked[i].name,
			(unsigned long long)(fn->entry + fn->enter));
		if (fn->copy)
			fprintf(out, "go\t%s\t%#llx\tcopy\n", hooked[i].name,
				(unsigned long long)(fn->entry + fn->copy));
		for (int r = 0; r < fn->nrets; r++)
			fprintf(out, "go\t%s\t%#llx\tret\n", hooked[i].name,
				(unsigned long long)(fn->entry + fn->rets[r]));
		n += 1 + !!fn->copy + fn->nrets;
	}
	free(plan);
	return n ? n : -ENOENT;
}

int gotls_links__count(const struct gotls_links *l)
{
	return l ? l->n : 0;
}

void gotls_links__free(struct gotls_links *l)
{
	if (!l)
		return;
	for (int i = 0; i < l->n; i++)
		bpf_link__destroy(l->links[i]);
	free(l);
}

struct gotls *gotls__new(struct bpf_object *obj)
{
	struct gotls *t;
	struct bpf_program *enter = bpf_object__find_program_by_name(obj, "go_tls_enter");
	struct bpf_program *ret = bpf_object__find_program_by_name(obj, "go_tls_return");
	struct bpf_program *copy = bpf_object__find_program_by_name(obj, "go_tls_read_copy");

	if (!enter || !ret || !copy) {
		log_warn("gotls: the Go TLS programs are missing from the BPF object");
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->enter = enter;
	t->ret = ret;
	t->copy = copy;
	return t;
}

void gotls__free(struct gotls *t)
{
	free(t);
}
