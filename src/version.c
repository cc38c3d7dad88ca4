// SPDX-License-Identifier: Apache-2.0
/* The build's version, in one object so a new commit rebuilds only this. */
#include "version.h"

#ifndef SONDE_VERSION
#define SONDE_VERSION "dev"
#endif

const char sonde_version[] = SONDE_VERSION;
