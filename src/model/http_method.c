// SPDX-License-Identifier: Apache-2.0
#include "model/http_method.h"

#include <string.h>

bool http_method_known(const char *m)
{
	static const char *const known[] = { "GET",	"HEAD",	   "POST",  "PUT",  "DELETE",
					     "CONNECT", "OPTIONS", "TRACE", "PATCH" };

	/* Case matters: RFC 9110 9.1 makes method names case-sensitive. */
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(m, known[i]))
			return true;
	return false;
}

const char *http_method_semconv(const char *m)
{
	return http_method_known(m) ? m : HTTP_METHOD_OTHER;
}
