#!/usr/bin/env python3
"""Before and after, side by side: the load scenarios of run_bench.py for a baseline build and the
current one, alternated round by round so that both sides see the same machine.

The development machine is a VM whose speed drifts by tens of percent within minutes (the peer,
whose code never changes, measured 604 and 852 µs per refresh in two runs an hour apart). Two
`make bench` runs made one after the other therefore compare the machine as much as the code;
alternating the sides and reading several rounds separates the two.

    python3 bench/compare.py --baseline DIR [--rounds 3] [--quick]

DIR holds the baseline's `tessera` and `tessera-loadgen` (for example build/release of a git
worktree checked out at the commit to compare with). The current side is build/release, or
--current DIR. Each
round runs the baseline, then the current build, each with `run_bench.py --skip-micro
--skip-peer`, and the table lists every round's figures per scenario plus each side's best (the
run the machine disturbed least) and median. Results go to build/bench-compare/ (or
TS_COMPARE_OUT).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.environ.get("TS_COMPARE_OUT") or os.path.join(ROOT, "build", "bench-compare")
CURRENT = os.path.join(ROOT, "build", "release")
# The scenarios of run_bench.py, in its order. The registered clients' two (client_refresh,
# device_poll) need a baseline that has RegisterClient (issue 22) and its rate-limit flags; the
# access portal's two (issue 19) are left out of a baseline that has no portal.
SCENARIOS = ["refresh_full", "refresh_aws", "refresh_open", "refresh_half", "code", "jwt",
             "exchange", "client_refresh", "device_poll", "get_role_credentials",
             "list_account_roles"]
NEWER = {"get_role_credentials", "list_account_roles"}


def run_side(name, bin_dir, round_no, extra):
    out = os.path.join(OUT, f"{name}-{round_no}")
    env = dict(os.environ, TS_BENCH_OUT=out,
               TESSERA_BIN=os.path.join(bin_dir, "tessera"),
               TESSERA_LOADGEN=os.path.join(bin_dir, "tessera-loadgen"))
    print(f"== round {round_no}: {name} ({bin_dir})", flush=True)
    log = os.path.join(OUT, f"{name}-{round_no}.log")
    with open(log, "w") as f:
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run_bench.py"),
                               "--skip-micro", "--skip-peer", "--skip-pg"] + extra,
                              stdout=f, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        sys.exit(f"compare: run_bench.py failed for {name} in round {round_no}; see {log}")
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


def cell(runs):
    """Every round's throughput and CPU per request, then the best and the median CPU."""
    cpu = [r["cpu_us_per_request"] for r in runs]
    rounds = " / ".join(f"{r['throughput']:,.0f}/s {r['cpu_us_per_request']:.1f} µs"
                        for r in runs)
    return f"{rounds}; best {min(cpu):.1f}, median {statistics.median(cpu):.1f} µs"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", required=True,
                    help="folder with the baseline's tessera and tessera-loadgen")
    ap.add_argument("--current", default=CURRENT,
                    help="folder with the current build's binaries (default build/release)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="run_bench.py --quick (short runs)")
    ap.add_argument("--smoke", action="store_true",
                    help="run_bench.py --smoke: checks the tooling, measures nothing")
    opts = ap.parse_args()
    if opts.rounds < 1:
        sys.exit("compare: --rounds must be at least 1")
    for side in (opts.baseline, opts.current):
        for binary in ("tessera", "tessera-loadgen"):
            if not os.access(os.path.join(side, binary), os.X_OK):
                sys.exit(f"compare: {os.path.join(side, binary)} is missing")
    os.makedirs(OUT, exist_ok=True)
    extra = ["--smoke"] if opts.smoke else ["--quick"] if opts.quick else []
    sides = {"baseline": [], "current": []}
    for round_no in range(1, opts.rounds + 1):
        sides["baseline"].append(run_side("baseline", opts.baseline, round_no, extra))
        sides["current"].append(run_side("current", opts.current, round_no, extra))

    machine = sides["current"][0]["machine"]
    lines = [f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['os']}, kernel "
             f"{machine['kernel']}; current commit {machine['commit']}, baseline "
             f"{opts.baseline}; {opts.rounds} rounds, baseline first in each, "
             f"{machine['date']}.", "",
             "| scenario | baseline: rounds; best, median | current: rounds; best, median |",
             "|---|---|---|"]
    for key in SCENARIOS:
        before = [s["runs"][key] for s in sides["baseline"] if key in s["runs"]]
        after = [s["runs"][key] for s in sides["current"] if key in s["runs"]]
        if key in NEWER and not before and len(after) == opts.rounds:
            lines.append(f"| {after[0]['label']} | – (not in the baseline) | {cell(after)} |")
            continue
        if len(before) != opts.rounds or len(after) != opts.rounds:
            sys.exit(f"compare: scenario {key} is missing from some rounds' results")
        lines.append(f"| {after[0]['label']} | {cell(before)} | {cell(after)} |")
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    with open(os.path.join(OUT, "table.md"), "w") as f:
        f.write(table)


if __name__ == "__main__":
    main()
