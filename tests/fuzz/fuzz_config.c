// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for configuration files: any bytes as a YAML file are
 * refused with one error line or accepted, never a crash, a hang or a leak;
 * an accepted one also finishes (config__finish) and prints back as YAML
 * (--print-config) without harm.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "config_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct sonde_config cfg;
	char path[64];
	int fd = memfd_create("fuzz-config", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	config__defaults(&cfg);
	if (!config__load_file(&cfg, path, devnull) && !config__finish(&cfg, devnull))
		config__print_yaml(&cfg, devnull);
	config__free(&cfg);
	close(fd);
	return 0;
}
