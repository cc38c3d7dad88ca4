// SPDX-License-Identifier: Apache-2.0
/* YAML configuration through the option table. See config_file.h. */
#include "config_file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "model/metrics.h"
#include "model/netflow.h"

const char *const config_path_env[] = { "SONDE_CONFIG_PATH", "OTEL_EBPF_CONFIG_PATH",
					"BEYLA_CONFIG_PATH", NULL };

/* Keys Beyla/OBI have that Sonde does not implement yet: named, so the
 * user hears they were not applied rather than that they are misspelt. */
static const char *const not_yet[] = { "attributes.kubernetes",
				       "attributes.instance_id",
				       "attributes.host_id",
				       "kubernetes",
				       "ebpf.track_request_headers",
				       NULL };

struct loader {
	yaml_document_t doc;
	const char *path;
	FILE *errf;
	struct sonde_config *cfg;
};

static int fail(struct loader *l, yaml_node_t *n, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct loader *l, yaml_node_t *n, const char *key, const char *fmt, ...)
{
	va_list ap;

	fprintf(l->errf, "%s:%zu:%zu: %s: ", l->path, n->start_mark.line + 1,
		n->start_mark.column + 1, key);
	va_start(ap, fmt);
	vfprintf(l->errf, fmt, ap);
	va_end(ap);
	fputc('\n', l->errf);
	return -EINVAL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const struct config_option *option_for(const char *key)
{
	for (size_t i = 0; i < config_options_count; i++)
		if (!strcmp(config_options[i].key, key))
			return &config_options[i];
	return NULL;
}

/* Is @prefix followed by "." the start of some option's key? */
static bool is_section(const char *prefix)
{
	size_t n = strlen(prefix);

	for (size_t i = 0; i < config_options_count; i++)
		if (!strncmp(config_options[i].key, prefix, n) && config_options[i].key[n] == '.')
			return true;
	return false;
}

/* Items of a scalar or a sequence of scalars, joined with commas. */
static int join_items(struct loader *l, yaml_node_t *n, const char *key, char *out, size_t size)
{
	size_t len = 0;

	if (n->type == YAML_SCALAR_NODE) {
		snprintf(out, size, "%s", scalar(n));
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(l, n, key, "expected a value or a list of values");
	out[0] = '\0';
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(&l->doc, *it);

		if (!scalar(item))
			return fail(l, item, key, "expected a plain value in the list");
		len += snprintf(out + len, len < size ? size - len : 0, "%s%s", len ? "," : "",
				scalar(item));
	}
	if (len >= size)
		return fail(l, n, key, "list too long");
	return 0;
}

/* A mapping of strings as "k=v,k2=v2" (HTTP headers and the like). */
static int join_pairs(struct loader *l, yaml_node_t *n, const char *key, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&l->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&l->doc, p->value);

		if (!scalar(k) || !scalar(v))
			return fail(l, v ? v : n, key, "expected name: value pairs");
		len += snprintf(out + len, len < size ? size - len : 0, "%s%s=%s", len ? "," : "",
				scalar(k), scalar(v));
	}
	if (len >= size)
		return fail(l, n, key, "too long");
	return 0;
}

static int set_option(struct loader *l, const struct config_option *opt, yaml_node_t *v)
{
	char value[4096], err[256];

	if (opt->type == CONFIG_LIST && v->type == YAML_SEQUENCE_NODE) {
		struct route_patterns *list = (void *)((char *)l->cfg + opt->offset);

		for (unsigned int i = 0; i < list->count; i++)
			free(list->v[i]);
		list->count = 0;
		for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
		     it++) {
			yaml_node_t *item = yaml_document_get_node(&l->doc, *it);

			if (!scalar(item))
				return fail(l, item, opt->key, "expected a list of plain values");
			if (config__list_append(list, scalar(item)))
				return fail(l, item, opt->key, "at most %d items", ROUTE_PATTERNS_MAX);
		}
		return 0;
	}
	if (v->type == YAML_MAPPING_NODE && opt->type == CONFIG_STRING) {
		if (join_pairs(l, v, opt->key, value, sizeof(value)))
			return -EINVAL;
	} else if (opt->type == CONFIG_PORTS || opt->type == CONFIG_PIDS) {
		if (join_items(l, v, opt->key, value, sizeof(value)))
			return -EINVAL;
	} else if (!scalar(v)) {
		return fail(l, v, opt->key, opt->type == CONFIG_LIST ? "expected a list of values"
								     : "expected a single value");
	} else {
		snprintf(value, sizeof(value), "%s", scalar(v));
	}
	if (config__set(l->cfg, opt, value, err, sizeof(err)))
		return fail(l, v, opt->key, "%s", err);
	return 0;
}

/* One entry of discovery.services / instrument / exclude_instrument. */
static int load_selector(struct loader *l, yaml_node_t *n, const char *key, bool exclude,
			 bool exe_is_regex)
{
	struct selectors *sel = &l->cfg->selectors;
	struct selector *s;
	char value[4096], err[256];
	bool any = false;

	if (n->type != YAML_MAPPING_NODE)
		return fail(l, n, key, "expected a mapping (name, open_ports, exe_path_regexp, ...)");
	if (sel->count == SELECTORS_MAX)
		return fail(l, n, key, "at most %d entries", SELECTORS_MAX);
	s = &sel->v[sel->count++];
	memset(s, 0, sizeof(*s));
	s->exclude = exclude;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&l->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&l->doc, p->value);
		const char *name = scalar(k);
		char full[256];

		snprintf(full, sizeof(full), "%s[].%s", key, name ? name : "?");
		if (!name)
			return fail(l, k, key, "expected a key");
		if (!strcmp(name, "name") || !strcmp(name, "namespace")) {
			char **dst = !strcmp(name, "name") ? &s->name : &s->namespace_;

			if (!scalar(v) || !*scalar(v))
				return fail(l, v, full, "expected a name");
			free(*dst);
			*dst = strdup(scalar(v));
		} else if (!strcmp(name, "open_ports")) {
			struct sonde_config tmp = { 0 };
			const struct config_option *opt = option_for("discovery.open_ports");

			if (join_items(l, v, full, value, sizeof(value)))
				return -EINVAL;
			if (config__set(&tmp, opt, value, err, sizeof(err)))
				return fail(l, v, full, "%s", err);
			s->ports = tmp.open_ports;
			any = true;
		} else if (!strcmp(name, "target_pids")) {
			struct sonde_config tmp = { 0 };
			const struct config_option *opt = option_for("discovery.target_pids");

			if (join_items(l, v, full, value, sizeof(value)))
				return -EINVAL;
			if (config__set(&tmp, opt, value, err, sizeof(err)))
				return fail(l, v, full, "%s", err);
			s->pids = tmp.target_pids;
			any = true;
		} else if (!strcmp(name, "exe_path_regexp") ||
			   (!strcmp(name, "exe_path") && exe_is_regex)) {
			regex_t re;
			int rc;

			const char *why_not;

			if (!scalar(v))
				return fail(l, v, full, "expected a regular expression");
			if (config__regex_sane(scalar(v), &why_not))
				return fail(l, v, full, "'%.64s' is refused as a regular expression: %s",
					    scalar(v), why_not);
			rc = regcomp(&re, scalar(v), REG_EXTENDED | REG_NOSUB);
			if (rc) {
				regerror(rc, &re, err, sizeof(err));
				return fail(l, v, full, "'%s' is not a valid regular expression: %s",
					    scalar(v), err);
			}
			regfree(&re);
			free(s->exe_regex);
			s->exe_regex = strdup(scalar(v));
			any = true;
		} else if (!strcmp(name, "exe_path")) {
			if (!scalar(v) || !*scalar(v))
				return fail(l, v, full, "expected a glob like */java");
			free(s->exe_glob);
			s->exe_glob = strdup(scalar(v));
			any = true;
		} else {
			return fail(l, k, full,
				    "unknown key (known: name, namespace, open_ports, exe_path, %starget_pids)",
				    exe_is_regex ? "exe_path_regexp, " : "");
		}
	}
	if (!any)
		return fail(l, n, key, "entry selects nothing: give open_ports, exe_path or target_pids");
	return 0;
}

static int load_selector_list(struct loader *l, yaml_node_t *v, const char *key, bool exclude,
			      bool exe_is_regex)
{
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(l, v, key, "expected a list of entries");
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
		if (load_selector(l, yaml_document_get_node(&l->doc, *it), key, exclude, exe_is_regex))
			return -EINVAL;
	return 0;
}

/* ---- attributes.select ---- */

static bool is_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static bool label_known(const char *pattern)
{
	for (int i = 0; i < LABEL__MAX; i++)
		if (metric_label_matches(i, pattern))
			return true;
	for (int i = 0; i < NF__MAX; i++)
		if (netflow_label_matches(i, pattern))
			return true;
	return false;
}

static bool metric_known(const char *pattern)
{
	for (int i = 0; i < INSTR__MAX; i++)
		if (instrument_matches(i, pattern))
			return true;
	return netflow_metric_matches(pattern);
}

/* The include or exclude list of one metric: a name or a list of names. */
static int load_label_list(struct loader *l, yaml_node_t *v, const char *key,
			   char (*out)[ATTR_NAME_LEN], unsigned int *n)
{
	yaml_node_item_t *it = NULL, *end = NULL;
	bool one = v->type == YAML_SCALAR_NODE;

	if (!one && v->type != YAML_SEQUENCE_NODE)
		return fail(l, v, key, "expected a list of label names");
	if (!one) {
		it = v->data.sequence.items.start;
		end = v->data.sequence.items.top;
	}
	*n = 0;
	for (; one || it < end; it++) {
		yaml_node_t *item = one ? v : yaml_document_get_node(&l->doc, *it);
		const char *name = scalar(item);

		if (!name || !*name)
			return fail(l, item, key, "expected a label name");
		if (strlen(name) >= ATTR_NAME_LEN)
			return fail(l, item, key, "'%s' is too long (at most %d characters)", name,
				    ATTR_NAME_LEN - 1);
		if (*n == ATTR_NAMES_MAX)
			return fail(l, item, key, "at most %d labels", ATTR_NAMES_MAX);
		if (!is_glob(name) && !label_known(name)) {
			char known[512];
			size_t len = 0;

			for (int i = 0; i < LABEL__MAX; i++)
				len += snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "",
						metric_labels[i].prom);
			for (int i = 0; i < NF__MAX; i++)
				len += snprintf(known + len, sizeof(known) - len, ", %s",
						netflow_labels[i].prom);
			return fail(l, item, key, "unknown label '%s' (known: %s)", name, known);
		}
		snprintf(out[(*n)++], ATTR_NAME_LEN, "%s", name);
		if (one)
			break;
	}
	return 0;
}

/* attributes.select: metric name (or glob) -> { include: [...], exclude: [...] } */
static int load_attr_select(struct loader *l, yaml_node_t *n, const char *key)
{
	struct attr_selects *sel = &l->cfg->attr_selects;

	if (n->type != YAML_MAPPING_NODE)
		return fail(l, n, key, "expected a mapping of metric names to include/exclude lists");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&l->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&l->doc, p->value);
		const char *metric = scalar(k);
		struct attr_select *s;
		char full[256];

		if (!metric || !*metric)
			return fail(l, k, key, "expected a metric name");
		snprintf(full, sizeof(full), "%s.%s", key, metric);
		if (strlen(metric) >= ATTR_NAME_LEN)
			return fail(l, k, full, "metric name too long (at most %d characters)",
				    ATTR_NAME_LEN - 1);
		if (!is_glob(metric) && !metric_known(metric))
			return fail(l, k, full,
				    "unknown metric (known: http_server_request_duration_seconds, "
				    "http_server_request_body_size_bytes, "
				    "http_server_response_body_size_bytes and their http_client_ "
				    "twins, their OTel names like http.server.request.duration, "
				    "sonde_network_flow_bytes_total, or a glob like http_*)");
		if (v->type != YAML_MAPPING_NODE || !v->data.mapping.pairs.top ||
		    v->data.mapping.pairs.top == v->data.mapping.pairs.start)
			return fail(l, v, full, "expected include and/or exclude lists");
		if (sel->count == ATTR_SELECT_MAX)
			return fail(l, k, full, "at most %d metrics", ATTR_SELECT_MAX);
		s = &sel->v[sel->count];
		memset(s, 0, sizeof(*s));
		snprintf(s->metric, sizeof(s->metric), "%s", metric);
		for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
		     q++) {
			yaml_node_t *qk = yaml_document_get_node(&l->doc, q->key);
			yaml_node_t *qv = yaml_document_get_node(&l->doc, q->value);
			const char *what = scalar(qk);
			char sub[320];
			int rc;

			snprintf(sub, sizeof(sub), "%s.%s", full, what ? what : "?");
			if (what && !strcmp(what, "include"))
				rc = load_label_list(l, qv, sub, s->include, &s->n_include);
			else if (what && !strcmp(what, "exclude"))
				rc = load_label_list(l, qv, sub, s->exclude, &s->n_exclude);
			else
				rc = fail(l, qk, sub, "unknown key (known: include, exclude)");
			if (rc)
				return rc;
		}
		sel->count++;
	}
	return 0;
}

static int load_mapping(struct loader *l, yaml_node_t *n, const char *prefix)
{
	if (n->type != YAML_MAPPING_NODE)
		return fail(l, n, prefix[0] ? prefix : "(top)", "expected a mapping of keys");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&l->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&l->doc, p->value);
		const struct config_option *opt;
		char key[256];
		int rc = 0;

		if (!scalar(k))
			return fail(l, k, prefix, "expected a plain key");
		snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", scalar(k));
		for (int i = 0; not_yet[i]; i++)
			if (!strcmp(key, not_yet[i]))
				return fail(l, k, key, "not supported by Sonde yet; remove it");
		if (!strcmp(key, "discovery.services"))
			rc = load_selector_list(l, v, key, false, true);
		else if (!strcmp(key, "discovery.exclude_services"))
			rc = load_selector_list(l, v, key, true, true);
		else if (!strcmp(key, "discovery.instrument"))
			rc = load_selector_list(l, v, key, false, false);
		else if (!strcmp(key, "discovery.exclude_instrument"))
			rc = load_selector_list(l, v, key, true, false);
		else if (!strcmp(key, "attributes.select"))
			rc = load_attr_select(l, v, key);
		else if ((opt = option_for(key)))
			rc = set_option(l, opt, v);
		else if (is_section(key) || !strcmp(key, "discovery") || !strcmp(key, "attributes"))
			rc = load_mapping(l, v, key);
		else
			rc = fail(l, k, key, "unknown key (see sonde --help for the keys)");
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- limits on the file itself ---- */

/* Enough for any configuration; a bigger file is a mistake or an attack. */
#define CONFIG_FILE_MAX (1u << 20)
/* The deepest configuration is 5 levels; libyaml's loader takes time and
 * stack in proportion to depth, so nesting stops well before it hurts. */
#define CONFIG_DEPTH_MAX 64

static int yaml_error(const char *path, FILE *errf, const yaml_parser_t *parser)
{
	fprintf(errf, "%s:%zu:%zu: not valid YAML: %s\n", path, parser->problem_mark.line + 1,
		parser->problem_mark.column + 1, parser->problem ? parser->problem : "parse error");
	return -EINVAL;
}

/* Reads the file, refusing one larger than CONFIG_FILE_MAX; sets *@len. */
static char *read_config(const char *path, FILE *errf, size_t *len, int *rc)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		*rc = -errno;
		fprintf(errf, "%s: cannot read the configuration file: %s\n", path, strerror(errno));
		return NULL;
	}
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		*rc = -ENOMEM;
		fprintf(errf, "%s: cannot read the configuration file: out of memory\n", path);
		return NULL;
	}
	n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		*rc = -EIO;
		fprintf(errf, "%s: cannot read the configuration file: read error\n", path);
	} else if (n > CONFIG_FILE_MAX) {
		*rc = -EINVAL;
		fprintf(errf, "%s: the configuration file is larger than %u KiB\n", path,
			CONFIG_FILE_MAX >> 10);
	} else {
		*rc = 0;
	}
	fclose(f);
	if (*rc) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* A pass over the events alone, before anything is built: nesting deeper
 * than CONFIG_DEPTH_MAX is refused where it starts. */
static int check_depth(const char *path, FILE *errf, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, rc = 0;
	bool done = false;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && !rc) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = yaml_error(path, errf, &parser);
			break;
		}
		switch (ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > CONFIG_DEPTH_MAX) {
				fprintf(errf, "%s:%zu:%zu: nested deeper than %d levels\n", path,
					ev.start_mark.line + 1, ev.start_mark.column + 1,
					CONFIG_DEPTH_MAX);
				rc = -EINVAL;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

struct key_ref {
	const char *key;
	size_t index; /* position in the mapping */
	yaml_node_t *node;
};

static int key_ref_cmp(const void *a, const void *b)
{
	const struct key_ref *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/*
 * Duplicate keys in every mapping of the document (YAML requires keys to
 * be unique; libyaml does not check, and the later one would silently
 * win). Aliases make the document a graph: each node is checked once.
 */
static int check_duplicates(struct loader *l, yaml_node_t *n, const char *where, bool *seen)
{
	size_t id = n - l->doc.nodes.start, count;
	struct key_ref *keys, *dup = NULL;
	int rc = 0;

	if (seen[id])
		return 0;
	seen[id] = true;
	if (n->type == YAML_SEQUENCE_NODE) {
		char sub[320];

		snprintf(sub, sizeof(sub), "%s[]", where);
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top && !rc; it++)
			rc = check_duplicates(l, yaml_document_get_node(&l->doc, *it), sub, seen);
		return rc;
	}
	if (n->type != YAML_MAPPING_NODE)
		return 0;
	count = n->data.mapping.pairs.top - n->data.mapping.pairs.start;
	keys = calloc(count ? count : 1, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *k = yaml_document_get_node(&l->doc, n->data.mapping.pairs.start[i].key);

		keys[i] = (struct key_ref){ scalar(k) ? scalar(k) : "", i, k };
	}
	qsort(keys, count, sizeof(*keys), key_ref_cmp);
	/* Sorted by key, then position: in a run of equal keys the first is
	 * the original and the second its first repeat. Report the repeat
	 * that comes first in the file. */
	for (size_t i = 1; i < count; i++) {
		if (!scalar(keys[i].node) || strcmp(keys[i].key, keys[i - 1].key))
			continue;
		if (i >= 2 && !strcmp(keys[i].key, keys[i - 2].key))
			continue; /* a third or later: its run's second was seen */
		if (!dup || keys[i].index < dup->index)
			dup = &keys[i];
	}
	if (dup) {
		char full[320];

		snprintf(full, sizeof(full), "%s%s%s", where, where[0] ? "." : "", dup->key);
		rc = fail(l, dup->node, full, "duplicate key (first at line %zu)",
			  (dup - 1)->node->start_mark.line + 1);
	}
	free(keys);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top && !rc;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(&l->doc, p->key);
		char sub[320];

		snprintf(sub, sizeof(sub), "%s%s%s", where, where[0] ? "." : "",
			 scalar(k) ? scalar(k) : "?");
		rc = check_duplicates(l, yaml_document_get_node(&l->doc, p->value), sub, seen);
	}
	return rc;
}

int config__load_file(struct sonde_config *cfg, const char *path, FILE *errf)
{
	struct loader l = { .path = path, .errf = errf, .cfg = cfg };
	yaml_parser_t parser;
	yaml_node_t *root;
	size_t len = 0;
	int rc;
	char *buf = read_config(path, errf, &len, &rc);

	if (!buf)
		return rc;
	rc = check_depth(path, errf, buf, len);
	if (rc) {
		free(buf);
		return rc;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &l.doc)) {
		rc = yaml_error(path, errf, &parser);
		yaml_parser_delete(&parser);
		free(buf);
		return rc;
	}
	root = yaml_document_get_root_node(&l.doc);
	if (root) { /* an empty file sets nothing */
		bool *seen = calloc(l.doc.nodes.top - l.doc.nodes.start + 1, sizeof(*seen));

		rc = seen ? check_duplicates(&l, root, "", seen) : -ENOMEM;
		free(seen);
		if (!rc)
			rc = load_mapping(&l, root, "");
	}
	yaml_document_delete(&l.doc);
	yaml_parser_delete(&parser);
	free(buf);
	return rc;
}

/* ---- printing ---- */

static bool secret(const char *key)
{
	return strstr(key, "headers") != NULL;
}

static void print_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void print_ports(FILE *f, const struct port_ranges *p)
{
	fputc('"', f);
	for (unsigned int i = 0; i < p->count; i++) {
		fprintf(f, "%s%u", i ? "," : "", p->range[i].lo);
		if (p->range[i].hi != p->range[i].lo)
			fprintf(f, "-%u", p->range[i].hi);
	}
	fputc('"', f);
}

/* "k=v,k2=v2" with every value masked. */
static void print_masked(FILE *f, const char *s)
{
	char *copy = strdup(s), *save = NULL, *tok;
	int n = 0;

	fputc('"', f);
	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (eq)
			*eq = '\0';
		fprintf(f, "%s%s=****", n++ ? "," : "", tok);
	}
	fputc('"', f);
	free(copy);
}

/* Options with no value print as comments, so the output loads back. */
static bool is_unset(const struct sonde_config *cfg, const struct config_option *opt)
{
	const void *p = (const char *)cfg + opt->offset;

	switch (opt->type) {
	case CONFIG_STRING:
	case CONFIG_REGEX:
		return *(char *const *)p == NULL;
	case CONFIG_PORTS:
		return ((const struct port_ranges *)p)->count == 0;
	case CONFIG_PIDS:
		return ((const struct pid_list *)p)->count == 0;
	case CONFIG_LIST:
		return ((const struct route_patterns *)p)->count == 0;
	case CONFIG_ENUM:
		return !opt->choices[*(const int *)p][0];
	default:
		return false;
	}
}

static void print_value(FILE *f, const struct sonde_config *cfg, const struct config_option *opt)
{
	const void *p = (const char *)cfg + opt->offset;

	switch (opt->type) {
	case CONFIG_BOOL:
		fputs(*(const bool *)p ? "true" : "false", f);
		break;
	case CONFIG_INT:
	case CONFIG_PORT:
		fprintf(f, "%d", *(const int *)p);
		break;
	case CONFIG_ENUM:
		fputs(opt->choices[*(const int *)p][0] ? opt->choices[*(const int *)p] : "\"\"", f);
		break;
	case CONFIG_DURATION:
		fprintf(f, "%" PRIu64 "ms", *(const uint64_t *)p);
		break;
	case CONFIG_SIZE:
		fprintf(f, "%" PRIu64, *(const uint64_t *)p);
		break;
	case CONFIG_PORTS:
		print_ports(f, p);
		break;
	case CONFIG_PIDS: {
		const struct pid_list *l = p;

		fputc('[', f);
		for (unsigned int i = 0; i < l->count; i++)
			fprintf(f, "%s%u", i ? ", " : "", l->pid[i]);
		fputc(']', f);
		break;
	}
	case CONFIG_LIST: {
		const struct route_patterns *l = p;

		fputc('[', f);
		for (unsigned int i = 0; i < l->count; i++) {
			fputs(i ? ", " : "", f);
			print_quoted(f, l->v[i]);
		}
		fputc(']', f);
		break;
	}
	case CONFIG_STRING:
	case CONFIG_REGEX: {
		const char *s = *(char *const *)p;

		if (!s)
			fputs("null", f);
		else if (secret(opt->key))
			print_masked(f, s);
		else
			print_quoted(f, s);
		break;
	}
	}
}

static void print_selectors(const struct sonde_config *cfg, FILE *f, bool exclude)
{
	bool header = false;

	for (unsigned int i = 0; i < cfg->selectors.count; i++) {
		const struct selector *s = &cfg->selectors.v[i];

		if (s->exclude != exclude)
			continue;
		if (!header)
			fprintf(f, "  %s:\n", exclude ? "exclude_instrument" : "instrument");
		header = true;
		fputs("    - ", f);
		if (s->name) {
			fputs("name: ", f);
			print_quoted(f, s->name);
			fputs("\n      ", f);
		}
		if (s->namespace_) {
			fputs("namespace: ", f);
			print_quoted(f, s->namespace_);
			fputs("\n      ", f);
		}
		fputs("open_ports: ", f);
		print_ports(f, &s->ports);
		if (s->exe_regex) {
			fputs("\n      exe_path_regexp: ", f);
			print_quoted(f, s->exe_regex);
		}
		if (s->exe_glob) {
			fputs("\n      exe_path: ", f);
			print_quoted(f, s->exe_glob);
		}
		if (s->pids.count) {
			fputs("\n      target_pids: [", f);
			for (unsigned int p = 0; p < s->pids.count; p++)
				fprintf(f, "%s%u", p ? ", " : "", s->pids.pid[p]);
			fputc(']', f);
		}
		fputc('\n', f);
	}
}

static void print_names(FILE *f, const char *what, const char (*names)[ATTR_NAME_LEN],
			unsigned int n)
{
	if (!n)
		return;
	fprintf(f, "      %s: [", what);
	for (unsigned int i = 0; i < n; i++) {
		fputs(i ? ", " : "", f);
		print_quoted(f, names[i]);
	}
	fputs("]\n", f);
}

static void print_attr_selects(FILE *f, const struct attr_selects *sel)
{
	if (!sel->count) {
		fputs("# attributes: (no label selection)\n", f);
		return;
	}
	fputs("attributes:\n  select:\n", f);
	for (unsigned int i = 0; i < sel->count; i++) {
		fputs("    ", f);
		print_quoted(f, sel->v[i].metric);
		fputs(":\n", f);
		print_names(f, "include", sel->v[i].include, sel->v[i].n_include);
		print_names(f, "exclude", sel->v[i].exclude, sel->v[i].n_exclude);
	}
}

/* Component-wise order, so every section's keys are contiguous. */
static int key_cmp(const void *a, const void *b)
{
	const char *x = (*(const struct config_option *const *)a)->key;
	const char *y = (*(const struct config_option *const *)b)->key;

	for (; *x && *x == *y; x++, y++)
		;
	return (*x == '.' ? 1 : (unsigned char)*x) - (*y == '.' ? 1 : (unsigned char)*y);
}

/* Length of the section part of @key (up to its last dot), 0 if none. */
static size_t section_len(const char *key)
{
	const char *dot = strrchr(key, '.');

	return dot ? (size_t)(dot - key) : 0;
}

/* Emit the section headers between the previous key's section and @key's. */
static void open_sections(FILE *f, const char *prev, size_t prev_len, const char *key,
			  size_t len, const struct sonde_config *cfg)
{
	size_t common = 0, depth = 0;

	/* the shared leading components */
	for (size_t i = 0; i <= len && i <= prev_len; i++) {
		bool end_a = i == len || key[i] == '.', end_b = i == prev_len || prev[i] == '.';

		if (end_a && end_b) {
			common = i;
			depth++;
		} else if (end_a != end_b || key[i] != prev[i]) {
			break;
		}
		if (i == len || i == prev_len)
			break;
	}
	if (common == 0)
		depth = 0;
	if (prev_len && !strncmp(prev, "discovery", 9) && (prev_len == 9 || prev[9] == '.') &&
	    (len < 9 || strncmp(key, "discovery", 9)))
		print_selectors(cfg, f, false), print_selectors(cfg, f, true);
	for (size_t start = common ? common + 1 : 0; start < len; depth++) {
		size_t end = start;

		while (end < len && key[end] != '.')
			end++;
		fprintf(f, "%*s%.*s:\n", (int)(2 * depth), "", (int)(end - start), key + start);
		start = end + 1;
	}
}

void config__print_yaml(const struct sonde_config *cfg, FILE *f)
{
	const struct config_option *sorted[256];
	size_t n = config_options_count < 256 ? config_options_count : 256;
	const char *prev = "";
	size_t prev_len = 0;

	for (size_t i = 0; i < n; i++)
		sorted[i] = &config_options[i];
	qsort(sorted, n, sizeof(sorted[0]), key_cmp);
	fputs("# effective configuration (defaults < file < environment)\n", f);
	for (size_t i = 0; i < n; i++) {
		const char *key = sorted[i]->key;
		size_t len = section_len(key), depth = 0;
		const char *leaf = len ? key + len + 1 : key;

		if (len != prev_len || strncmp(key, prev, len))
			open_sections(f, prev, prev_len, key, len, cfg);
		for (size_t c = 0; c < len; c++)
			depth += key[c] == '.';
		depth += len ? 1 : 0;
		prev = key;
		prev_len = len;
		if (is_unset(cfg, sorted[i])) {
			fprintf(f, "%*s# %s: (not set)\n", (int)(2 * depth), "", leaf);
			continue;
		}
		fprintf(f, "%*s%s: ", (int)(2 * depth), "", leaf);
		print_value(f, cfg, sorted[i]);
		fputc('\n', f);
	}
	open_sections(f, prev, prev_len, "", 0, cfg);
	print_attr_selects(f, &cfg->attr_selects);
}
