/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one ABI shared by the BPF programs and user space: event layouts, map
 * value layouts that user space reads, counter ids. Every id is defined here
 * once; both sides include this file.
 *
 * Fixed-width types only, explicit padding, sizes checked with
 * _Static_assert so that a field added on one side cannot silently shift the
 * other side's view.
 */
#ifndef SONDE_ABI_H
#define SONDE_ABI_H

#ifdef __BPF__
/* vmlinux.h provides __u8 .. __u64 on the kernel side. */
#else
#include <linux/types.h>
#endif

/* Padding in these structs must be spelled out: the two compilers that
 * build the two sides must agree on every offset. */
#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wpadded"

/* Bytes of the request and response heads copied per transaction. The
 * request prefix must hold the request line plus the headers we look for
 * (Host, Content-Length, traceparent); the response prefix must hold the
 * status line and the framing headers. Powers of two: BPF masks offsets. */
#define SONDE_REQ_CAP 512
#define SONDE_RESP_CAP 512
#define SONDE_DATA_CAP (SONDE_REQ_CAP + SONDE_RESP_CAP)

/* Most processes traced at once (size of the kernel's traced map). */
#define SONDE_MAX_TRACED 4096

/* Beside that map, one bit per possible tgid (PID_MAX_LIMIT of 64-bit
 * kernels: 4M) says "traced": every syscall of every process tests it,
 * and a bit test in an array costs a fraction of a hash lookup. 512 KiB. */
#define SONDE_PID_LIMIT (4u << 20)
#define SONDE_TRACED_WORDS (SONDE_PID_LIMIT / 64)

/* Event kinds written to the ring buffer. */
enum sonde_event_kind {
	SONDE_EV_TXN = 1,	/* one completed transaction, of any protocol */
	SONDE_EV_PROC_EXEC = 2, /* a process called execve (discovery) */
	SONDE_EV_PROC_FORK = 3, /* a traced process forked a child (now traced) */
	SONDE_EV_PROC_EXIT = 4, /* a traced process exited */
	SONDE_EV_LISTEN = 5,	/* a process started listening (discovery rescan) */
};

/* The protocol a connection carries, as its first bytes told. Each one has
 * a kernel header (bpf/proto_<name>.bpf.h: classify, frame) and a decoder
 * (src/decode/<name>.c); these ids name them on both sides. */
enum sonde_proto {
	SONDE_PROTO_UNKNOWN = 0, /* not classified yet */
	SONDE_PROTO_HTTP1 = 1,
	SONDE_PROTO_POSTGRES = 2, /* PostgreSQL v3, client side */
	SONDE_PROTO_MYSQL = 3,	  /* MySQL / MariaDB, client side */
	/* A socket carrying TLS: its ciphertext is skipped, its plaintext
	 * comes from uprobes (bpf/tls.bpf.h) into a connection of its own,
	 * classified like socket bytes. No event carries this id. */
	SONDE_PROTO_TLS = 4,
	SONDE_PROTO_HTTP2 = 5,	  /* HTTP/2 (and gRPC): one event per chunk of frames, see below */
	SONDE_PROTO__MAX,
};

/* Which end of the connection the traced process is. */
enum sonde_role {
	SONDE_ROLE_UNKNOWN = 0,
	SONDE_ROLE_SERVER = 1, /* accepted: reads requests, writes responses */
	SONDE_ROLE_CLIENT = 2, /* connected: writes requests, reads responses */
};

/* Why a transaction event was emitted. */
enum sonde_end_reason {
	SONDE_END_FRAMED = 1,	    /* response length known and reached */
	SONDE_END_NEXT_REQUEST = 2, /* a new request began on the connection */
	SONDE_END_CLOSE = 3,	    /* the connection was closed */
	SONDE_END_CHUNKED = 4,	    /* the chunked terminator was seen */
	SONDE_END_CONNECT_FAILED = 5, /* client: the connection never opened */
};

/* How a transaction's parent was found (see docs and bpf/link.bpf.h). */
enum sonde_link_kind {
	SONDE_LINK_NONE = 0,
	SONDE_LINK_THREAD = 1,	/* client call on the thread serving a request */
	SONDE_LINK_PROCESS = 2, /* client call while exactly one request is in flight */
	SONDE_LINK_PEER = 3,	/* server side of a traced local client's connection */
	SONDE_LINK_STREAM = 4,	/* user space: client call within the one HTTP/2 server
				 * stream in flight in the process (model/streamlink.h) */
};

#define SONDE_LEN_UNKNOWN (~0ULL)

/* Flags in struct sonde_txn_event. */
#define SONDE_EVF_PIPELINED 1u /* a response to a request read with an earlier one */
#define SONDE_EVF_UNFRAMED 2u  /* response head longer than the capture: its end was not framed */
#define SONDE_EVF_H2_INBOUND 4u /* HTTP/2: the frames were read (else written) */
#define SONDE_EVF_H2_GAP 8u	/* HTTP/2: frames of this direction were lost before these */
#define SONDE_EVF_H2_CLOSE 16u	/* HTTP/2: the connection ended (no frames); with
				 * SONDE_EVF_H2_GAP: its frames can not be followed */
#define SONDE_EVF_H2_UPGRADE 32u /* HTTP/2: not frames but the HTTP/1.1 transaction
				  * (request prefix, 101 status line) that upgraded the
				  * connection to h2c: its stream 1's request */

/*
 * HTTP/2 events. A SONDE_PROTO_HTTP2 event is not a transaction: it is the
 * frames of one read or write (or of part of one), as entries in data[]
 * (req_len bytes valid, resp_len 0), start_ns the time of the I/O. Each
 * entry is the frame's 9-byte header as on the wire (length, type, flags,
 * stream id), a 2-byte big-endian piece length, and the piece: the bytes
 * of the frame's payload forwarded from this I/O (HEADERS, PUSH_PROMISE,
 * CONTINUATION: the header block as far as it fits; RST_STREAM: the error
 * code; GOAWAY: last stream id and error code; DATA and the rest: none).
 * A payload that goes on in the next I/O comes there as an entry of type
 * SONDE_H2_PIECE (header length 0) holding the next piece. SETTINGS,
 * PING, PRIORITY and WINDOW_UPDATE are not forwarded.
 */
#define SONDE_H2_ENTRY_HDR 11
#define SONDE_H2_PIECE 0xff

/* Connection flags in struct sonde_txn_event (kept for the connection's life). */
#define SONDE_CONNF_TLS 1u /* the bytes are TLS plaintext (url.scheme https) */

/* Flags in struct sonde_traced_proc. */
#define SONDE_PROC_NO_THREAD_RULE 1u /* goroutines move between threads (Go) */

/*
 * Go crypto/tls uprobes (bpf/tls_go.bpf.h, attached by src/probes_gotls.c):
 * the attach cookie of each carries where, in that binary, the socket's
 * descriptor is reached from a *tls.Conn (offsets from its DWARF or from
 * the table of src/gobin/offsets.c) and which way the plaintext goes:
 *   bits  0-15  tls.Conn.conn's data word (the net.Conn interface's pointer)
 *   bits 16-31  net.TCPConn.conn.fd (the *netFD)
 *   bits 32-47  net.netFD.pfd.Sysfd (the descriptor)
 *   bit  48     inbound: (*Conn).Read (else Write)
 *   bit  49     the uprobe is on the prologue's stack-check JBE, not the entry
 *               (gobin__func_stack_check): a taken branch restarts the call
 */
#define SONDE_GOTLS_COOKIE(conn, fd, sysfd, inbound)                                     \
	((__u64)(__u16)(conn) | (__u64)(__u16)(fd) << 16 | (__u64)(__u16)(sysfd) << 32 | \
	 (__u64)!!(inbound) << 48)
#define SONDE_GOTLS_AT_JBE (1ULL << 49)
#define SONDE_GOTLS_CONN(cookie) ((__u16)(cookie))
#define SONDE_GOTLS_FD(cookie) ((__u16)((cookie) >> 16))
#define SONDE_GOTLS_SYSFD(cookie) ((__u16)((cookie) >> 32))
#define SONDE_GOTLS_INBOUND(cookie) ((bool)(((cookie) >> 48) & 1))
#define SONDE_GOTLS_IS_AT_JBE(cookie) ((bool)(((cookie) >> 49) & 1))

/* A transaction, named across events: connection id and its number there. */
struct sonde_txn_ref {
	__u64 conn_id; /* unique per connection as Sonde saw it open; 0: none */
	__u32 txn_seq;
	__u8 link;     /* enum sonde_link_kind, in a parent reference */
	__u8 busy;     /* a client's, link NONE: requests of the process were in
			* flight, none certain to be the call's (HTTP/2 streams are
			* not counted here: user space follows them) */
	__u8 _pad[2];
};

/* Per-CPU counters exported as sonde_events_lost_total{reason} and friends.
 * The names used by user space live next to these ids (sonde_counter_names
 * in src/probes.c) and are checked for the same length. */
enum sonde_counter {
	SONDE_CNT_RINGBUF_FULL = 0, /* event dropped: ring buffer had no room */
	SONDE_CNT_CONN_MAP_FULL,    /* connection not tracked: no socket storage */
	SONDE_CNT_NOT_HTTP,	    /* connection skipped: no protocol recognised its bytes */
	SONDE_CNT_TXN_EMITTED,	    /* transactions emitted */
	SONDE_CNT_INCOMPLETE,	    /* request seen, connection closed before a response */
	SONDE_CNT_PROC_EVENT_LOST,  /* discovery event dropped: ring buffer full */
	SONDE_CNT_RESP_NOT_HTTP,    /* transaction given up: response bytes not a status line */
	SONDE_CNT_RESP_UNFRAMED,    /* response head past the capture: ended at next request/close */
	SONDE_CNT_NO_BUFFER,	    /* socket I/O with no user buffer to read (io_uring, *mmsg) */
	SONDE_CNT_PEER_LINK_LOST,   /* a traced client's end could not be recorded: map full */
	SONDE_CNT_TRACED_MAP_FULL,  /* a traced process's child left untraced: traced map full */
	SONDE_CNT_TLS_CONN,	    /* TLS connections seen (not a loss: their plaintext is followed) */
	SONDE_CNT_TLS_NO_SOCKET,    /* TLS plaintext whose socket was not known: skipped */
	SONDE_CNT_GOTLS_ODD_COPY,   /* Go TLS Read's copy not into the caller's buffer: skipped */
	SONDE_CNT_H2_TRUNCATED,	    /* HTTP/2 header block bytes not forwarded (too long) */
	SONDE_CNT_H2_DESYNC,	    /* HTTP/2 connection given up: its frames could not be followed */
	SONDE_CNT__MAX,
};

struct sonde_addr {
	__u8 addr[16]; /* IPv4 in the first 4 bytes when family is AF_INET */
	__u16 port;    /* host byte order */
	__u16 family;  /* AF_INET or AF_INET6 */
};

/* The common header of every ring buffer record. */
struct sonde_event_header {
	__u32 kind; /* enum sonde_event_kind */
	__u32 tgid;
};

/* One transaction of any protocol (the `proto` tag says which decoder
 * reads it): request direction then response direction, with a bounded
 * prefix of each. Timestamps are CLOCK_MONOTONIC nanoseconds
 * (bpf_ktime_get_ns). */
struct sonde_txn_event {
	struct sonde_event_header hdr;
	__u32 tid;	   /* thread that handled the request direction */
	__u8 proto;	   /* enum sonde_proto */
	__u8 _pad2[3];
	__u64 conn_start_ns; /* accept/connect time, 0 if seen mid-connection */
	__u64 start_ns;	     /* span start (see docs/timing.md) */
	__u64 req_end_ns;    /* last request byte seen by the process */
	__u64 end_ns;	     /* last response byte */
	__u64 req_bytes;     /* wire bytes of the request direction */
	__u64 resp_bytes;    /* wire bytes of the response direction */
	struct sonde_addr local;
	struct sonde_addr peer;
	__u32 txn_seq;	   /* transaction number on this connection, from 0 */
	__u8 role;	   /* enum sonde_role */
	__u8 end_reason;   /* enum sonde_end_reason */
	__u16 req_len;	   /* bytes valid in req[] */
	__u16 resp_len;	   /* bytes valid in resp[] */
	__u8 flags;	   /* SONDE_EVF_* */
	__u8 conn_flags;   /* SONDE_CONNF_* */
	__u32 error;	   /* errno of a failed connection, else 0 */
	__u64 conn_id;	   /* this connection (with txn_seq: this transaction) */
	struct sonde_txn_ref parent; /* the transaction this one is part of */
	__u32 resp_tid;	   /* thread that wrote (server) or read (client) the last response bytes */
	/* The response's framing, where the kernel found it (then the prefix
	 * holds just the status line): its head's length (0: not found, the
	 * prefix holds what was captured) and its body's declared length
	 * (SONDE_LEN_UNKNOWN: chunked or up to the close). */
	__u32 resp_head_len;
	__u64 resp_body_len;
	/* The request prefix (req_len bytes), then the response prefix
	 * (resp_len bytes) right after it: a record ends after both, so only
	 * the bytes captured travel through the ring buffer. */
	__u8 data[SONDE_DATA_CAP];
};

/* Ring-buffer records of transactions end after the prefixes' valid bytes:
 * at least this long, at most sizeof(struct sonde_txn_event). */
#define SONDE_TXN_EVENT_MIN_SIZE (sizeof(struct sonde_txn_event) - SONDE_DATA_CAP)

/* Process lifecycle and discovery notifications. */
struct sonde_proc_event {
	struct sonde_event_header hdr;
	__u32 ppid; /* parent tgid for FORK, 0 otherwise */
	__u32 _pad;
};

/* Value of the traced-processes map, keyed by tgid. Written by user space
 * (discovery) and by the fork handler (children inherit their parent's). */
struct sonde_traced_proc {
	__u32 service_id; /* user space's handle for the service */
	__u32 flags;
};

_Static_assert(sizeof(struct sonde_addr) == 20, "sonde_addr layout");
_Static_assert(sizeof(struct sonde_event_header) == 8, "header layout");
_Static_assert(sizeof(struct sonde_txn_event) ==
		       8 + 8 + 8 * 6 + 2 * 20 + 4 + 4 + 4 + 4 + 8 + 16 + 8 + 8 + SONDE_DATA_CAP,
	       "sonde_txn_event layout");
_Static_assert(sizeof(struct sonde_proc_event) == 16, "sonde_proc_event layout");
_Static_assert(sizeof(struct sonde_txn_ref) == 16, "sonde_txn_ref layout");

#pragma GCC diagnostic pop

#endif /* SONDE_ABI_H */
