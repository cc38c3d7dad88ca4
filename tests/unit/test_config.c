// SPDX-License-Identifier: Apache-2.0
/* The configuration table: defaults, every env alias, bad values, help. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static void clear_env(void)
{
	for (size_t i = 0; i < config_options_count; i++)
		for (int e = 0; e < CONFIG_ENV_MAX && config_options[i].env[e]; e++)
			unsetenv(config_options[i].env[e]);
}

static int setup(void **state)
{
	clear_env();
	return 0;
}

/* Parse the environment into a fresh config; return the error output. */
static int from_env(struct sonde_config *cfg, char *errbuf, size_t size)
{
	FILE *f = fmemopen(errbuf, size, "w");
	int rc;

	assert_non_null(f);
	config__defaults(cfg);
	rc = config__from_env(cfg, f);
	if (!rc)
		rc = config__finish(cfg, f);
	fclose(f);
	return rc;
}

static void test_defaults_parse(void **state)
{
	struct sonde_config cfg;

	config__defaults(&cfg);
	assert_int_equal(cfg.discovery_interval_ms, 2000);
	assert_int_equal(cfg.poll_ms, 50);
	assert_int_equal(cfg.wakeup_bytes, 64 << 10);
	assert_int_equal(cfg.route_cap, 100);
	assert_int_equal(cfg.log_level, LOG_INFO);
	assert_int_equal(cfg.metrics_naming, NAMING_OTEL);
	assert_string_equal(cfg.prometheus_path, "/metrics");
	assert_int_equal(cfg.prometheus_port, 0);
	config__free(&cfg);
}

/* Every environment name of the open-port option is honored. */
static void test_every_open_port_alias(void **state)
{
	const struct config_option *opt = NULL;
	char err[256];

	for (size_t i = 0; i < config_options_count; i++)
		if (!strcmp(config_options[i].key, "discovery.open_ports"))
			opt = &config_options[i];
	assert_non_null(opt);
	for (int e = 0; e < CONFIG_ENV_MAX && opt->env[e]; e++) {
		struct sonde_config cfg;

		clear_env();
		setenv(opt->env[e], "80,443,8000-8999", 1);
		assert_int_equal(from_env(&cfg, err, sizeof(err)), 0);
		assert_int_equal(cfg.open_ports.count, 3);
		assert_true(port_ranges__contains(&cfg.open_ports, 443));
		assert_true(port_ranges__contains(&cfg.open_ports, 8500));
		assert_false(port_ranges__contains(&cfg.open_ports, 444));
		assert_false(port_ranges__contains(&cfg.open_ports, 9000));
		config__free(&cfg);
	}
	/* The seed names are all there. */
	assert_string_equal(opt->env[1], "OPEN_PORT");
}

static void test_seed_env(void **state)
{
	struct sonde_config cfg;
	char err[256] = "";

	setenv("PRINT_TRACES", "true", 1);
	setenv("OPEN_PORT", "8080", 1);
	setenv("OTEL_EBPF_SERVICE_NAME", "frontend", 1);
	setenv("BEYLA_PROMETHEUS_PORT", "9400", 1);
	assert_int_equal(from_env(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.trace_printer, PRINTER_TEXT);
	assert_string_equal(cfg.service_name, "frontend");
	assert_int_equal(cfg.prometheus_port, 9400);
	config__free(&cfg);
}

static void test_sonde_name_wins_over_alias(void **state)
{
	struct sonde_config cfg;
	char err[256];

	setenv("SONDE_OPEN_PORT", "7000", 1);
	setenv("OPEN_PORT", "8080", 1);
	assert_int_equal(from_env(&cfg, err, sizeof(err)), 0);
	assert_true(port_ranges__contains(&cfg.open_ports, 7000));
	assert_false(port_ranges__contains(&cfg.open_ports, 8080));
	config__free(&cfg);
}

static void test_printer_choices(void **state)
{
	struct sonde_config cfg;
	char err[256];

	setenv("OPEN_PORT", "80", 1);
	setenv("SONDE_TRACE_PRINTER", "JSON", 1);
	assert_int_equal(from_env(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.trace_printer, PRINTER_JSON);
	config__free(&cfg);

	setenv("SONDE_TRACE_PRINTER", "disabled", 1);
	setenv("SONDE_PROMETHEUS_PORT", "9400", 1);
	assert_int_equal(from_env(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.trace_printer, PRINTER_DISABLED);
	config__free(&cfg);
}

/* With no output configured, traces are printed and the user told so. */
static void test_no_output_prints(void **state)
{
	struct sonde_config cfg;
	char err[512] = "";

	setenv("OPEN_PORT", "80", 1);
	assert_int_equal(from_env(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.trace_printer, PRINTER_TEXT);
	assert_non_null(strstr(err, "printing traces"));
	config__free(&cfg);

	/* An OTLP endpoint is an output too. */
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317", 1);
	assert_int_equal(from_env(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.trace_printer, PRINTER_DISABLED);
	config__free(&cfg);
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");

	/* A metrics endpoint alone is an output: no printing then. */
	setenv("SONDE_PROMETHEUS_PORT", "9400", 1);
	memset(err, 0, sizeof(err));
	assert_int_equal(from_env(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.trace_printer, PRINTER_DISABLED);
	config__free(&cfg);
}

struct bad_case {
	const char *var, *value, *expect;
};

/* Each bad value yields one line that names the variable and what was expected. */
static void test_bad_values(void **state)
{
	static const struct bad_case cases[] = {
		{ "OPEN_PORT", "abc", "OPEN_PORT: 'abc' is not a port list" },
		{ "OPEN_PORT", "70000", "not a port list" },
		{ "OPEN_PORT", "9000-8000", "not a port list" },
		{ "OPEN_PORT", "0", "not a port list" },
		{ "SONDE_PROMETHEUS_PORT", "-1", "SONDE_PROMETHEUS_PORT: '-1' is not a port" },
		{ "PRINT_TRACES", "maybe", "PRINT_TRACES: 'maybe' is not a boolean" },
		{ "SONDE_TRACE_PRINTER", "xml", "is not one of disabled text json" },
		{ "SONDE_EXECUTABLE_NAME", "(", "is not a valid regular expression" },
		{ "SONDE_DISCOVERY_INTERVAL", "soon", "is not a duration" },
		{ "SONDE_TARGET_PID", "12,x", "is not a list of process ids" },
		{ "SONDE_WAKEUP_BYTES", "lots", "is not a size" },
		{ "SONDE_METRICS_NAMING", "prom", "is not one of otel legacy" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sonde_config cfg;
		char err[512] = "";

		clear_env();
		setenv("SONDE_TARGET_PID", "1", 1); /* a selector, so only the bad value fails */
		setenv(cases[i].var, cases[i].value, 1);
		if (from_env(&cfg, err, sizeof(err)) != -EINVAL)
			fail_msg("%s=%s was accepted", cases[i].var, cases[i].value);
		if (!strstr(err, cases[i].expect) || !strstr(err, cases[i].var))
			fail_msg("%s=%s: got '%s', want '%s'", cases[i].var, cases[i].value, err,
				 cases[i].expect);
		assert_non_null(strchr(err, '\n'));
		assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1); /* one line */
		config__free(&cfg);
	}
}

static void test_nothing_selected_is_an_error(void **state)
{
	struct sonde_config cfg;
	char err[512] = "";

	assert_int_equal(from_env(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nothing to instrument"));
	config__free(&cfg);
}

static void test_durations(void **state)
{
	uint64_t ms;

	assert_int_equal(parse_duration_ms("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(parse_duration_ms("2s", &ms), 0);
	assert_int_equal(ms, 2000);
	assert_int_equal(parse_duration_ms("1.5s", &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(parse_duration_ms("1m", &ms), 0);
	assert_int_equal(ms, 60000);
	assert_int_equal(parse_duration_ms("30", &ms), 0);
	assert_int_equal(ms, 30);
	assert_int_equal(parse_duration_ms("3 days", &ms), -EINVAL);
	assert_int_equal(parse_duration_ms("-1s", &ms), -EINVAL);
}

/* --help and the README table come from the table: every env name appears. */
static void test_help_lists_every_variable(void **state)
{
	char *help = NULL, *md = NULL;
	size_t hl = 0, ml = 0;
	FILE *h = open_memstream(&help, &hl), *m = open_memstream(&md, &ml);

	config__print_help(h);
	config__print_markdown(m);
	fclose(h);
	fclose(m);
	for (size_t i = 0; i < config_options_count; i++) {
		assert_non_null(strstr(md, config_options[i].key));
		for (int e = 0; e < CONFIG_ENV_MAX && config_options[i].env[e]; e++) {
			assert_non_null(strstr(help, config_options[i].env[e]));
			assert_non_null(strstr(md, config_options[i].env[e]));
		}
	}
	free(help);
	free(md);
}

/* Regular expressions whose compilation would explode are refused; the
 * ones users write pass. (The refused one is what fuzzing found: 2 GB.) */
static void test_regex_sanity(void **state)
{
	const char *why = NULL;
	char big[600];

	assert_int_equal(config__regex_sane("java", &why), 0);
	assert_int_equal(config__regex_sane("^/usr/(local/)?bin/(node|python3\\.[0-9]+)$", &why), 0);
	assert_int_equal(config__regex_sane("a{2,5}b+c*", &why), 0);
	assert_int_equal(config__regex_sane("a\\++", &why), 0); /* an escaped + then one + */
	assert_int_equal(config__regex_sane("(j++++++++ava", &why), -EINVAL);
	assert_non_null(strstr(why, "stacked"));
	assert_int_equal(config__regex_sane("a*+", &why), -EINVAL);
	assert_int_equal(config__regex_sane("a{1,2}{3}", &why), -EINVAL);
	assert_int_equal(config__regex_sane("(a{1,1000})", &why), -EINVAL);
	assert_non_null(strstr(why, "above 100"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(config__regex_sane(big, &why), -EINVAL);
}

/* network.protocols / exclude_protocols (Beyla's rule: protocols wins)
 * decide which transports are counted; names are checked. */
static void test_network_protocols(void **state)
{
	static const struct {
		const char *inc, *exc;
		bool tcp, udp;
	} cases[] = {
		{ NULL, NULL, true, true },
		{ "TCP", NULL, true, false },
		{ "udp,icmp", NULL, false, true },
		{ NULL, "UDP", true, false },
		{ NULL, "tcp,Udp", false, false },
		{ "TCP,UDP", "UDP", true, true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sonde_config cfg;
		char err[512] = "";

		clear_env();
		setenv("SONDE_TARGET_PID", "1", 1);
		if (cases[i].inc)
			setenv("BEYLA_NETWORK_PROTOCOLS", cases[i].inc, 1);
		if (cases[i].exc)
			setenv("SONDE_NETWORK_EXCLUDE_PROTOCOLS", cases[i].exc, 1);
		assert_int_equal(from_env(&cfg, err, sizeof(err)), 0);
		if (cfg.network_tcp != cases[i].tcp || cfg.network_udp != cases[i].udp)
			fail_msg("protocols=%s exclude=%s: tcp %d udp %d", cases[i].inc, cases[i].exc,
				 cfg.network_tcp, cfg.network_udp);
		config__free(&cfg);
	}
	for (int k = 0; k < 2; k++) {
		struct sonde_config cfg;
		char err[512] = "";

		clear_env();
		setenv("SONDE_TARGET_PID", "1", 1);
		setenv(k ? "SONDE_NETWORK_EXCLUDE_PROTOCOLS" : "SONDE_NETWORK_PROTOCOLS", "TCP,HTTP",
		       1);
		assert_int_equal(from_env(&cfg, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "'HTTP' is not an IP protocol name"));
		assert_non_null(strstr(err, k ? "network.exclude_protocols" : "network.protocols"));
		config__free(&cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults_parse, setup),
		cmocka_unit_test_setup(test_every_open_port_alias, setup),
		cmocka_unit_test_setup(test_seed_env, setup),
		cmocka_unit_test_setup(test_sonde_name_wins_over_alias, setup),
		cmocka_unit_test_setup(test_printer_choices, setup),
		cmocka_unit_test_setup(test_no_output_prints, setup),
		cmocka_unit_test_setup(test_bad_values, setup),
		cmocka_unit_test_setup(test_nothing_selected_is_an_error, setup),
		cmocka_unit_test_setup(test_durations, setup),
		cmocka_unit_test_setup(test_help_lists_every_variable, setup),
		cmocka_unit_test(test_regex_sanity),
		cmocka_unit_test_setup(test_network_protocols, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
