/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading files that someone else controls (a traced process's
 * package.json, its /proc entries, its executable) from a root agent,
 * without letting that someone block us or make us read what they could
 * not:
 *
 *  - the file is opened O_PATH first and must be a regular file (fstat)
 *    before it is opened for reading: a FIFO, a device or a socket is never
 *    opened, so it can neither block nor have side effects;
 *  - O_NOFOLLOW: a symbolic link as the last component is refused;
 *  - reads are bounded: at most size - 1 bytes, NUL-terminated, and the
 *    caller learns whether there was more;
 *  - safe_read_as() resolves the path inside the target's root
 *    (/proc/PID/root with RESOLVE_IN_ROOT, so neither "..", nor an absolute
 *    symlink can leave it) and reads on a short-lived thread that carries
 *    the target's file-system uid, gid and groups: the kernel then grants
 *    exactly what the target itself could read, never root's reach.
 */
#ifndef SONDE_UTIL_SAFE_READ_H
#define SONDE_UTIL_SAFE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum {
	SAFE_READ_NOFOLLOW = 1, /* refuse a symlink as the last component (ELOOP) */
	SAFE_READ_ANY_TYPE = 2, /* /proc entries and the like: skip the regular-file check */
};

/*
 * Reads @path (relative to @dirfd, or AT_FDCWD) into @buf, NUL-terminated.
 * Returns the bytes read (at most @size - 1) or -errno: -ELOOP for a
 * symlink with SAFE_READ_NOFOLLOW, -EINVAL for anything but a regular file.
 * *@truncated (if given) says whether the file had more.
 */
ssize_t safe_read_at(int dirfd, const char *path, int flags, char *buf, size_t size,
		     bool *truncated);

/*
 * Reads @path as process @pid sees it (its root) and with its file-system
 * credentials (uid, gid, supplementary groups from /proc/PID/status).
 * Same rules and returns as safe_read_at() with SAFE_READ_NOFOLLOW;
 * -EACCES when the target could not read it; -ESRCH when @pid is gone.
 */
ssize_t safe_read_as(pid_t pid, const char *path, char *buf, size_t size, bool *truncated);

/* Opens @path for reading under the same rules (regular file, O_NOFOLLOW
 * with the flag): returns a descriptor or -errno. For ELF readers. */
int safe_open_at(int dirfd, const char *path, int flags);

#endif /* SONDE_UTIL_SAFE_READ_H */
