// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of what probes_tls.c decides about a traced process's files:
 * which mapped files are libssl, and whether an executable carries OpenSSL
 * itself (with symbols to attach to, or stripped: reported). On real
 * binaries: OpenSSL programs built here, linked statically against
 * Debian's libssl.a, then stripped; nginx (libssl.so, imported symbols);
 * a program without OpenSSL.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "probes_tls.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libssl_names),
		cmocka_unit_test(test_static_openssl_with_symbols),
		cmocka_unit_test(test_static_openssl_stripped),
		cmocka_unit_test(test_dynamic_openssl_user),
		cmocka_unit_test(test_no_openssl),
		cmocka_unit_test(test_libssl_itself),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
