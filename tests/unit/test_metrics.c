// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the metric store: base-2 exponential histograms (bucket
 * index at several scales, exact at powers of two, downscaling, merging),
 * label selection (attributes.select) and the merging of series that a
 * selection's exclusions make equal.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "discovery.h"
#include "model/metrics.h"

static struct service shop = { .id = 1, .name = "shop" };
static struct service shop_too = { .id = 2, .name = "shop" }; /* another process, same name */
static struct service billing = { .id = 3, .name = "billing", .namespace_ = "prod" };

/* ---- exponential histograms ---- */

static void test_index_powers_of_two(void **state)
{
	/* Buckets are (lower, upper]: 2^k closes a bucket at every scale. */
	assert_int_equal(exp_index(1, 0), -1);
	assert_int_equal(exp_index(2, 0), 0);
	assert_int_equal(exp_index(4, 0), 1);
	assert_int_equal(exp_index(0.5, 0), -2);
	assert_int_equal(exp_index(1, 3), -1);
	assert_int_equal(exp_index(2, 3), 7);
	assert_int_equal(exp_index(0.25, 3), -17);
	assert_int_equal(exp_index(1, 20), -1);
	assert_int_equal(exp_index(2, 20), (1 << 20) - 1);
	assert_int_equal(exp_index(0x1p-10, 20), -10 * (1 << 20) - 1);
	/* Negative scales: base 4 at -1, 16 at -2. */
	assert_int_equal(exp_index(4, -1), 0);
	assert_int_equal(exp_index(16, -1), 1);
	assert_int_equal(exp_index(0.25, -1), -2);
	assert_int_equal(exp_index(1, -1), -1);
	assert_int_equal(exp_index(0.25, -2), -1);
	assert_int_equal(exp_index(256, -2), 1);
	assert_int_equal(exp_index(0x1p-1000, -10), -1);
}

static void test_index_between_powers(void **state)
{
	assert_int_equal(exp_index(3, 0), 1);	    /* (2, 4] */
	assert_int_equal(exp_index(1.0001, 0), 0); /* (1, 2] */
	assert_int_equal(exp_index(0.7, 0), -1);   /* (0.5, 1] */
	assert_int_equal(exp_index(1.2, 1), 0);	   /* (1, 1.414...] */
	assert_int_equal(exp_index(1.5, 1), 1);	   /* (1.414..., 2] */
	assert_int_equal(exp_index(5, -1), 1);	   /* (4, 16] */
	assert_int_equal(exp_index(17, -1), 2);	   /* (16, 64] */
	assert_int_equal(exp_index(0.1, -2), -1);  /* (1/16, 1] */

	/* Against the definition, base^i < v <= base^(i+1), away from the
	 * boundaries where floating point cannot tell. */
	for (int scale = -4; scale <= 20; scale++) {
		for (double v = 1e-6; v < 1e7; v *= 1.37) {
			int32_t i = exp_index(v, scale);
			long double lo = exp2l((long double)i / exp2l(scale));
			long double hi = exp2l((long double)(i + 1) / exp2l(scale));

			if (!(lo < v * (1 + 1e-12) && v <= hi * (1 + 1e-12)))
				fail_msg("scale %d: %g in bucket %d = (%Lg, %Lg]", scale, v, i, lo, hi);
		}
	}
}

static uint64_t bucket_total(const struct exp_histogram *h)
{
	uint64_t n = 0;

	for (uint32_t k = 0; k < h->len; k++)
		n += h->counts[k];
	return n;
}

static void test_downscale(void **state)
{
	struct exp_histogram *h = exp_histogram__new(4, 20);

	assert_non_null(h);
	exp_histogram__observe(h, 1);
	assert_int_equal(h->scale, 20);
	assert_int_equal(h->offset, -1);
	assert_int_equal(h->len, 1);
	/* 1 and 1000 need 11 buckets at scale 0, 6 at -1, 4 at -2. */
	exp_histogram__observe(h, 1000);
	assert_int_equal(h->scale, -2);
	assert_int_equal(h->offset, -1);
	assert_int_equal(h->len, 4);
	assert_int_equal(h->counts[0], 1);
	assert_int_equal(h->counts[3], 1);
	/* Below the window: it grows to the left. */
	exp_histogram__observe(h, 0.1);
	assert_int_equal(h->scale, -2);
	assert_int_equal(h->offset, -1); /* 0.1 is in (1/16, 1], with 1 */
	assert_int_equal(h->counts[0], 2);
	exp_histogram__observe(h, 0);
	assert_int_equal(h->zero_count, 1);
	assert_int_equal(h->count, 4);
	assert_true(h->min == 0 && h->max == 1000);
	assert_true(fabs(h->sum - 1001.1) < 1e-9);
	assert_int_equal(bucket_total(h), 3);
	free(h);
}

static void test_sdk_defaults_keep_scale_for_durations(void **state)
{
	struct exp_histogram *h = exp_histogram__new(160, 20);
	double v;

	/* 1 ms to 10 s: log2 range 13.3, so 160 buckets hold scale 3
	 * (8 per octave: 107 buckets), not 4 (213). */
	for (v = 0.001; v <= 10; v *= 1.1)
		exp_histogram__observe(h, v);
	assert_int_equal(h->scale, 3);
	assert_true(h->len <= 160);
	assert_int_equal(bucket_total(h), h->count);
	for (v = 0.001; v <= 10; v *= 1.1) {
		int32_t i = exp_index(v, h->scale);

		assert_true(i >= h->offset && i < h->offset + (int32_t)h->len);
		assert_true(h->counts[i - h->offset] > 0);
	}
	free(h);
}

static void test_merge_equals_one_histogram(void **state)
{
	struct exp_histogram *a = exp_histogram__new(20, 20), *b = exp_histogram__new(20, 20);
	struct exp_histogram *all = exp_histogram__new(20, 20);
	const double va[] = { 0.003, 0.004, 0.0051, 0 };
	const double vb[] = { 2.5, 7, 0.9 };

	for (size_t i = 0; i < sizeof(va) / sizeof(va[0]); i++) {
		exp_histogram__observe(a, va[i]);
		exp_histogram__observe(all, va[i]);
	}
	for (size_t i = 0; i < sizeof(vb) / sizeof(vb[0]); i++) {
		exp_histogram__observe(b, vb[i]);
		exp_histogram__observe(all, vb[i]);
	}
	assert_true(a->scale > all->scale && b->scale > all->scale);
	exp_histogram__merge(a, b);
	assert_int_equal(a->scale, all->scale);
	assert_int_equal(a->offset, all->offset);
	assert_int_equal(a->len, all->len);
	assert_memory_equal(a->counts, all->counts, a->len * sizeof(a->counts[0]));
	assert_int_equal(a->count, 7);
	assert_int_equal(a->zero_count, 1);
	assert_true(a->min == 0 && a->max == 7);
	assert_true(fabs(a->sum - all->sum) < 1e-12);
	/* Merging into an empty one is a copy. */
	{
		struct exp_histogram *empty = exp_histogram__new(20, 20);

		exp_histogram__merge(empty, all);
		assert_int_equal(empty->scale, all->scale);
		assert_memory_equal(empty->counts, all->counts, all->len * sizeof(all->counts[0]));
		free(empty);
	}
	free(a);
	free(b);
	free(all);
}

/* ---- label selection ---- */

static void add_select(struct sonde_config *cfg, const char *metric, const char *include,
		       const char *exclude)
{
	struct attr_select *s = &cfg->attr_selects.v[cfg->attr_selects.count++];

	memset(s, 0, sizeof(*s));
	snprintf(s->metric, sizeof(s->metric), "%s", metric);
	if (include)
		snprintf(s->include[s->n_include++], ATTR_NAME_LEN, "%s", include);
	if (exclude)
		snprintf(s->exclude[s->n_exclude++], ATTR_NAME_LEN, "%s", exclude);
}

static void test_selection(void **state)
{
	struct sonde_config cfg;
	label_mask server = default_labels(SPAN_KIND_SERVER);
	label_mask client = default_labels(SPAN_KIND_CLIENT);

	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(instrument_labels(&cfg.attr_selects, INSTR_SERVER_DURATION), server);
	assert_true(server & LABEL_BIT(LABEL_ROUTE));
	assert_false(server & LABEL_BIT(LABEL_SERVER_PORT));
	assert_true(client & LABEL_BIT(LABEL_SERVER_PORT));

	add_select(&cfg, "http_server_request_duration_seconds", "server_port", "http_route");
	assert_int_equal(instrument_labels(&cfg.attr_selects, INSTR_SERVER_DURATION),
			 (server | LABEL_BIT(LABEL_SERVER_PORT)) & ~LABEL_BIT(LABEL_ROUTE));
	assert_int_equal(instrument_labels(&cfg.attr_selects, INSTR_SERVER_REQ_BODY), server);

	/* OTel names, globs, and exclusion winning over inclusion. */
	memset(&cfg, 0, sizeof(cfg));
	add_select(&cfg, "http.server.request.duration", "url.*", NULL);
	add_select(&cfg, "http_*", NULL, "url_scheme");
	assert_int_equal(instrument_labels(&cfg.attr_selects, INSTR_SERVER_DURATION), server);
	memset(&cfg, 0, sizeof(cfg));
	add_select(&cfg, "*", "*", NULL);
	assert_int_equal(instrument_labels(&cfg.attr_selects, INSTR_SERVER_RESP_BODY),
			 server | LABEL_BIT(LABEL_SERVER_PORT) | LABEL_BIT(LABEL_URL_SCHEME) |
				 LABEL_BIT(LABEL_PROTOCOL_VERSION));
	/* Client metrics never get a route. */
	assert_false(instrument_labels(&cfg.attr_selects, INSTR_CLIENT_DURATION) &
		     LABEL_BIT(LABEL_ROUTE));
	/* http_server_request_duration (the OTel name underscored) and legacy names. */
	memset(&cfg, 0, sizeof(cfg));
	add_select(&cfg, "http_server_request_duration", NULL, "http_target");
	add_select(&cfg, "http_client_duration_seconds", NULL, "net_peer_port");
	assert_int_equal(instrument_labels(&cfg.attr_selects, INSTR_SERVER_DURATION),
			 server & ~LABEL_BIT(LABEL_ROUTE));
	assert_int_equal(instrument_labels(&cfg.attr_selects, INSTR_CLIENT_DURATION),
			 client & ~LABEL_BIT(LABEL_SERVER_PORT));
}

/* ---- the store with a selection ---- */

static struct span server_span(const struct service *svc, const char *method, int status,
			       uint16_t port, double seconds)
{
	struct span s;

	memset(&s, 0, sizeof(s));
	s.kind = SPAN_KIND_SERVER;
	s.service = svc;
	snprintf(s.method, sizeof(s.method), "%s", method);
	s.status = status;
	s.server.port = port;
	s.http_minor = 1;
	s.start_ns = 1000000000ull;
	s.end_ns = s.start_ns + (uint64_t)(seconds * 1e9);
	s.request_body_size = 10;
	return s;
}

struct counted {
	size_t n;
	bool any_exp;
	uint16_t ports[8];
};

static void count_series(const struct series *s, void *arg)
{
	struct counted *c = arg;

	for (int h = 0; h < HIST__MAX; h++)
		c->any_exp |= s->exp[h] != NULL;
	if (c->n < 8)
		c->ports[c->n] = s->key.local_port;
	c->n++;
}

static void test_default_store_keeps_no_extra_labels(void **state)
{
	struct metric_store *m = metric_store__new();
	struct span a = server_span(&shop, "GET", 200, 8080, 0.01);
	struct span b = server_span(&shop, "GET", 200, 8081, 0.02);
	struct counted c = { 0 };

	metric_store__record(m, &a, "/a");
	metric_store__record(m, &b, "/a");
	metric_store__foreach(m, count_series, &c);
	assert_int_equal(c.n, 1); /* the port is not in the key */
	assert_false(c.any_exp);  /* nor exponential histograms */
	assert_int_equal(c.ports[0], 0);
	assert_int_equal(metric_store__key_labels(m, SPAN_KIND_SERVER),
			 default_labels(SPAN_KIND_SERVER));
	metric_store__free(m);
}

static void test_include_and_exclude(void **state)
{
	struct metric_store *m = metric_store__new();
	struct sonde_config cfg;
	struct span sp;
	struct series *out;
	size_t n;
	label_mask keep;
	const char *routes[] = { "/a", "/b", "/c" };

	memset(&cfg, 0, sizeof(cfg));
	add_select(&cfg, "http_server_request_duration_seconds", "server_port", "http_route");
	metric_store__configure(m, &cfg);
	assert_int_equal(metric_store__enable_exponential(m, 160, 20), 0);
	assert_true(metric_store__key_labels(m, SPAN_KIND_SERVER) & LABEL_BIT(LABEL_SERVER_PORT));
	for (int i = 0; i < 6; i++) {
		sp = server_span(&shop, "GET", 200, i < 4 ? 8080 : 9090, 0.001 * (i + 1));
		metric_store__record(m, &sp, routes[i % 3]);
	}
	sp = server_span(&shop, "POST", 200, 8080, 0.5);
	metric_store__record(m, &sp, "/a");
	sp = server_span(&billing, "GET", 200, 8080, 0.25);
	metric_store__record(m, &sp, "/a");

	keep = instrument_labels(&cfg.attr_selects, INSTR_SERVER_DURATION);
	assert_int_equal(metric_store__collect(m, SPAN_KIND_SERVER, keep, &out, &n), 0);
	/* (shop GET 8080) (shop GET 9090) (shop POST 8080) (billing GET 8080) */
	assert_int_equal(n, 4);
	assert_string_equal(out[0].key.method, "GET");
	assert_int_equal(out[0].key.local_port, 8080);
	assert_int_equal(out[0].duration.count, 4);
	assert_true(fabs(out[0].duration.sum - 0.010) < 1e-9);
	assert_int_equal(out[0].exp[HIST_DURATION]->count, 4);
	assert_int_equal(bucket_total(out[0].exp[HIST_DURATION]), 4);
	assert_int_equal(out[0].req_body.count, 4);
	assert_int_equal(out[1].key.local_port, 9090);
	assert_int_equal(out[1].duration.count, 2);
	assert_string_equal(out[2].key.method, "POST");
	assert_ptr_equal(out[3].key.service, &billing);
	series__free_all(out, n);

	/* Dropping the service too: series of every service add up. */
	assert_int_equal(metric_store__collect(m, SPAN_KIND_SERVER,
					       keep & ~LABEL_BIT(LABEL_SERVICE_NAME) &
						       ~LABEL_BIT(LABEL_SERVICE_NAMESPACE),
					       &out, &n),
			 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].duration.count, 5);
	series__free_all(out, n);

	/* Nothing of the client kind. */
	assert_int_equal(metric_store__collect(m, SPAN_KIND_CLIENT, ~0u, &out, &n), 0);
	assert_int_equal(n, 0);
	series__free_all(out, n);
	metric_store__free(m);
}

static void test_merge_by_value(void **state)
{
	/* Two services named alike have their own interned routes: equal
	 * routes are merged by value, not by pointer. */
	char r1[] = "/users/*", r2[] = "/users/*";
	struct series in[2];
	struct series *out;
	size_t n;

	memset(in, 0, sizeof(in));
	for (int i = 0; i < 2; i++) {
		in[i].key.kind = SPAN_KIND_SERVER;
		in[i].key.service = i ? &shop_too : &shop;
		snprintf(in[i].key.method, sizeof(in[i].key.method), "GET");
		in[i].key.status = 200;
		in[i].key.route = i ? r2 : r1;
		histogram_observe(&in[i].duration, duration_bounds_s, DURATION_BOUNDS, 0.02 * (i + 1));
	}
	assert_int_equal(series_merge(in, 2, SPAN_KIND_SERVER, default_labels(SPAN_KIND_SERVER),
				      &out, &n),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].duration.count, 2);
	assert_int_equal(out[0].duration.bucket[3], 1); /* 0.02 in (0.01, 0.025] */
	assert_int_equal(out[0].duration.bucket[4], 1); /* 0.04 in (0.025, 0.05] */
	series__free_all(out, n);
}

static void test_enable_exponential_limits(void **state)
{
	struct metric_store *m = metric_store__new();

	assert_int_equal(metric_store__enable_exponential(m, 1, 20), -EINVAL);
	assert_int_equal(metric_store__enable_exponential(m, 160, 21), -EINVAL);
	assert_int_equal(metric_store__enable_exponential(m, 160, 0), 0);
	metric_store__free(m);
}

struct methods_seen {
	size_t n;
	char method[8][SPAN_METHOD_MAX];
};

static void collect_methods(const struct series *s, void *arg)
{
	struct methods_seen *m = arg;

	if (m->n < 8)
		snprintf(m->method[m->n], SPAN_METHOD_MAX, "%s", s->key.method);
	m->n++;
}

/* Methods outside the known set share one series, "_OTHER". */
static void test_unknown_methods_are_other(void **state)
{
	struct metric_store *m = metric_store__new();
	const char *sent[] = { "GET", "POSTX0001", "POSTX0002", "PURGE", "get", "GET" };
	struct methods_seen seen = { 0 };

	for (size_t i = 0; i < sizeof(sent) / sizeof(sent[0]); i++) {
		struct span s = server_span(&shop, sent[i], 200, 8080, 0.01);

		metric_store__record(m, &s, "/a");
	}
	metric_store__foreach(m, collect_methods, &seen);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.method[0], "GET");
	assert_string_equal(seen.method[1], "_OTHER");
	assert_int_equal(metric_store__overflowed(m, SPAN_KIND_SERVER), 0);
	metric_store__free(m);
}

static void count_only(const struct series *s, void *arg)
{
	(*(size_t *)arg)++;
}

/* Past the cap, new series are not made; their observations are counted. */
static void test_series_cap(void **state)
{
	struct metric_store *m = metric_store__new();
	struct sonde_config cfg;
	static char routes[50][16];
	size_t n = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.max_series = 10;
	metric_store__configure(m, &cfg);
	for (int i = 0; i < 50; i++) {
		struct span s = server_span(&shop, "GET", 200, 8080, 0.01);

		snprintf(routes[i], sizeof(routes[i]), "/r%d", i);
		metric_store__record(m, &s, routes[i]);
	}
	/* an existing series still counts after the cap is reached */
	for (int i = 0; i < 3; i++) {
		struct span s = server_span(&shop, "GET", 200, 8080, 0.01);

		metric_store__record(m, &s, routes[0]);
	}
	metric_store__foreach(m, count_only, &n);
	assert_int_equal(n, 10);
	assert_int_equal(metric_store__series(m, SPAN_KIND_SERVER), 10);
	assert_int_equal(metric_store__overflowed(m, SPAN_KIND_SERVER), 40);
	/* the cap is per kind: client series have room of their own */
	{
		struct span c = server_span(&shop, "GET", 200, 80, 0.01);

		c.kind = SPAN_KIND_CLIENT;
		snprintf(c.host, sizeof(c.host), "api:80");
		metric_store__record(m, &c, NULL);
	}
	assert_int_equal(metric_store__series(m, SPAN_KIND_CLIENT), 1);
	assert_int_equal(metric_store__overflowed(m, SPAN_KIND_CLIENT), 0);
	/* every span is counted as seen, recorded or not */
	assert_int_equal(metric_store__spans(m), 54);
	metric_store__free(m);
}

static void test_series_cap_default(void **state)
{
	struct metric_store *m = metric_store__new();
	struct sonde_config cfg;
	static char routes[METRIC_SERIES_MAX_DEFAULT + 5][16];

	memset(&cfg, 0, sizeof(cfg)); /* 0: the default stays */
	metric_store__configure(m, &cfg);
	for (int i = 0; i < METRIC_SERIES_MAX_DEFAULT + 5; i++) {
		struct span s = server_span(&shop, "GET", 200, 8080, 0.01);

		snprintf(routes[i], sizeof(routes[i]), "/r%d", i);
		metric_store__record(m, &s, routes[i]);
	}
	assert_int_equal(metric_store__series(m, SPAN_KIND_SERVER), METRIC_SERIES_MAX_DEFAULT);
	assert_int_equal(metric_store__overflowed(m, SPAN_KIND_SERVER), 5);
	metric_store__free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index_powers_of_two),
		cmocka_unit_test(test_index_between_powers),
		cmocka_unit_test(test_downscale),
		cmocka_unit_test(test_sdk_defaults_keep_scale_for_durations),
		cmocka_unit_test(test_merge_equals_one_histogram),
		cmocka_unit_test(test_selection),
		cmocka_unit_test(test_default_store_keeps_no_extra_labels),
		cmocka_unit_test(test_include_and_exclude),
		cmocka_unit_test(test_merge_by_value),
		cmocka_unit_test(test_enable_exponential_limits),
		cmocka_unit_test(test_unknown_methods_are_other),
		cmocka_unit_test(test_series_cap),
		cmocka_unit_test(test_series_cap_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
