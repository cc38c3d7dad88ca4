// SPDX-License-Identifier: Apache-2.0
/* Service names: from the configuration, OTEL_SERVICE_NAME, or the command
 * line (jar, main class, script, a Node script's package.json). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "discovery.h"
#include "discovery/internal.h"
#include "util/log.h"
#include "util/proc_parse.h"
#include "util/safe_read.h"

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static void strip_suffix(char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	if (n > m && !strcmp(s + n - m, suffix))
		s[n - m] = '\0';
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/*
 * The name field of the package.json nearest above a Node script. The
 * script's directories belong to whoever runs it: package.json is read as
 * process @pid sees it (its root) and with its credentials, only if it is
 * a regular file and not a symlink, 8 KiB at most (util/safe_read.h). A
 * FIFO, a device, a link to a file its user may not read: no name from it.
 */
static bool node_package_name(pid_t pid, const char *script, char *out, size_t size)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], buf[8192];

	if (script[0] != '/' || strlen(script) >= sizeof(dir))
		return false;
	strcpy(dir, script);
	for (int depth = 0; depth < 4; depth++) {
		char *slash = strrchr(dir, '/');
		char *key, *start, *end;
		ssize_t n;

		if (!slash || slash == dir)
			return false;
		*slash = '\0';
		snprintf(path, sizeof(path), "%s/package.json", dir);
		n = safe_read_as(pid, path, buf, sizeof(buf), NULL);
		if (n == -ENOENT || n == -ENOTDIR)
			continue;
		if (n <= 0) {
			if (n < 0)
				log_debug("pid=%d: %s not read: %s", (int)pid, path, strerror((int)-n));
			return false; /* there but not for us: never look further up */
		}
		key = strstr(buf, "\"name\"");
		if (!key || !(start = strchr(key + 6, '"')) || !(end = strchr(start + 1, '"')))
			return false;
		snprintf(out, size, "%.*s", (int)(end - start - 1), start + 1);
		return end > start + 1;
	}
	return false;
}

/* Java options that take the next argument as their value. */
static bool java_option_has_value(const char *arg)
{
	static const char *const opts[] = { "-cp", "-classpath", "--class-path", "-p", "--module-path",
					    "--add-opens", "--add-exports", "--add-modules" };

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (!strcmp(arg, opts[i]))
			return true;
	return false;
}

void service_name_of(pid_t pid, const char *exe, const char *argv, size_t argv_len, char *out,
		     size_t out_size, char *runtime, size_t runtime_size)
{
	const char *args[64];
	const char *base = base_name(exe);
	const char *pick = NULL;
	int argc = 0;
	char tmp[PATH_MAX];

	for (size_t off = 0; off < argv_len && argc < 64; off += strlen(argv + off) + 1)
		args[argc++] = argv + off;
	/* Interpreters often run as a versioned binary (python3.11, node18). */
	runtime[0] = '\0';
	if (starts_with(base, "java"))
		snprintf(runtime, runtime_size, "java");
	else if (starts_with(base, "python"))
		snprintf(runtime, runtime_size, "python");
	else if (starts_with(base, "node") || !strcmp(base, "nodejs"))
		snprintf(runtime, runtime_size, "node");
	else if (starts_with(base, "ruby"))
		snprintf(runtime, runtime_size, "ruby");

	if (!strcmp(runtime, "java")) {
		for (int i = 1; i < argc; i++) {
			if (!strcmp(args[i], "-jar") && i + 1 < argc) {
				snprintf(tmp, sizeof(tmp), "%s", base_name(args[i + 1]));
				strip_suffix(tmp, ".jar");
				snprintf(out, out_size, "%s", tmp);
				return;
			}
			if (java_option_has_value(args[i])) {
				i++;
				continue;
			}
			if (args[i][0] != '-') { /* the main class: keep its simple name */
				const char *dot = strrchr(args[i], '.');

				pick = dot ? dot + 1 : args[i];
				break;
			}
		}
	} else if (runtime[0]) {
		for (int i = 1; i < argc; i++) {
			if (!strcmp(runtime, "python") && !strcmp(args[i], "-m") && i + 1 < argc) {
				pick = args[i + 1];
				break;
			}
			if (args[i][0] == '-')
				continue;
			pick = args[i];
			break;
		}
		if (pick && !strcmp(runtime, "node")) {
			snprintf(tmp, sizeof(tmp), "%s", base_name(pick));
			strip_suffix(tmp, ".js");
			strip_suffix(tmp, ".mjs");
			strip_suffix(tmp, ".cjs");
			/* index.js, server.js, app.js say little: prefer the package. */
			if ((!strcmp(tmp, "index") || !strcmp(tmp, "server") || !strcmp(tmp, "app") ||
			     !strcmp(tmp, "main")) &&
			    node_package_name(pid, pick, out, out_size))
				return;
			snprintf(out, out_size, "%s", tmp);
			return;
		}
	}
	snprintf(tmp, sizeof(tmp), "%s", pick ? base_name(pick) : base);
	strip_suffix(tmp, ".py");
	strip_suffix(tmp, ".rb");
	snprintf(out, out_size, "%s", tmp[0] ? tmp : base);
}

void service_name_from_cmdline(const char *exe, const char *argv, size_t argv_len, char *out,
			       size_t out_size, char *runtime, size_t runtime_size)
{
	service_name_of(getpid(), exe, argv, argv_len, out, out_size, runtime, runtime_size);
}

bool service_name_from_environ(const char *env, size_t len, char *out, size_t size)
{
	return proc_environ_get(env, len, "OTEL_SERVICE_NAME=", out, size); /* util/proc_parse.h */
}

/* OTEL_SERVICE_NAME from the process's own environment, if set. */
static bool env_service_name(uint32_t pid, char *out, size_t size)
{
	static char buf[64 << 10];
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/environ", pid);
	n = proc_read(path, buf, sizeof(buf));
	return n > 0 && service_name_from_environ(buf, (size_t)n, out, size);
}

void service_identity(const struct sonde_config *cfg, const struct selector *by, uint32_t pid,
		      char *name, size_t name_size, const char **ns)
{
	*ns = by && by->namespace_ ? by->namespace_ : cfg->service_namespace;
	if (!*ns)
		*ns = "";
	if (by && by->name)
		snprintf(name, name_size, "%s", by->name);
	else if (cfg->service_name)
		snprintf(name, name_size, "%s", cfg->service_name);
	else
		env_service_name(pid, name, name_size);
}
