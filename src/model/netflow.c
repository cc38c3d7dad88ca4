// SPDX-License-Identifier: Apache-2.0
/* Network flow bytes: the user-space table. See netflow.h. */
#include "model/netflow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/metrics.h"

const struct netflow_label_info netflow_labels[NF__MAX] = {
	[NF_SRC_ADDRESS] = { "src_address", "src.address" },
	[NF_DST_ADDRESS] = { "dst_address", "dst.address" },
	[NF_DIRECTION] = { "direction", "direction" },
	[NF_TRANSPORT] = { "transport", "transport" },
	[NF_SRC_CIDR] = { "src_cidr", "src.cidr" },
	[NF_DST_CIDR] = { "dst_cidr", "dst.cidr" },
};

static const char *const metric_names[] = {
	NETFLOW_METRIC_PROM, "sonde_network_flow_bytes", NETFLOW_METRIC_OTEL,
	/* Beyla's and OBI's names, as their attributes.select examples use them. */
	"beyla_network_flow_bytes", "beyla_network_flow_bytes_total", "beyla.network.flow.bytes",
	"obi_network_flow_bytes", "obi_network_flow_bytes_total", "obi.network.flow.bytes",
	NULL,
};

bool netflow_metric_matches(const char *pattern)
{
	for (int i = 0; metric_names[i]; i++)
		if (!fnmatch(pattern, metric_names[i], 0))
			return true;
	return false;
}

bool netflow_label_matches(enum netflow_label l, const char *pattern)
{
	return !fnmatch(pattern, netflow_labels[l].prom, 0) ||
	       !fnmatch(pattern, netflow_labels[l].otel, 0);
}

unsigned int netflow_label_mask(const struct attr_selects *sel)
{
	unsigned int included = 0, excluded = 0;

	for (unsigned int i = 0; sel && i < sel->count; i++) {
		const struct attr_select *s = &sel->v[i];

		if (!netflow_metric_matches(s->metric))
			continue;
		for (int l = 0; l < NF__MAX; l++) {
			for (unsigned int j = 0; j < s->n_include; j++)
				if (netflow_label_matches(l, s->include[j]))
					included |= 1u << l;
			for (unsigned int j = 0; j < s->n_exclude; j++)
				if (netflow_label_matches(l, s->exclude[j]))
					excluded |= 1u << l;
		}
	}
	/* Every label is a default one: an include list only names them again. */
	return (((1u << NF__MAX) - 1) | included) & ~excluded;
}

int netflow_cidr_parse(const char *s, struct netflow_cidr *out)
{
	char addr[64], *slash, *end;
	unsigned long bits;
	struct in_addr a4;
	struct in6_addr a6;

	if (strlen(s) >= sizeof(addr))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	snprintf(out->text, sizeof(out->text), "%s", s);
	snprintf(addr, sizeof(addr), "%s", s);
	slash = strchr(addr, '/');
	if (slash)
		*slash++ = '\0';
	if (inet_pton(AF_INET, addr, &a4) == 1) {
		out->v4 = true;
		out->addr[10] = out->addr[11] = 0xff;
		memcpy(&out->addr[12], &a4, 4);
		bits = 32;
	} else if (inet_pton(AF_INET6, addr, &a6) == 1) {
		memcpy(out->addr, &a6, 16);
		bits = 128;
	} else {
		return -EINVAL;
	}
	if (slash) {
		if (!*slash || *slash < '0' || *slash > '9')
			return -EINVAL;
		errno = 0;
		unsigned long b = strtoul(slash, &end, 10);

		if (errno || *end || b > bits)
			return -EINVAL;
		bits = b;
	}
	out->bits = out->v4 ? 96 + bits : bits;
	/* Clear the host bits, so that 10.1.2.3/8 is 10.0.0.0/8. */
	for (unsigned int i = out->bits; i < 128; i++)
		out->addr[i / 8] &= ~(0x80 >> (i % 8));
	return 0;
}

static bool cidr_contains(const struct netflow_cidr *c, bool v4, const uint8_t *a)
{
	unsigned int full = c->bits / 8, rest = c->bits % 8;

	if (c->v4 != v4)
		return false;
	if (memcmp(c->addr, a, full))
		return false;
	return !rest || ((a[full] ^ c->addr[full]) & (0xff00 >> rest) & 0xff) == 0;
}

/* ---- the table ---- */

#define NF_BUCKETS 4096

struct flow {
	uint8_t src[16], dst[16];
	uint8_t family, proto;
	bool egress;
	int src_cidr, dst_cidr; /* index in cidrs, -1: none */
	uint64_t bytes;
	struct flow *next;
};

struct netflow_store {
	pthread_mutex_t lock;
	struct netflow_cidr *cidrs;
	unsigned int n_cidrs;
	size_t max, count;
	uint64_t overflowed, kernel_lost;
	struct flow *buckets[NF_BUCKETS];
};

struct netflow_store *netflow_store__new(const struct sonde_config *cfg)
{
	struct netflow_store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->max = cfg->max_series > 0 ? (size_t)cfg->max_series : METRIC_SERIES_MAX_DEFAULT;
	if (cfg->network_cidrs.count) {
		s->cidrs = calloc(cfg->network_cidrs.count, sizeof(*s->cidrs));
		if (!s->cidrs) {
			free(s);
			return NULL;
		}
	}
	for (unsigned int i = 0; i < cfg->network_cidrs.count; i++)
		if (!netflow_cidr_parse(cfg->network_cidrs.v[i], &s->cidrs[s->n_cidrs]))
			s->n_cidrs++;
	return s;
}

void netflow_store__free(struct netflow_store *s)
{
	if (!s)
		return;
	for (int b = 0; b < NF_BUCKETS; b++)
		for (struct flow *f = s->buckets[b], *next; f; f = next) {
			next = f->next;
			free(f);
		}
	free(s->cidrs);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* The most specific CIDR holding @a, or -1. */
static int cidr_of(const struct netflow_store *s, bool v4, const uint8_t *a)
{
	int best = -1;

	for (unsigned int i = 0; i < s->n_cidrs; i++)
		if (cidr_contains(&s->cidrs[i], v4, a) &&
		    (best < 0 || s->cidrs[i].bits > s->cidrs[best].bits))
			best = i;
	return best;
}

static unsigned int flow_hash(const uint8_t *src, const uint8_t *dst, int proto, bool egress)
{
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < 16; i++)
		h = (h ^ src[i]) * 1099511628211ull;
	for (int i = 0; i < 16; i++)
		h = (h ^ dst[i]) * 1099511628211ull;
	h = (h ^ (unsigned int)proto) * 1099511628211ull;
	h = (h ^ egress) * 1099511628211ull;
	return (unsigned int)(h ^ (h >> 32)) % NF_BUCKETS;
}

void netflow_store__add(struct netflow_store *s, int family, const uint8_t *src,
			const uint8_t *dst, int proto, bool egress, uint64_t bytes)
{
	unsigned int b = flow_hash(src, dst, proto, egress);
	struct flow *f;

	pthread_mutex_lock(&s->lock);
	for (f = s->buckets[b]; f; f = f->next)
		if (f->proto == proto && f->egress == egress && f->family == family &&
		    !memcmp(f->src, src, 16) && !memcmp(f->dst, dst, 16))
			break;
	if (!f) {
		if (s->count >= s->max || !(f = calloc(1, sizeof(*f)))) {
			s->overflowed++;
			pthread_mutex_unlock(&s->lock);
			return;
		}
		memcpy(f->src, src, 16);
		memcpy(f->dst, dst, 16);
		f->family = family;
		f->proto = proto;
		f->egress = egress;
		f->src_cidr = cidr_of(s, family == 4, src);
		f->dst_cidr = cidr_of(s, family == 4, dst);
		f->next = s->buckets[b];
		s->buckets[b] = f;
		s->count++;
	}
	f->bytes += bytes;
	pthread_mutex_unlock(&s->lock);
}

static void address_text(int family, const uint8_t *a, char *out, size_t size)
{
	if (family == 4)
		inet_ntop(AF_INET, a + 12, out, size);
	else
		inet_ntop(AF_INET6, a, out, size);
}

static const char *transport_name(int proto)
{
	return proto == 6 ? "tcp" : proto == 17 ? "udp" : "other";
}

static int series_cmp(const void *a, const void *b)
{
	const struct netflow_series *x = a, *y = b;

	for (int l = 0; l < NF__MAX; l++) {
		int c = strcmp(x->label[l], y->label[l]);

		if (c)
			return c;
	}
	return 0;
}

int netflow_store__collect(struct netflow_store *s, unsigned int keep, struct netflow_series **out,
			   size_t *n)
{
	struct netflow_series *v;
	size_t k = 0, m = 0;

	pthread_mutex_lock(&s->lock);
	v = calloc(s->count ? s->count : 1, sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	for (int b = 0; b < NF_BUCKETS; b++)
		for (const struct flow *f = s->buckets[b]; f; f = f->next, k++) {
			struct netflow_series *e = &v[k];

			if (keep & (1u << NF_SRC_ADDRESS))
				address_text(f->family, f->src, e->label[NF_SRC_ADDRESS], 64);
			if (keep & (1u << NF_DST_ADDRESS))
				address_text(f->family, f->dst, e->label[NF_DST_ADDRESS], 64);
			if (keep & (1u << NF_DIRECTION))
				snprintf(e->label[NF_DIRECTION], 64, "%s",
					 f->egress ? "egress" : "ingress");
			if (keep & (1u << NF_TRANSPORT))
				snprintf(e->label[NF_TRANSPORT], 64, "%s", transport_name(f->proto));
			if ((keep & (1u << NF_SRC_CIDR)) && f->src_cidr >= 0)
				snprintf(e->label[NF_SRC_CIDR], 64, "%s", s->cidrs[f->src_cidr].text);
			if ((keep & (1u << NF_DST_CIDR)) && f->dst_cidr >= 0)
				snprintf(e->label[NF_DST_CIDR], 64, "%s", s->cidrs[f->dst_cidr].text);
			e->bytes = f->bytes;
		}
	pthread_mutex_unlock(&s->lock);
	qsort(v, k, sizeof(*v), series_cmp);
	/* Flows that agree on every kept label are one series. */
	for (size_t i = 0; i < k; i++) {
		if (m && !series_cmp(&v[m - 1], &v[i])) {
			v[m - 1].bytes += v[i].bytes;
			continue;
		}
		if (m != i)
			v[m] = v[i];
		m++;
	}
	*out = v;
	*n = m;
	return 0;
}

uint64_t netflow_store__overflowed(struct netflow_store *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->overflowed;
	pthread_mutex_unlock(&s->lock);
	return n;
}

uint64_t netflow_store__kernel_lost(struct netflow_store *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->kernel_lost;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void netflow_store__set_kernel_lost(struct netflow_store *s, uint64_t n)
{
	pthread_mutex_lock(&s->lock);
	s->kernel_lost = n;
	pthread_mutex_unlock(&s->lock);
}
