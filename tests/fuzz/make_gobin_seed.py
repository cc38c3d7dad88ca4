#!/usr/bin/python3
"""Writes tests/fuzz/seeds/fuzz_gobin/tiny_go: a small static ELF executable with the
sections the Go binary inspection reads (src/gobin/), laid out as Go 1.20+
writes them: a .go.buildinfo (inline version and module text), a .gopclntab
with one function, main.main, whose code in .text is one RET; and C DWARF
(-g). A real Go binary is megabytes; this gives the fuzzer every structure
in a few KiB. Needs gcc and objcopy."""
import pathlib
import struct
import subprocess
import tempfile

OUT = pathlib.Path(__file__).resolve().parent / "seeds" / "fuzz_gobin" / "tiny_go"


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def buildinfo():
    head = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16)
    version = b"go1.26.8"
    mod = b"path\tcommand-line-arguments\nbuild\tGOARCH=amd64\nbuild\t-ldflags=\"-s -w\"\n"
    mod = bytes(16) + mod + bytes(16)
    return head + uvarint(len(version)) + version + uvarint(len(mod)) + mod


def pclntab():
    names = b"main.main\x00"
    hdr_len = 8 + 8 * 8
    funcname = hdr_len
    pcln = funcname + len(names)
    pcln += (-pcln) % 8
    # pcHeader: magic, pad, pad, minLC, ptrSize, then nfunc, nfiles, textStart,
    # funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset
    hdr = struct.pack("<IBBBB", 0xfffffff1, 0, 0, 1, 8)
    hdr += struct.pack("<8Q", 1, 0, 0, funcname, 0, 0, 0, pcln)
    body = names + bytes((-(funcname + len(names))) % 8)
    functab = struct.pack("<4I", 0, 16, 1, 0)  # main.main at 0, then the end at 1
    func = struct.pack("<Ii", 0, 0)  # entryOff, nameOff
    return hdr + body + functab + func


def main():
    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        (d / "t.c").write_text("struct FD { long fdmu[2]; long Sysfd; } fd;\nvoid f(void) {}\n")
        # Linked (a relocatable object's DWARF needs relocations libdw does
        # not apply), no C library, entry at the one function.
        subprocess.run(["gcc", "-g", "-O2", "-fcf-protection=none", "-nostdlib", "-static",
                        "-Wl,-e,f", "-Wl,--build-id=none", str(d / "t.c"), "-o", str(d / "t.o")],
                       check=True)
        (d / "bi").write_bytes(buildinfo())
        (d / "pc").write_bytes(pclntab())
        OUT.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["objcopy", "--add-section", f".go.buildinfo={d / 'bi'}",
                        "--add-section", f".gopclntab={d / 'pc'}", str(d / "t.o"), str(OUT)],
                       check=True)


if __name__ == "__main__":
    main()
