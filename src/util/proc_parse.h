/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure parsers of the /proc text Sonde reads about other processes
 * (/proc/PID/status, /proc/PID/environ, /proc/PID/net/tcp{,6}). No I/O:
 * the callers read the files (util/safe_read.h); tests/fuzz/fuzz_proc.c
 * feeds them arbitrary bytes. Inputs are NUL-terminated text unless a
 * length is given.
 */
#ifndef SONDE_UTIL_PROC_PARSE_H
#define SONDE_UTIL_PROC_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/**
 * proc_status_fsid() - the file-system id (the fourth value) of the line
 * @key ("\nUid:" or "\nGid:") of a /proc/PID/status text.
 * Return: 0 with *@fsid set, or -EINVAL.
 */
int proc_status_fsid(const char *status, const char *key, unsigned long *fsid);

/** proc_status_groups() - the supplementary groups ("\nGroups:"), at most @max. Return: how many. */
int proc_status_groups(const char *status, gid_t *groups, int max);

/**
 * proc_environ_get() - the value of @key ("OTEL_SERVICE_NAME=") in an
 * environ block of @n bytes (NUL-separated, need not end with a NUL).
 * Return: @value filled (NUL-terminated, cut to @size) and true, or false
 * when @key is absent or its value empty.
 */
bool proc_environ_get(const char *env, size_t n, const char *key, char *value, size_t size);

/**
 * proc_tcp_listener() - one line of /proc/net/tcp or tcp6: a socket in
 * LISTEN state? Return: true with its local @port and @inode.
 */
bool proc_tcp_listener(const char *line, uint16_t *port, uint64_t *inode);

#endif /* SONDE_UTIL_PROC_PARSE_H */
