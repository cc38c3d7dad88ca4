// SPDX-License-Identifier: Apache-2.0
/* Reading files a traced user controls: util/safe_read.c. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/safe_read.h"

static char dir[64];

static void path_in(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static void write_file(const char *name, const char *text, mode_t mode)
{
	char p[128];
	FILE *f;

	path_in(p, sizeof(p), name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
}

static void on_alarm(int sig)
{
	fail_msg("a read blocked");
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/sonde-safe-readXXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	signal(SIGALRM, on_alarm);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_regular_file(void **state)
{
	char p[128], buf[64];
	bool trunc = true;

	write_file("plain", "{\"name\": \"svc\"}\n", 0644);
	path_in(p, sizeof(p), "plain");
	assert_int_equal(safe_read_at(AT_FDCWD, p, SAFE_READ_NOFOLLOW, buf, sizeof(buf), &trunc), 16);
	assert_string_equal(buf, "{\"name\": \"svc\"}\n");
	assert_false(trunc);
	assert_int_equal(safe_read_as(getpid(), p, buf, sizeof(buf), &trunc), 16);
	assert_string_equal(buf, "{\"name\": \"svc\"}\n");
}

/* A FIFO with no writer: open and read would block forever. */
static void test_fifo_does_not_block(void **state)
{
	char p[128], buf[64];

	path_in(p, sizeof(p), "fifo");
	assert_int_equal(mkfifo(p, 0666), 0);
	alarm(5);
	assert_int_equal(safe_read_at(AT_FDCWD, p, SAFE_READ_NOFOLLOW, buf, sizeof(buf), NULL),
			 -EINVAL);
	assert_int_equal(safe_read_at(AT_FDCWD, p, 0, buf, sizeof(buf), NULL), -EINVAL);
	assert_int_equal(safe_read_as(getpid(), p, buf, sizeof(buf), NULL), -EINVAL);
	alarm(0);
	assert_string_equal(buf, "");
}

static void test_symlink_refused(void **state)
{
	char p[128], target[128], buf[64];

	write_file("target", "secret\n", 0644);
	path_in(target, sizeof(target), "target");
	path_in(p, sizeof(p), "link");
	assert_int_equal(symlink(target, p), 0);
	assert_int_equal(safe_read_at(AT_FDCWD, p, SAFE_READ_NOFOLLOW, buf, sizeof(buf), NULL),
			 -ELOOP);
	assert_int_equal(safe_read_as(getpid(), p, buf, sizeof(buf), NULL), -ELOOP);
	assert_null(strstr(buf, "secret"));
	/* Without the flag (our own configuration files) a link is fine. */
	assert_int_equal(safe_read_at(AT_FDCWD, p, 0, buf, sizeof(buf), NULL), 7);
	assert_string_equal(buf, "secret\n");
}

static void test_oversized_truncated(void **state)
{
	char big[4096], p[128], buf[16];
	bool trunc = false;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file("big", big, 0644);
	path_in(p, sizeof(p), "big");
	assert_int_equal(safe_read_at(AT_FDCWD, p, 0, buf, sizeof(buf), &trunc), 15);
	assert_true(trunc);
	assert_int_equal(strlen(buf), 15);
	trunc = false;
	assert_int_equal(safe_read_as(getpid(), p, buf, sizeof(buf), &trunc), 15);
	assert_true(trunc);
	/* Exactly size - 1 bytes is not truncated. */
	write_file("exact", "0123456789abcde", 0644);
	path_in(p, sizeof(p), "exact");
	assert_int_equal(safe_read_at(AT_FDCWD, p, 0, buf, sizeof(buf), &trunc), 15);
	assert_false(trunc);
}

static void test_not_regular_refused(void **state)
{
	char buf[64];
	int fd;

	assert_int_equal(safe_read_at(AT_FDCWD, dir, 0, buf, sizeof(buf), NULL), -EINVAL);
	assert_int_equal(safe_read_at(AT_FDCWD, "/dev/zero", 0, buf, sizeof(buf), NULL), -EINVAL);
	assert_int_equal(safe_read_as(getpid(), "/dev/zero", buf, sizeof(buf), NULL), -EINVAL);
	assert_int_equal(safe_open_at(AT_FDCWD, "/dev/null", 0), -EINVAL);
	/* procfs entries are regular files: /proc reads keep working. */
	assert_true(safe_read_at(AT_FDCWD, "/proc/self/status", SAFE_READ_NOFOLLOW, buf,
				 sizeof(buf), NULL) > 0);
	assert_int_equal(safe_read_at(AT_FDCWD, "/nonexistent/x", 0, buf, sizeof(buf), NULL),
			 -ENOENT);
	fd = safe_open_at(AT_FDCWD, "/proc/self/exe", 0);
	assert_true(fd >= 0);
	close(fd);
}

/* A child that runs as @uid in root @root (NULL: ours) until killed. */
static pid_t start_target(uid_t uid, const char *root)
{
	int ready[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		if (root && (chroot(root) || chdir("/")))
			_exit(1);
		if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

static void stop_target(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* As root: the target's credentials decide, not ours. */
static void test_reads_with_target_credentials(void **state)
{
	char secret[128], open_file[128], link[128], buf[64];
	pid_t pid;

	if (geteuid() != 0)
		skip();
	write_file("secret", "root-only-secret\n", 0600);
	write_file("open", "{\"name\": \"open\"}\n", 0644);
	path_in(secret, sizeof(secret), "secret");
	path_in(open_file, sizeof(open_file), "open");
	pid = start_target(65534, NULL);
	assert_int_equal(safe_read_as(pid, secret, buf, sizeof(buf), NULL), -EACCES);
	assert_null(strstr(buf, "root-only-secret"));
	assert_int_equal(safe_read_as(pid, open_file, buf, sizeof(buf), NULL), 17);
	/* A directory symlink on the way leads to the same refusal. */
	path_in(link, sizeof(link), "dirlink");
	assert_int_equal(symlink(dir, link), 0);
	strcat(link, "/secret");
	assert_int_equal(safe_read_as(pid, link, buf, sizeof(buf), NULL), -EACCES);
	/* Root itself reads it (the credentials are the thread's, not ours). */
	assert_int_equal(safe_read_at(AT_FDCWD, secret, 0, buf, sizeof(buf), NULL), 17);
	stop_target(pid);
	assert_int_equal(safe_read_as(pid, open_file, buf, sizeof(buf), NULL), -ESRCH);
}

/* Paths resolve in the target's root: neither ".." nor an absolute
 * symlink leaves it. */
static void test_resolves_in_target_root(void **state)
{
	char root[128], p[160], escape[256], buf[64];
	pid_t pid;

	if (geteuid() != 0)
		skip();
	path_in(root, sizeof(root), "root");
	assert_int_equal(mkdir(root, 0755), 0);
	snprintf(p, sizeof(p), "%s/app", root);
	assert_int_equal(mkdir(p, 0755), 0);
	write_file("root/app/package.json", "{\"name\": \"inside\"}\n", 0644);
	write_file("outside.json", "{\"name\": \"outside\"}\n", 0644);
	/* /app/up -> / inside the root: a jump that must stay inside */
	snprintf(p, sizeof(p), "%s/app/up", root);
	assert_int_equal(symlink("/", p), 0);
	pid = start_target(0, root);
	assert_int_equal(safe_read_as(pid, "/app/package.json", buf, sizeof(buf), NULL), 19);
	assert_string_equal(buf, "{\"name\": \"inside\"}\n");
	snprintf(escape, sizeof(escape), "/../../../../..%s/outside.json", dir);
	assert_int_equal(safe_read_as(pid, escape, buf, sizeof(buf), NULL), -ENOENT);
	snprintf(escape, sizeof(escape), "/app/up/app/package.json");
	assert_int_equal(safe_read_as(pid, escape, buf, sizeof(buf), NULL), 19);
	snprintf(escape, sizeof(escape), "/app/up%s/outside.json", dir);
	assert_int_equal(safe_read_as(pid, escape, buf, sizeof(buf), NULL), -ENOENT);
	assert_null(strstr(buf, "outside"));
	stop_target(pid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regular_file),
		cmocka_unit_test(test_fifo_does_not_block),
		cmocka_unit_test(test_symlink_refused),
		cmocka_unit_test(test_oversized_truncated),
		cmocka_unit_test(test_not_regular_refused),
		cmocka_unit_test(test_reads_with_target_credentials),
		cmocka_unit_test(test_resolves_in_target_root),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
