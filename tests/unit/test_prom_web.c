// SPDX-License-Identifier: Apache-2.0
/* The Prometheus web configuration file and the endpoint's address: export/prom_web.c. */
#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "export/prom_web.h"

static char dir[64];
static char hash[128]; /* bcrypt of "s3cret", made here */

static void path_in(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static void write_file(const char *name, const char *text)
{
	char p[128];
	FILE *f;

	path_in(p, sizeof(p), name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	char cmd[512], salt[64];
	struct crypt_data cd;
	const char *h;

	snprintf(dir, sizeof(dir), "/tmp/sonde-prom-webXXXXXX");
	if (!mkdtemp(dir))
		return -1;
	/* A certificate and key, and a second key that does not match it. */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-subj /CN=localhost -days 1 -keyout server.key -out server.crt 2>/dev/null && "
		 "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key "
		 "2>/dev/null",
		 dir);
	if (system(cmd))
		return -1;
	if (!crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)))
		return -1;
	memset(&cd, 0, sizeof(cd));
	h = crypt_r("s3cret", salt, &cd);
	if (!h || h[0] != '$')
		return -1;
	snprintf(hash, sizeof(hash), "%s", h);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Loads @text as a web config file: 0 or -errno, the reason in @err. */
static int load(const char *text, struct prom_web *w, char *err, size_t size)
{
	char p[128];

	write_file("web.yml", text);
	path_in(p, sizeof(p), "web.yml");
	return prom_web__load(p, w, err, size);
}

static void test_tls_and_users(void **state)
{
	char text[512], err[256];
	struct prom_web w;

	/* Relative files are found next to the web config file. */
	snprintf(text, sizeof(text),
		 "tls_server_config:\n  cert_file: server.crt\n  key_file: %s/server.key\n"
		 "  min_version: TLS12\nbasic_auth_users:\n  prometheus: %s\n  other: '%s'\n",
		 dir, hash, hash);
	assert_int_equal(load(text, &w, err, sizeof(err)), 0);
	assert_non_null(w.cert_pem);
	assert_non_null(strstr(w.cert_pem, "BEGIN CERTIFICATE"));
	assert_non_null(strstr(w.key_pem, "PRIVATE KEY"));
	assert_string_equal(w.priorities, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3");
	assert_int_equal(w.nusers, 2);
	assert_true(prom_web__needs_auth(&w));
	assert_true(prom_web__authorized(&w, "prometheus", "s3cret"));
	assert_true(prom_web__authorized(&w, "prometheus", "s3cret")); /* cached */
	assert_false(prom_web__authorized(&w, "prometheus", "s3cret "));
	assert_false(prom_web__authorized(&w, "prometheus", "S3cret"));
	assert_false(prom_web__authorized(&w, "prometheus", ""));
	assert_false(prom_web__authorized(&w, "nobody", "s3cret"));
	assert_false(prom_web__authorized(&w, NULL, NULL));
	assert_false(prom_web__authorized(&w, "prometheus", NULL));
	assert_true(prom_web__authorized(&w, "other", "s3cret"));
	prom_web__free(&w);
}

static void test_empty_and_users_only(void **state)
{
	char text[256], err[256];
	struct prom_web w;

	assert_int_equal(load("", &w, err, sizeof(err)), 0);
	assert_null(w.cert_pem);
	assert_false(prom_web__needs_auth(&w));
	assert_true(prom_web__authorized(&w, NULL, NULL));
	prom_web__free(&w);
	snprintf(text, sizeof(text), "basic_auth_users:\n  u: %s\n", hash);
	assert_int_equal(load(text, &w, err, sizeof(err)), 0);
	assert_null(w.cert_pem);
	assert_true(prom_web__authorized(&w, "u", "s3cret"));
	assert_false(prom_web__authorized(&w, "u", "wrong"));
	prom_web__free(&w);
}

/* Each bad file gives an error whose text names the problem. */
static void test_bad_files(void **state)
{
	static const struct {
		const char *text;
		const char *says;
	} cases[] = {
		{ "tls_server_config:\n  cert_file: server.crt\n", "both cert_file and key_file" },
		{ "tls_server_config:\n  key_file: server.key\n", "both cert_file and key_file" },
		{ "tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n",
		  "No such file" },
		{ "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
		  "certificate" },
		{ "tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n",
		  "certificate" },
		{ "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
		  "  client_ca_file: ca.crt\n",
		  "client_ca_file is not supported" },
		{ "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
		  "  min_version: TLS9\n",
		  "not one of" },
		{ "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
		  "  min_version: TLS13\n  max_version: TLS12\n",
		  "above max_version" },
		{ "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
		  "  cert_file: server.crt\n",
		  "duplicate key cert_file" },
		{ "basic_auth_users:\n  admin: plaintext\n", "not a bcrypt hash" },
		{ "basic_auth_users:\n  admin: $1$abc$def\n", "not a bcrypt hash" },
		{ "basic_auth_users:\n  admin:\n    - x\n", "not a bcrypt hash" },
		{ "basic_auth_users: [a, b]\n", "must be a mapping" },
		{ "tls_config:\n  cert_file: x\n", "unknown key tls_config" },
		{ "http_server_config:\n  http2: false\n", "not supported" },
		{ "- a\n- b\n", "must be a mapping" },
		{ "tls_server_config: {cert_file: [\n", "line" },
	};
	char err[256];
	struct prom_web w;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (load(cases[i].text, &w, err, sizeof(err)) != -EINVAL)
			fail_msg("case %zu: loaded (or not -EINVAL): %s", i, cases[i].text);
		if (!strstr(err, cases[i].says))
			fail_msg("case %zu: error '%s' does not say '%s'", i, err, cases[i].says);
		assert_null(strchr(err, '\n'));
	}
}

static void test_not_a_file(void **state)
{
	char p[128], err[256], *big;
	struct prom_web w;

	path_in(p, sizeof(p), "fifo.yml");
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(prom_web__load(p, &w, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(prom_web__load("/nonexistent/web.yml", &w, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "No such file"));
	big = malloc(PROM_WEB_FILE_MAX + 16);
	assert_non_null(big);
	memset(big, '#', PROM_WEB_FILE_MAX + 15);
	big[PROM_WEB_FILE_MAX + 15] = '\0';
	assert_int_equal(load(big, &w, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "larger than"));
	free(big);
}

static void test_addresses(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256];

	assert_int_equal(prom_web__parse_address("127.0.0.1", 9400, &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9400);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	assert_int_equal(prom_web__parse_address("[::1]", 9401, &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 9401);
	assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr));
	assert_int_equal(prom_web__parse_address("::", 1, &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(prom_web__parse_address("", 1, &ss, &len, err, sizeof(err)), -EINVAL);
	assert_int_equal(prom_web__parse_address("300.1.2.3.invalid.", 1, &ss, &len, err,
						 sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "not an address"));
}

/* The start-up check prints one line and refuses; a good setup passes. */
static void test_check(void **state)
{
	struct sonde_config cfg = { 0 };
	char p[128], *out = NULL;
	size_t len = 0;
	FILE *f;

	write_file("bad.yml", "basic_auth_users:\n  admin: plaintext\n");
	path_in(p, sizeof(p), "bad.yml");
	cfg.prometheus_port = 9400;
	cfg.prometheus_web_config = p;
	f = open_memstream(&out, &len);
	assert_int_equal(prom_web__check(&cfg, f), -EINVAL);
	fclose(f);
	assert_non_null(strstr(out, "bad Prometheus web config file"));
	assert_non_null(strchr(out, '\n'));
	assert_null(strchr(out, '\n') + 1 < out + len ? strchr(strchr(out, '\n') + 1, '\n') : NULL);
	free(out);
	out = NULL;
	cfg.prometheus_web_config = NULL;
	cfg.prometheus_address = "not an address!";
	f = open_memstream(&out, &len);
	assert_int_equal(prom_web__check(&cfg, f), -EINVAL);
	fclose(f);
	assert_non_null(strstr(out, "SONDE_PROMETHEUS_ADDRESS"));
	free(out);
	cfg.prometheus_address = "::1";
	assert_int_equal(prom_web__check(&cfg, stderr), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_and_users),
		cmocka_unit_test(test_empty_and_users_only),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_not_a_file),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
