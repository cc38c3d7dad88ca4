// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of what probes_tls.c decides about a traced process's files:
 * which mapped files are libssl, whether an executable carries OpenSSL
 * itself (with symbols to attach to, or stripped: reported), and where in
 * them the uprobes go (tls_hookpoints.c). On real
 * binaries: OpenSSL programs built here, linked statically against
 * Debian's libssl.a, then stripped; nginx (libssl.so, imported symbols);
 * a program without OpenSSL.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "probes_tls.h"
#include "tls_hookpoints.h"

static char dir[] = "/tmp/sonde-test-tls-XXXXXX";

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
		cmocka_unit_test(test_static_points),
		cmocka_unit_test(test_mini_libssl_points),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
