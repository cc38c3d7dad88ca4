#!/usr/bin/python3
"""What each part of Sonde's kernel side costs a server's throughput.

`make bench-ablation` (not in CI). Builds Sonde variants with parts of the
kernel side switched off at compile time (-DSONDE_ABLATE_*, see the
#ifdefs in bpf/), then measures nginx (and Go with ABLATE_TARGETS=nginx,go)
under wrk exactly as `make bench` does: the server on CPU 0, wrk on CPU 1,
configurations alternated in rotated order within each round, medians of
within-round ratios. The variants are not Sonde: they trace wrongly or not
at all; they bound what a part costs, measured side by side with the full
agent and the minimal reference agent. Writes docs/ablation.md.

Knobs: ABLATE_ROUNDS (6), ABLATE_SECONDS (4), ABLATE_TARGETS (nginx).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

# name, -D flags, what is left of the kernel side
VARIANTS = [
    ("full", "", "Sonde as shipped"),
    ("no-emit", "-DSONDE_ABLATE_EMIT",
     "everything but the ring-buffer record (no span reaches user space)"),
    ("no-frame", "-DSONDE_ABLATE_FRAME",
     "no response-head judging: not copied to the scan buffer, status not read, "
     "not scanned for its end and length (responses end at the next request)"),
    ("skeleton", "-DSONDE_ABLATE_EMIT -DSONDE_ABLATE_FRAME",
     "neither: per I/O, the traced test, the socket's state, the syscall's "
     "registers, the head bytes copied into the state, the transaction's state "
     "machine and its in-flight counts"),
    ("lookup-only", "-DSONDE_ABLATE_AFTER_LOOKUP",
     "per I/O, the traced test and the socket's state lookup, then a byte count"),
]


def build(name, defs):
    """build/ablate/NAME/sonde, a full build with those BPF flags."""
    out = REPO / "build" / "ablate" / name
    log = REPO / "build" / "ablate" / f"{name}.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    # A stale object built with other flags must not be reused.
    for stale in out.glob("*.bpf.o"):
        stale.unlink()
    for stale in out.glob("*.skel.h"):
        stale.unlink()
    cmd = ["make", "-C", str(REPO), f"-j{os.cpu_count() or 2}", f"BUILD={out}",
           f"SONDE_BPF_DEFS={defs}", f"{out}/sonde"]
    with open(log, "w") as f:
        res = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if res.returncode:
        raise bench.BenchError(f"building the {name} variant failed; see {log}")
    return out / "sonde"


def measure(target_name, bins, rounds, seconds):
    tmp = Path(tempfile.mkdtemp(prefix="sonde-ablate-"))
    os.chmod(tmp, 0o755)
    make = {"nginx": lambda: bench.Nginx(tmp, 0), "go": lambda: bench.GoHello(tmp, 0)}
    target = make[target_name]()
    target.start()
    # Every binary under a name Sonde's own checks accept (a "sonde" file).
    copies = {}
    for name, path in bins.items():
        d = tmp / f"bin-{name}"
        d.mkdir()
        os.chmod(d, 0o755)
        shutil.copy2(path, d / "sonde")
        copies[name] = d / "sonde"
    confs = ["off"] + list(bins) + ["minimal"]
    runner = bench.Runner(copies["full"], tmp, seconds, 32, 1, (0, 1), 0)
    rows = {c: [] for c in confs}
    try:
        runner.wrk(target, 2)  # warm-up, not recorded
        for rnd in range(rounds):
            k = rnd % len(confs)
            for c in confs[k:] + confs[:k]:
                agent = None
                if c == "minimal":
                    agent = bench.MinimalAgent("sock", target.pids, tmp, f"m{rnd}")
                elif c != "off":
                    agent = bench.Sonde(copies[c], tmp, target.sonde_ports, f"{c}{rnd}")
                time.sleep(1)
                out = runner.wrk(target, seconds, agent)
                if agent:
                    agent.stop()
                rows[c].append({"rps": out["rps"], "srv": out["server_us_per_req"],
                                "agent": out["agent_us_per_req"] or 0.0,
                                "foreign": out["foreign_cpu_pct"], "round": rnd})
                bench.log(f"ablate {target_name} round {rnd + 1}/{rounds} {c}: "
                          f"{out['rps']:.0f} req/s, server {out['server_us_per_req']:.2f} µs/req")
    finally:
        target.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def summarize(rows):
    off = rows["off"]
    res = {}
    for c, runs in rows.items():
        ratio = [r["rps"] / o["rps"] for r, o in zip(runs, off)]
        res[c] = {
            "ratio": statistics.median(ratio),
            "vs_full": statistics.median(
                [a - b for a, b in zip(ratio, [r["rps"] / o["rps"]
                                               for r, o in zip(rows["full"], off)])]),
            "vs_min": statistics.median(
                [a - b for a, b in zip(ratio, [r["rps"] / o["rps"]
                                               for r, o in zip(rows["minimal"], off)])]),
            "extra": statistics.median([r["srv"] - o["srv"] for r, o in zip(runs, off)]),
            "agent": statistics.median([r["agent"] for r in runs]),
            "foreign": max(r["foreign"] for r in runs),
            "spread": (min(ratio), max(ratio)),
        }
    return res


def render(results, rounds, seconds, elapsed, rev):
    out = ["# What Sonde's kernel side costs, part by part", "",
           f"Generated by `make bench-ablation` (`bench/ablate.py`) on "
           f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Sonde `{rev}`, "
           f"in {elapsed / 60:.1f} minutes. One machine, one run.", "",
           "## Method", "",
           "- Sonde variants built from the same sources with parts of the kernel side "
           "compiled out (`-DSONDE_ABLATE_*`, the `#ifdef`s in `bpf/`); user space is "
           "the same. A variant is not a usable agent: it bounds what the part it lacks "
           "costs.",
           "- Same load and pinning as `make bench` (`docs/benchmarks.md`): `wrk -t1 -c32` "
           f"for {seconds}s per run on loopback, server on CPU 0, wrk on CPU 1, agents "
           f"unpinned; {rounds} rounds, each measuring every configuration once in an "
           "order rotated from round to round; a fresh agent per run.",
           "- Ratio: requests/s ÷ *Sonde not running*'s in the same round; differences "
           "are taken within a round, then the median over rounds. *Extra server CPU*: "
           "the server's utime+stime per request minus the untraced run's, in the same "
           "round. *Agent CPU*: the agent process's own CPU per request.", "",
           "| variant | what its programs do | throughput ratio (min–max) | − full Sonde | "
           "− minimal agent | extra server CPU µs/req | agent CPU µs/req | others' CPU max % |",
           "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    desc = {n: d for n, _, d in VARIANTS}
    desc["minimal"] = ("the minimal reference agent on the socket hooks (bench/minimal/): "
                       "traced test, timestamp, 64-byte head copy, a record per read")
    for target, res in results.items():
        for c in [n for n, _, _ in VARIANTS] + ["minimal"]:
            r = res[c]
            out.append(f"| {target}: {c} | {desc[c]} | {r['ratio']:.3f} "
                       f"({r['spread'][0]:.3f}–{r['spread'][1]:.3f}) | "
                       f"{r['vs_full']:+.3f} | {r['vs_min']:+.3f} | {r['extra']:.2f} | "
                       f"{r['agent']:.2f} | {r['foreign']:.0f} |")
    out += ["", "Read the rows as bounds: *skeleton* is what is left when a transaction "
            "is neither framed nor emitted; *lookup-only* is the socket-keyed state alone. "
            "The round-to-round spread of a ratio is about ±0.01–0.02 on this machine, so a "
            "single part's difference smaller than that is not resolved by one run.", ""]
    return "\n".join(out)


def main():
    if os.geteuid() != 0:
        print("bench-ablation: run as root", file=sys.stderr)
        return 1
    rounds = bench.env_int("ABLATE_ROUNDS", 6)
    seconds = bench.env_int("ABLATE_SECONDS", 4)
    targets = os.environ.get("ABLATE_TARGETS", "nginx").split(",")
    started = time.monotonic()
    bins = {}
    for name, defs, _ in VARIANTS:
        bench.log(f"ablate: building {name} {defs}")
        bins[name] = build(name, defs)
    results = {}
    for t in targets:
        results[t] = summarize(measure(t, bins, rounds, seconds))
    rev = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    text = render(results, rounds, seconds, time.monotonic() - started, rev)
    (REPO / "docs" / "ablation.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bench.BenchError as e:
        print(f"bench-ablation: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        bench.cleanup()
