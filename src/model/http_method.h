/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP methods as the OTel semantic conventions name them: the methods of
 * RFC 9110 and PATCH (RFC 5789) keep their name in http.request.method;
 * any other is "_OTHER" there, and its own name, on spans only, goes to
 * http.request.method_original. A traced client can send any token as a
 * method: metrics key on the known set only, so methods cannot grow the
 * number of series.
 */
#ifndef SONDE_MODEL_HTTP_METHOD_H
#define SONDE_MODEL_HTTP_METHOD_H

#include <stdbool.h>

#define HTTP_METHOD_OTHER "_OTHER"

/** http_method_known() - is @m one of GET HEAD POST PUT DELETE CONNECT OPTIONS TRACE PATCH? */
bool http_method_known(const char *m);

/** http_method_semconv() - @m if known, else "_OTHER". */
const char *http_method_semconv(const char *m);

#endif /* SONDE_MODEL_HTTP_METHOD_H */
