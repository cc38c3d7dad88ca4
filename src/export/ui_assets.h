/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The live view's files (ui/), embedded at build time by
 * scripts/embed_ui.sh into $(BUILD)/gen/ui_assets.c.
 */
#ifndef SONDE_EXPORT_UI_ASSETS_H
#define SONDE_EXPORT_UI_ASSETS_H

#include <stddef.h>

struct ui_asset {
	const char *path; /* "/index.html" */
	const char *content_type;
	const unsigned char *data;
	size_t len;
};

/* Ends with an entry whose path is NULL. */
extern const struct ui_asset ui_assets[];

#endif /* SONDE_EXPORT_UI_ASSETS_H */
