// SPDX-License-Identifier: Apache-2.0
/* Reading files that others control. See safe_read.h. */
#include "util/safe_read.h"

#include "util/proc_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define GROUPS_MAX 256

/* Turns an O_PATH descriptor of a regular file into a readable one, or
 * says why not. Closes @pathfd. */
static int reopen_regular(int pathfd, int flags)
{
	struct stat st, st2;
	char self[64];
	int fd;

	if (fstat(pathfd, &st)) {
		fd = -errno;
		close(pathfd);
		return fd;
	}
	if (S_ISLNK(st.st_mode)) { /* O_PATH|O_NOFOLLOW opened the link itself */
		close(pathfd);
		return -ELOOP;
	}
	if (!(flags & SAFE_READ_ANY_TYPE) && !S_ISREG(st.st_mode)) {
		close(pathfd);
		return -EINVAL;
	}
	/* Reopening through our own descriptor checks the caller's right to
	 * read the inode, as a direct open would, and never re-resolves the
	 * name (which its owner may have swapped meanwhile). */
	snprintf(self, sizeof(self), "/proc/thread-self/fd/%d", pathfd);
	fd = open(self, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		close(pathfd);
		return fd;
	}
	close(pathfd);
	if (fstat(fd, &st2) || st2.st_ino != st.st_ino || st2.st_dev != st.st_dev) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

int safe_open_at(int dirfd, const char *path, int flags)
{
	int oflags = O_PATH | O_CLOEXEC | ((flags & SAFE_READ_NOFOLLOW) ? O_NOFOLLOW : 0);
	int pathfd = openat(dirfd, path, oflags);

	if (pathfd < 0)
		return -errno;
	return reopen_regular(pathfd, flags);
}

static ssize_t read_bounded(int fd, char *buf, size_t size, bool *truncated)
{
	size_t total = 0;
	ssize_t n;

	if (truncated)
		*truncated = false;
	if (!size)
		return -EINVAL;
	while (total < size - 1) {
		n = read(fd, buf + total, size - 1 - total);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			buf[total] = '\0';
			return total ? (ssize_t)total : -errno;
		}
		if (n == 0)
			break;
		total += n;
	}
	buf[total] = '\0';
	if (total == size - 1 && truncated) {
		char more;

		*truncated = read(fd, &more, 1) > 0;
	}
	return total;
}

ssize_t safe_read_at(int dirfd, const char *path, int flags, char *buf, size_t size,
		     bool *truncated)
{
	int fd = safe_open_at(dirfd, path, flags);
	ssize_t n;

	if (truncated)
		*truncated = false;
	if (size)
		buf[0] = '\0';
	if (fd < 0)
		return fd;
	n = read_bounded(fd, buf, size, truncated);
	close(fd);
	return n;
}

/* ---- reading as the target ---- */

struct as_target {
	int rootfd;
	const char *path; /* inside the target's root */
	uid_t fsuid;
	gid_t fsgid;
	int ngroups;
	gid_t groups[GROUPS_MAX];
	char *buf;
	size_t size;
	bool *truncated;
	ssize_t result;
};

/*
 * Root loses its file-permission capabilities when its fsuid leaves 0 (the
 * kernel's set*id fix-up); a non-root Sonde running on ambient capabilities
 * does not, and would read with CAP_DAC_READ_SEARCH what the target may
 * not. So this thread drops them itself (capset acts on the calling thread
 * only); it ends after the read.
 */
static int drop_file_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	const uint32_t mask = 1u << CAP_DAC_OVERRIDE | 1u << CAP_DAC_READ_SEARCH | 1u << CAP_FOWNER;

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	if (!(data[0].effective & mask))
		return 0;
	data[0].effective &= ~mask;
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	return 0;
}

static void *read_as_thread(void *arg)
{
	struct as_target *t = arg;
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	const char *rel = t->path;
	int pathfd, fd;

	/* Raw system calls: glibc's setgroups() would change every thread;
	 * these change this one only, and it ends after the read. */
	if (syscall(SYS_setgroups, (size_t)t->ngroups, t->groups) ||
	    syscall(SYS_setfsgid, t->fsgid) < 0 || syscall(SYS_setfsuid, t->fsuid) < 0 ||
	    (uid_t)syscall(SYS_setfsuid, -1) != t->fsuid ||
	    (gid_t)syscall(SYS_setfsgid, -1) != t->fsgid || drop_file_caps()) {
		t->result = -EPERM;
		return NULL;
	}
	while (*rel == '/')
		rel++;
	if (!*rel) {
		t->result = -EINVAL;
		return NULL;
	}
	pathfd = syscall(SYS_openat2, t->rootfd, rel, &how, sizeof(how));
	if (pathfd < 0) {
		t->result = -errno;
		return NULL;
	}
	fd = reopen_regular(pathfd, 0);
	if (fd < 0) {
		t->result = fd;
		return NULL;
	}
	t->result = read_bounded(fd, t->buf, t->size, t->truncated);
	close(fd);
	return NULL;
}

ssize_t safe_read_as(pid_t pid, const char *path, char *buf, size_t size, bool *truncated)
{
	struct as_target *t;
	char dir[32], status[4096];
	unsigned long uid, gid;
	pthread_t th;
	ssize_t n, rc;
	int procfd;

	if (truncated)
		*truncated = false;
	if (!size)
		return -EINVAL;
	buf[0] = '\0';
	snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	/* One handle on the process: its status and its root are read
	 * through it, so a recycled pid cannot mix two processes. */
	procfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = safe_read_at(procfd, "status", SAFE_READ_NOFOLLOW, status, sizeof(status), NULL);
	if (n <= 0 || proc_status_fsid(status, "\nUid:", &uid) || proc_status_fsid(status, "\nGid:", &gid)) {
		close(procfd);
		return n < 0 ? n : -ESRCH;
	}
	t = calloc(1, sizeof(*t)); /* off the caller's stack: the groups are large */
	if (!t) {
		close(procfd);
		return -ENOMEM;
	}
	t->fsuid = uid;
	t->fsgid = gid;
	t->ngroups = proc_status_groups(status, t->groups, GROUPS_MAX);
	t->path = path;
	t->buf = buf;
	t->size = size;
	t->truncated = truncated;
	t->rootfd = openat(procfd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
	close(procfd);
	if (t->rootfd < 0) {
		rc = -errno;
		free(t);
		return rc;
	}
	rc = pthread_create(&th, NULL, read_as_thread, t);
	if (rc) {
		close(t->rootfd);
		free(t);
		return -rc;
	}
	pthread_join(th, NULL);
	rc = t->result;
	close(t->rootfd);
	free(t);
	return rc;
}
