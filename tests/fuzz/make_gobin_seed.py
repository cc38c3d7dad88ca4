#!/usr/bin/python3
"""Writes tests/fuzz/seeds/fuzz_gobin/tiny_go: a small static ELF executable with the
sections the Go binary inspection reads (src/gobin/), laid out as Go 1.20+
writes them: a .go.buildinfo (inline version and module text), a .gopclntab
with one function, main.main, whose code in .text is one RET; and C DWARF
(-g). And tiny_go117, the same laid out as Go 1.17 writes them: the build
information pointing at the runtime's strings, the older symbol table. A
real Go binary is megabytes; this gives the fuzzer every structure in a few
KiB. Needs gcc, nm and objcopy."""
import pathlib
import struct
import subprocess
import tempfile

OUT = pathlib.Path(__file__).resolve().parent / "seeds" / "fuzz_gobin" / "tiny_go"
OUT117 = OUT.with_name("tiny_go117")


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


def pclntab(old=False, entry=0):
    """Go 1.20+'s layout, or with @old Go 1.16-1.17's: no textStart word,
    pointer-sized function table pairs holding addresses (main.main at
    @entry), a _func that starts with its entry."""
    names = b"main.main\x00"
    nwords = 7 if old else 8
    funcname = 8 + nwords * 8
    pcln = funcname + len(names)
    pcln += (-pcln) % 8
    # pcHeader: magic, pad, pad, minLC, ptrSize, then nfunc, nfiles, textStart
    # (not before 1.18), funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset
    words = [1, 0] + ([] if old else [0]) + [funcname, 0, 0, 0, pcln]
    hdr = struct.pack("<IBBBB", 0xfffffffa if old else 0xfffffff1, 0, 0, 1, 8)
    hdr += struct.pack(f"<{nwords}Q", *words)
    body = names + bytes(pcln - funcname - len(names))
    if old:
        functab = struct.pack("<4Q", entry, 32, entry + 1, 0)  # main.main, then the end
        func = struct.pack("<Qi", entry, 0) + bytes(4)  # entry, nameOff
    else:
        functab = struct.pack("<4I", 0, 16, 1, 0)  # main.main at 0, then the end at 1
        func = struct.pack("<Ii", 0, 0)  # entryOff, nameOff
    return hdr + body + functab + func


# Go 1.17's build information: pointers to the Go strings (data, length) of
# the version and module text, which the linker lays out here.
C117 = r"""struct gostr { const char *p; long n; };
static const char version[] = "go1.17.13";
static const char mod[] = "0123456789abcdefpath\tcommand-line-arguments\n0123456789abcdef";
static const struct gostr buildversion = { version, sizeof(version) - 1 };
static const struct gostr modinfo = { mod, sizeof(mod) - 1 };
struct buildinfo { char magic[14]; unsigned char ptrsize, flags; const struct gostr *v, *m; };
__attribute__((section(".go.buildinfo"), used)) const struct buildinfo bi = {
	"\xff Go buildinf:", 8, 0, &buildversion, &modinfo };
"""


def build(d, out, extra_c, sections):
    """Link the C (DWARF of a struct FD, the one function f) and add @sections,
    made by a function of f's address."""
    (d / "t.c").write_text("struct FD { long fdmu[2]; long Sysfd; } fd;\nvoid f(void) {}\n" +
                           extra_c)
    # Linked (a relocatable object's DWARF needs relocations libdw does
    # not apply), no C library, entry at the one function.
    subprocess.run(["gcc", "-g", "-O2", "-fcf-protection=none", "-nostdlib", "-static",
                    "-Wl,-e,f", "-Wl,--build-id=none", str(d / "t.c"), "-o", str(d / "t.o")],
                   check=True)
    nm = subprocess.run(["nm", str(d / "t.o")], check=True, capture_output=True, text=True)
    entry = next(int(l.split()[0], 16) for l in nm.stdout.splitlines() if l.endswith(" T f"))
    args = []
    for name, make in sections.items():
        (d / name).write_bytes(make(entry))
        args += ["--add-section", f"{name}={d / name}"]
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["objcopy", *args, str(d / "t.o"), str(out)], check=True)


def main():
    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        build(d, OUT, "", {".go.buildinfo": lambda _: buildinfo(), ".gopclntab": lambda _: pclntab()})
        build(d, OUT117, C117, {".gopclntab": lambda entry: pclntab(True, entry)})


if __name__ == "__main__":
    main()
