// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of what probes_tls.c decides about a traced process's files:
 * which mapped files are libssl, whether an executable carries OpenSSL
 * itself (with symbols to attach to, or stripped: reported), and where in
 * them the uprobes go (tls_hookpoints.c). On real
 * binaries: OpenSSL programs built here, linked statically against
 * Debian's libssl.a, then stripped; nginx (libssl.so, imported symbols);
 * a program without OpenSSL; Debian 11's libssl.so.1.1 (OpenSSL 1.1.1,
 * unpacked by scripts/setup.sh), checked against GNU objdump.
 */
#include <fcntl.h>
#include <stdbool.h>
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

#include "probes_tls.h"
#include "tls_hookpoints.h"

static char dir[] = "/tmp/sonde-test-tls-XXXXXX";

/* Debian 11's libssl1.1 package, unpacked by scripts/setup.sh */
#define LIBSSL11 "/var/cache/sonde/openssl-1.1/root/usr/lib/x86_64-linux-gnu/libssl.so.1.1"

static const char program[] =
	"#include <openssl/ssl.h>\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());\n"
	"	SSL *ssl = SSL_new(ctx);\n"
	"	char b[16];\n"
	"	if (argc > 5) { SSL_read(ssl, b, sizeof(b)); SSL_write(ssl, b, 1); }\n"
	"	SSL_free(ssl);\n"
	"	SSL_CTX_free(ctx);\n"
	"	return 0;\n"
	"}\n";

static int run(const char *cmd)
{
	int rc = system(cmd);

	if (rc)
		fprintf(stderr, "failed (%d): %s\n", rc, cmd);
	return rc;
}

/* Builds static (OpenSSL linked in), static-stripped and dynamic copies. */
static int setup(void **state)
{
	char cmd[1024];
	FILE *f;

	if (!mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/p.c", dir);
	f = fopen(cmd, "w");
	if (!f)
		return -1;
	fputs(program, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && cc -o static p.c -Wl,-Bstatic -lssl -lcrypto -Wl,-Bdynamic -lpthread "
		 "-ldl && cp static stripped && strip stripped && cc -o dynamic p.c -lssl -lcrypto",
		 dir);
	return run(cmd) ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return run(cmd);
}

static enum tls_exe_kind kind_of(const char *path)
{
	int fd = open(path, O_RDONLY);
	enum tls_exe_kind k;

	assert_true(fd >= 0);
	k = tls_exe_kind(fd);
	close(fd);
	return k;
}

static enum tls_exe_kind kind_in_dir(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return kind_of(path);
}

static void test_libssl_names(void **state)
{
	assert_true(tls_is_libssl("/usr/lib/x86_64-linux-gnu/libssl.so.3"));
	assert_true(tls_is_libssl("/usr/lib/x86_64-linux-gnu/libssl.so.1.1"));
	assert_true(tls_is_libssl("/opt/app/lib/libssl.so"));
	assert_true(tls_is_libssl("libssl.so.3"));
	/* NSS's libssl3.so has another API; libcrypto has no SSL_read */
	assert_false(tls_is_libssl("/usr/lib/x86_64-linux-gnu/libssl3.so"));
	assert_false(tls_is_libssl("/usr/lib/x86_64-linux-gnu/libcrypto.so.3"));
	assert_false(tls_is_libssl("/home/libssl.so.3/python3"));
	assert_false(tls_is_libssl("/usr/lib/libgnutls.so.30"));
}

static void test_static_openssl_with_symbols(void **state)
{
	assert_int_equal(kind_in_dir("static"), TLS_EXE_OPENSSL_SYMBOLS);
}

static void test_static_openssl_stripped(void **state)
{
	assert_int_equal(kind_in_dir("stripped"), TLS_EXE_OPENSSL_STRIPPED);
}

static void test_dynamic_openssl_user(void **state)
{
	/* imports SSL_read from libssl.so: the library is attached, not it */
	assert_int_equal(kind_in_dir("dynamic"), TLS_EXE_NONE);
	assert_int_equal(kind_of("/usr/sbin/nginx"), TLS_EXE_NONE);
}

static void test_no_openssl(void **state)
{
	assert_int_equal(kind_of("/bin/true"), TLS_EXE_NONE);
	assert_int_equal(kind_in_dir("p.c"), TLS_EXE_NONE); /* not ELF */
}

static void test_libssl_itself(void **state)
{
	/* a library defines SSL_read: what proc_scan_maps attaches to */
	assert_int_equal(kind_of("/usr/lib/x86_64-linux-gnu/libssl.so.3"), TLS_EXE_OPENSSL_SYMBOLS);
}

static int points_of(const char *path, struct tls_hook_point *pts)
{
	int fd = open(path, O_RDONLY), n;

	assert_true(fd >= 0);
	n = tls_hook_points(fd, pts);
	close(fd);
	return n;
}

static void test_emulated_instructions(void **state)
{
	static const uint8_t push_rbp[] = { 0x55 }, push_r12[] = { 0x41, 0x54 },
			     call[] = { 0xe8, 0, 0, 0, 0 }, jmp8[] = { 0xeb, 0x10 },
			     js[] = { 0x78, 0x2f }, jne32[] = { 0x0f, 0x85, 0, 0, 0, 0 },
			     nop[] = { 0x90 }, sub_rsp[] = { 0x48, 0x83, 0xec, 0x18 },
			     lea[] = { 0x8d, 0x47, 0x01 }, mov[] = { 0x48, 0x89, 0xe5 },
			     ret[] = { 0xc3 }, endbr[] = { 0xf3, 0x0f, 0x1e, 0xfa };

	assert_true(tls_insn_emulated(push_rbp, 1));
	assert_true(tls_insn_emulated(push_r12, 2));
	assert_true(tls_insn_emulated(call, 5));
	assert_true(tls_insn_emulated(jmp8, 2));
	assert_true(tls_insn_emulated(js, 2));
	assert_true(tls_insn_emulated(jne32, 6));
	assert_true(tls_insn_emulated(nop, 1));
	assert_false(tls_insn_emulated(sub_rsp, 4));
	assert_false(tls_insn_emulated(lea, 3));
	assert_false(tls_insn_emulated(mov, 3));
	assert_false(tls_insn_emulated(ret, 1));
	assert_false(tls_insn_emulated(endbr, 4));
	assert_false(tls_insn_emulated(push_r12, 1)); /* cut short */
	assert_false(tls_insn_emulated(jne32, 1));
}

/* Debian's libssl.so.3: SSL_read and SSL_write begin with sub (single-
 * stepped); both wrappers of each direction call one internal function
 * that begins with push: one emulated pair per direction, there. */
static void test_libssl_points(void **state)
{
	struct tls_hook_point pts[TLS_HOOK_POINTS_MAX];
	int n = points_of("/usr/lib/x86_64-linux-gnu/libssl.so.3", pts);
	uint8_t b[2];
	int fd;

	assert_int_equal(n, 2);
	assert_int_equal(pts[0].kind, TLS_HOOK_READ_EX);
	assert_int_equal(pts[1].kind, TLS_HOOK_WRITE_EX);
	assert_string_equal(pts[0].name, "SSL_read*");
	assert_string_equal(pts[1].name, "SSL_write*");
	fd = open("/usr/lib/x86_64-linux-gnu/libssl.so.3", O_RDONLY);
	for (int i = 0; i < n; i++) {
		assert_true(pts[i].internal && pts[i].emulated);
		/* the probed instruction is what the kernel emulates */
		assert_int_equal(pread(fd, b, 2, (off_t)pts[i].offset), 2);
		assert_true(tls_insn_emulated(b, 2));
	}
	assert_true(pts[0].offset != pts[1].offset);
	close(fd);
}

/* What GNU objdump says of a library: the addresses where its
 * instructions begin, and the first call each of SSL_read, SSL_read_ex,
 * SSL_write, SSL_write_ex makes (0: none). */
struct objdump_view {
	uint64_t *insns;
	size_t n;
	uint64_t first_call[4];
};

static const char *const wrappers[4] = { "SSL_read", "SSL_read_ex", "SSL_write", "SSL_write_ex" };

static void objdump_read(const char *path, struct objdump_view *v)
{
	char cmd[512], line[512], fn[128] = "";
	size_t cap = 1 << 16;
	FILE *p;

	memset(v, 0, sizeof(*v));
	v->insns = malloc(cap * sizeof(*v->insns));
	assert_non_null(v->insns);
	snprintf(cmd, sizeof(cmd), "objdump -d --no-show-raw-insn -j .text %s", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		unsigned long long a, target;
		char name[128], *call;
		int w = -1;

		if (sscanf(line, "%llx <%127[^>]>:", &a, name) == 2) {
			snprintf(fn, sizeof(fn), "%s", name);
			continue;
		}
		if (line[0] != ' ' || sscanf(line, " %llx:", &a) != 1)
			continue;
		if (v->n == cap) {
			cap *= 2;
			v->insns = realloc(v->insns, cap * sizeof(*v->insns));
			assert_non_null(v->insns);
		}
		v->insns[v->n++] = a;
		for (int i = 0; i < 4; i++) {
			size_t len = strlen(wrappers[i]);

			if (!strncmp(fn, wrappers[i], len) && fn[len] == '@')
				w = i;
		}
		call = strstr(line, "\tcall ");
		if (w >= 0 && call && !v->first_call[w] && sscanf(call, "\tcall %llx", &target) == 1)
			v->first_call[w] = target;
	}
	assert_int_equal(pclose(p), 0);
}

static bool objdump_insn_at(const struct objdump_view *v, uint64_t a)
{
	size_t lo = 0, hi = v->n; /* objdump lists them in order */

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v->insns[mid] == a)
			return true;
		if (v->insns[mid] < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Debian 11's libssl.so.1.1 (OpenSSL 1.1.1w): its wrappers begin with sub
 * as 3's do, and each pair calls one internal function first (unnamed
 * there: ssl_read_internal, ssl_write_internal) beginning with push: the
 * points are those functions, at instruction starts, as objdump reads the
 * file (its text is mapped at its file offset: the address is the offset). */
static void test_libssl11_points(void **state)
{
	struct tls_hook_point pts[TLS_HOOK_POINTS_MAX];
	struct objdump_view v;
	uint8_t b[2];
	int fd, n;

	fd = open(LIBSSL11, O_RDONLY);
	if (fd < 0)
		fail_msg("%s missing: run scripts/setup.sh", LIBSSL11);
	close(fd);
	assert_int_equal(kind_of(LIBSSL11), TLS_EXE_OPENSSL_SYMBOLS);
	objdump_read(LIBSSL11, &v);
	assert_true(v.n > 10000);
	for (int i = 0; i < 4; i++)
		assert_true(v.first_call[i] != 0); /* all four wrappers found by objdump */
	/* both wrappers of a direction call the same function, read and write differ */
	assert_true(v.first_call[0] == v.first_call[1]);
	assert_true(v.first_call[2] == v.first_call[3]);
	assert_true(v.first_call[0] != v.first_call[2]);

	n = points_of(LIBSSL11, pts);
	assert_int_equal(n, 2);
	assert_int_equal(pts[0].kind, TLS_HOOK_READ_EX);
	assert_int_equal(pts[1].kind, TLS_HOOK_WRITE_EX);
	assert_string_equal(pts[0].name, "SSL_read*");
	assert_string_equal(pts[1].name, "SSL_write*");
	assert_int_equal(pts[0].offset, v.first_call[0]);
	assert_int_equal(pts[1].offset, v.first_call[2]);
	fd = open(LIBSSL11, O_RDONLY);
	for (int i = 0; i < n; i++) {
		assert_true(pts[i].internal && pts[i].emulated);
		assert_true(objdump_insn_at(&v, pts[i].offset));
		assert_int_equal(pread(fd, b, 2, (off_t)pts[i].offset), 2);
		assert_true(tls_insn_emulated(b, 2));
	}
	close(fd);
	free(v.insns);
}

/* The fuzz seed (tests/fuzz/seeds/fuzz_tls_elf/mini_libssl.so): wrappers
 * beginning with sub, internal functions with push: the internal ones,
 * each once, though two wrappers call it. */
static void test_mini_libssl_points(void **state)
{
	struct tls_hook_point pts[TLS_HOOK_POINTS_MAX];
	int n = points_of(GOLDEN_DIR "/../fuzz/seeds/fuzz_tls_elf/mini_libssl.so", pts);

	assert_int_equal(n, 2);
	assert_true(pts[0].internal && pts[0].emulated && pts[0].kind == TLS_HOOK_READ_EX);
	assert_true(pts[1].internal && pts[1].emulated && pts[1].kind == TLS_HOOK_WRITE_EX);
}

/* A program with OpenSSL linked in: points whichever way it was compiled,
 * one per direction at least, each on an instruction of the file. */
static void test_static_points(void **state)
{
	struct tls_hook_point pts[TLS_HOOK_POINTS_MAX];
	char path[128];
	int n;

	snprintf(path, sizeof(path), "%s/static", dir);
	n = points_of(path, pts);
	assert_true(n >= 2);
	for (int i = 0; i < n; i++)
		assert_true(pts[i].offset > 0);
	/* no symbols, no points */
	snprintf(path, sizeof(path), "%s/stripped", dir);
	assert_int_equal(points_of(path, pts), 0);
	assert_int_equal(points_of("/bin/true", pts), 0);
}

/* A copy of Debian's libssl.so.3 in the test directory, for changing it. */
static void copy_libssl(const char *name, char *path, size_t len)
{
	char cmd[512];

	snprintf(path, len, "%s/%s", dir, name);
	snprintf(cmd, sizeof(cmd), "cp /usr/lib/x86_64-linux-gnu/libssl.so.3 %s", path);
	assert_int_equal(run(cmd), 0);
}

/* Another machine's image: not decoded as x86-64 (reviewer: an aarch64
 * libssl under qemu-user, an i386 one), so no points. */
static void test_other_machine(void **state)
{
	struct tls_hook_point pts[TLS_HOOK_POINTS_MAX];
	uint16_t aarch64 = 183; /* EM_AARCH64, little-endian like the file */
	uint8_t class32 = 1;	/* ELFCLASS32 */
	char path[128];
	int fd;

	copy_libssl("arm", path, sizeof(path));
	assert_int_equal(points_of(path, pts), 2); /* the copy itself is fine */
	fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, &aarch64, 2, 18), 2); /* e_machine */
	close(fd);
	assert_int_equal(points_of(path, pts), TLS_HOOK_WRONG_MACHINE);

	copy_libssl("class32", path, sizeof(path));
	fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, &class32, 1, 4), 1); /* e_ident[EI_CLASS] */
	close(fd);
	assert_int_equal(points_of(path, pts), TLS_HOOK_WRONG_MACHINE);
}

/* A file's identity is more than its inode: the same inode rewritten
 * (a library upgraded in place, an inode reused) is another file. */
static void test_file_identity(void **state)
{
	struct tls_file_id a, b;
	struct stat st;
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/ident", dir);
	fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abcd", 4), 4);
	assert_int_equal(fstat(fd, &st), 0);
	tls_file_id_of(&a, &st);
	tls_file_id_of(&b, &st);
	assert_true(tls_file_id_eq(&a, &b));
	/* the same size, rewritten: the same inode, a new mtime and ctime */
	st.st_mtim.tv_nsec ^= 1;
	tls_file_id_of(&b, &st);
	assert_false(tls_file_id_eq(&a, &b));
	assert_int_equal(ftruncate(fd, 8), 0);
	assert_int_equal(fstat(fd, &st), 0);
	tls_file_id_of(&b, &st);
	assert_int_equal(a.ino, b.ino);
	assert_false(tls_file_id_eq(&a, &b));
	close(fd);
}

/* The code planned at each point is checked again before attaching: a
 * file changed since is seen. */
static void test_code_recheck(void **state)
{
	struct tls_hook_point pts[TLS_HOOK_POINTS_MAX];
	uint8_t int3 = 0xcc;
	char path[128];
	int n, fd;

	copy_libssl("recheck", path, sizeof(path));
	n = points_of(path, pts);
	assert_int_equal(n, 2);
	fd = open(path, O_RDWR);
	for (int i = 0; i < n; i++)
		assert_true(tls_code_matches(fd, pts[i].offset, pts[i].code, TLS_HOOK_CODE));
	/* a byte inside the window of the second point changes */
	assert_int_equal(pwrite(fd, &int3, 1, (off_t)pts[1].offset + 3), 1);
	assert_true(tls_code_matches(fd, pts[0].offset, pts[0].code, TLS_HOOK_CODE));
	assert_false(tls_code_matches(fd, pts[1].offset, pts[1].code, TLS_HOOK_CODE));
	/* past the end of the file: not the planned code */
	assert_false(tls_code_matches(fd, 1ull << 40, pts[0].code, TLS_HOOK_CODE));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libssl_names),
		cmocka_unit_test(test_static_openssl_with_symbols),
		cmocka_unit_test(test_static_openssl_stripped),
		cmocka_unit_test(test_dynamic_openssl_user),
		cmocka_unit_test(test_no_openssl),
		cmocka_unit_test(test_libssl_itself),
		cmocka_unit_test(test_emulated_instructions),
		cmocka_unit_test(test_libssl_points),
		cmocka_unit_test(test_libssl11_points),
		cmocka_unit_test(test_static_points),
		cmocka_unit_test(test_mini_libssl_points),
		cmocka_unit_test(test_other_machine),
		cmocka_unit_test(test_file_identity),
		cmocka_unit_test(test_code_recheck),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
