// SPDX-License-Identifier: Apache-2.0
#include "export/exporter.h"

#include <stddef.h>

#include "export/otlp.h"
#include "export/ui.h"

const struct exporter_ops *const exporter_registry[] = {
	&printer_exporter,
	&prometheus_exporter,
	&otlp_exporter,
	&ui_exporter,
	NULL,
};
