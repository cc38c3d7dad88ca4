/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.x on the kernel side: the little it must know. Is this the start
 * of a request (classify) or of a response, and where does a response end
 * (Content-Length, chunked terminator, bodiless statuses and HEAD): knowing
 * the end lets us emit one event when the transaction completes instead of
 * waiting for the next request or the close. Everything else is parsed in
 * user space (src/decode/http1.c).
 *
 * The parsers are pure functions over a bounded buffer, offsets masked so
 * the verifier can check every access; they are unit-tested through
 * BPF_PROG_TEST_RUN (tests/bpf/proto_test.bpf.c). The state machine at the
 * end drives a connection's transactions from its bytes, in either role.
 */
#ifndef SONDE_PROTO_HTTP1_BPF_H
#define SONDE_PROTO_HTTP1_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sonde/abi.h"

#define RESP_MASK (SONDE_RESP_CAP - 1)

/* True when p[0..len) begins like an HTTP/1 request line. */
static __always_inline bool http_is_request(const __u8 *p, __u32 len)
{
	if (len < 4)
		return false;
	switch (p[0]) {
	case 'G':
		return p[1] == 'E' && p[2] == 'T' && p[3] == ' ';
	case 'P':
		return (p[1] == 'O' && p[2] == 'S' && p[3] == 'T') ||
		       (p[1] == 'U' && p[2] == 'T' && p[3] == ' ') ||
		       (p[1] == 'A' && p[2] == 'T' && p[3] == 'C');
	case 'H':
		return p[1] == 'E' && p[2] == 'A' && p[3] == 'D';
	case 'D':
		return p[1] == 'E' && p[2] == 'L' && p[3] == 'E';
	case 'O':
		return p[1] == 'P' && p[2] == 'T' && p[3] == 'I';
	case 'C':
		return p[1] == 'O' && p[2] == 'N' && p[3] == 'N';
	case 'T':
		return p[1] == 'R' && p[2] == 'A' && p[3] == 'C';
	}
	return false;
}

/* Status code of an "HTTP/1.x NNN" line, or 0 when p is not one. */
static __always_inline __u32 http_response_status(const __u8 *p, __u32 len)
{
	__u32 a, b, c;

	if (len < 12 || p[0] != 'H' || p[1] != 'T' || p[2] != 'T' || p[3] != 'P' ||
	    p[4] != '/' || p[8] != ' ')
		return 0;
	a = p[9] - '0';
	b = p[10] - '0';
	c = p[11] - '0';
	if (a > 9 || b > 9 || c > 9)
		return 0;
	return a * 100 + b * 10 + c;
}

struct http_frame {
	__u64 content_length;
	__u32 head_len; /* bytes up to and including the blank line, 0 if not seen */
	__u32 line1_len; /* the first line with its '\n', 0 if not seen */
	__u8 has_length;
	__u8 chunked;
	__u8 h2c; /* Upgrade: h2c (a 101's: the connection goes on in HTTP/2) */
	__u8 _pad[5];
};

/* Eight bytes of text as the little-endian word a load from memory gives. */
#define WORD8(a, b, c, d, e, f, g, h)                                                  \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 |          \
	 (__u64)(e) << 32 | (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)
/* OR-ing 0x20 lower-cases ASCII letters and keeps '-' and ':' as they are. */
#define LOWER8 0x2020202020202020ULL

/* Eight bytes at any address of a map value, in one load. The BPF backend
 * assumes strict alignment, so a memcpy (or a packed type) becomes eight
 * byte loads and fourteen shifts and ORs: that was most of the framing
 * scan's cost. The verifier allows unaligned map-value access where the
 * CPU does (x86-64, arm64: no BPF_F_STRICT_ALIGNMENT), and the JIT emits
 * one move. Not for stack memory, whose accesses the verifier wants aligned. */
static __always_inline __u64 load8(const __u8 *p)
{
	return *(const __u64 *)(const void *)p;
}

/* Decimal digits after a header's colon, leading spaces skipped. Straight
 * line code over two words: no loop for the verifier to walk per byte. */
static __always_inline void parse_length(const __u8 *p, struct http_frame *f)
{
	__u64 w[2] = { load8(p), load8(p + 8) };
	__u64 v = 0;
	__u8 digits = 0;

#pragma unroll
	for (int k = 0; k < 16; k++) {
		__u8 d = w[k / 8] >> ((k % 8) * 8);

		if (d == ' ' && !digits)
			continue;
		if (d < '0' || d > '9')
			break;
		v = v * 10 + (d - '0');
		digits++;
	}
	if (digits) {
		f->content_length = v;
		f->has_length = 1;
	}
}

struct frame_scan {
	const __u8 *p; /* SONDE_RESP_CAP bytes, readable up to 64 bytes past them */
	__u64 *next;   /* where the scan resumes: a frame_next value */
	__u32 len;
	__u32 _pad;
	struct http_frame f;
};

/* Where the scan resumes, kept in a map rather than in the callback's
 * context: a value read from a map is unknown to the verifier, so it
 * checks the callback once instead of once per position reached. The
 * context carries a pointer to it, looked up once per scan. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} frame_next SEC(".maps");

/* The line starting after the '\n' at @at: the blank line that ends the
 * head (return 1), or a framing header. Header names are compared a word
 * at a time. */
static __always_inline long frame_line(struct frame_scan *s, __u64 at)
{
	const __u8 *line = s->p + at + 1;

	if (line[0] == '\r' && line[1] == '\n') {
		s->f.head_len = at + 3;
		return 1;
	}
	if ((load8(line) | LOWER8) == WORD8('c', 'o', 'n', 't', 'e', 'n', 't', '-') &&
	    ((load8(line + 8) | LOWER8) & 0xffffffffffffffULL) == WORD8('l', 'e', 'n', 'g', 't', 'h', ':', 0)) {
		parse_length(line + 15, &s->f);
	} else if ((load8(line) | LOWER8) == WORD8('t', 'r', 'a', 'n', 's', 'f', 'e', 'r') &&
		   (load8(line + 8) | LOWER8) == WORD8('-', 'e', 'n', 'c', 'o', 'd', 'i', 'n') &&
		   (line[16] | 0x20) == 'g' && line[17] == ':') {
		/* HTTP/1.1 puts chunked last whenever it is used at all. */
		s->f.chunked = 1;
	} else if ((load8(line) | LOWER8) == WORD8('u', 'p', 'g', 'r', 'a', 'd', 'e', ':')) {
		/* A 101 names the one protocol it switches to (RFC 9110 7.8). */
		const __u8 *v = line + 8 + (line[8] == ' ');

		s->f.h2c = (v[0] | 0x20) == 'h' && v[1] == '2' && (v[2] | 0x20) == 'c' &&
			   (v[3] == '\r' || v[3] == ' ' || v[3] == '\n');
	}
	return 0;
}

#define ONES8 0x0101010101010101ULL
#define HIGH8 0x8080808080808080ULL
#define NEWLINES8 0x0a0a0a0a0a0a0a0aULL

/* Index (0..7) of the lowest byte whose high bit is set in @m (m != 0). */
static __always_inline __u64 lowest_flagged_byte(__u64 m)
{
	__u64 idx = 0;

	if (!(m & 0xffffffffULL)) {
		m >>= 32;
		idx += 4;
	}
	if (!(m & 0xffffULL)) {
		m >>= 16;
		idx += 2;
	}
	if (!(m & 0xffULL))
		idx += 1;
	return idx;
}

/* Words looked at per step: most steps find no line start at all. */
#define FRAME_STEP_WORDS 4

/* The first '\n' in the word at @p, bytes before @skip excluded: 1 + its
 * index, or 0 when there is none. */
static __always_inline __u64 newline_in(const __u8 *p, __u64 skip)
{
	__u64 x = load8(p) ^ NEWLINES8, m;

	if (skip) /* bytes already handled: make them non-zero */
		x |= (1ULL << (8 * skip)) - 1;
	/* Zero bytes of x are '\n' in the word; the lowest flagged one is exact. */
	m = (x - ONES8) & ~x & HIGH8;
	return m ? 1 + lowest_flagged_byte(m) : 0;
}

/*
 * One step of the scan, as a bpf_loop() callback (the verifier checks it
 * once for any index): from `next`, skip up to FRAME_STEP_WORDS words with
 * no '\n', or handle the first line start among them. About one call per
 * 32 bytes plus one per header line, rather than one per byte. (Handling
 * several lines per call was measured: no gain; the lines' own work is the cost.)
 */
static long frame_step(__u32 i, void *ctx)
{
	struct frame_scan *s = ctx;
	__u64 *next = s->next;
	__u64 base, off, hit = 0, pos;

	base = *next & ~7ULL;
	off = *next & 7;
	if (base + 3 > s->len)
		return 1;
	/* Keep the compiler from moving the bound check off the register
	 * that indexes: the verifier tracks bounds per register. The words
	 * read may run past the response prefix into the request prefix
	 * that follows it in the event: same map value, and any '\n' found
	 * there is past s->len and ends the scan. */
	asm volatile("" : "+r"(base));
	if (base >= SONDE_RESP_CAP)
		return 1;
#pragma unroll
	for (int k = 0; k < FRAME_STEP_WORDS; k++) {
		hit = newline_in(s->p + base + 8 * k, k == 0 ? off : 0);
		if (hit) {
			pos = base + 8 * k + hit - 1;
			break;
		}
	}
	if (!hit) {
		*next = base + 8 * FRAME_STEP_WORDS;
		return 0;
	}
	if (!s->f.line1_len)
		s->f.line1_len = pos + 1;
	if (pos + 3 > s->len)
		return 1;
	*next = pos + 1;
	/* Read back from the map: one state for the verifier to follow into
	 * frame_line, whichever word the '\n' was in. */
	pos = *next - 1;
	asm volatile("" : "+r"(pos));
	if (pos >= SONDE_RESP_CAP)
		return 1;
	return frame_line(s, pos);
}

/* Scan a response head for its end and its framing headers. Needs
 * bpf_loop (5.17); on older kernels `have_bpf_loop` is false, this is dead
 * code the verifier never visits, and responses end at the next request or
 * the close instead. */
const volatile bool have_bpf_loop = true;

static __always_inline void http_frame_head(const __u8 *p, __u32 len, struct http_frame *f)
{
	__u32 zero = 0;
	__u64 *next = bpf_map_lookup_elem(&frame_next, &zero);
	struct frame_scan s = { .p = p, .next = next, .len = len };

	if (!have_bpf_loop || !next)
		return;
	*next = 0;
	/* steps plus header lines, with room to spare */
	bpf_loop(SONDE_RESP_CAP / 4, frame_step, &s, 0);
	*f = s.f;
}


/* Do the bytes we have of a response (fewer than a status line) still
 * read "HTTP/" as far as they go? */
static __always_inline bool http_status_prefix(const __u8 *p, __u32 len)
{
	const char want[5] = { 'H', 'T', 'T', 'P', '/' };

#pragma unroll
	for (int i = 0; i < 5; i++)
		if (i < len && p[i] != want[i])
			return false;
	return true;
}

#ifndef SONDE_PROTO_PARSERS_ONLY
/* ---- the HTTP/1 state machine of a connection (conn.bpf.h) ---- */

#include "conn.bpf.h"

/* Bytes of a request head we need before deciding it is HTTP. Go's server
 * reads the first byte of the next request on its own (a 1-byte read while
 * the handler runs), so a head may arrive in pieces. */
#define CLASSIFY_BYTES 8
/* Responses found in one read by a pipelining client, at most. */
#define HTTP1_PIPELINE_MAX 4

/* The head collected so far is not HTTP/1: forget the transaction, and the
 * connection too when these were its first bytes. */
static __always_inline void http1_not_http(struct conn_state *c)
{
	server_txn_end(c);
	if (c->ev.txn_seq == 0) {
		counter_add(SONDE_CNT_NOT_HTTP, 1);
		c->ignored = 1;
	}
	c->phase = PHASE_IDLE;
	c->ev.req_len = 0;
}

/* The request direction. A global function: the verifier checks it once,
 * on its own, rather than once per path of its callers. */
__attribute__((noinline)) int http1_request_bytes(struct conn_state *c, struct span_buf *s,
						   __u64 n, __u64 id, __u64 now)
{
	if (!c || !s)
		return 0;
	if (c->phase == PHASE_RESPONSE)
		txn_emit(c, SONDE_END_NEXT_REQUEST);
	if (c->phase == PHASE_REQUEST) {
		bool judged = c->ev.req_len >= CLASSIFY_BYTES;

		/* The head may come in any number of pieces: collect them. */
		if (s->len)
			c->ev.req_len += append_req(&c->ev, s);
		if (!judged && c->ev.req_len >= CLASSIFY_BYTES &&
		    !http_is_request(c->ev.data, c->ev.req_len)) {
			http1_not_http(c);
			return 0;
		}
		c->ev.req_bytes += n;
		c->ev.req_end_ns = now;
		return 0;
	}
	if (!s->len)
		return 0; /* bytes from a file with no request head before them */
	c->ev.req_len = copy_req(&c->ev, s);
	/* The first bytes of a transaction decide, once there are enough. */
	if (c->ev.req_len >= CLASSIFY_BYTES && !http_is_request(c->ev.data, c->ev.req_len)) {
		http1_not_http(c);
		return 0;
	}
	txn_begin(c, id, now);
	c->ev.req_bytes = n;
	return 0;
}

/* A transaction whose response is not HTTP: given up, counted. */
static __always_inline void http1_abandon(struct conn_state *c)
{
	counter_add(SONDE_CNT_RESP_NOT_HTTP, 1);
	if (c->ev.role == SONDE_ROLE_SERVER)
		server_txn_end(c);
	txn_reset(c);
}

/* The response head being judged, copied from the event's data to the
 * start of a buffer with zeroed room after it (the framing scan reads up
 * to 64 bytes past what it is given). */
struct http1_head_buf {
	__u8 b[SONDE_RESP_CAP + 128];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct http1_head_buf);
} http1_scratch SEC(".maps");

static __always_inline int http1_head_copy(__u8 *head, struct sonde_txn_event *ev)
{
	__u64 off = ev->req_len, len = ev->resp_len;

	asm volatile("" : "+r"(off));
	asm volatile("" : "+r"(len));
	if (off > SONDE_REQ_CAP || len > SONDE_RESP_CAP)
		return -1;
	if (len && bpf_probe_read_kernel(head, len, ev->data + off))
		return -1;
	/* Stale bytes past the head must not read as more of it. */
	head[len] = 0;
	return 0;
}

enum head_verdict {
	HEAD_FRAMED = 0, /* the head is whole (or given up on): framing known */
	HEAD_WAIT = 1,	 /* more head bytes to come */
	HEAD_GONE = 2,	 /* not a response: the transaction was given up */
};

/*
 * Collect the response head from this chunk, whatever the writes' cuts:
 * line by line, inside the status line, one byte at a time. Once it is
 * whole, learn where the response ends.
 */
__attribute__((noinline)) int http1_head(struct conn_state *c, struct span_buf *s)
{
	struct http_frame f = {};
	__u32 zero = 0, status;
	__u8 *head;

	if (!c || !s)
		return HEAD_GONE;
	if (s->len)
		c->ev.resp_len += append_resp(&c->ev, s);
#ifdef SONDE_ABLATE_FRAME
	/* `make bench-ablation` only: the head is neither copied nor judged nor
	 * scanned, so the response ends at the next request or the close. */
	c->head_done = 1;
	return HEAD_FRAMED;
#endif
	/* The parsers want the head at a fixed place with room after it. */
	head = bpf_map_lookup_elem(&http1_scratch, &zero);
	if (!head)
		return HEAD_GONE;
	if (http1_head_copy(head, &c->ev))
		return HEAD_GONE;
	if (c->ev.resp_len < 12) {
		if (!http_status_prefix(head, c->ev.resp_len)) {
			http1_abandon(c);
			return HEAD_GONE;
		}
		return HEAD_WAIT;
	}
	status = http_response_status(head, c->ev.resp_len);
	if (!status) {
		http1_abandon(c);
		return HEAD_GONE;
	}
	http_frame_head(head, c->ev.resp_len, &f);
	if (!f.head_len) {
		if (c->ev.resp_len < SONDE_RESP_CAP)
			return HEAD_WAIT;
		/* A head longer than the capture: where it ends is unknown, so
		 * the response ends at the next request or the close. */
		counter_add(SONDE_CNT_RESP_UNFRAMED, 1);
		c->ev.flags |= SONDE_EVF_UNFRAMED;
		c->head_done = 1;
		return HEAD_FRAMED;
	}
	if (status >= 100 && status < 200 && status != 101) {
		/* An interim response (100 Continue): the real one follows. */
		if (f.head_len == c->ev.resp_len) {
			/* Back to the request: its body may follow now. */
			c->phase = PHASE_REQUEST;
			c->ev.resp_bytes = 0;
			c->ev.resp_len = 0;
			if (c->ev.role == SONDE_ROLE_CLIENT)
				client_progress(c);
			return HEAD_WAIT;
		}
		counter_add(SONDE_CNT_RESP_UNFRAMED, 1);
		c->ev.flags |= SONDE_EVF_UNFRAMED;
		c->head_done = 1;
		return HEAD_FRAMED;
	}
	c->head_done = 1;
	c->upgrade = status != 101 ? 0 : f.h2c ? UPGRADE_H2C : UPGRADE_OTHER;
	/* The framing travels in the event; of the head, user space needs
	 * only the status line. */
	c->ev.resp_head_len = f.head_len;
	if (f.line1_len && f.line1_len < c->ev.resp_len)
		c->ev.resp_len = f.line1_len;
	if ((c->ev.data[0] == 'H' && c->ev.data[1] == 'E') || status == 204 || status == 304 ||
	    status == 101) {
		c->resp_expected = f.head_len;
		c->ev.resp_body_len = 0;
	} else if (f.has_length) {
		c->resp_expected = f.head_len + f.content_length;
		c->ev.resp_body_len = f.content_length;
	}
	c->chunked = f.chunked;
	return HEAD_FRAMED;
}

/* A response with no new request: the answer to a request that was
 * pipelined behind the previous one (either role). */
static __always_inline bool http1_pipelined_next(struct conn_state *c)
{
	if (c->ev.role == SONDE_ROLE_UNKNOWN || c->ev.txn_seq == 0)
		return false;
	c->ev.req_len = 0;
	c->ev.req_bytes = 0;
	c->ev.flags = SONDE_EVF_PIPELINED;
	c->ev.start_ns = c->ev.req_end_ns; /* it arrived with the previous one */
	c->phase = PHASE_REQUEST;
	/* The traced client's next request, as the previous one was its. */
	if (c->ev.role == SONDE_ROLE_SERVER && c->peer_next_conn) {
		c->ev.parent.conn_id = c->peer_next_conn;
		c->ev.parent.txn_seq = c->peer_next_seq;
		c->ev.parent.link = SONDE_LINK_PEER;
	}
	return true;
}

/* A framed response reached its length. A client that reads several
 * pipelined responses at once finds the next ones after it, in the same
 * chunk: each is a transaction of its own. */
static __always_inline void http1_framed_end(struct conn_state *c, struct call_args *a,
					     struct span_buf *s, __u64 n)
{
	for (int i = 0; i < HTTP1_PIPELINE_MAX; i++) {
		__u64 over = c->ev.resp_bytes - c->resp_expected;
		bool upgraded = c->upgrade;
		struct span_buf rest;

		if (c->upgrade == UPGRADE_H2C && over <= n) {
			/* HTTP/2 from here, the upgrade request its stream 1
			 * (proto_on_data walks the @over bytes after the head):
			 * this transaction goes to the HTTP/2 decoder. */
			c->ev.proto = SONDE_PROTO_HTTP2;
			c->ev.flags |= SONDE_EVF_H2_UPGRADE;
			c->upgrade_rest = over;
		}
		txn_emit(c, SONDE_END_FRAMED);
		if (upgraded) {
			/* 101: the connection speaks something else now */
			if (c->ev.proto != SONDE_PROTO_HTTP2)
				c->ignored = 1;
			return;
		}
		if (!over || over > n || c->ev.role != SONDE_ROLE_CLIENT || s->len != n ||
		    !http1_pipelined_next(c))
			return;
		txn_respond(c);
		c->ev.resp_bytes = over;
		rest.base = s->base + (n - over);
		rest.len = over;
		if (http1_head(c, &rest) != HEAD_FRAMED || !c->resp_expected ||
		    c->ev.resp_bytes < c->resp_expected)
			return;
	}
}

/* The response direction; a global function, as the request's. */
__attribute__((noinline)) int http1_response_bytes(struct conn_state *c, struct call_args *a,
						    struct span_buf *s, __u64 n, __u64 id)
{
	if (!c || !a || !s)
		return 0;
	if (c->phase == PHASE_IDLE && !http1_pipelined_next(c))
		return 0;
	if (c->phase == PHASE_REQUEST) {
		/* A short head never confirmed as HTTP (a tiny non-HTTP message). */
		if (!(c->ev.flags & SONDE_EVF_PIPELINED) && !http_is_request(c->ev.data, c->ev.req_len)) {
			http1_not_http(c);
			return 0;
		}
		txn_respond(c);
	}
	c->ev.resp_bytes += n;
	c->ev.resp_tid = (__u32)id;
	if (!c->head_done && http1_head(c, s) != HEAD_FRAMED)
		return 0;
	/* The clock only when this write may be the response's last: a
	 * framed response still short of its length is not done. */
	if (c->resp_expected && c->ev.resp_bytes < c->resp_expected)
		return 0;
	c->ev.end_ns = bpf_ktime_get_ns();
	if (c->resp_expected) {
		http1_framed_end(c, a, s, n);
	} else if (c->chunked) {
		__u8 tail[5] = {};

		if (!read_tail(a, n, tail, 5) && tail[0] == '0' && tail[1] == '\r' &&
		    tail[2] == '\n' && tail[3] == '\r' && tail[4] == '\n')
			txn_emit(c, SONDE_END_CHUNKED);
	}
	return 0;
}

/* Bytes of an HTTP/1 connection, in the request or the response direction. */
static __always_inline void http1_on_data(struct conn_state *c, struct call_args *a,
					  struct span_buf *s, __u64 n, bool request_dir, __u64 id)
{
	if (request_dir)
		http1_request_bytes(c, s, n, id, bpf_ktime_get_ns());
	else
		http1_response_bytes(c, a, s, n, id);
}

/* Does this chunk begin an HTTP/1 request? (The registry's classifier.) */
static __always_inline bool http1_classify(const __u8 *head, __u32 len)
{
	return http_is_request(head, len);
}
#endif /* SONDE_PROTO_PARSERS_ONLY */

#endif /* SONDE_PROTO_HTTP1_BPF_H */
