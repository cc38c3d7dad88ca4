// SPDX-License-Identifier: Apache-2.0
/* stdio_is_socket(): the inetd rule's test, on real processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "discovery/internal.h"

/* A child whose standard input is @fd, alive until killed. */
static pid_t child_with_stdin(int fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		pause();
		_exit(0);
	}
	usleep(100 * 1000);
	return pid;
}

static void test_socket_on_stdin(void **state)
{
	int sv[2];
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = child_with_stdin(sv[0]);
	assert_true(pid > 0);
	assert_true(stdio_is_socket(pid));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(sv[0]);
	close(sv[1]);
}

static void test_file_on_stdin(void **state)
{
	int fd = open("/dev/null", O_RDWR);
	pid_t pid;

	assert_true(fd >= 0);
	pid = child_with_stdin(fd);
	assert_false(stdio_is_socket(pid));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fd);
}

/* Exited (a zombie not yet reaped, then gone): kept until its exit event. */
static void test_exited_counts_as_socket(void **state)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	usleep(100 * 1000);
	assert_true(stdio_is_socket(pid)); /* zombie: no descriptors left */
	waitpid(pid, NULL, 0);
	assert_true(stdio_is_socket(pid)); /* gone */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_on_stdin),
		cmocka_unit_test(test_file_on_stdin),
		cmocka_unit_test(test_exited_counts_as_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
