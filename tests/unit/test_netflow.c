// SPDX-License-Identifier: Apache-2.0
/* The network-flow table: CIDR parsing and matching, label selection,
 * merging by kept labels, the cap. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "config.h"
#include "model/netflow.h"

static void v4(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	assert_int_equal(inet_pton(AF_INET, s, out + 12), 1);
}

static void v6(const char *s, uint8_t out[16])
{
	assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

static void test_cidr_parse(void **state)
{
	struct netflow_cidr c;

	assert_int_equal(netflow_cidr_parse("10.0.0.0/8", &c), 0);
	assert_true(c.v4);
	assert_int_equal(c.bits, 104);
	assert_int_equal(netflow_cidr_parse("10.1.2.3/8", &c), 0); /* host bits cleared */
	assert_int_equal(c.addr[13], 0);
	assert_int_equal(netflow_cidr_parse("2001:db8::/32", &c), 0);
	assert_false(c.v4);
	assert_int_equal(c.bits, 32);
	assert_int_equal(netflow_cidr_parse("192.168.1.1", &c), 0);
	assert_int_equal(c.bits, 128);
	assert_int_equal(netflow_cidr_parse("0.0.0.0/0", &c), 0);
	assert_int_equal(netflow_cidr_parse("10.0.0.0/33", &c), -EINVAL);
	assert_int_equal(netflow_cidr_parse("10.0.0.0/", &c), -EINVAL);
	assert_int_equal(netflow_cidr_parse("10.0.0.0/-1", &c), -EINVAL);
	assert_int_equal(netflow_cidr_parse("nope/8", &c), -EINVAL);
	assert_int_equal(netflow_cidr_parse("::/129", &c), -EINVAL);
}

static struct sonde_config cfg_with(const char *cidrs, int max)
{
	struct sonde_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.max_series = max;
	if (cidrs)
		assert_int_equal(config__list_append(&cfg.network_cidrs, cidrs), 0);
	return cfg;
}

static const struct netflow_series *find(const struct netflow_series *v, size_t n,
					 const char *src, const char *dir, const char *transport)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].label[NF_SRC_ADDRESS], src) && !strcmp(v[i].label[NF_DIRECTION], dir) &&
		    !strcmp(v[i].label[NF_TRANSPORT], transport))
			return &v[i];
	return NULL;
}

static void test_most_specific_cidr_and_labels(void **state)
{
	struct sonde_config cfg =
		cfg_with("0.0.0.0/0,10.0.0.0/8,10.1.0.0/16,10.1.2.3/32,fd00::/8,fd00:1::/32", 100);
	struct netflow_store *s = netflow_store__new(&cfg);
	uint8_t a[16], b[16], c[16], d[16], lo[16];
	struct netflow_series *v;
	const struct netflow_series *e;
	size_t n;

	v4("10.1.2.3", a);
	v4("10.9.9.9", b);
	v6("fd00:1::5", c);
	v6("2001:db8::1", d);
	v4("127.0.0.1", lo);
	netflow_store__add(s, 4, a, b, 6, true, 100);
	netflow_store__add(s, 4, a, b, 6, true, 50);
	netflow_store__add(s, 4, a, b, 6, false, 7);
	netflow_store__add(s, 4, b, a, 17, true, 9);
	netflow_store__add(s, 6, c, d, 17, false, 11);
	netflow_store__add(s, 4, lo, lo, 6, true, 3);
	assert_int_equal(netflow_store__collect(s, (1u << NF__MAX) - 1, &v, &n), 0);
	assert_int_equal(n, 5);
	e = find(v, n, "10.1.2.3", "egress", "tcp");
	assert_non_null(e);
	assert_int_equal(e->bytes, 150);
	assert_string_equal(e->label[NF_DST_ADDRESS], "10.9.9.9");
	assert_string_equal(e->label[NF_SRC_CIDR], "10.1.2.3/32");
	assert_string_equal(e->label[NF_DST_CIDR], "10.0.0.0/8");
	e = find(v, n, "10.1.2.3", "ingress", "tcp");
	assert_non_null(e);
	assert_int_equal(e->bytes, 7);
	e = find(v, n, "10.9.9.9", "egress", "udp");
	assert_non_null(e);
	assert_int_equal(e->bytes, 9);
	e = find(v, n, "fd00:1::5", "ingress", "udp");
	assert_non_null(e);
	assert_string_equal(e->label[NF_DST_ADDRESS], "2001:db8::1");
	assert_string_equal(e->label[NF_SRC_CIDR], "fd00:1::/32");
	assert_string_equal(e->label[NF_DST_CIDR], ""); /* in no IPv6 CIDR; 0.0.0.0/0 is IPv4 */
	e = find(v, n, "127.0.0.1", "egress", "tcp");
	assert_non_null(e);
	assert_string_equal(e->label[NF_SRC_CIDR], "0.0.0.0/0");
	free(v);

	/* Addresses dropped: the flows of a CIDR pair add up. */
	unsigned int keep = (1u << NF__MAX) - 1;

	keep &= ~((1u << NF_SRC_ADDRESS) | (1u << NF_DST_ADDRESS) | (1u << NF_DIRECTION));
	assert_int_equal(netflow_store__collect(s, keep, &v, &n), 0);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(v[i].label[NF_SRC_ADDRESS], "");
		if (!strcmp(v[i].label[NF_SRC_CIDR], "10.1.2.3/32") &&
		    !strcmp(v[i].label[NF_TRANSPORT], "tcp"))
			assert_int_equal(v[i].bytes, 157);
	}
	assert_int_equal(n, 4);
	free(v);
	netflow_store__free(s);
	config__free(&cfg);
}

static void test_cap(void **state)
{
	struct sonde_config cfg = cfg_with(NULL, 2);
	struct netflow_store *s = netflow_store__new(&cfg);
	uint8_t a[16], b[16];
	struct netflow_series *v;
	size_t n;

	v4("10.0.0.1", a);
	v4("10.0.0.2", b);
	netflow_store__add(s, 4, a, b, 6, true, 1);
	netflow_store__add(s, 4, b, a, 6, true, 1);
	netflow_store__add(s, 4, a, b, 17, true, 1); /* a third flow: dropped */
	netflow_store__add(s, 4, a, b, 6, true, 1);  /* a known one: counted */
	assert_int_equal(netflow_store__overflowed(s), 1);
	assert_int_equal(netflow_store__collect(s, (1u << NF__MAX) - 1, &v, &n), 0);
	assert_int_equal(n, 2);
	free(v);
	netflow_store__free(s);
}

static void test_label_mask(void **state)
{
	struct attr_selects sel;
	unsigned int all = (1u << NF__MAX) - 1;

	memset(&sel, 0, sizeof(sel));
	assert_int_equal(netflow_label_mask(&sel), all);
	sel.count = 2;
	snprintf(sel.v[0].metric, ATTR_NAME_LEN, "beyla_network_flow_bytes");
	sel.v[0].n_exclude = 2;
	snprintf(sel.v[0].exclude[0], ATTR_NAME_LEN, "src.address");
	snprintf(sel.v[0].exclude[1], ATTR_NAME_LEN, "dst_*");
	snprintf(sel.v[1].metric, ATTR_NAME_LEN, "http_*"); /* not ours */
	sel.v[1].n_exclude = 1;
	snprintf(sel.v[1].exclude[0], ATTR_NAME_LEN, "transport");
	assert_int_equal(netflow_label_mask(&sel),
			 all & ~((1u << NF_SRC_ADDRESS) | (1u << NF_DST_ADDRESS) |
				 (1u << NF_DST_CIDR)));
	assert_true(netflow_metric_matches("sonde.network.flow.bytes"));
	assert_true(netflow_metric_matches("sonde_network_*"));
	assert_false(netflow_metric_matches("http_*"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_most_specific_cidr_and_labels),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_label_mask),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
