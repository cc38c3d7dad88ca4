// SPDX-License-Identifier: Apache-2.0
/* The Prometheus endpoint's address and web configuration. See prom_web.h. */
#include "export/prom_web.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/safe_read.h"

struct web_loader {
	yaml_document_t doc;
	const char *path;
	char dir[PATH_MAX]; /* relative cert_file/key_file are from here */
	struct prom_web *w;
	char *err;
	size_t err_size;
	const char *min_version, *max_version;
	const char *cert_file, *key_file;
};

static int fail(struct web_loader *l, yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct web_loader *l, yaml_node_t *n, const char *fmt, ...)
{
	size_t len = 0;
	va_list ap;

	if (n)
		len = snprintf(l->err, l->err_size, "line %zu: ", n->start_mark.line + 1);
	if (len >= l->err_size)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(l->err + len, l->err_size - len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Calls @fn on each key/value of mapping @n; duplicate keys are an error. */
static int each_pair(struct web_loader *l, yaml_node_t *n, const char *what,
		     int (*fn)(struct web_loader *l, const char *key, yaml_node_t *k, yaml_node_t *v))
{
	yaml_node_pair_t *p, *q;

	if (n->type == YAML_SCALAR_NODE && !*scalar(n))
		return 0; /* "key:" with nothing: an empty section */
	if (n->type != YAML_MAPPING_NODE)
		return fail(l, n, "%s must be a mapping", what);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&l->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&l->doc, p->value);
		int rc;

		if (!scalar(k))
			return fail(l, k, "%s: keys must be plain strings", what);
		for (q = n->data.mapping.pairs.start; q < p; q++)
			if (!strcmp(scalar(yaml_document_get_node(&l->doc, q->key)), scalar(k)))
				return fail(l, k, "%s: duplicate key %s", what, scalar(k));
		rc = fn(l, scalar(k), k, v);
		if (rc)
			return rc;
	}
	return 0;
}

static bool is_bcrypt(const char *h)
{
	/* $2a$, $2b$ or $2y$, two cost digits, '$', 53 characters of salt and hash */
	if (strlen(h) != 60 || h[0] != '$' || h[1] != '2' || !strchr("aby", h[2]) || h[3] != '$' ||
	    h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' || h[6] != '$')
		return false;
	for (int i = 7; i < 60; i++)
		if (!strchr("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", h[i]))
			return false;
	return true;
}

static int user_pair(struct web_loader *l, const char *key, yaml_node_t *k, yaml_node_t *v)
{
	struct prom_web *w = l->w;
	const char *hash = scalar(v);

	if (!*key || strchr(key, ':'))
		return fail(l, k, "basic_auth_users: '%s' is not a user name (empty or with ':')", key);
	if (!hash || !is_bcrypt(hash))
		return fail(l, v ? v : k,
			    "basic_auth_users: the password of %s is not a bcrypt hash "
			    "($2y$..., as `htpasswd -nbB` makes)",
			    key);
	if (w->nusers == PROM_WEB_USERS_MAX)
		return fail(l, k, "basic_auth_users: at most %d users", PROM_WEB_USERS_MAX);
	w->users[w->nusers].name = strdup(key);
	w->users[w->nusers].hash = strdup(hash);
	w->nusers++;
	if (!w->users[w->nusers - 1].name || !w->users[w->nusers - 1].hash)
		return fail(l, k, "out of memory");
	return 0;
}

static bool tls_version(const char *v)
{
	return !strcmp(v, "TLS10") || !strcmp(v, "TLS11") || !strcmp(v, "TLS12") ||
	       !strcmp(v, "TLS13");
}

static int tls_pair(struct web_loader *l, const char *key, yaml_node_t *k, yaml_node_t *v)
{
	static const char *const unsupported[] = { "client_ca_file", "cipher_suites",
						   "curve_preferences", "prefer_server_cipher_suites",
						   "client_allowed_sans", "cert", "key" };
	const char *s = scalar(v);

	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (!strcmp(key, unsupported[i]))
			return fail(l, k, "tls_server_config.%s is not supported by Sonde", key);
	if (!s)
		return fail(l, v, "tls_server_config.%s must be a string", key);
	if (!strcmp(key, "cert_file")) {
		l->cert_file = s;
	} else if (!strcmp(key, "key_file")) {
		l->key_file = s;
	} else if (!strcmp(key, "min_version") || !strcmp(key, "max_version")) {
		if (!tls_version(s))
			return fail(l, v, "tls_server_config.%s: '%s' is not one of TLS10 TLS11 TLS12 TLS13",
				    key, s);
		*(key[1] == 'i' ? &l->min_version : &l->max_version) = s;
	} else if (!strcmp(key, "client_auth_type")) {
		if (*s && strcmp(s, "NoClientCert"))
			return fail(l, v, "tls_server_config.client_auth_type %s is not supported by "
				    "Sonde (only NoClientCert)", s);
	} else {
		return fail(l, k, "unknown key tls_server_config.%s", key);
	}
	return 0;
}

static int top_pair(struct web_loader *l, const char *key, yaml_node_t *k, yaml_node_t *v)
{
	if (!strcmp(key, "tls_server_config"))
		return each_pair(l, v, "tls_server_config", tls_pair);
	if (!strcmp(key, "basic_auth_users"))
		return each_pair(l, v, "basic_auth_users", user_pair);
	if (!strcmp(key, "http_server_config") || !strcmp(key, "rate_limit"))
		return fail(l, k, "%s is not supported by Sonde", key);
	return fail(l, k, "unknown key %s (Sonde reads tls_server_config and basic_auth_users)", key);
}

/* A certificate or key file, relative to the web configuration's directory. */
static int read_pem(struct web_loader *l, const char *what, const char *file, char **out)
{
	char path[PATH_MAX * 2];
	bool truncated;
	char *buf;
	ssize_t n;

	if (file[0] == '/')
		snprintf(path, sizeof(path), "%s", file);
	else
		snprintf(path, sizeof(path), "%s/%s", l->dir, file);
	buf = malloc(PROM_WEB_FILE_MAX + 1);
	if (!buf)
		return fail(l, NULL, "out of memory");
	n = safe_read_at(AT_FDCWD, path, 0, buf, PROM_WEB_FILE_MAX + 1, &truncated);
	if (n < 0 || truncated || n == 0) {
		free(buf);
		return fail(l, NULL, "tls_server_config.%s %s: %s", what, path,
			    n < 0 ? (n == -EINVAL ? "not a regular file" : strerror(-n))
				  : n == 0 ? "empty" : "larger than 1 MiB");
	}
	*out = buf;
	return 0;
}

/* GnuTLS itself says whether the certificate and key load and match. */
static int check_tls(struct web_loader *l)
{
	struct prom_web *w = l->w;
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t cert = { (unsigned char *)w->cert_pem, strlen(w->cert_pem) };
	gnutls_datum_t key = { (unsigned char *)w->key_pem, strlen(w->key_pem) };
	int rc;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return fail(l, NULL, "out of memory");
	rc = gnutls_certificate_set_x509_key_mem(cred, &cert, &key, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (rc < 0)
		return fail(l, NULL, "tls_server_config: certificate %s and key %s: %s", l->cert_file,
			    l->key_file, gnutls_strerror(rc));
	return 0;
}

static int version_rank(const char *v)
{
	return v[4] - '0'; /* TLS10..TLS13 */
}

static int build_priorities(struct web_loader *l)
{
	static const char *const names[] = { "+VERS-TLS1.0", "+VERS-TLS1.1", "+VERS-TLS1.2",
					     "+VERS-TLS1.3" };
	int lo = l->min_version ? version_rank(l->min_version) : 0;
	int hi = l->max_version ? version_rank(l->max_version) : 3;
	char prio[160] = "NORMAL:-VERS-ALL";

	if (!l->min_version && !l->max_version)
		return 0;
	if (lo > hi)
		return fail(l, NULL, "tls_server_config: min_version %s is above max_version %s",
			    l->min_version, l->max_version);
	for (int i = lo; i <= hi; i++) {
		strcat(prio, ":");
		strcat(prio, names[i]);
	}
	l->w->priorities = strdup(prio);
	return l->w->priorities ? 0 : fail(l, NULL, "out of memory");
}

static int load_doc(struct web_loader *l)
{
	yaml_node_t *root = yaml_document_get_root_node(&l->doc);
	int rc;

	if (!root || (root->type == YAML_SCALAR_NODE && !*scalar(root)))
		return 0; /* an empty file: plain HTTP, no users */
	if (root->type != YAML_MAPPING_NODE)
		return fail(l, root, "the file must be a mapping");
	rc = each_pair(l, root, "the file", top_pair);
	if (rc)
		return rc;
	if (!l->cert_file != !l->key_file)
		return fail(l, NULL, "tls_server_config needs both cert_file and key_file");
	if (l->min_version || l->max_version) {
		if (!l->cert_file)
			return fail(l, NULL, "tls_server_config: min_version/max_version without "
					     "cert_file and key_file");
	}
	if (!l->cert_file)
		return 0;
	if ((rc = read_pem(l, "cert_file", l->cert_file, &l->w->cert_pem)) ||
	    (rc = read_pem(l, "key_file", l->key_file, &l->w->key_pem)) || (rc = check_tls(l)))
		return rc;
	return build_priorities(l);
}

int prom_web__load(const char *path, struct prom_web *w, char *err, size_t err_size)
{
	struct web_loader l = { .path = path, .w = w, .err = err, .err_size = err_size };
	yaml_parser_t parser;
	bool truncated;
	char *text, copy[PATH_MAX];
	ssize_t n;
	int rc;

	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	err[0] = '\0';
	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(l.dir, sizeof(l.dir), "%s", dirname(copy));
	text = malloc(PROM_WEB_FILE_MAX + 1);
	if (!text)
		return fail(&l, NULL, "out of memory"), -ENOMEM;
	n = safe_read_at(AT_FDCWD, path, 0, text, PROM_WEB_FILE_MAX + 1, &truncated);
	if (n < 0 || truncated) {
		free(text);
		fail(&l, NULL, "%s", n < 0 ? (n == -EINVAL ? "not a regular file" : strerror(-n))
					   : "larger than 1 MiB");
		return n < 0 ? (int)n : -EFBIG;
	}
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		return fail(&l, NULL, "out of memory"), -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, n);
	if (!yaml_parser_load(&parser, &l.doc)) {
		snprintf(err, err_size, "line %zu: %s", parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "not YAML");
		yaml_parser_delete(&parser);
		free(text);
		return -EINVAL;
	}
	rc = load_doc(&l);
	yaml_document_delete(&l.doc);
	yaml_parser_delete(&parser);
	free(text);
	if (rc)
		prom_web__free(w);
	return rc;
}

void prom_web__free(struct prom_web *w)
{
	for (unsigned int i = 0; i < w->nusers; i++) {
		free(w->users[i].name);
		free(w->users[i].hash);
		if (w->users[i].good)
			explicit_bzero(w->users[i].good, strlen(w->users[i].good));
		free(w->users[i].good);
	}
	if (w->key_pem)
		explicit_bzero(w->key_pem, strlen(w->key_pem));
	free(w->key_pem);
	free(w->cert_pem);
	free(w->priorities);
	pthread_mutex_destroy(&w->lock);
	memset(w, 0, sizeof(*w));
}

/* Compares all of @a and @b whatever they hold. */
static bool same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;

	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i % (lb ? lb : 1)];
	return !diff;
}

bool prom_web__authorized(struct prom_web *w, const char *user, const char *pass)
{
	struct prom_user *u = NULL;
	struct crypt_data *cd;
	const char *out;
	bool ok = false;

	if (!w->nusers)
		return true;
	if (!user || !pass)
		return false;
	for (unsigned int i = 0; i < w->nusers; i++)
		if (!strcmp(w->users[i].name, user))
			u = &w->users[i];
	pthread_mutex_lock(&w->lock);
	if (u && u->good && same(pass, u->good)) {
		pthread_mutex_unlock(&w->lock);
		return true;
	}
	pthread_mutex_unlock(&w->lock);
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return false;
	/* An unknown user costs a bcrypt run too: no telling users apart by time. */
	out = crypt_r(pass, u ? u->hash : w->users[0].hash, cd);
	ok = u && out && out[0] != '*' && same(out, u->hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	if (ok) {
		char *copy = strdup(pass);

		pthread_mutex_lock(&w->lock);
		if (copy) {
			if (u->good)
				explicit_bzero(u->good, strlen(u->good));
			free(u->good);
			u->good = copy;
		}
		pthread_mutex_unlock(&w->lock);
	}
	return ok;
}

int prom_web__parse_address(const char *s, int port, struct sockaddr_storage *ss, socklen_t *len,
			    char *err, size_t err_size)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST };
	struct addrinfo *res = NULL;
	char host[256];
	size_t n = strlen(s);
	int rc;

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)(n - 2), s + 1);
	else
		snprintf(host, sizeof(host), "%s", s);
	if (!host[0] || n >= sizeof(host)) {
		snprintf(err, err_size, "'%s' is not an address", s);
		return -EINVAL;
	}
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc || !res) {
		snprintf(err, err_size, "'%s' is not an address: %s", s, gai_strerror(rc));
		if (res)
			freeaddrinfo(res);
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	freeaddrinfo(res);
	return 0;
}

int prom_web__check(const struct sonde_config *cfg, FILE *errf)
{
	char err[512];

	if (cfg->prometheus_address && *cfg->prometheus_address) {
		struct sockaddr_storage ss;
		socklen_t len;

		if (prom_web__parse_address(cfg->prometheus_address, cfg->prometheus_port, &ss, &len,
					    err, sizeof(err))) {
			fprintf(errf, "sonde: bad SONDE_PROMETHEUS_ADDRESS: %s\n", err);
			return -EINVAL;
		}
	}
	if (cfg->prometheus_web_config && *cfg->prometheus_web_config) {
		struct prom_web w;

		if (prom_web__load(cfg->prometheus_web_config, &w, err, sizeof(err))) {
			fprintf(errf, "sonde: bad Prometheus web config file %s: %s\n",
				cfg->prometheus_web_config, err);
			return -EINVAL;
		}
		prom_web__free(&w);
	}
	return 0;
}
