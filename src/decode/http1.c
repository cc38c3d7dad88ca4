// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP/1.x head decoder (see http1.h for the contract).
 *
 * The input is whatever prefix of a message the kernel managed to copy, so
 * every step is written for a buffer that may end anywhere: a header line
 * that is cut by the end of the buffer is ignored rather than half-read (a
 * cut "Content-Length: 12" must not become 1), and nothing is ever read at
 * or past @len. The buffers are not NUL-terminated and may hold NUL bytes.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "decode/http1.h"

/* RFC 9110 9.1 puts no bound on the method; 15 keeps it within the span
 * field and holds every method in common use (only WebDAV's rare
 * BASELINE-CONTROL and UPDATEREDIRECTREF are longer). A bound also makes a
 * line of random letters stop early instead of scanning the whole buffer. */
#define METHOD_MAX (SPAN_METHOD_MAX - 1)

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 9110 5.6.2: the characters a method or a header name is made of. */
static bool is_tchar(uint8_t c)
{
	if (is_alpha(c) || is_digit(c))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Anything visible may appear in a request target: real clients send raw
 * UTF-8 now and then, so bytes >= 0x80 are accepted too. */
static bool is_target_char(uint8_t c)
{
	return c > ' ' && c != 0x7f;
}

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static uint8_t to_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Case-insensitive comparison of a byte range with a lower-case literal. */
static bool equals_lower(const uint8_t *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lit[i] == '\0' || to_lower(s[i]) != (uint8_t)lit[i])
			return false;
	return lit[n] == '\0';
}

/* Copy @n bytes into a C string field, truncating to what fits. */
static void copy_field(char *dst, size_t dst_size, const uint8_t *src, size_t n)
{
	if (n >= dst_size)
		n = dst_size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Header values we copy into spans end up as label values and in JSON:
 * a value with control characters is treated as absent rather than
 * passed on (RFC 9110 5.5 forbids them anyway, except HTAB). */
static bool value_is_clean(const uint8_t *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((v[i] < ' ' && v[i] != '\t') || v[i] == 0x7f)
			return false;
	return true;
}

enum line_verdict {
	LINE_OK,  /* a complete, valid start line */
	LINE_CUT, /* a valid prefix of one, cut by the end of the buffer */
	LINE_BAD, /* not an HTTP/1.x start line */
};

struct request_line {
	size_t method_len;
	size_t target_off;
	size_t target_len;
	uint8_t minor;
	size_t next; /* offset of the first header line */
};

/*
 * Match "HTTP/1." DIGIT at @*pos. LINE_CUT when the buffer ends inside the
 * version, which the callers decide how to treat.
 */
static enum line_verdict scan_version(const uint8_t *buf, size_t len, size_t *pos, uint8_t *minor)
{
	static const char prefix[] = "HTTP/1.";
	size_t i = *pos, k;

	for (k = 0; k < sizeof(prefix) - 1; k++, i++) {
		if (i >= len)
			return LINE_CUT;
		if (buf[i] != (uint8_t)prefix[k])
			return LINE_BAD;
	}
	if (i >= len)
		return LINE_CUT;
	if (!is_digit(buf[i]))
		return LINE_BAD;
	*minor = buf[i] - '0';
	*pos = i + 1;
	return LINE_OK;
}

/*
 * Step over the end of a start line at @i: CRLF, or a bare LF, which RFC
 * 9112 2.2 lets a recipient accept. A buffer that ends right there is fine:
 * the line itself was complete.
 */
static enum line_verdict scan_line_end(const uint8_t *buf, size_t len, size_t i, size_t *next)
{
	if (i < len && buf[i] == '\r')
		i++;
	if (i >= len) {
		*next = len;
		return LINE_OK;
	}
	if (buf[i] != '\n')
		return LINE_BAD;
	*next = i + 1;
	return LINE_OK;
}

/* "METHOD SP target SP HTTP/1.x" followed by the end of the line. */
static enum line_verdict scan_request_line(const uint8_t *buf, size_t len, struct request_line *rl)
{
	enum line_verdict v;
	size_t i = 0;

	memset(rl, 0, sizeof(*rl));
	while (i < len && i <= METHOD_MAX && is_tchar(buf[i]))
		i++;
	if (i > METHOD_MAX)
		return LINE_BAD;
	if (i >= len)
		return i > 0 ? LINE_CUT : LINE_BAD;
	if (i == 0 || buf[i] != ' ')
		return LINE_BAD;
	rl->method_len = i;

	rl->target_off = ++i;
	while (i < len && is_target_char(buf[i]))
		i++;
	rl->target_len = i - rl->target_off;
	if (i >= len)
		return LINE_CUT;
	if (rl->target_len == 0 || buf[i] != ' ')
		return LINE_BAD;
	i++;

	v = scan_version(buf, len, &i, &rl->minor);
	if (v != LINE_OK)
		return v;
	return scan_line_end(buf, len, i, &rl->next);
}

struct target_parts {
	size_t path_off, path_len; /* relative to the target */
	size_t host_off, host_len; /* authority of an absolute-form target */
	bool path_ended;	   /* a '?' or '#' ends the path within the target */
};

/* Length of "scheme" when the target starts with "scheme://" (RFC 3986
 * 3.1), else 0: that is what tells an absolute-form target apart. */
static size_t scheme_len(const uint8_t *t, size_t n)
{
	size_t i;

	if (n == 0 || !is_alpha(t[0]))
		return 0;
	for (i = 1; i < n; i++) {
		if (t[i] == ':')
			break;
		if (!is_alpha(t[i]) && !is_digit(t[i]) && t[i] != '+' && t[i] != '-' && t[i] != '.')
			return 0;
	}
	if (i + 3 > n || t[i + 1] != '/' || t[i + 2] != '/')
		return 0;
	return i;
}

static void split_target(const uint8_t *t, size_t n, struct target_parts *p)
{
	size_t i = 0, scheme = scheme_len(t, n);

	memset(p, 0, sizeof(*p));
	if (scheme) {
		size_t start = scheme + 3, at;

		i = start;
		while (i < n && t[i] != '/' && t[i] != '?' && t[i] != '#')
			i++;
		/* Drop "user:password@": credentials must not reach a span. */
		p->host_off = start;
		for (at = start; at < i; at++)
			if (t[at] == '@')
				p->host_off = at + 1;
		p->host_len = i - p->host_off;
	}
	p->path_off = i;
	while (i < n && t[i] != '?' && t[i] != '#')
		i++;
	p->path_len = i - p->path_off;
	p->path_ended = i < n;
}

/* What the header lines say about the message's framing. */
struct framing {
	int64_t content_length; /* -1 when absent */
	bool length_invalid;	/* unparsable, or several that disagree */
	bool te_present;	/* any Transfer-Encoding */
	bool chunked;		/* the last transfer coding is chunked */
	size_t head_len;	/* relative to the start of the scan's buffer */
};

/*
 * Parse a Content-Length value. RFC 9110 8.6 lets a sender repeat the value
 * as a list ("5, 5"): accepted when all members agree. Values that do not
 * fit in int64_t are invalid rather than clamped, so that a body size is
 * never made up from them.
 */
static bool parse_content_length(const uint8_t *v, size_t n, int64_t *out)
{
	int64_t result = -1;
	size_t i = 0;

	while (i < n) {
		int64_t x = 0;
		size_t digits = 0;

		while (i < n && is_ows(v[i]))
			i++;
		while (i < n && is_digit(v[i])) {
			int d = v[i] - '0';

			if (x > (INT64_MAX - d) / 10)
				return false;
			x = x * 10 + d;
			digits++;
			i++;
		}
		while (i < n && is_ows(v[i]))
			i++;
		if (!digits || (result >= 0 && x != result))
			return false;
		result = x;
		if (i < n && v[i++] != ',')
			return false;
		if (i == n && v[n - 1] == ',')
			return false;
	}
	if (result < 0)
		return false;
	*out = result;
	return true;
}

/* Is the last coding of a Transfer-Encoding list "chunked"? (RFC 9112 6.1:
 * chunked, when used, is always last; any other last coding means the body
 * runs until the connection closes.) */
static bool last_coding_is_chunked(const uint8_t *v, size_t n)
{
	size_t start = n;

	/* The value arrives with its trailing whitespace trimmed. */
	while (start > 0 && v[start - 1] != ',')
		start--;
	while (start < n && is_ows(v[start]))
		start++;
	return equals_lower(v + start, n - start, "chunked");
}

struct header {
	const uint8_t *name;
	size_t name_len;
	const uint8_t *value;
	size_t value_len;
};

enum header_step {
	HEADER_FOUND,
	HEADER_HEAD_END, /* the blank line: *pos is the head length */
	HEADER_CUT,	 /* the buffer ends before the line does */
};

/*
 * Read the header line at *pos. Lines without a colon are skipped: the
 * decoder reports what it can and leaves rejecting malformed messages to
 * the server. The name is not checked further: only names equal to the few
 * we look for matter, and a folded line (leading whitespace) or a
 * "Name : value" line (RFC 9112 5.1 forbids the space) never equals one.
 */
static enum header_step next_header(const uint8_t *buf, size_t len, size_t *pos, struct header *h)
{
	while (*pos < len) {
		const uint8_t *line = buf + *pos;
		const uint8_t *lf = memchr(line, '\n', len - *pos);
		const uint8_t *colon;
		size_t n, i;

		if (!lf)
			return HEADER_CUT;
		n = lf - line;
		*pos += n + 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			return HEADER_HEAD_END;
		colon = memchr(line, ':', n);
		if (!colon)
			continue;
		h->name = line;
		h->name_len = colon - line;
		i = h->name_len + 1;
		while (i < n && is_ows(line[i]))
			i++;
		while (n > i && is_ows(line[n - 1]))
			n--;
		h->value = line + i;
		h->value_len = n - i;
		return HEADER_FOUND;
	}
	return HEADER_CUT;
}

/*
 * Walk the headers from @pos: framing into @f, and for a request (when @req
 * is not NULL) the Host and traceparent fields. The first Host wins, as a
 * duplicate is an error the server is supposed to reject.
 */
static void scan_headers(const uint8_t *buf, size_t len, size_t pos, struct framing *f,
			 struct http1_request *req)
{
	bool host_seen = false, traceparent_seen = false;
	struct header h;
	enum header_step step;

	memset(f, 0, sizeof(*f));
	f->content_length = -1;
	while ((step = next_header(buf, len, &pos, &h)) == HEADER_FOUND) {
		if (equals_lower(h.name, h.name_len, "content-length")) {
			int64_t v;

			if (!parse_content_length(h.value, h.value_len, &v) ||
			    (f->content_length >= 0 && f->content_length != v))
				f->length_invalid = true;
			else
				f->content_length = v;
		} else if (equals_lower(h.name, h.name_len, "transfer-encoding")) {
			f->te_present = true;
			f->chunked = last_coding_is_chunked(h.value, h.value_len);
		} else if (!req) {
			continue;
		} else if (!host_seen && equals_lower(h.name, h.name_len, "host")) {
			host_seen = true;
			if (value_is_clean(h.value, h.value_len))
				copy_field(req->host, sizeof(req->host), h.value, h.value_len);
		} else if (!traceparent_seen && equals_lower(h.name, h.name_len, "traceparent")) {
			traceparent_seen = true;
			if (value_is_clean(h.value, h.value_len))
				copy_field(req->traceparent, sizeof(req->traceparent), h.value,
					   h.value_len);
		}
	}
	if (step == HEADER_HEAD_END)
		f->head_len = pos;
}

/* The Content-Length to report: RFC 9112 6.3 says a Transfer-Encoding
 * overrides it, and a broken one tells nothing. */
static int64_t reported_length(const struct framing *f)
{
	if (f->te_present || f->length_invalid)
		return -1;
	return f->content_length;
}

/*
 * Whether a request line cut by the end of the buffer is still worth a span.
 * The kernel copies a fixed prefix, so a long URL (tracking parameters,
 * OAuth redirects) can push the line past it; the fields are then as good as
 * with the whole line when the path already ended at '?' or '#', or already
 * fills the path field. A short line cut early is more likely garbage, or
 * would yield a wrong path, and is refused.
 */
static bool cut_line_usable(const struct target_parts *tp, size_t target_len)
{
	if (target_len == 0)
		return false;
	return tp->path_ended || tp->path_len >= SPAN_PATH_MAX - 1;
}

/* Parse the request at the start of @buf; @f gets its framing. */
static int parse_request(const uint8_t *buf, size_t len, struct http1_request *out,
			 struct framing *f)
{
	const uint8_t *target;
	struct request_line rl;
	struct target_parts tp;
	enum line_verdict v;

	memset(out, 0, sizeof(*out));
	out->content_length = -1;
	memset(f, 0, sizeof(*f));
	f->content_length = -1;
	if (!buf)
		return -EINVAL;

	v = scan_request_line(buf, len, &rl);
	if (v == LINE_BAD)
		return -EINVAL;
	target = buf + rl.target_off;
	split_target(target, rl.target_len, &tp);
	if (v == LINE_CUT) {
		if (!cut_line_usable(&tp, rl.target_len))
			return -EINVAL;
		/* The version is past the cut: long URLs come from 1.1 clients. */
		rl.minor = 1;
	}

	copy_field(out->method, sizeof(out->method), buf, rl.method_len);
	if (tp.path_len == 0 && tp.host_len > 0)
		copy_field(out->path, sizeof(out->path), (const uint8_t *)"/", 1);
	else
		copy_field(out->path, sizeof(out->path), target + tp.path_off, tp.path_len);
	out->http_minor = rl.minor;

	if (v == LINE_OK) {
		scan_headers(buf, len, rl.next, f, out);
		out->content_length = reported_length(f);
		out->chunked = f->chunked;
		out->head_len = f->head_len;
	}
	/* The brief of this decoder: the Host header names the server; the
	 * authority of an absolute-form target stands in when it is absent. */
	if (out->host[0] == '\0' && tp.host_len > 0 && value_is_clean(target + tp.host_off, tp.host_len))
		copy_field(out->host, sizeof(out->host), target + tp.host_off, tp.host_len);
	return 0;
}

/**
 * http1_parse_request() - parse a request head prefix.
 * @buf: bytes as read from the socket, not NUL-terminated
 * @len: valid bytes in @buf
 * @out: filled on success; zeroed (content_length -1) on failure
 *
 * A request line cut by the end of @buf is accepted only when the path is
 * already known in full or fills its field (see cut_line_usable()); the
 * head is then absent (head_len 0) and http_minor is taken to be 1.
 *
 * Return: 0 on success, -EINVAL when @buf does not start with a valid
 * HTTP/1.x request line (or @out is NULL).
 */
int http1_parse_request(const uint8_t *buf, size_t len, struct http1_request *out)
{
	struct framing f;

	if (!out)
		return -EINVAL;
	return parse_request(buf, len, out, &f);
}

/* "HTTP/1.x SP 3DIGIT" then a reason phrase (possibly empty) to the end of
 * the line. The buffer may end in the reason phrase. */
static int parse_status_line(const uint8_t *buf, size_t len, int *status, uint8_t *minor,
			     size_t *next)
{
	size_t i = 0, k;
	int code = 0;

	if (scan_version(buf, len, &i, minor) != LINE_OK)
		return -EINVAL;
	if (i >= len || buf[i] != ' ')
		return -EINVAL;
	i++;
	for (k = 0; k < 3; k++, i++) {
		if (i >= len || !is_digit(buf[i]))
			return -EINVAL;
		code = code * 10 + (buf[i] - '0');
	}
	/* 100..999: classes above 5 are unregistered, yet real (LinkedIn's 999). */
	if (code < 100)
		return -EINVAL;
	/* Anything but a space after the code is left to scan_line_end() to
	 * refuse ("200OK", "2000"). */
	if (i < len && buf[i] == ' ') {
		const uint8_t *lf = memchr(buf + i, '\n', len - i);

		i = lf ? (size_t)(lf - buf) : len;
		if (i > 0 && i < len && buf[i - 1] == '\r')
			i--;
	}
	*status = code;
	return scan_line_end(buf, len, i, next) == LINE_OK ? 0 : -EINVAL;
}

/**
 * http1_parse_response() - parse a response head prefix.
 * @buf: bytes as written to the socket, not NUL-terminated
 * @len: valid bytes in @buf
 * @out: filled on success; zeroed (content_length -1) on failure
 *
 * Interim 1xx responses (100 Continue, 103 Early Hints) share the response
 * direction with the final one, so they are stepped over: @out describes
 * the first final response (or 101) whose status line is in @buf, and its
 * head_len counts from the start of @buf, interim heads included, which is
 * what subtracting it from the direction's wire bytes needs. When no final
 * status line is within @buf, the last interim one is reported.
 *
 * Return: 0 on success, -EINVAL when @buf does not start with "HTTP/1.x NNN".
 */
int http1_parse_response(const uint8_t *buf, size_t len, struct http1_response *out)
{
	size_t pos = 0;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->content_length = -1;
	if (!buf)
		return -EINVAL;

	for (;;) {
		struct framing f;
		uint8_t minor;
		size_t next;
		int status;

		if (parse_status_line(buf + pos, len - pos, &status, &minor, &next) < 0) {
			if (pos == 0)
				return -EINVAL;
			break; /* keep the interim response already described */
		}
		scan_headers(buf + pos, len - pos, next, &f, NULL);
		out->status = status;
		out->http_minor = minor;
		out->content_length = reported_length(&f);
		out->chunked = f.chunked;
		out->head_len = f.head_len ? pos + f.head_len : 0;
		if (status >= 200 || status == 101 || !f.head_len || out->head_len >= len)
			break;
		pos = out->head_len;
	}
	return 0;
}

/**
 * http1_body_size() - body bytes of one direction of a transaction.
 * @wire_bytes: all bytes of that direction seen on the socket
 * @head_len: head length (0 if unknown)
 * @content_length: Content-Length value or -1
 *
 * For a chunked message the caller passes -1, and the result then counts the
 * chunk framing (sizes, CRLFs, the last chunk) as body: decoding the chunks
 * would need every byte, and the kernel copies only the head.
 *
 * Return: Content-Length when present, else wire bytes minus the head when
 * the head length is known and not larger, else 0.
 */
uint64_t http1_body_size(uint64_t wire_bytes, size_t head_len, int64_t content_length)
{
	if (content_length >= 0)
		return (uint64_t)content_length;
	if (head_len > 0 && wire_bytes >= head_len)
		return wire_bytes - head_len;
	return 0;
}

/**
 * http1_count_requests() - how many request heads begin in @buf (pipelining).
 * @buf: the request direction's bytes, not NUL-terminated
 * @len: valid bytes in @buf
 *
 * The first request counts when http1_parse_request() would accept it. Each
 * further one must start right after a complete head plus its Content-Length
 * body (empty lines in between are skipped, RFC 9112 2.2), and counts when
 * the bytes there are a valid request line or a valid prefix of one, since
 * the buffer may end inside it. Counting stops at the first head whose body
 * length is unknown (chunked, another Transfer-Encoding, a bad length).
 *
 * Return: the number of requests, 0 when @buf does not start with one.
 */
static int request_starts(const uint8_t *buf, size_t len, size_t *starts, int max)
{
	struct http1_request req;
	struct framing f;
	size_t pos = 0;
	int count;

	if (max < 1 || parse_request(buf, len, &req, &f) < 0)
		return 0;
	if (starts)
		starts[0] = 0;
	count = 1;
	for (;;) {
		struct request_line rl;
		enum line_verdict v;
		uint64_t body;
		size_t rest;

		if (!f.head_len || f.te_present || f.length_invalid)
			break;
		rest = len - pos - f.head_len;
		body = f.content_length > 0 ? (uint64_t)f.content_length : 0;
		if (body >= rest)
			break;
		pos += f.head_len + body;
		while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n'))
			pos++;
		if (pos >= len || count == max)
			break;
		v = scan_request_line(buf + pos, len - pos, &rl);
		if (v == LINE_BAD)
			break;
		if (starts)
			starts[count] = pos;
		count++;
		if (v == LINE_CUT)
			break;
		scan_headers(buf + pos, len - pos, rl.next, &f, NULL);
	}
	return count;
}

int http1_count_requests(const uint8_t *buf, size_t len)
{
	return request_starts(buf, len, NULL, INT_MAX);
}

int http1_requests_after_first(const uint8_t *buf, size_t len, struct http1_request *out, int max)
{
	size_t starts[HTTP1_PIPELINE_MAX + 1];
	int n, got = 0;

	if (max > HTTP1_PIPELINE_MAX)
		max = HTTP1_PIPELINE_MAX;
	n = request_starts(buf, len, starts, max + 1);
	for (int i = 1; i < n; i++) {
		if (http1_parse_request(buf + starts[i], len - starts[i], &out[got]) ||
		    !out[got].head_len)
			break;
		got++;
	}
	return got;
}
