/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How the Prometheus endpoint is served: the listening address and the
 * Prometheus web configuration file (the format node_exporter and the other
 * exporters read with --web.config.file):
 *
 *   tls_server_config:
 *     cert_file: server.crt      # relative paths: from the file's directory
 *     key_file: server.key
 *     min_version: TLS12         # optional, TLS10..TLS13; so is max_version
 *   basic_auth_users:
 *     prometheus: $2y$10$...     # bcrypt hashes only
 *
 * Keys the format has that Sonde does not apply (client certificates,
 * cipher suites, headers, ...) are refused by name, so nobody believes a
 * setting protects them when it does not.
 */
#ifndef SONDE_EXPORT_PROM_WEB_H
#define SONDE_EXPORT_PROM_WEB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "config.h"

/* Larger web configuration, certificate or key files are refused. */
#define PROM_WEB_FILE_MAX (1 << 20)
#define PROM_WEB_USERS_MAX 64

struct prom_user {
	char *name;
	char *hash; /* bcrypt, "$2b$..." */
	char *good; /* the last password that matched, so scrapes skip bcrypt; NULL: none */
};

struct prom_web {
	char *cert_pem; /* NULL: plain HTTP */
	char *key_pem;
	char *priorities; /* GnuTLS priority string from min/max_version, NULL: default */
	unsigned int nusers;
	struct prom_user users[PROM_WEB_USERS_MAX];
	pthread_mutex_t lock; /* the users' cache */
};

/* Reads and checks @path into @w (zeroed first). On error returns -errno
 * and puts one line of why into @err (no trailing newline). */
int prom_web__load(const char *path, struct prom_web *w, char *err, size_t err_size);
void prom_web__free(struct prom_web *w);

/* Whether @user/@pass match basic_auth_users (always true without users).
 * Takes the same time for an unknown user as for a wrong password. */
bool prom_web__authorized(struct prom_web *w, const char *user, const char *pass);

static inline bool prom_web__needs_auth(const struct prom_web *w)
{
	return w->nusers > 0;
}

/* @s: a numeric IPv4 or IPv6 address (brackets allowed: [::1]); no DNS lookup.
 * Fills @ss/@len with it and @port. */
int prom_web__parse_address(const char *s, int port, struct sockaddr_storage *ss, socklen_t *len,
			    char *err, size_t err_size);

/* At start: the endpoint's address and web configuration file are valid.
 * Prints one "sonde: ..." line to @errf and returns -EINVAL if not. */
int prom_web__check(const struct sonde_config *cfg, FILE *errf);

#endif /* SONDE_EXPORT_PROM_WEB_H */
