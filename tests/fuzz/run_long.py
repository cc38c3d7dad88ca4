#!/usr/bin/python3
"""`make fuzz-long`: each libFuzzer target until --runs executions or
--seconds, whichever comes first, one after the other; writes a report of
executions, time and crashes per target (libFuzzer's final stats).

A target counts a crash when libFuzzer stops on one (exit status not 0, or a
crash-/leak-/timeout-/oom- artifact written during the run); its log and
artifact stay in <build>/crashes-<target>/."""
import argparse
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What each target feeds, for the report.
WHAT = {
    "fuzz_http1": "HTTP/1 request/response decoder (src/decode/http1.c)",
    "fuzz_traceparent": "W3C traceparent parser (src/model/traceparent.c)",
    "fuzz_utf8": "UTF-8 validation/sanitizing, route table (src/util/utf8.c, src/model/route.c)",
    "fuzz_elf": "ELF inspection of target executables, from a memfd and from memory "
                "(src/util/elf_inspect.c, libelf)",
    "fuzz_proc": "/proc text parsers: status ids/groups, environ, net/tcp lines "
                 "(src/util/proc_parse.c)",
    "fuzz_config": "configuration files: YAML loading, option table, finish and print back "
                   "(src/config_file.c, src/config.c)",
    "fuzz_postgres": "PostgreSQL client-side decoder (src/decode/postgres.c, sql.c)",
    "fuzz_mysql": "MySQL/MariaDB client-side decoder (src/decode/mysql.c, sql.c)",
}


NOTES = [
    "`fuzz_elf` checks that the descriptor path (what the agent runs, `elf_begin` on a "
    "memfd) and the memory path agree, and that a \"Go\" answer has a Go section name in "
    "the bytes. libelf is the system's, not instrumented: coverage guidance sees Sonde's "
    "side only (hence the small corpus), and ASan checks libelf's reads only where they go "
    "through intercepted calls (memcpy and the like); a crash or a hang inside libelf "
    "still stops the run.",
    "`fuzz_proc` reads each input as a `/proc/PID/status`, an `environ` block and "
    "`/proc/net/tcp` lines at once; what it returns must come from the input (a value found is in it, counts stay in bounds, a listener line carries the LISTEN state).",
]


def seeds_of(target):
    d = REPO / "tests" / "fuzz" / "seeds" / target
    if d.is_dir():
        return [str(d)]
    if target == "fuzz_http1":
        return [str(REPO / "tests" / "golden" / "http1")]
    if target in ("fuzz_postgres", "fuzz_mysql"):
        return [str(REPO / "tests" / "golden" / "db")]
    return []


def stat(text, key):
    m = re.search(rf"^stat::{key}:\s*(\d+)", text, re.M)
    return int(m.group(1)) if m else None


def run(build, target, seconds, runs):
    corpus = build / f"corpus-{target}"
    crashes = build / f"crashes-{target}"
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    before = set(os.listdir(crashes))
    log = crashes / "last-run.log"
    cmd = [str(build / target), f"-runs={runs}", f"-max_total_time={seconds}",
           "-print_final_stats=1", f"-artifact_prefix={crashes}/", str(corpus), *seeds_of(target)]
    print(f"== {target}: {' '.join(cmd)}", flush=True)
    t0 = time.monotonic()
    with open(log, "w") as lf:
        rc = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT).returncode
    elapsed = time.monotonic() - t0
    text = log.read_text(errors="replace")
    new = sorted(f for f in set(os.listdir(crashes)) - before
                 if f.startswith(("crash-", "leak-", "timeout-", "oom-")))
    execs = stat(text, "number_of_executed_units") or 0
    res = {
        "target": target, "rc": rc, "seconds": elapsed, "execs": execs,
        "rate": stat(text, "average_exec_per_sec") or 0,
        "new_units": stat(text, "new_units_added") or 0,
        "rss_mb": stat(text, "peak_rss_mb") or 0,
        "corpus": len(os.listdir(corpus)),
        "crashes": len(new) if new else (1 if rc != 0 else 0),
        "artifacts": new,
    }
    print(f"   {execs} execs in {elapsed:.0f}s, rc={rc}, crashes={res['crashes']}", flush=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--seconds", type=int, required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("targets", nargs="+")
    a = ap.parse_args()
    build = Path(a.build)
    started = datetime.now(timezone.utc)
    results = [run(build, t, a.seconds, a.runs) for t in a.targets]
    version = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                             capture_output=True, text=True).stdout.strip() or "unknown"
    total = sum(r["seconds"] for r in results)
    lines = [
        "# Fuzzing",
        "",
        "CI runs every target in tests/fuzz for a short time (`make fuzz`, FUZZ_SECONDS=20). "
        "Beyond CI, `make fuzz-long` runs each one until FUZZ_LONG_RUNS executions "
        f"(default 10M) or FUZZ_LONG_SECONDS (default 600), whichever comes first, "
        "with ASan and UBSan, and writes this file (tests/fuzz/run_long.py). Corpora "
        "persist in build/fuzz/corpus-<target>; crash artifacts and the last log in "
        "build/fuzz/crashes-<target>.",
        "",
        f"Last run: {started:%Y-%m-%d %H:%M} UTC, Sonde `{version}`, "
        f"`-runs={a.runs} -max_total_time={a.seconds}`, one target at a time on a "
        f"{os.cpu_count()}-CPU machine shared with other work; {total / 60:.1f} minutes in all.",
        "",
        "| target | what it feeds | executions | time (s) | execs/s | corpus | crashes |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| `{r['target']}` | {WHAT.get(r['target'], '')} | {r['execs']:,} | "
                     f"{r['seconds']:.0f} | {r['rate']:,} | {r['corpus']} | {r['crashes']} |")
    lines.append("")
    short = [r for r in results if r["execs"] < a.runs and not r["crashes"]]
    crashed = [r for r in results if r["crashes"]]
    if crashed:
        for r in crashed:
            lines.append(f"- `{r['target']}` stopped on a crash (exit {r['rc']}): "
                         f"{', '.join(r['artifacts']) or 'see its log'}.")
    if short:
        lines.append("- Below the execution goal within the time limit: " +
                     ", ".join(f"`{r['target']}` ({r['execs']:,})" for r in short) + ".")
    if not crashed and not short:
        lines.append(f"Every target reached {a.runs:,} executions without a crash.")
    lines += ["", "Notes:", ""] + [f"- {n}" for n in NOTES]
    lines.append("")
    Path(a.report).write_text("\n".join(lines))
    print(f"report: {a.report}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
