// SPDX-License-Identifier: Apache-2.0
/* Struct field offsets: from DWARF, else from a table per Go version (gobin.h). */
#include "gobin/internal.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <string.h>

bool gobin__has_dwarf(const struct gobin *g)
{
	return g->dwarf != NULL;
}

/* The top-level struct type named @name in any compilation unit. */
static bool find_struct(Dwarf *dw, const char *name, Dwarf_Die *out)
{
	Dwarf_Off off = 0, next;
	size_t hsize;

	while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, die;
		int more;

		if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_child(&cu, &die) == 0) {
			for (more = 0; more == 0; more = dwarf_siblingof(&die, &die)) {
				const char *n;

				if (dwarf_tag(&die) == DW_TAG_structure_type &&
				    (n = dwarf_diename(&die)) && !strcmp(n, name)) {
					*out = die;
					return true;
				}
			}
		}
		off = next;
	}
	return false;
}

/* The member @name (@len bytes) of struct @st: its offset and type. */
static bool find_member(Dwarf_Die *st, const char *name, size_t len, Dwarf_Word *off,
			Dwarf_Die *type)
{
	Dwarf_Die m;
	int more;

	if (dwarf_child(st, &m))
		return false;
	for (more = 0; more == 0; more = dwarf_siblingof(&m, &m)) {
		Dwarf_Attribute a;
		const char *n;

		if (dwarf_tag(&m) != DW_TAG_member || !(n = dwarf_diename(&m)) ||
		    strlen(n) != len || memcmp(n, name, len))
			continue;
		if (!dwarf_attr(&m, DW_AT_data_member_location, &a) || dwarf_formudata(&a, off))
			return false;
		if (!dwarf_attr(&m, DW_AT_type, &a) || !dwarf_formref_die(&a, type))
			return false;
		while (dwarf_tag(type) == DW_TAG_typedef)
			if (!dwarf_attr(type, DW_AT_type, &a) || !dwarf_formref_die(&a, type))
				return false;
		return true;
	}
	return false;
}

int gobin__dwarf_offset(const struct gobin *g, const char *type, const char *field,
			uint64_t *off)
{
	Dwarf_Die st;
	uint64_t total = 0;

	if (!g->dwarf)
		return -ENODATA;
	if (!find_struct(g->dwarf, type, &st))
		return -ENOENT;
	for (const char *p = field;; p++) {
		size_t len = strcspn(p, ".");
		Dwarf_Word o;
		Dwarf_Die t;

		if (!find_member(&st, p, len, &o, &t))
			return -ENOENT;
		total += o;
		p += len;
		if (!*p)
			break;
		if (dwarf_tag(&t) != DW_TAG_structure_type)
			return -ENOENT; /* a path goes through nested structs only */
		st = t;
	}
	*off = total;
	return 0;
}

/*
 * Offsets for binaries without DWARF. Each row is read in Go's source for
 * the versions given and was checked against the DWARF of binaries built by
 * Go 1.17, 1.19 and 1.26 (tests/unit/test_gobin.c compares every row with
 * each).
 * A version outside every row's range gets nothing: a wrong offset would
 * follow the wrong pointer, so an unknown layout is refused, not guessed.
 */
static const struct known_offset {
	const char *type, *field;
	int from_minor, to_minor; /* Go 1.from .. 1.to */
	uint64_t off;
} known_offsets[] = {
	/* src/crypto/tls/conn.go: type Conn struct { conn net.Conn; ... } */
	{ "crypto/tls.Conn", "conn", 17, 26, 0 },
	/* src/runtime/runtime2.go: type iface struct { tab *itab; data unsafe.Pointer } */
	{ "runtime.iface", "data", 17, 26, 8 },
	/* src/net/tcpsock.go: type TCPConn struct { conn } */
	{ "net.TCPConn", "conn", 17, 26, 0 },
	/* src/net/net.go: type conn struct { fd *netFD } */
	{ "net.conn", "fd", 17, 26, 0 },
	/* src/net/fd_posix.go: type netFD struct { pfd poll.FD; ... } */
	{ "net.netFD", "pfd", 17, 26, 0 },
	/* src/internal/poll/fd_unix.go: type FD struct { fdmu fdMutex; Sysfd int; ...}
	 * after fdMutex { state uint64; rsema, wsema uint32 } */
	{ "internal/poll.FD", "Sysfd", 17, 26, 16 },
};

int gobin__known_offset(const struct gobin_version *v, const char *type, const char *field,
			uint64_t *off)
{
	if (v->major != 1)
		return -ENOENT;
	for (size_t i = 0; i < sizeof(known_offsets) / sizeof(known_offsets[0]); i++) {
		const struct known_offset *k = &known_offsets[i];

		if (v->minor >= k->from_minor && v->minor <= k->to_minor &&
		    !strcmp(k->type, type) && !strcmp(k->field, field)) {
			*off = k->off;
			return 0;
		}
	}
	return -ENOENT;
}

int gobin__known_offset_row(size_t i, const char **type, const char **field)
{
	if (i >= sizeof(known_offsets) / sizeof(known_offsets[0]))
		return -ENOENT;
	*type = known_offsets[i].type;
	*field = known_offsets[i].field;
	return 0;
}

int gobin__field_offset(const struct gobin *g, const char *type, const char *field,
			uint64_t *off, bool *from_dwarf)
{
	int err = gobin__dwarf_offset(g, type, field, off);

	if (from_dwarf)
		*from_dwarf = err == 0;
	if (err != -ENODATA)
		return err;
	return g->version_ok ? gobin__known_offset(&g->ver, type, field, off) : -ENOENT;
}
