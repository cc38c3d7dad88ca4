// SPDX-License-Identifier: Apache-2.0
/* Span metrics and the service graph (model/spanmetrics.h): names and
 * statuses per the OTel HTTP rules, pairing of client and server spans in
 * either order, unpaired spans after the wait, the cap; and the live view's
 * bounded trace store (export/ui.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "discovery.h"
#include "export/ui.h"
#include "model/spanmetrics.h"
#include "runtime.h"

#define MS 1000000ull
#define WAIT (100 * MS)

static struct service svc_a = { .id = 1, .name = "a" };
static struct service svc_b = { .id = 2, .name = "b" };

static struct span mk(enum span_kind kind, const struct service *svc, int status, uint8_t id,
		      uint8_t parent)
{
	struct span s;

	memset(&s, 0, sizeof(s));
	s.kind = kind;
	s.service = svc;
	s.status = status;
	s.pid = 100 + svc->id;
	strcpy(s.method, "GET");
	strcpy(s.path, "/users/7");
	strcpy(s.route, kind == SPAN_KIND_SERVER ? "/users/{id}" : "");
	strcpy(s.server.addr, "127.0.0.1");
	s.server.port = 8000 + svc->id;
	s.start_ns = 1000 * MS;
	s.end_ns = s.start_ns + 20 * MS;
	memset(s.trace_id, 7, sizeof(s.trace_id));
	memset(s.span_id, id, sizeof(s.span_id));
	memset(s.parent_span_id, parent, sizeof(s.parent_span_id));
	return s;
}

static const struct sg_edge *edge(struct sg_edge *v, size_t n, const char *c, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].client, c) && !strcmp(v[i].server, s))
			return &v[i];
	return NULL;
}

static void test_names_and_statuses(void **unused)
{
	struct span s = mk(SPAN_KIND_SERVER, &svc_a, 404, 1, 0);
	char name[SM_NAME_MAX];

	span_name(&s, name, sizeof(name));
	assert_string_equal(name, "GET /users/{id}");
	assert_int_equal(spanmetrics__status(&s), SM_STATUS_UNSET); /* a server's 4xx */
	s.status = 503;
	assert_int_equal(spanmetrics__status(&s), SM_STATUS_ERROR);
	s = mk(SPAN_KIND_CLIENT, &svc_a, 404, 1, 0);
	span_name(&s, name, sizeof(name));
	assert_string_equal(name, "GET"); /* clients: the method alone */
	assert_int_equal(spanmetrics__status(&s), SM_STATUS_ERROR); /* a client's 4xx */
	s.status = 302;
	assert_int_equal(spanmetrics__status(&s), SM_STATUS_UNSET);
	s.status = 0;
	strcpy(s.error, "connect: Connection refused");
	assert_int_equal(spanmetrics__status(&s), SM_STATUS_ERROR);
	strcpy(s.method, "BREW");
	span_name(&s, name, sizeof(name));
	assert_string_equal(name, "HTTP");
	assert_string_equal(spanmetrics__kind_name(SPAN_KIND_CLIENT), "SPAN_KIND_CLIENT");
	assert_string_equal(spanmetrics__status_name(SM_STATUS_ERROR), "STATUS_CODE_ERROR");
	s = mk(SPAN_KIND_CLIENT, &svc_a, 200, 1, 0);
	strcpy(s.host, "api.example:9000");
	spanmetrics__peer(&s, name, sizeof(name));
	assert_string_equal(name, "api.example:8001"); /* the Host's name, the connected port */
	s.host[0] = '\0';
	spanmetrics__peer(&s, name, sizeof(name));
	assert_string_equal(name, "127.0.0.1:8001");
}

static void test_span_metrics_series(void **unused)
{
	struct spanmetrics *m = spanmetrics__new(100, WAIT, 16);
	struct span ok = mk(SPAN_KIND_SERVER, &svc_a, 200, 1, 0);
	struct span bad = mk(SPAN_KIND_SERVER, &svc_a, 500, 2, 0);
	struct sm_series *v;
	size_t n;

	ok.request_body_size = 10;
	spanmetrics__record(m, &ok);
	spanmetrics__record(m, &ok);
	spanmetrics__record(m, &bad);
	assert_int_equal(spanmetrics__series(m, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].latency.count, 2);
	assert_int_equal(v[0].size_total, 20);
	assert_int_equal(v[0].status, SM_STATUS_UNSET);
	assert_int_equal(v[1].latency.count, 1);
	assert_int_equal(v[1].status, SM_STATUS_ERROR);
	assert_true(v[0].latency.sum > 0.039 && v[0].latency.sum < 0.041);
	free(v);
	spanmetrics__free(m);
}

static void test_pair_server_first(void **unused)
{
	struct spanmetrics *m = spanmetrics__new(100, WAIT, 16);
	struct span srv = mk(SPAN_KIND_SERVER, &svc_b, 500, 2, 1);
	struct span cli = mk(SPAN_KIND_CLIENT, &svc_a, 200, 1, 9); /* only the server failed */
	struct sg_edge *v;
	size_t n;

	srv.end_ns = srv.start_ns + 5 * MS;
	/* The callee's span is final first (the linker emits it when its caller
	 * arrives, before the caller's own parent does). */
	spanmetrics__graph_submit(m, &srv, 0);
	spanmetrics__graph_expire(m, WAIT / 2);
	spanmetrics__graph_submit(m, &cli, WAIT / 2);
	spanmetrics__graph_flush(m);
	assert_int_equal(spanmetrics__edges(m, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].client, "a");
	assert_string_equal(v[0].server, "b");
	assert_string_equal(v[0].connection_type, "");
	assert_int_equal(v[0].total, 1);
	assert_int_equal(v[0].failed, 1);
	assert_int_equal(v[0].client_seconds.count, 1);
	assert_int_equal(v[0].server_seconds.count, 1);
	assert_true(v[0].server_seconds.sum < v[0].client_seconds.sum);
	free(v);
	spanmetrics__free(m);
}

static void test_pair_client_first_and_roots(void **unused)
{
	struct spanmetrics *m = spanmetrics__new(100, WAIT, 16);
	struct span root = mk(SPAN_KIND_SERVER, &svc_a, 200, 9, 0);
	struct span cli = mk(SPAN_KIND_CLIENT, &svc_a, 200, 1, 9);
	struct span srv = mk(SPAN_KIND_SERVER, &svc_b, 200, 2, 1);
	struct sg_edge *v;
	size_t n;

	spanmetrics__graph_submit(m, &root, 0); /* no parent: its caller is a user */
	spanmetrics__graph_submit(m, &cli, 0);
	spanmetrics__graph_submit(m, &srv, 1);
	spanmetrics__graph_flush(m);
	assert_int_equal(spanmetrics__edges(m, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_non_null(edge(v, n, SG_USER, "a"));
	assert_string_equal(edge(v, n, SG_USER, "a")->connection_type, SG_VIRTUAL_NODE);
	assert_int_equal(edge(v, n, SG_USER, "a")->client_seconds.count, 0);
	assert_int_equal(edge(v, n, "a", "b")->total, 1);
	assert_int_equal(edge(v, n, "a", "b")->failed, 0);
	free(v);
	spanmetrics__free(m);
}

static void test_unpaired_after_wait(void **unused)
{
	struct spanmetrics *m = spanmetrics__new(100, WAIT, 16);
	struct span cli = mk(SPAN_KIND_CLIENT, &svc_a, 200, 1, 9);
	struct span known = mk(SPAN_KIND_CLIENT, &svc_a, 200, 3, 9);
	struct span seen_b = mk(SPAN_KIND_SERVER, &svc_b, 200, 4, 0);
	struct span orphan = mk(SPAN_KIND_SERVER, &svc_b, 200, 5, 0x55);
	struct sg_edge *v;
	size_t n;

	cli.server.port = 9999; /* nobody Sonde traces listens there */
	known.server.port = 8002;
	strcpy(cli.host, "peer.example:9999");
	spanmetrics__graph_submit(m, &cli, 0);
	spanmetrics__graph_expire(m, WAIT - 1);
	assert_int_equal(spanmetrics__edges(m, &v, &n), 0);
	assert_int_equal(n, 0); /* still waiting */
	free(v);
	spanmetrics__graph_expire(m, WAIT);
	assert_int_equal(spanmetrics__edges(m, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].client, "a");
	assert_string_equal(v[0].server, "peer.example:9999");
	assert_string_equal(v[0].connection_type, SG_VIRTUAL_NODE);
	assert_int_equal(v[0].server_seconds.count, 0);
	free(v);
	/* b was seen serving on 127.0.0.1:8002: an unpaired call there is to b. */
	spanmetrics__graph_submit(m, &seen_b, WAIT);
	spanmetrics__graph_submit(m, &known, WAIT);
	/* A server whose caller never shows (a traceparent from outside). */
	spanmetrics__graph_submit(m, &orphan, WAIT);
	spanmetrics__graph_expire(m, 3 * WAIT);
	assert_int_equal(spanmetrics__edges(m, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(edge(v, n, "a", "b")->total, 1);
	assert_string_equal(edge(v, n, "a", "b")->connection_type, SG_VIRTUAL_NODE);
	assert_int_equal(edge(v, n, SG_USER, "b")->total, 2); /* the root and the orphan */
	free(v);
	spanmetrics__free(m);
}

static void test_cap_and_eviction(void **unused)
{
	struct spanmetrics *m = spanmetrics__new(2, WAIT, 2);
	struct sg_edge *v;
	size_t n;

	for (int i = 0; i < 5; i++) {
		struct span s = mk(SPAN_KIND_SERVER, &svc_a, 200, (uint8_t)(10 + i), 0);

		snprintf(s.route, sizeof(s.route), "/r%d", i);
		spanmetrics__record(m, &s);
	}
	assert_int_equal(spanmetrics__overflowed(m, SM_TABLE_SPAN), 3);
	/* Three unpaired clients, room for two waiting: the oldest goes early. */
	for (int i = 0; i < 3; i++) {
		struct span c = mk(SPAN_KIND_CLIENT, &svc_a, 200, (uint8_t)(20 + i), 0);

		c.server.port = (uint16_t)(9000 + i);
		spanmetrics__graph_submit(m, &c, 0);
	}
	assert_int_equal(spanmetrics__evicted(m), 1);
	spanmetrics__graph_flush(m);
	assert_int_equal(spanmetrics__edges(m, &v, &n), 0);
	assert_int_equal(n, 2); /* three peers, two series */
	assert_int_equal(spanmetrics__overflowed(m, SM_TABLE_GRAPH), 1);
	free(v);
	spanmetrics__free(m);
}

static void test_ui_bounded_traces(void **unused)
{
	struct sonde_config cfg;
	struct sonde_runtime rt;
	struct ui_state *st;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	memset(&cfg, 0, sizeof(cfg));
	memset(&rt, 0, sizeof(rt));
	cfg.ui_max_traces = 3;
	rt.cfg = &cfg;
	st = ui_state__new(&cfg, &rt);
	assert_non_null(st);
	for (int i = 0; i < 5; i++) {
		struct span s = mk(SPAN_KIND_SERVER, &svc_a, i == 4 ? 500 : 200, (uint8_t)(i + 1), 0);

		memset(s.trace_id, i + 1, sizeof(s.trace_id));
		snprintf(s.path, sizeof(s.path), "/p%d", i);
		ui_state__add(st, &s, 1000 * MS);
	}
	f = open_memstream(&buf, &len);
	ui__traces_json(st, f, NULL, "error", 0, 0, 10);
	fclose(f);
	assert_non_null(strstr(buf, "\"matched\":1,\"kept\":3,\"dropped\":2"));
	assert_non_null(strstr(buf, "\"root_path\":\"/p4\""));
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	/* The oldest trace is gone, a kept one is there. */
	assert_false(ui__trace_json(st, f, "01010101010101010101010101010101"));
	assert_true(ui__trace_json(st, f, "03030303030303030303030303030303"));
	fclose(f);
	assert_non_null(strstr(buf, "\"url.path\":\"/p2\""));
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	ui__overview_json(st, f, 1000 * MS);
	fclose(f);
	assert_non_null(strstr(buf, "\"requests\":5,\"errors\":1"));
	assert_non_null(strstr(buf, "\"traces_dropped\":2"));
	free(buf);
	ui_state__free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_statuses),
		cmocka_unit_test(test_span_metrics_series),
		cmocka_unit_test(test_pair_server_first),
		cmocka_unit_test(test_pair_client_first_and_roots),
		cmocka_unit_test(test_unpaired_after_wait),
		cmocka_unit_test(test_cap_and_eviction),
		cmocka_unit_test(test_ui_bounded_traces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
