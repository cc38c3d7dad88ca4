// SPDX-License-Identifier: Apache-2.0
/* TLS library uprobes per traced process (see probes_tls.h). */
#include "probes_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tls_hookpoints.h"
#include "probes_gotls.h"
#include "util/log.h"

/* The programs of each kind of hook point: entry, return. */
static const char *const hook_progs[TLS_HOOK__MAX][2] = {
	[TLS_HOOK_READ] = { "ssl_read_enter", "ssl_read_return" },
	[TLS_HOOK_WRITE] = { "ssl_write_enter", "ssl_write_return" },
	[TLS_HOOK_READ_EX] = { "ssl_read_ex_enter", "ssl_read_ex_return" },
	[TLS_HOOK_WRITE_EX] = { "ssl_write_ex_enter", "ssl_write_ex_return" },
};
#define NLINKS (2 * TLS_HOOK_POINTS_MAX)

/* One file (libssl or an executable) whose functions a process's uprobes hold. */
struct tls_target {
	struct tls_file_id id;
	struct bpf_link *links[NLINKS];
	struct gotls_links *go; /* a Go executable's crypto/tls uprobes */
};

struct tls_proc {
	uint32_t pid;
	unsigned long long start; /* /proc/PID/stat starttime: a reused pid is a new process */
	bool traced;		  /* still in the traced map at this scan */
	unsigned int fails;	  /* attachments failed in a row: the next is put off */
	unsigned long long retry; /* the scan from which to try again */
	int ntargets;
	struct tls_target *targets;
};

/* What a file was found to be, inspected once: an executable's OpenSSL,
 * and where the uprobes go in a file that has it. */
struct file_verdict {
	struct tls_file_id id;
	bool is_exe;
	enum tls_exe_kind kind;
	int npoints;
	struct tls_hook_point points[TLS_HOOK_POINTS_MAX];
};

#define FILE_CACHE 256

struct tls_probes {
	struct bpf_program *progs[TLS_HOOK__MAX][2];
	struct gotls *go; /* Go's crypto/tls (probes_gotls.c) */
	int traced_fd;
	int hooked_fd; /* tls_hooked: processes with uprobes, for the socket hooks */
	struct tls_proc *procs;
	int nprocs, cap;
	struct file_verdict files[FILE_CACHE];
	unsigned int nfiles; /* entries used, then overwritten round-robin */
	unsigned long long scans;
	unsigned long long failures; /* attachments that failed (retried later) */
};

bool tls_is_libssl(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "libssl.so", 9) || !strncmp(base, "libssl-", 7);
}

/* ---- executables with OpenSSL inside ---- */

#define SYMTAB_MAX (256u << 20)
#define IMAGE_SCAN_MAX (512ull << 20)

static bool defines_ssl_read(Elf *elf, bool *has_symtab)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;
		size_t n;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			*has_symtab = true;
		if (!sh.sh_entsize || sh.sh_size > SYMTAB_MAX || !(data = elf_getdata(scn, NULL)))
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(data, i, &sym) || sym.st_shndx == SHN_UNDEF ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC)
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (name && !strcmp(name, "SSL_read"))
				return true;
		}
	}
	return false;
}

/* OpenSSL keeps its source file names for its error queue (OPENSSL_FILE). */
static bool image_has_openssl(int fd)
{
	static const char mark[] = "ssl/ssl_lib.c";
	char buf[1 << 16];
	size_t keep = 0;
	off_t off = 0;

	while ((unsigned long long)off < IMAGE_SCAN_MAX) {
		ssize_t n = pread(fd, buf + keep, sizeof(buf) - keep, off);
		size_t have;

		if (n <= 0)
			return false;
		have = keep + (size_t)n;
		if (memmem(buf, have, mark, sizeof(mark) - 1))
			return true;
		off += n;
		/* a mark cut between two reads is found with the next one */
		keep = have < sizeof(mark) - 1 ? have : sizeof(mark) - 1;
		memmove(buf, buf + have - keep, keep);
	}
	return false;
}

enum tls_exe_kind tls_exe_kind(int fd)
{
	bool has_symtab = false, defines;
	Elf *elf;

	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf)
		return TLS_EXE_NONE;
	if (elf_kind(elf) != ELF_K_ELF) {
		elf_end(elf);
		return TLS_EXE_NONE;
	}
	defines = defines_ssl_read(elf, &has_symtab);
	elf_end(elf);
	if (defines)
		return TLS_EXE_OPENSSL_SYMBOLS;
	if (!has_symtab && image_has_openssl(fd))
		return TLS_EXE_OPENSSL_STRIPPED;
	return TLS_EXE_NONE;
}

/* Where the uprobes go in @path, said once per file. */
static void plan_points(struct file_verdict *v, int fd, const char *path)
{
	char desc[256] = "";
	size_t len = 0;

	v->npoints = tls_hook_points(fd, v->points);
	if (v->npoints == TLS_HOOK_WRONG_MACHINE) {
		v->npoints = 0;
		log_info("tls: %s: not x86-64 code: no uprobes", path);
		return;
	}
	for (int i = 0; i < v->npoints && len < sizeof(desc); i++) {
		const struct tls_hook_point *pt = &v->points[i];

		len += snprintf(desc + len, sizeof(desc) - len, "%s%s%s", i ? ", " : "", pt->name,
				pt->emulated ? "" : " (single-stepped)");
	}
	log_info("tls: %s: uprobes on %s", path, v->npoints ? desc : "nothing (no SSL_read)");
	for (int i = 0; i < v->npoints; i++)
		if (!v->points[i].emulated) {
			log_warn("tls: %s: %s begins with an instruction the kernel single-steps: "
				 "each call costs a second trap (see bench/uprobe)", path,
				 v->points[i].name);
			break;
		}
}

/*
 * The verdict on file @path (@st its identity; @is_exe: the process's
 * executable, else a libssl), inspected once. An executable's OpenSSL is
 * looked for first; a stripped one is reported when first found.
 */
static struct file_verdict *file_verdict(struct tls_probes *t, const char *path,
					       const struct stat *st, bool is_exe, uint32_t pid)
{
	struct file_verdict *v;
	struct tls_file_id id;
	int fd;

	tls_file_id_of(&id, st);
	for (unsigned int i = 0; i < t->nfiles && i < FILE_CACHE; i++)
		if (tls_file_id_eq(&t->files[i].id, &id))
			return &t->files[i];
	v = &t->files[t->nfiles++ % FILE_CACHE];
	memset(v, 0, sizeof(*v));
	v->id = id;
	v->is_exe = is_exe;
	v->kind = is_exe ? TLS_EXE_NONE : TLS_EXE_OPENSSL_SYMBOLS;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return v;
	if (is_exe)
		v->kind = tls_exe_kind(fd);
	if (v->kind == TLS_EXE_OPENSSL_SYMBOLS)
		plan_points(v, fd, path);
	close(fd);
	if (v->kind == TLS_EXE_OPENSSL_STRIPPED)
		log_warn("tls: process %u's executable links OpenSSL statically but is stripped "
			 "(no SSL_read symbol): its TLS traffic is not seen", pid);
	return v;
}

/* ---- processes ---- */

static unsigned long long proc_start(uint32_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* after the command's closing parenthesis: state is field 3, starttime 22 */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
				"%*d %*d %*d %llu", &start) != 1)
		return 0;
	return start;
}

static struct tls_proc *proc_find(struct tls_probes *t, uint32_t pid)
{
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

/* Say to the socket hooks whether process @p has TLS uprobes now. */
static void proc_mark_hooked(struct tls_probes *t, const struct tls_proc *p, bool hooked)
{
	uint8_t one = 1;

	if (t->hooked_fd < 0)
		return;
	if (!hooked)
		bpf_map_delete_elem(t->hooked_fd, &p->pid);
	else if (bpf_map_update_elem(t->hooked_fd, &p->pid, &one, BPF_ANY))
		log_warn("tls: process %u: cannot mark it as having uprobes (%s): its TLS sockets "
			 "get no plaintext state from the socket hooks", p->pid, strerror(errno));
}

static void proc_detach(struct tls_proc *p)
{
	for (int i = 0; i < p->ntargets; i++) {
		for (size_t h = 0; h < NLINKS; h++)
			bpf_link__destroy(p->targets[i].links[h]);
		gotls_links__free(p->targets[i].go);
	}
	free(p->targets);
	p->targets = NULL;
	p->ntargets = 0;
}

static bool proc_has_target(const struct tls_proc *p, const struct stat *st)
{
	struct tls_file_id id;

	tls_file_id_of(&id, st);
	for (int i = 0; i < p->ntargets; i++)
		if (tls_file_id_eq(&p->targets[i].id, &id))
			return true;
	return false;
}

/* A file held from now on by process @p's uprobes (@links, or @go). */
static bool proc_add_target(struct tls_proc *p, const struct stat *st,
			    struct bpf_link *const *links, int nlinks, struct gotls_links *go)
{
	struct tls_target *grown = realloc(p->targets, (p->ntargets + 1) * sizeof(*grown));
	struct tls_target *tg;

	if (!grown)
		return false;
	p->targets = grown;
	tg = &p->targets[p->ntargets++];
	memset(tg, 0, sizeof(*tg));
	tls_file_id_of(&tg->id, st);
	for (int i = 0; i < nlinks; i++)
		tg->links[i] = links[i];
	tg->go = go;
	return true;
}

/* An attachment failed: counted, said, and tried again after a pause that
 * doubles with each failure in a row (up to a minute of scans). */
static void proc_failed(struct tls_probes *t, struct tls_proc *p, const char *path, int err)
{
	unsigned int wait = p->fails < 6 ? 1u << p->fails : 64;

	t->failures++;
	p->fails++;
	p->retry = t->scans + wait;
	log_warn("tls: cannot attach to %s in process %u: %s (again in %u scans)", path, p->pid,
		 strerror(err), wait);
}

/* Whether the code planned for @v is still in the file at @path. */
static bool verdict_current(const struct file_verdict *v, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok = fd >= 0;

	for (int i = 0; ok && i < v->npoints; i++)
		ok = tls_code_matches(fd, v->points[i].offset, v->points[i].code, TLS_HOOK_CODE);
	if (fd >= 0)
		close(fd);
	return ok;
}

/*
 * Attach the uprobes of @v to the file at @path as process @p maps it: all
 * of them or none, each return probe before its entry, so that no call is
 * seen entering without being seen leaving. The file is recorded as held
 * only then: a failure is tried again.
 */
static void proc_attach(struct tls_probes *t, struct tls_proc *p, const char *path,
			const struct stat *st, struct file_verdict *v)
{
	struct bpf_link *links[NLINKS];
	int n = 0, err = 0;

	if (!verdict_current(v, path)) {
		/* the file changed under the same identity: planned again next time */
		memset(&v->id, 0, sizeof(v->id));
		proc_failed(t, p, path, ESTALE);
		return;
	}
	for (int i = 0; i < v->npoints && !err; i++) {
		for (int ret = 1; ret >= 0 && !err; ret--) {
			struct bpf_program *prog = t->progs[v->points[i].kind][ret];
			LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret);
			struct bpf_link *l;

			if (!prog) {
				err = ENOENT;
				break;
			}
			/* no function name: the offset is the probed instruction's in the file */
			l = bpf_program__attach_uprobe_opts(prog, (pid_t)p->pid, path,
							    v->points[i].offset, &opts);
			if (!l)
				err = errno ? errno : EINVAL;
			else
				links[n++] = l;
		}
	}
	if (!err && !proc_add_target(p, st, links, n, NULL))
		err = ENOMEM;
	if (err) {
		while (n)
			bpf_link__destroy(links[--n]);
		proc_failed(t, p, path, err);
		return;
	}
	p->fails = 0;
	if (n) {
		proc_mark_hooked(t, p, true);
		log_info("tls: %d uprobes on %s in process %u", n, path, p->pid);
	}
}

/* A Go executable: its crypto/tls (each file inspected once). */
static void proc_attach_go(struct tls_probes *t, struct tls_proc *p, const char *path,
			   const struct stat *st)
{
	struct gotls_links *go = NULL;
	int err = gotls__attach(t->go, p->pid, path, st, &go);

	if (err == -ENOENT)
		return; /* not a Go program whose TLS can be followed */
	if (!err && !proc_add_target(p, st, NULL, 0, go)) {
		gotls_links__free(go);
		err = -ENOMEM;
	}
	if (err) {
		proc_failed(t, p, path, -err);
		return;
	}
	p->fails = 0;
	proc_mark_hooked(t, p, true);
}

/*
 * The TLS files process @p maps now: each libssl, and the executable when
 * OpenSSL is linked into it. Paths are taken through /proc/PID/root, so a
 * process in another mount namespace (a container) is attached to its own
 * files.
 */
static void proc_scan_maps(struct tls_probes *t, struct tls_proc *p)
{
	char path[64], line[4096 + 128], file[4096 + 64];
	struct file_verdict *v;
	bool saw_libssl = false;
	struct stat st;
	FILE *maps;

	snprintf(path, sizeof(path), "/proc/%u/maps", p->pid);
	maps = fopen(path, "re");
	if (!maps)
		return;
	while (fgets(line, sizeof(line), maps)) {
		char perms[8], *name;
		int off = 0;

		/* start-end perms offset dev inode path */
		if (sscanf(line, "%*x-%*x %7s %*x %*x:%*x %*u %n", perms, &off) != 1 || !off ||
		    perms[2] != 'x')
			continue;
		name = line + off;
		name[strcspn(name, "\n")] = 0;
		if (name[0] != '/' || !tls_is_libssl(name) || strstr(name, " (deleted)"))
			continue;
		saw_libssl = true;
		snprintf(file, sizeof(file), "/proc/%u/root%s", p->pid, name);
		if (stat(file, &st) || proc_has_target(p, &st))
			continue;
		proc_attach(t, p, file, &st, file_verdict(t, file, &st, false, p->pid));
	}
	fclose(maps);
	snprintf(file, sizeof(file), "/proc/%u/exe", p->pid);
	if (stat(file, &st) || proc_has_target(p, &st))
		return;
	/* A dynamic OpenSSL user's executable calls libssl's functions; but a
	 * Go program may map libssl too (cgo) and still do its HTTPS with
	 * crypto/tls: whether it is Go is asked either way. */
	if (saw_libssl) {
		proc_attach_go(t, p, file, &st);
		return;
	}
	v = file_verdict(t, file, &st, true, p->pid);
	if (v->kind == TLS_EXE_OPENSSL_SYMBOLS)
		proc_attach(t, p, file, &st, v);
	else if (v->kind == TLS_EXE_NONE)
		proc_attach_go(t, p, file, &st);
}

void tls_probes__scan(struct tls_probes *t)
{
	uint32_t key, next;
	int w = 0;
	bool first = true;

	if (!t)
		return;
	t->scans++;
	for (int i = 0; i < t->nprocs; i++)
		t->procs[i].traced = false;
	while (!bpf_map_get_next_key(t->traced_fd, first ? NULL : &key, &next)) {
		unsigned long long start = proc_start(next);
		struct tls_proc *p = proc_find(t, next);

		first = false;
		key = next;
		if (p && p->start != start) {
			proc_detach(p); /* the pid was reused: a new process */
			proc_mark_hooked(t, p, false);
			p->fails = 0;
			p->retry = 0;
		}
		if (!p) {
			if (t->nprocs == t->cap) {
				int cap = t->cap ? 2 * t->cap : 64;
				struct tls_proc *grown = realloc(t->procs, cap * sizeof(*grown));

				if (!grown)
					break;
				t->procs = grown;
				t->cap = cap;
			}
			p = &t->procs[t->nprocs++];
			memset(p, 0, sizeof(*p));
			p->pid = next;
		}
		p->start = start;
		p->traced = true;
		if (t->scans >= p->retry)
			proc_scan_maps(t, p);
	}
	/* Processes gone or no longer traced: their uprobes go. */
	for (int i = 0; i < t->nprocs; i++) {
		if (!t->procs[i].traced) {
			proc_detach(&t->procs[i]);
			proc_mark_hooked(t, &t->procs[i], false);
			continue;
		}
		t->procs[w++] = t->procs[i];
	}
	t->nprocs = w;
}

int tls_probes__describe(const char *path, FILE *out)
{
	struct tls_hook_point pts[TLS_HOOK_POINTS_MAX];
	int n = gotls__describe(path, out), fd, npts;

	if (n < 0)
		n = 0;
	/* Both may apply: a cgo program that links OpenSSL as well. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "sonde: cannot open %s: %s\n", path, strerror(errno));
		return 1;
	}
	npts = tls_hook_points(fd, pts);
	close(fd);
	for (int i = 0; i < npts; i++)
		fprintf(out, "openssl\t%s\t%#llx\tentry+return\t%s\n", pts[i].name,
			(unsigned long long)pts[i].offset,
			pts[i].emulated ? "emulated" : "single-stepped");
	if (npts == TLS_HOOK_WRONG_MACHINE && !n) {
		fprintf(stderr, "sonde: %s is not x86-64 code\n", path);
		return 1;
	}
	if (npts <= 0 && !n) {
		fprintf(stderr, "sonde: no SSL_read/SSL_write and no Go crypto/tls Sonde can "
				"follow in %s\n", path);
		return 1;
	}
	return 0;
}

unsigned long long tls_probes__failures(const struct tls_probes *t)
{
	return t ? t->failures : 0;
}

unsigned int tls_probes__attached(const struct tls_probes *t)
{
	unsigned int n = 0;

	for (int i = 0; t && i < t->nprocs; i++)
		n += t->procs[i].ntargets > 0;
	return n;
}

struct tls_probes *tls_probes__new(struct bpf_object *obj, int traced_fd)
{
	struct bpf_map *hooked = bpf_object__find_map_by_name(obj, "tls_hooked");
	struct tls_probes *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->traced_fd = traced_fd;
	t->hooked_fd = hooked ? bpf_map__fd(hooked) : -1;
	if (t->hooked_fd < 0)
		log_warn("tls: map tls_hooked missing from the BPF object");
	t->go = gotls__new(obj);
	for (int k = 0; k < TLS_HOOK__MAX; k++)
		for (int ret = 0; ret < 2; ret++) {
			t->progs[k][ret] = bpf_object__find_program_by_name(obj, hook_progs[k][ret]);
			if (!t->progs[k][ret])
				log_warn("tls: program %s missing from the BPF object",
					 hook_progs[k][ret]);
		}
	return t;
}

void tls_probes__free(struct tls_probes *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->nprocs; i++) {
		proc_detach(&t->procs[i]);
		proc_mark_hooked(t, &t->procs[i], false);
	}
	free(t->procs);
	gotls__free(t->go);
	free(t);
}
