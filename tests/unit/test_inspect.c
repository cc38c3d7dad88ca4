// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the readers of other processes' data that the fuzz targets
 * feed (tests/fuzz/fuzz_proc.c, fuzz_elf.c): the /proc text parsers
 * (util/proc_parse.c) and the ELF inspection (util/elf_inspect.c), on real
 * shapes of their input and on broken ones.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/elf_inspect.h"
#include "util/proc_parse.h"

#define SEEDS GOLDEN_DIR "/../fuzz/seeds/fuzz_elf/"

static void test_status(void **state)
{
	const char *status = "Name:\tnginx\nUmask:\t0022\nUid:\t33\t33\t33\t1001\n"
			     "Gid:\t33\t34\t35\t2002\nGroups:\t4 27  100\t\nVmRSS:\t10 kB\n";
	unsigned long id = 0;
	gid_t groups[2];

	assert_int_equal(proc_status_fsid(status, "\nUid:", &id), 0);
	assert_int_equal(id, 1001);
	assert_int_equal(proc_status_fsid(status, "\nGid:", &id), 0);
	assert_int_equal(id, 2002);
	assert_int_equal(proc_status_groups(status, groups, 2), 2); /* bounded */
	assert_int_equal(groups[0], 4);
	assert_int_equal(groups[1], 27);
	assert_int_equal(proc_status_fsid("Name:\tx\nUid:\t1\t2\n", "\nUid:", &id), -EINVAL);
	assert_int_equal(proc_status_groups("Name:\tx\nGroups:\t\n", groups, 2), 0);
	/* A command name cannot forge a line: names sit before the first \n. */
	assert_int_equal(proc_status_fsid("Name:\tUid:\t0\t0\t0\t0\n", "\nUid:", &id), -EINVAL);
}

static void test_environ(void **state)
{
	static const char env[] = "PATH=/bin\0XOTEL_SERVICE_NAME=no\0OTEL_SERVICE_NAME=\0"
				  "OTEL_SERVICE_NAME=checkout\0OTEL_SERVICE_NAME=second";
	char v[8];

	assert_true(proc_environ_get(env, sizeof(env) - 1, "OTEL_SERVICE_NAME=", v, sizeof(v)));
	assert_string_equal(v, "checkou"); /* cut to the buffer */
	assert_false(proc_environ_get(env, 30, "OTEL_SERVICE_NAME=", v, sizeof(v)));
	/* Not NUL-terminated at the end: read within the length only. */
	assert_true(proc_environ_get("A=1\0B=22", 8, "B=", v, sizeof(v)));
	assert_string_equal(v, "22");
	assert_true(proc_environ_get("A=1\0B=22", 7, "B=", v, sizeof(v)));
	assert_string_equal(v, "2");
	assert_false(proc_environ_get("", 0, "B=", v, sizeof(v)));
}

static void test_tcp_lines(void **state)
{
	uint16_t port = 0;
	uint64_t inode = 0;

	assert_true(proc_tcp_listener("   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 "
				      "00:00000000 00000000     0        0 318261 1 0000 100 0 0 10 0",
				      &port, &inode));
	assert_int_equal(port, 8080);
	assert_int_equal(inode, 318261);
	/* tcp6 address, LISTEN */
	assert_true(proc_tcp_listener("   1: 00000000000000000000000001000000:01BB "
				      "00000000000000000000000000000000:0000 0A 00000000:00000000 "
				      "00:00000000 00000000  1000        0 42 1 0000 100 0 0 10 0",
				      &port, &inode));
	assert_int_equal(port, 443);
	assert_int_equal(inode, 42);
	/* ESTABLISHED (01), the header, a cut line: not listeners. */
	assert_false(proc_tcp_listener("   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 "
				       "00:00000000 00000000     0        0 7 1",
				       &port, &inode));
	assert_false(proc_tcp_listener("  sl  local_address rem_address   st tx_queue rx_queue", &port,
				       &inode));
	assert_false(proc_tcp_listener("   0: 0100007F:1F90 00000000:0000 0A", &port, &inode));
	assert_false(proc_tcp_listener("   0: 0100007F:123456 00000000:0000 0A 0:0 0:0 0 0 0 9", &port,
				       &inode));
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc(n ? n : 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static bool fd_is_go(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool go;

	assert_true(fd >= 0);
	go = elf_fd_is_go(fd);
	close(fd);
	return go;
}

static void test_elf(void **state)
{
	size_t len;
	char *img = slurp(SEEDS "go_buildinfo.o", &len);
	char *copy;

	/* A .go.buildinfo section (64-bit) and a .gopclntab one (32-bit ELF). */
	assert_true(fd_is_go(SEEDS "go_buildinfo.o"));
	assert_true(elf_image_is_go(img, len));
	assert_true(fd_is_go(SEEDS "gopclntab32.o"));
	/* A C executable, a text file: not Go. */
	assert_false(fd_is_go(SEEDS "tiny_exe"));
	assert_false(fd_is_go(GOLDEN_DIR "/../../Makefile"));
	assert_false(elf_image_is_go("", 0));
	/* Cut short: the section headers are gone, so no answer but "no". */
	assert_false(elf_image_is_go(img, 64));
	/* The section name table claimed huge (past the limit and the image): "no". */
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, img, len);
	{
		uint64_t shoff, size = 1ull << 40;
		uint16_t shentsize, shstrndx;

		memcpy(&shoff, copy + 0x28, 8);
		memcpy(&shentsize, copy + 0x3a, 2);
		memcpy(&shstrndx, copy + 0x3e, 2);
		memcpy(copy + shoff + (uint64_t)shstrndx * shentsize + 0x20, &size, 8);
	}
	assert_false(elf_image_is_go(copy, len));
	free(copy);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_environ),
		cmocka_unit_test(test_tcp_lines),
		cmocka_unit_test(test_elf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
