/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 (and gRPC, which is HTTP/2) in clear on the kernel side. HTTP/2
 * multiplexes streams on a connection and compresses headers with state
 * kept at both ends (HPACK), so the kernel does not pair requests with
 * responses: it walks the frames of each read and write and forwards, in
 * order, what user space needs to follow every stream (src/decode/http2.c):
 * the header blocks (bounded), the DATA frames' lengths and flags,
 * RST_STREAM and GOAWAY. DATA payloads never leave the kernel.
 *
 * - Classified by the client connection preface in either role (a server
 *   reads it, a client writes it) or, for connections open before Sonde,
 *   by whole, plausible frame headers (type, flags, stream id 0 or not and
 *   length checked per type) filling the first bytes seen: two or more,
 *   or one PING, WINDOW_UPDATE, RST_STREAM, non-empty SETTINGS or whole
 *   header block (what an idle connection sends).
 * - One event per I/O (more when its entries overflow one), entries as
 *   include/sonde/abi.h describes; a frame's payload or header that goes on
 *   into the next I/O is carried over in per-direction state.
 * - What is lost (an event the ring buffer refused, a header block longer
 *   than an event) is counted and flagged on the direction's next event,
 *   so user space knows its HPACK state is no longer certain.
 * - A frame walk that cannot go on (bytes we cannot read, more frames in
 *   one I/O than the walk's bound, a frame header no peer would send: the
 *   walk lost its place) loses the framing: the connection is left alone
 *   from there and counted.
 */
#ifndef SONDE_PROTO_HTTP2_BPF_H
#define SONDE_PROTO_HTTP2_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sonde/abi.h"

#define H2_PREFACE_LEN 24
#define H2_FRAME_HDR 9
#define H2_MAX_FRAME 16384 /* SETTINGS_MAX_FRAME_SIZE's default, for plausibility */

enum h2_frame_type {
	H2_DATA = 0,
	H2_HEADERS = 1,
	H2_PRIORITY = 2,
	H2_RST_STREAM = 3,
	H2_SETTINGS = 4,
	H2_PUSH_PROMISE = 5,
	H2_PING = 6,
	H2_GOAWAY = 7,
	H2_WINDOW_UPDATE = 8,
	H2_CONTINUATION = 9,
};

/* Does p[0..len) begin with the client connection preface? */
static __always_inline bool h2_is_preface(const __u8 *p, __u32 len)
{
	return len >= H2_PREFACE_LEN && p[0] == 'P' && p[1] == 'R' && p[2] == 'I' &&
	       p[3] == ' ' && p[4] == '*' && p[5] == ' ' && p[6] == 'H' && p[7] == 'T' &&
	       p[8] == 'T' && p[9] == 'P' && p[10] == '/' && p[11] == '2' && p[12] == '.' &&
	       p[13] == '0' && p[14] == '\r' && p[15] == '\n' && p[16] == '\r' &&
	       p[17] == '\n' && p[18] == 'S' && p[19] == 'M' && p[20] == '\r' &&
	       p[21] == '\n' && p[22] == '\r' && p[23] == '\n';
}

static __always_inline __u32 h2_frame_len(const __u8 *h)
{
	return (__u32)h[0] << 16 | (__u32)h[1] << 8 | h[2];
}

/* Could h[0..9) be a frame header, @max_len its longest payload? Strict
 * per type: the flags a type defines, stream 0 or not, fixed lengths; of
 * the extension types, the registered ones that are sent in practice
 * (ALTSVC, ORIGIN, PRIORITY_UPDATE). */
static __always_inline bool h2_frame_shape(const __u8 *h, __u32 max_len, bool extensions)
{
	__u32 len = h2_frame_len(h);
	__u8 type = h[3], flags = h[4];
	bool stream = h[5] | h[6] | h[7] | h[8];

	if (h[5] & 0x80 || len > max_len)
		return false;
	switch (type) {
	case H2_DATA:
		return stream && !(flags & ~0x09);
	case H2_HEADERS:
		return stream && len && !(flags & ~0x2d);
	case H2_PRIORITY:
		return stream && len == 5 && !flags;
	case H2_RST_STREAM:
		return stream && len == 4 && !flags;
	case H2_SETTINGS:
		return !stream && !(flags & ~0x01) && len % 6 == 0 && (!flags || !len);
	case H2_PUSH_PROMISE:
		return stream && len >= 4 && !(flags & ~0x0c);
	case H2_PING:
		return !stream && len == 8 && !(flags & ~0x01);
	case H2_GOAWAY:
		return !stream && len >= 8 && !flags;
	case H2_WINDOW_UPDATE:
		return len == 4 && !flags;
	case H2_CONTINUATION:
		return stream && !(flags & ~0x04);
	}
	if (extensions && (type == 0x0a || type == 0x0c || type == 0x10))
		return !flags && len <= H2_MAX_FRAME; /* ALTSVC, ORIGIN, PRIORITY_UPDATE */
	return false;
}

/* A connection in its stride, found mid-stream: frames of the default
 * maximum size (SETTINGS_MAX_FRAME_SIZE). */
static __always_inline bool h2_frame_plausible(const __u8 *h)
{
	return h2_frame_shape(h, H2_MAX_FRAME, false);
}

#define H2_CLASSIFY_FRAMES 8

/* The first bytes p[0..len) of a connection found mid-stream, p readable
 * to SONDE_REQ_CAP + 16: at least two plausible frame headers in a row,
 * the frames ending exactly where the bytes do (or running past a full
 * prefix). Anything else is not taken for HTTP/2. */
static __always_inline bool h2_frames_plausible(const __u8 *p, __u32 len)
{
	__u32 off = 0;
	int frames = 0;

	for (int i = 0; i < H2_CLASSIFY_FRAMES; i++) {
		if (off >= len || off + H2_FRAME_HDR > len)
			break;
		if (!h2_frame_plausible(p + (off & (SONDE_REQ_CAP - 1))))
			return false;
		frames++;
		off += H2_FRAME_HDR + h2_frame_len(p + (off & (SONDE_REQ_CAP - 1)));
	}
	if (frames >= 2)
		return off == len || (len >= SONDE_REQ_CAP && off > len);
	/* One frame filling the bytes exactly: enough only for the shapes
	 * that leave little to chance (fixed-size control frames, a whole
	 * header block), which are what an idle connection mostly sends. */
	if (frames == 1 && off == len) {
		__u8 type = p[3];

		return type == H2_PING || type == H2_WINDOW_UPDATE || type == H2_RST_STREAM ||
		       (type == H2_SETTINGS && len > H2_FRAME_HDR) ||
		       (type == H2_HEADERS && (p[4] & 0x04));
	}
	return false;
}

static __always_inline bool h2_classify(const __u8 *p, __u32 len)
{
	return h2_is_preface(p, len) || h2_frames_plausible(p, len);
}

#ifndef SONDE_PROTO_PARSERS_ONLY
#include "conn.bpf.h"

/* One direction's walk, carried from one I/O to the next. */
struct h2_dir {
	__u32 left;	/* payload bytes of the current frame still to come */
	__u32 fwd_left; /* of those, how many are forwarded */
	__u8 hdr_have;	/* bytes of a frame header split across I/O, in hdr */
	__u8 gap;	/* something of this direction was lost: say so next */
	__u8 fresh;	/* nothing walked yet: the preface may still come */
	__u8 _pad;
	__u8 hdr[12];
};

struct h2_conn {
	struct h2_dir dir[2]; /* [0] written, [1] read */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_CONNS);
	__type(key, __u64); /* conn_id */
	__type(value, struct h2_conn);
} h2_conns SEC(".maps");

#define H2_SEGS 32	  /* iovec segments in the window (a power of two) */
#define H2_MAX_IOV 1024	  /* UIO_MAXIOV */
#define H2_STEPS 1024	  /* frames (and carried-over pieces) walked per I/O */
#define H2_ROOM (SONDE_DATA_CAP - 16)

/* The walk of one I/O, in a per-CPU scratch (bpf_loop's steps find it there). */
struct h2_scratch {
	struct sonde_txn_event rec;
	__u8 slack[SONDE_DATA_CAP]; /* copies at a masked offset stay in the value */
	struct iovec iov[H2_SEGS];
	__u64 end[H2_SEGS];	    /* I/O offset where each segment ends */
	struct h2_dir d;
	__u64 n;   /* bytes of the I/O */
	__u64 off; /* next byte of the I/O to walk */
	__u32 nseg, seg; /* segments in the window, the cursor */
	__u64 iov_arr;	 /* the I/O's iovec array (0: one buffer) */
	__u32 iov_cnt, win_first; /* its length, its first iovec in the window */
	__u32 rec_len;
	__u32 failed; /* the walk could not go on */
	__u32 preface; /* this I/O began with the client preface */
	__u64 copy_off; /* h2_copy's piece */
	__u32 copy_len, copy_done;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct h2_scratch);
} h2_scratch_map SEC(".maps");

static __always_inline struct h2_scratch *h2_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&h2_scratch_map, &zero);
}

/* Load the window of segments that begins with iovec @first, at I/O
 * offset @start. Return: 0, or -1 when there is none to load. */
static __always_inline int h2_load_window(struct h2_scratch *sc, __u32 first, __u64 start)
{
	__u64 cnt, total = start;

	sc->nseg = 0;
	sc->seg = 0;
	if (first >= sc->iov_cnt || start >= sc->n)
		return -1;
	cnt = sc->iov_cnt - first;
	if (cnt > H2_SEGS)
		cnt = H2_SEGS;
	if (bpf_probe_read_user(sc->iov, (cnt * sizeof(struct iovec)) & 1023,
				(void *)(sc->iov_arr + (__u64)first * sizeof(struct iovec))))
		return -1;
	sc->win_first = first;
	for (int i = 0; i < H2_SEGS; i++) {
		__u64 l;

		if (i >= cnt || total >= sc->n)
			break;
		l = sc->iov[i].iov_len;
		if (l > sc->n - total) {
			l = sc->n - total;
			sc->iov[i].iov_len = l;
		}
		total += l;
		sc->end[i] = total;
		sc->nseg = i + 1;
	}
	return sc->nseg ? 0 : -1;
}

/* The segment holding byte @off of the I/O, from the cursor on (moving
 * to the next window of an iovec array when this one is passed); -1 past
 * the end. A global function: verified once, not at every call. */
__attribute__((noinline)) int h2_seg_at(struct h2_scratch *sc, __u64 off)
{
	if (!sc)
		return -1;
	for (int w = 0; w < 2; w++) {
		__u32 i = sc->seg;

		for (int k = 0; k < H2_SEGS; k++) {
			__u32 j = i;

			if (i >= sc->nseg || i >= H2_SEGS)
				break;
			/* A fresh, masked index: no pointer the compiler strides. */
			asm volatile("" : "+r"(j));
			j &= H2_SEGS - 1;
			if (sc->end[j] > off) {
				sc->seg = i;
				return j;
			}
			i++;
		}
		if (sc->nseg < H2_SEGS || !sc->iov_arr ||
		    h2_load_window(sc, sc->win_first + H2_SEGS, sc->end[H2_SEGS - 1]))
			return -1;
	}
	return -1;
}

/* Copy @len bytes of the I/O from @off to @dst (@dst has room for 32);
 * @len at most 9, over as many segments. Return: 0, or -1 when they are
 * not readable. */
static __always_inline int h2_read(struct h2_scratch *sc, __u64 off, __u8 *dst, __u32 len)
{
	__u32 done = 0;

	for (int k = 0; k < H2_FRAME_HDR; k++) {
		__u64 start, take;
		int i;

		if (done >= len)
			return 0;
		i = h2_seg_at(sc, off + done);
		if (i < 0)
			return -1;
		asm volatile("" : "+r"(i));
		i &= H2_SEGS - 1;
		start = sc->end[i] - sc->iov[i].iov_len;
		take = sc->end[i] - (off + done);
		if (take > len - done)
			take = len - done;
		asm volatile("" : "+r"(done), "+r"(take));
		done &= 15;
		take &= 15;
		if (!take || bpf_probe_read_user(dst + done, take,
						 (__u8 *)sc->iov[i].iov_base + (off + done - start)))
			return -1;
		done += take;
	}
	return done >= len ? 0 : -1;
}

/* One segment's part of a copy (h2_copy), a bpf_loop step: verified once,
 * however many segments a header block is spread over. */
static long h2_copy_step(__u32 idx, void *unused)
{
	struct h2_scratch *sc = h2_scratch();
	__u64 start, take, off;
	__u32 at;
	int i;

	if (!sc || sc->copy_done >= sc->copy_len)
		return 1;
	off = sc->copy_off + sc->copy_done;
	i = h2_seg_at(sc, off);
	if (i < 0)
		return 1;
	asm volatile("" : "+r"(i));
	i &= H2_SEGS - 1;
	start = sc->end[i] - sc->iov[i].iov_len;
	take = sc->end[i] - off;
	if (take > sc->copy_len - sc->copy_done)
		take = sc->copy_len - sc->copy_done;
	at = sc->rec_len;
	if (at >= SONDE_DATA_CAP || take > SONDE_DATA_CAP || !take)
		return 1;
	asm volatile("" : "+r"(at));
	at &= SONDE_DATA_CAP - 1;
	if (bpf_probe_read_user(sc->rec.data + at, take & (SONDE_DATA_CAP - 1),
				(__u8 *)sc->iov[i].iov_base + (off - start)))
		return 1;
	sc->rec_len += take;
	sc->copy_done += take;
	return 0;
}

/* Append @len bytes of the I/O from @off to the event's entries.
 * Return: the bytes appended (fewer when unreadable). */
static __always_inline __u32 h2_copy(struct h2_scratch *sc, __u64 off, __u32 len)
{
	sc->copy_off = off;
	sc->copy_len = len;
	sc->copy_done = 0;
	bpf_loop(SONDE_DATA_CAP, h2_copy_step, NULL, 0); /* a segment a step, up to the last byte */
	return sc->copy_done;
}

/* Send the entries gathered so far as one event. */
static __always_inline void h2_flush(struct h2_scratch *sc)
{
	__u64 size = sc->rec_len;

	if (!size)
		return;
	sc->rec.req_len = size;
	if (sc->d.gap)
		sc->rec.flags |= SONDE_EVF_H2_GAP;
	asm volatile("" : "+r"(size));
	if (size > SONDE_DATA_CAP)
		size = SONDE_DATA_CAP;
	size += SONDE_TXN_EVENT_MIN_SIZE;
	if (bpf_ringbuf_output(&events, &sc->rec, size, ringbuf_flags(size))) {
		counter_add(SONDE_CNT_RINGBUF_FULL, 1);
		sc->d.gap = 1;
	} else {
		counter_add(SONDE_CNT_TXN_EMITTED, 1);
		sc->d.gap = 0;
	}
	sc->rec.flags &= ~SONDE_EVF_H2_GAP;
	sc->rec.txn_seq++;
	sc->rec_len = 0;
}

/* Start an entry: the frame header @h (or a piece's) and a piece of @piece
 * bytes to follow, with room made for both. Return: the piece length room
 * allows (the rest is not forwarded). */
static __always_inline __u32 h2_entry(struct h2_scratch *sc, const __u8 *h, __u32 piece)
{
	__u32 at;
	__u8 *p;

	if (sc->rec_len + SONDE_H2_ENTRY_HDR + piece > H2_ROOM)
		h2_flush(sc);
	if (SONDE_H2_ENTRY_HDR + piece > H2_ROOM) {
		counter_add(SONDE_CNT_H2_TRUNCATED, 1);
		piece = H2_ROOM - SONDE_H2_ENTRY_HDR;
	}
	at = sc->rec_len;
	asm volatile("" : "+r"(at));
	p = sc->rec.data + (at & (SONDE_DATA_CAP - 1));
	for (int k = 0; k < H2_FRAME_HDR; k++)
		p[k] = h[k];
	p[9] = piece >> 8;
	p[10] = piece;
	sc->rec_len += SONDE_H2_ENTRY_HDR;
	return piece;
}

/* Forward @piece bytes at @off in an entry headed @h; what is not
 * forwarded is counted and the direction marked. */
static __always_inline void h2_forward(struct h2_scratch *sc, const __u8 *h, __u64 off, __u32 piece)
{
	__u32 room = h2_entry(sc, h, piece);
	__u32 copied = room ? h2_copy(sc, off, room) : 0;
	__u32 at = sc->rec_len - copied - 2;
	__u8 *p;

	asm volatile("" : "+r"(at));
	p = sc->rec.data + (at & (SONDE_DATA_CAP - 1));
	if (copied < piece) {
		p[0] = copied >> 8;
		p[1] = copied;
		if (room == piece)
			counter_add(SONDE_CNT_H2_TRUNCATED, 1);
		sc->d.gap = 1;
		sc->d.fwd_left = 0;
	}
}

struct h2_frame_hdr {
	__u8 b[H2_FRAME_HDR];
};

/* A frame header a peer may send, of any length. A global function:
 * verified once, not in every path of the walk. */
__attribute__((noinline)) int h2_frame_sane(struct h2_frame_hdr *h)
{
	return h && h2_frame_shape(h->b, 0xffffff, true);
}

/* One step of the walk: the rest of a frame from an earlier I/O, or one
 * frame (its header, its forwarded piece). Return 1 to stop. */
static long h2_step(__u32 idx, void *unused)
{
	struct h2_scratch *sc = h2_scratch();
	__u8 h[32] = {};
	__u64 avail, in_io;
	__u32 len, fwd, need;

	if (!sc || sc->off >= sc->n)
		return 1;
	avail = sc->n - sc->off;
	if (sc->d.left) {
		in_io = sc->d.left < avail ? sc->d.left : avail;
		if (sc->d.fwd_left) {
			__u32 piece = sc->d.fwd_left < in_io ? sc->d.fwd_left : in_io;

			h[3] = SONDE_H2_PIECE;
			sc->d.fwd_left -= piece;
			h2_forward(sc, h, sc->off, piece);
		}
		sc->d.left -= in_io;
		sc->off += in_io;
		return 0;
	}
	/* A frame header, maybe completing one split across I/O. */
	need = H2_FRAME_HDR - (sc->d.hdr_have < H2_FRAME_HDR ? sc->d.hdr_have : 0);
	if (need > H2_FRAME_HDR)
		need = H2_FRAME_HDR;
	if (avail < need) {
		if (h2_read(sc, sc->off, h, avail)) {
			sc->failed = 1;
			return 1;
		}
		for (int k = 0; k < H2_FRAME_HDR - 1; k++)
			if (k < avail && sc->d.hdr_have + k < H2_FRAME_HDR)
				sc->d.hdr[(sc->d.hdr_have + k) & 7] = h[k];
		sc->d.hdr_have += avail;
		sc->off = sc->n;
		return 1;
	}
	if (need < H2_FRAME_HDR) {
		__u8 rest[32] = {};
		__u32 have = H2_FRAME_HDR - need;

		if (h2_read(sc, sc->off, rest, need)) {
			sc->failed = 1;
			return 1;
		}
		for (int k = 0; k < H2_FRAME_HDR; k++)
			h[k] = k < have ? sc->d.hdr[k & 7] : rest[(k - have) & 15];
	} else if (h2_read(sc, sc->off, h, H2_FRAME_HDR)) {
		sc->failed = 1;
		return 1;
	}
	/* A frame header no peer sends: the walk is not where it thinks
	 * (an I/O it never saw). Stopping beats reading payload as headers. */
	if (!h2_frame_sane((struct h2_frame_hdr *)h)) {
		sc->failed = 1;
		return 1;
	}
	sc->d.hdr_have = 0;
	sc->off += need;
	avail -= need;
	len = h2_frame_len(h);
	in_io = len < avail ? len : avail;
	switch (h[3]) {
	case H2_HEADERS:
	case H2_PUSH_PROMISE:
	case H2_CONTINUATION:
		fwd = len;
		break;
	case H2_RST_STREAM:
		fwd = len < 4 ? len : 4;
		break;
	case H2_GOAWAY:
		fwd = len < 8 ? len : 8;
		break;
	case H2_DATA:
		fwd = 0;
		break;
	default: /* not forwarded at all */
		sc->d.left = len - in_io;
		sc->d.fwd_left = 0;
		sc->off += in_io;
		return 0;
	}
	{
		__u32 piece = fwd < in_io ? fwd : in_io;

		sc->d.fwd_left = fwd - piece;
		h2_forward(sc, h, sc->off, piece);
	}
	sc->d.left = len - in_io;
	sc->off += in_io;
	return 0;
}

/* Where the I/O's bytes are, as segments: one buffer, or an iovec array
 * walked a window of H2_SEGS at a time. Sendfile's bytes are in no user
 * memory: fine while they are DATA payload, which is never read. */
static __always_inline void h2_segments(struct h2_scratch *sc, struct call_args *a, __u64 n)
{
	__u64 arr, cnt;

	sc->nseg = 0;
	sc->seg = 0;
	sc->iov_arr = 0;
	sc->iov_cnt = 0;
	sc->win_first = 0;
	if (a->kind == CALL_READ || a->kind == CALL_WRITE) {
		sc->iov[0].iov_base = (void *)a->buf;
		sc->iov[0].iov_len = n;
		sc->end[0] = n;
		sc->nseg = 1;
		return;
	}
	if (a->kind == CALL_SENDFILE || a->kind == CALL_NONE || iov_array(a, &arr, &cnt))
		return;
	sc->iov_arr = arr;
	sc->iov_cnt = cnt > H2_MAX_IOV ? H2_MAX_IOV : cnt;
	h2_load_window(sc, 0, 0);
}

/* Walk the @n bytes of one I/O from the direction's state in sc->d (left
 * there for the next I/O), sending the events begun in sc->rec.
 * Return: 0, or -1 when the framing is lost. */
static __always_inline int h2_walk(struct h2_scratch *sc, struct call_args *a, __u64 n)
{
	sc->n = n;
	sc->off = 0;
	sc->failed = 0;
	sc->preface = 0;
	h2_segments(sc, a, n);
	if (sc->d.fresh) {
		/* A connection classified by frames (a server's SETTINGS written
		 * first) whose start this is after all: skip the preface, and
		 * nothing was lost. */
		__u8 head[H2_PREFACE_LEN];

		sc->d.fresh = 0;
		if (sc->nseg && sc->iov[0].iov_len >= H2_PREFACE_LEN &&
		    !bpf_probe_read_user(head, sizeof(head), sc->iov[0].iov_base) &&
		    h2_is_preface(head, sizeof(head))) {
			sc->d.left = H2_PREFACE_LEN;
			sc->d.fwd_left = 0;
			sc->d.gap = 0;
			sc->preface = 1;
		}
	}
	bpf_loop(H2_STEPS, h2_step, NULL, 0);
	h2_flush(sc);
	return sc->failed || sc->off < sc->n ? -1 : 0;
}

/* The connection was classified on these bytes: its walk state, the
 * preface skipped (@before: bytes of this direction held before this I/O).
 * Return: false when frames without the preface were seen on a connection
 * seen opening (a server's SETTINGS written before it reads the preface):
 * not classified yet, the preface will tell. */
static __always_inline bool h2_on_classified(struct conn_state *c, bool inbound, __u64 before)
{
	struct h2_conn init = {};
	bool preface = h2_is_preface(c->ev.data, c->ev.req_len);

	if (!preface && c->ev.conn_start_ns)
		return false;
	if (preface) {
		init.dir[inbound].left = before < H2_PREFACE_LEN ? H2_PREFACE_LEN - before : 0;
	} else {
		/* Found mid-stream: HPACK state unknown in both directions,
		 * unless the preface comes next (a server writing first). */
		init.dir[0].gap = init.dir[1].gap = 1;
		init.dir[0].fresh = init.dir[1].fresh = 1;
	}
	bpf_map_update_elem(&h2_conns, &c->ev.conn_id, &init, BPF_ANY);
	return true;
}

/* An HTTP/1.1 connection upgraded to h2c (RFC 7540 3.2) by a 101 whose
 * head ended @head bytes into this I/O of the response direction: that
 * direction's walk begins after them (the server's SETTINGS, then stream
 * 1's response), the request direction's with the client preface. Both
 * HPACK states begin here, known. */
static __always_inline void h2_on_upgrade(struct conn_state *c, __u64 head)
{
	struct h2_conn init = {};
	int resp_read = c->ev.role == SONDE_ROLE_CLIENT;

	init.dir[resp_read & 1].left = head;
	init.dir[!resp_read].left = H2_PREFACE_LEN;
	bpf_map_update_elem(&h2_conns, &c->ev.conn_id, &init, BPF_ANY);
}

/* The parent reference of this I/O's events: a server's traced peer
 * (looked up once per connection), a client's in-process request. */
static __always_inline void h2_parent(struct conn_state *c, struct sonde_txn_ref *ref, __u64 id)
{
	struct client_ref *peer;
	struct tuple_key t;

	__builtin_memset(ref, 0, sizeof(*ref));
	if (c->ev.role == SONDE_ROLE_CLIENT) {
		client_parent(ref, id >> 32, (__u32)id);
		return;
	}
	if (c->peer_state == PEER_UNKNOWN || (c->peer_state == PEER_NONE && !c->ev.conn_start_ns)) {
		tuple_of(&t, &c->ev.peer, &c->ev.local);
		peer = bpf_map_lookup_elem(&client_tuples, &t);
		c->peer_state = peer ? PEER_TRACED : PEER_NONE;
		c->peer_next_conn = peer ? peer->conn_id : 0;
	}
	if (c->peer_state == PEER_TRACED) {
		ref->conn_id = c->peer_next_conn;
		ref->link = SONDE_LINK_PEER;
	}
}

static __always_inline void h2_rec_begin(struct h2_scratch *sc, struct conn_state *c, bool inbound,
					 __u64 id)
{
	__u64 now = bpf_ktime_get_ns();

	__builtin_memcpy(&sc->rec, &c->ev, SONDE_TXN_EVENT_MIN_SIZE);
	sc->rec.proto = SONDE_PROTO_HTTP2;
	sc->rec.tid = sc->rec.resp_tid = (__u32)id;
	sc->rec.start_ns = sc->rec.req_end_ns = sc->rec.end_ns = now;
	sc->rec.flags = inbound ? SONDE_EVF_H2_INBOUND : 0;
	sc->rec.req_len = sc->rec.resp_len = 0;
	sc->rec.end_reason = SONDE_END_FRAMED;
	sc->rec_len = 0;
	h2_parent(c, &sc->rec.parent, id);
}

/* The connection ends for the walk: user space closes its streams, in
 * error when it ended (@flags SONDE_EVF_H2_CLOSE), dropped and counted
 * when its frames could not be followed (with SONDE_EVF_H2_GAP). */
static __always_inline void h2_end(struct conn_state *c, __u8 flags)
{
	struct h2_scratch *sc = h2_scratch();

	bpf_map_delete_elem(&h2_conns, &c->ev.conn_id);
	if (!sc)
		return;
	__builtin_memcpy(&sc->rec, &c->ev, SONDE_TXN_EVENT_MIN_SIZE);
	sc->rec.proto = SONDE_PROTO_HTTP2;
	sc->rec.flags = flags;
	sc->rec.req_len = sc->rec.resp_len = 0;
	sc->rec.start_ns = sc->rec.end_ns = bpf_ktime_get_ns();
	if (bpf_ringbuf_output(&events, &sc->rec, SONDE_TXN_EVENT_MIN_SIZE,
			       ringbuf_flags(SONDE_TXN_EVENT_MIN_SIZE)))
		counter_add(SONDE_CNT_RINGBUF_FULL, 1);
}

/* The walk can not follow this connection any more. */
static __always_inline void h2_give_up(struct conn_state *c)
{
	counter_add(SONDE_CNT_H2_DESYNC, 1);
	c->ignored = 1;
	h2_end(c, SONDE_EVF_H2_CLOSE | SONDE_EVF_H2_GAP);
}

/* The connection ended. */
static __always_inline void h2_on_close(struct conn_state *c)
{
	if (!c->ignored)
		h2_end(c, SONDE_EVF_H2_CLOSE);
}

static __always_inline void h2_on_data(struct conn_state *c, struct call_args *a,
				       struct span_buf *s, __u64 n, bool request_dir, __u64 id)
{
	bool inbound = (c->ev.role == SONDE_ROLE_SERVER) == request_dir;
	struct h2_scratch *sc = h2_scratch();
	struct h2_conn *hc = bpf_map_lookup_elem(&h2_conns, &c->ev.conn_id);
	struct h2_dir *d;

	if (c->ev.role == SONDE_ROLE_UNKNOWN)
		inbound = !request_dir; /* never: classification sets the role */
	if (!sc)
		return;
	if (!hc) {
		/* Evicted from the LRU map: its frames can not be followed. */
		h2_give_up(c);
		return;
	}
	conn_set_owner(c, id >> 32);
	d = &hc->dir[inbound ? 1 : 0];
	sc->d = *d;
	h2_rec_begin(sc, c, inbound, id);
	if (h2_walk(sc, a, n)) {
		h2_give_up(c);
		return;
	}
	*d = sc->d;
	if (sc->preface)
		hc->dir[inbound ? 0 : 1].gap = 0; /* the other way saw no header block yet */
}

#endif /* SONDE_PROTO_PARSERS_ONLY */

#endif /* SONDE_PROTO_HTTP2_BPF_H */
