// SPDX-License-Identifier: Apache-2.0
/* Service names from command lines: never "java" or "python" when better exists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "discovery.h"

struct name_case {
	const char *exe;
	const char *argv[8];
	const char *want;
	const char *runtime;
};

static void name_of(const struct name_case *c, char *out, size_t size, char *runtime)
{
	char argv[1024];
	size_t len = 0;

	for (int i = 0; c->argv[i]; i++) {
		size_t n = strlen(c->argv[i]) + 1;

		memcpy(argv + len, c->argv[i], n);
		len += n;
	}
	service_name_from_cmdline(c->exe, argv, len, out, size, runtime, 16);
}

static void test_names(void **state)
{
	static const struct name_case cases[] = {
		{ "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
		  { "java", "-Xmx512m", "-jar", "/srv/user-service.jar", NULL }, "user-service", "java" },
		{ "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
		  { "java", "-cp", "/srv/classes:/srv/lib/*", "-Dfoo=bar", "com.example.PointServer", "8080", NULL },
		  "PointServer", "java" },
		{ "/usr/bin/python3.11", { "python3", "/srv/app/frontend.py", "--port", "5000", NULL },
		  "frontend", "python" },
		{ "/usr/bin/python3.11", { "python3", "-u", "-m", "http.server", "8000", NULL },
		  "http.server", "python" },
		{ "/usr/bin/node", { "node", "/srv/point/point-service.js", NULL }, "point-service", "node" },
		{ "/usr/bin/ruby3.1", { "ruby", "/srv/app/shop.rb", NULL }, "shop", "ruby" },
		{ "/usr/sbin/nginx", { "nginx: worker process", NULL }, "nginx", "" },
		{ "/opt/svc/checkout", { "/opt/svc/checkout", "-listen", ":8080", NULL }, "checkout", "" },
		/* No script given: fall back to the interpreter's name. */
		{ "/usr/bin/python3.11", { "python3", NULL }, "python3.11", "python" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[128], runtime[16];

		name_of(&cases[i], out, sizeof(out), runtime);
		if (strcmp(out, cases[i].want) || strcmp(runtime, cases[i].runtime))
			fail_msg("case %zu: got '%s'/'%s', want '%s'/'%s'", i, out, runtime,
				 cases[i].want, cases[i].runtime);
	}
}

/* Node's generic entry points take the package name. */
static void test_node_package_json(void **state)
{
	char dir[] = "/tmp/sonde-test-pkgXXXXXX", path[256], out[128], runtime[16];
	struct name_case c = { "/usr/bin/node", { "node", path, NULL }, NULL, NULL };
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/package.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\n  \"version\": \"1.0.0\",\n  \"name\": \"point-service\"\n}\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/index.js", dir);
	name_of(&c, out, sizeof(out), runtime);
	assert_string_equal(out, "point-service");
	snprintf(path, sizeof(path), "%s/package.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/index.js", dir);
	name_of(&c, out, sizeof(out), runtime);
	assert_string_equal(out, "index");
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_node_package_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
