// SPDX-License-Identifier: Apache-2.0
/*
 * YAML configuration: the seed's file works as written; every bad file in
 * tests/golden/config gives exactly the one-line error its .err file holds
 * (file:line:column, key path, what was expected); --print-config masks
 * secrets; env wins over the file.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "config_file.h"

#define DIR_CONFIG GOLDEN_DIR "/config"

static int load(struct sonde_config *cfg, const char *name, char *err, size_t size)
{
	FILE *f = fmemopen(err, size, "w");
	int rc;

	assert_non_null(f);
	config__defaults(cfg);
	rc = config__load_file(cfg, name, f);
	if (!rc)
		rc = config__finish(cfg, f);
	fclose(f);
	return rc;
}

static int setup(void **state)
{
	for (size_t i = 0; i < config_options_count; i++)
		for (int e = 0; e < CONFIG_ENV_MAX && config_options[i].env[e]; e++)
			unsetenv(config_options[i].env[e]);
	return chdir(DIR_CONFIG);
}

static void test_seed_file(void **state)
{
	struct sonde_config cfg;
	char err[512] = "";

	assert_int_equal(load(&cfg, "good_seed002.yml", err, sizeof(err)), 0);
	assert_int_equal(cfg.selectors.count, 2);
	assert_string_equal(cfg.selectors.v[0].name, "user-service");
	assert_true(port_ranges__contains(&cfg.selectors.v[0].ports, 8080));
	assert_string_equal(cfg.selectors.v[0].exe_regex, "java");
	assert_string_equal(cfg.selectors.v[1].name, "point-service");
	assert_true(port_ranges__contains(&cfg.selectors.v[1].ports, 8001));
	assert_string_equal(cfg.selectors.v[1].exe_regex, "node");
	assert_int_equal(cfg.prometheus_port, 9400);
	config__free(&cfg);
}

static void test_env_wins_over_file(void **state)
{
	struct sonde_config cfg;
	char err[512] = "";
	FILE *f = fmemopen(err, sizeof(err), "w");

	setenv("SONDE_PROMETHEUS_PORT", "9500", 1);
	config__defaults(&cfg);
	assert_int_equal(config__load_file(&cfg, "good_seed002.yml", f), 0);
	assert_int_equal(cfg.prometheus_port, 9400);
	assert_int_equal(config__from_env(&cfg, f), 0);
	assert_int_equal(config__finish(&cfg, f), 0);
	assert_int_equal(cfg.prometheus_port, 9500);
	fclose(f);
	unsetenv("SONDE_PROMETHEUS_PORT");
	config__free(&cfg);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 4096);

	assert_non_null(f);
	assert_non_null(buf);
	assert_true(fread(buf, 1, 4095, f) > 0);
	fclose(f);
	return buf;
}

static void test_bad_files_golden(void **state)
{
	DIR *d = opendir(".");
	struct dirent *de;
	int checked = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char errpath[300], err[1024] = "";
		struct sonde_config cfg;
		char *want;

		if (strncmp(de->d_name, "bad_", 4) || n < 5 || strcmp(de->d_name + n - 4, ".yml"))
			continue;
		snprintf(errpath, sizeof(errpath), "%.*s.err", (int)(n - 4), de->d_name);
		if (load(&cfg, de->d_name, err, sizeof(err)) != -EINVAL)
			fail_msg("%s was accepted", de->d_name);
		if (getenv("SONDE_REGOLD")) {
			FILE *g = fopen(errpath, "w");

			fputs(err, g);
			fclose(g);
		}
		want = slurp(errpath);
		if (strcmp(err, want))
			fail_msg("%s:\n got: %s want: %s", de->d_name, err, want);
		/* one line, naming the file and a position */
		assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1);
		assert_int_equal(strncmp(err, de->d_name, n), 0);
		free(want);
		config__free(&cfg);
		checked++;
	}
	closedir(d);
	assert_true(checked >= 12);
}

static void test_print_masks_headers(void **state)
{
	struct sonde_config cfg;
	const struct config_option *headers = NULL;
	char err[256], *out = NULL;
	size_t len = 0;
	FILE *f;

	for (size_t i = 0; i < config_options_count; i++)
		if (strstr(config_options[i].key, "headers") && config_options[i].type == CONFIG_STRING)
			headers = &config_options[i];
	if (!headers)
		skip(); /* no header option in this build */
	config__defaults(&cfg);
	assert_int_equal(config__set(&cfg, headers, "Authorization=Basic c2VjcmV0,X-Team=a", err,
				     sizeof(err)), 0);
	f = open_memstream(&out, &len);
	config__print_yaml(&cfg, f);
	fclose(f);
	assert_null(strstr(out, "c2VjcmV0"));
	assert_non_null(strstr(out, "Authorization=****"));
	free(out);
	config__free(&cfg);
}

static void test_print_roundtrip(void **state)
{
	struct sonde_config cfg, again;
	char err[512] = "";
	FILE *f;

	assert_int_equal(load(&cfg, "good_seed002.yml", err, sizeof(err)), 0);
	f = fopen("/tmp/sonde-roundtrip.yml", "w");
	assert_non_null(f);
	config__print_yaml(&cfg, f);
	fclose(f);
	if (load(&again, "/tmp/sonde-roundtrip.yml", err, sizeof(err)))
		fail_msg("printed configuration does not load back: %s", err);
	assert_int_equal(again.selectors.count, 2);
	assert_string_equal(again.selectors.v[1].name, "point-service");
	assert_int_equal(again.prometheus_port, 9400);
	config__free(&cfg);
	config__free(&again);
}

static void test_attributes_select(void **state)
{
	struct sonde_config cfg, again;
	char err[512] = "";
	const struct attr_select *s;
	FILE *f;

	assert_int_equal(load(&cfg, "good_attributes.yml", err, sizeof(err)), 0);
	assert_int_equal(cfg.attr_selects.count, 2);
	s = &cfg.attr_selects.v[0];
	assert_string_equal(s->metric, "http_server_request_duration_seconds");
	assert_int_equal(s->n_include, 1);
	assert_string_equal(s->include[0], "server_port");
	assert_int_equal(s->n_exclude, 1);
	assert_string_equal(s->exclude[0], "http_route");
	s = &cfg.attr_selects.v[1];
	assert_string_equal(s->metric, "http.client.*");
	assert_int_equal(s->n_include, 0);
	assert_int_equal(s->n_exclude, 1); /* a single name is a list of one */
	assert_string_equal(s->exclude[0], "server_port");

	/* --print-config shows the selection, and it loads back. */
	f = fopen("/tmp/sonde-roundtrip-attributes.yml", "w");
	assert_non_null(f);
	config__print_yaml(&cfg, f);
	fclose(f);
	if (load(&again, "/tmp/sonde-roundtrip-attributes.yml", err, sizeof(err)))
		fail_msg("printed configuration does not load back: %s", err);
	assert_int_equal(again.attr_selects.count, 2);
	assert_string_equal(again.attr_selects.v[1].metric, "http.client.*");
	assert_string_equal(again.attr_selects.v[0].include[0], "server_port");
	assert_string_equal(again.attr_selects.v[0].exclude[0], "http_route");
	config__free(&cfg);
	config__free(&again);
}

static void write_file(const char *path, const char *text, size_t pad)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	for (size_t i = 0; i < pad; i++)
		fputc(i % 64 == 63 ? '\n' : ' ', f);
	fclose(f);
}

/* A file over 1 MiB is refused before parsing; one just under is read. */
static void test_size_bound(void **state)
{
	const char *path = "/tmp/sonde-test-big.yml";
	const char *head = "discovery:\n  services:\n    - open_ports: 8080\n# padding\n";
	struct sonde_config cfg;
	char err[512] = "";

	write_file(path, head, (1u << 20) - strlen(head));
	assert_int_equal(load(&cfg, path, err, sizeof(err)), 0);
	config__free(&cfg);
	write_file(path, head, (1u << 20) - strlen(head) + 1);
	assert_int_equal(load(&cfg, path, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/tmp/sonde-test-big.yml: the configuration file is larger than "
				 "1024 KiB\n");
	config__free(&cfg);
	unlink(path);
}

/* 200,000 levels of nesting are refused at once (libyaml alone takes
 * tens of seconds to build them), 64 are accepted by the parser. */
static void test_depth_bound_is_fast(void **state)
{
	const char *path = "/tmp/sonde-test-deep.yml";
	struct sonde_config cfg;
	char err[512] = "";
	struct timespec t0, t1;
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs("discovery:\n  services:\n    - open_ports: 8080\nx: ", f);
	for (int i = 0; i < 200000; i++)
		fputc('[', f);
	for (int i = 0; i < 200000; i++)
		fputc(']', f);
	fputc('\n', f);
	fclose(f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(load(&cfg, path, err, sizeof(err)), -EINVAL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_string_equal(err, "/tmp/sonde-test-deep.yml:4:67: nested deeper than 64 levels\n");
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	config__free(&cfg);
	/* 64 levels (63 of brackets under the top mapping) parse; the key is
	 * then unknown, which is the next check */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("discovery:\n  services:\n    - open_ports: 8080\nx: ", f);
	for (int i = 0; i < 63; i++)
		fputc('[', f);
	for (int i = 0; i < 63; i++)
		fputc(']', f);
	fputc('\n', f);
	fclose(f);
	assert_int_equal(load(&cfg, path, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/tmp/sonde-test-deep.yml:4:1: x: unknown key (see sonde --help for "
				 "the keys)\n");
	config__free(&cfg);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_seed_file, setup),
		cmocka_unit_test_setup(test_env_wins_over_file, setup),
		cmocka_unit_test_setup(test_bad_files_golden, setup),
		cmocka_unit_test_setup(test_size_bound, setup),
		cmocka_unit_test_setup(test_depth_bound_is_fast, setup),
		cmocka_unit_test_setup(test_print_masks_headers, setup),
		cmocka_unit_test_setup(test_print_roundtrip, setup),
		cmocka_unit_test_setup(test_attributes_select, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
