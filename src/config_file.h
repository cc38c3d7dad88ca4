/* SPDX-License-Identifier: Apache-2.0 */
/*
 * YAML configuration files (Beyla/OBI layout), read through the same
 * option table as the environment (config.c), plus the structured keys a
 * flat table cannot hold: discovery.services / instrument /
 * exclude_instrument lists.
 */
#ifndef SONDE_CONFIG_FILE_H
#define SONDE_CONFIG_FILE_H

#include <stdio.h>

#include "config.h"

/* Environment variables naming a configuration file, first set wins. */
extern const char *const config_path_env[];

/**
 * config__load_file() - apply the YAML file @path to @cfg.
 * Errors are one line "FILE:LINE:COLUMN: KEY: what was expected" on @errf.
 * Return: 0, or -EINVAL (bad content) / -errno (unreadable).
 */
int config__load_file(struct sonde_config *cfg, const char *path, FILE *errf);

/**
 * config__print_yaml() - the effective configuration as YAML, header
 * values masked.
 */
void config__print_yaml(const struct sonde_config *cfg, FILE *f);

#endif /* SONDE_CONFIG_FILE_H */
