/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Valid UTF-8 for every string that reaches an output. Bytes a traced
 * program sends (method, path, Host), names read from other processes
 * (OTEL_SERVICE_NAME, package.json, executable paths) and configured
 * strings are made valid here, once, where they enter the span and metric
 * model: each byte that does not start a well-formed sequence (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF, no truncated
 * sequence) becomes U+FFFD. Exporters may then copy strings as they are;
 * what is left to them is their own format's escaping (control characters
 * stay valid UTF-8 and are escaped by the encoders that need it).
 */
#ifndef SONDE_UTIL_UTF8_H
#define SONDE_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define UTF8_REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/**
 * utf8_seq_len() - length (1 to 4) of the well-formed sequence at @s, which
 * has @n bytes, or 0 when its first byte does not start one.
 */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/** utf8_valid() - are the @n bytes of @s well-formed UTF-8 (NUL counts as valid)? */
bool utf8_valid(const char *s, size_t n);

/**
 * utf8_sanitize() - copy @n bytes of @src into @dst of @size (> 0), each
 * invalid byte replaced by U+FFFD, stopping at a NUL of @src and at the
 * last whole character that fits. Always NUL-terminated.
 * Return: the length written, without the NUL.
 */
size_t utf8_sanitize(char *dst, size_t size, const char *src, size_t n);

/**
 * utf8_fix() - make the NUL-terminated string in @buf (of @size bytes)
 * valid UTF-8 in place, truncating at a character boundary when the
 * replacements need more room. Return: whether it was changed.
 */
bool utf8_fix(char *buf, size_t size);

/**
 * utf8_put_escaped() - write @s to @f for a line-oriented text output:
 * C0 control characters, DEL and C1 controls (U+0080..U+009F) as \xNN, a
 * backslash as \\, so a value cannot start a line of its own or be
 * mistaken for an escape. Invalid bytes are written as \xNN too.
 */
void utf8_put_escaped(FILE *f, const char *s);

/**
 * utf8_escape() - the same into @dst of @size (> 0), truncated at a whole
 * escape. Return: the length written.
 */
size_t utf8_escape(char *dst, size_t size, const char *s);

#endif /* SONDE_UTIL_UTF8_H */
