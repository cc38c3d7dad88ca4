// SPDX-License-Identifier: Apache-2.0
/* The SQL tokenizer of database spans. See sql.h. */
#include "decode/sql.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "util/str.h"

enum tok_kind { TOK_END, TOK_WORD, TOK_QUOTED_ID, TOK_STRING, TOK_NUMBER, TOK_PUNCT };

struct tok {
	enum tok_kind kind;
	size_t start, len; /* the token's text (without quotes for a quoted identifier) */
};

static bool word_start(unsigned char c)
{
	return isalpha(c) || c == '_' || c >= 0x80;
}

static bool word_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Past a quoted run starting at q[i] == @quote; doubled quotes and (for
 * strings) backslash escapes stay inside. */
static size_t skip_quoted(const char *q, size_t len, size_t i, char quote, bool backslash)
{
	for (i++; i < len; i++) {
		if (backslash && q[i] == '\\') {
			i++;
			continue;
		}
		if (q[i] == quote) {
			if (i + 1 < len && q[i + 1] == quote) {
				i++;
				continue;
			}
			return i + 1;
		}
	}
	return len;
}

/* Past whitespace and comments from @i. */
static size_t skip_space(const char *q, size_t len, size_t i)
{
	while (i < len) {
		if (isspace((unsigned char)q[i])) {
			i++;
		} else if (q[i] == '-' && i + 1 < len && q[i + 1] == '-') {
			while (i < len && q[i] != '\n')
				i++;
		} else if (q[i] == '#') { /* MySQL line comment */
			while (i < len && q[i] != '\n')
				i++;
		} else if (q[i] == '/' && i + 1 < len && q[i + 1] == '*') {
			const char *end = NULL;

			for (size_t j = i + 2; j + 1 < len; j++)
				if (q[j] == '*' && q[j + 1] == '/') {
					end = q + j;
					break;
				}
			i = end ? (size_t)(end - q) + 2 : len;
		} else {
			break;
		}
	}
	return i;
}

/* The token at @i (after skip_space); returns where the next one starts. */
static size_t next_tok(const char *q, size_t len, size_t i, struct tok *t)
{
	unsigned char c;

	i = skip_space(q, len, i);
	t->start = i;
	t->len = 0;
	if (i >= len || !q[i]) {
		t->kind = TOK_END;
		return len;
	}
	c = q[i];
	if (word_start(c)) {
		size_t j = i;

		while (j < len && word_char((unsigned char)q[j]))
			j++;
		t->kind = TOK_WORD;
		t->len = j - i;
		return j;
	}
	if (c == '"' || c == '`') {
		size_t j = skip_quoted(q, len, i, c, false);

		t->kind = TOK_QUOTED_ID;
		t->start = i + 1;
		t->len = j > i + 1 && j <= len && q[j - 1] == c ? j - i - 2 : j - i - 1;
		return j;
	}
	if (c == '\'') {
		t->kind = TOK_STRING;
		return skip_quoted(q, len, i, '\'', true);
	}
	if (isdigit(c)) {
		size_t j = i;

		while (j < len && (isalnum((unsigned char)q[j]) || q[j] == '.'))
			j++;
		t->kind = TOK_NUMBER;
		return j;
	}
	t->kind = TOK_PUNCT;
	t->len = 1;
	return i + 1;
}

static bool word_is(const char *q, const struct tok *t, const char *w)
{
	return t->kind == TOK_WORD && t->len == strlen(w) && !strncasecmp(q + t->start, w, t->len);
}

/* A table name from @i: word or quoted identifier, dotted parts joined. */
static bool table_at(const char *q, size_t len, size_t i, char *out, size_t size)
{
	struct tok t;
	size_t used = 0;

	out[0] = '\0';
	for (;;) {
		i = next_tok(q, len, i, &t);
		if (t.kind != TOK_WORD && t.kind != TOK_QUOTED_ID)
			return used > 0;
		if (used + t.len + 1 >= size)
			return used > 0;
		memcpy(out + used, q + t.start, t.len);
		used += t.len;
		out[used] = '\0';
		if (i < len && q[i] == '.') {
			out[used++] = '.';
			out[used] = '\0';
			i++;
			continue;
		}
		return true;
	}
}

void sql_summarize(const char *q, size_t len, char *op, size_t op_size, char *table,
		   size_t table_size)
{
	struct tok t;
	size_t i = 0;
	int words = 0;

	op[0] = '\0';
	table[0] = '\0';
	i = next_tok(q, len, i, &t);
	if (t.kind != TOK_WORD)
		return;
	str_copy_n(op, op_size, q + t.start, t.len);
	for (char *c = op; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	if (strcmp(op, "UPDATE") == 0 || strcmp(op, "TRUNCATE") == 0) {
		struct tok x;
		size_t n = next_tok(q, len, i, &x);

		if (word_is(q, &x, "TABLE") || word_is(q, &x, "ONLY"))
			i = n;
		table_at(q, len, i, table, table_size);
		return;
	}
	while (words++ < 4096) {
		struct tok w;
		size_t after;

		i = next_tok(q, len, i, &w);
		if (w.kind == TOK_END)
			return;
		if (word_is(q, &w, "FROM") || word_is(q, &w, "INTO") || word_is(q, &w, "UPDATE") ||
		    word_is(q, &w, "JOIN") || word_is(q, &w, "TABLE")) {
			/* IF [NOT] EXISTS, ONLY: words before the name */
			after = i;
			for (int k = 0; k < 3; k++) {
				struct tok x;
				size_t n = next_tok(q, len, after, &x);

				if (word_is(q, &x, "IF") || word_is(q, &x, "NOT") || word_is(q, &x, "EXISTS") ||
				    word_is(q, &x, "ONLY"))
					after = n;
				else
					break;
			}
			if (table_at(q, len, after, table, table_size)) {
				struct tok x;

				/* a keyword is no table: FROM (subquery), TABLE was a type */
				next_tok(q, len, after, &x);
				/* and DUAL is MySQL's table of no table */
				if (x.kind == TOK_WORD && (word_is(q, &x, "SELECT") || word_is(q, &x, "SET") ||
							    word_is(q, &x, "WHERE") || word_is(q, &x, "DUAL")))
					table[0] = '\0';
				else
					return;
			}
		}
	}
}

void sql_mask(const char *q, size_t len, bool double_quoted_strings, char *out, size_t size)
{
	size_t o = 0, i = 0;

	if (!size)
		return;
	while (i < len && q[i] && o + 1 < size) {
		unsigned char c = q[i];
		size_t j;

		if (c == '\'' || (double_quoted_strings && c == '"')) {
			j = skip_quoted(q, len, i, c, true);
			out[o++] = '?';
			i = j;
		} else if (c == '"' || c == '`') {
			j = skip_quoted(q, len, i, c, false);
			while (i < j && o + 1 < size)
				out[o++] = q[i++];
			i = j;
		} else if (c == '$' && i + 1 < len && (q[i + 1] == '$' || word_start((unsigned char)q[i + 1]))) {
			/* PostgreSQL dollar quoting: $tag$ ... $tag$ */
			size_t tag_end = i + 1;

			while (tag_end < len && word_char((unsigned char)q[tag_end]) && q[tag_end] != '$')
				tag_end++;
			if (tag_end < len && q[tag_end] == '$') {
				size_t tag_len = tag_end + 1 - i;
				const char *end = NULL;

				for (size_t k = tag_end + 1; k + tag_len <= len; k++)
					if (!memcmp(q + k, q + i, tag_len)) {
						end = q + k;
						break;
					}
				out[o++] = '?';
				i = end ? (size_t)(end - q) + tag_len : len;
			} else {
				out[o++] = q[i++];
			}
		} else if (c == '$' && i + 1 < len && isdigit((unsigned char)q[i + 1])) {
			/* a placeholder ($1): kept */
			out[o++] = q[i++];
			while (i < len && isdigit((unsigned char)q[i]) && o + 1 < size)
				out[o++] = q[i++];
		} else if (word_start(c)) {
			while (i < len && word_char((unsigned char)q[i]) && o + 1 < size)
				out[o++] = q[i++];
		} else if (isdigit(c) || (c == '.' && i + 1 < len && isdigit((unsigned char)q[i + 1]))) {
			while (i < len && (isalnum((unsigned char)q[i]) || q[i] == '.'))
				i++;
			out[o++] = '?';
		} else {
			out[o++] = (char)c;
			i++;
		}
	}
	out[o] = '\0';
}
