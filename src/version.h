/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SONDE_VERSION_H
#define SONDE_VERSION_H

extern const char sonde_version[];

#endif /* SONDE_VERSION_H */
