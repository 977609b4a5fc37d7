#!/usr/bin/env python3
"""Instructions per request, before and after: a cost comparison that the machine's load cannot
disturb.

The development machine is a 2-vCPU VM whose speed drifts by tens of percent within minutes and
which has no hardware performance counters (`perf stat -e instructions` is "not supported"), so
a change that costs 2% is invisible to the timed A/B of compare.py. This script runs the server
under valgrind's callgrind, which counts the instructions it executes exactly whatever else runs
beside it, and serves the same scenario twice per build: N1 and then N2 requests after the same
setup (server start, bootstrap, the generator's sign-in and chains). The difference of the two
totals divided by N2 - N1 is the instructions per request, with the setup cancelled out:

    python3 bench/instructions.py --baseline DIR [--current DIR] [--scenario refresh-aws ...]

DIR holds a build's `tessera` and `tessera-loadgen` (as for compare.py). Needs valgrind
(`apt-get install valgrind`). Under callgrind the server is about 50 times slower, so each run
is a few hundred requests at a concurrency of 8; a scenario takes about a minute per build.

What it does not show: time. Instructions are not cycles (cache misses, lock contention,
system calls' kernel side, the disk's flush are not counted: valgrind counts user-space
instructions only); a group commit's batch size depends on timing, so the write's share per
request moves a little between runs (the repeat column shows how much). Use it beside the timed
figures, not instead of them.
"""
import argparse
import glob
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as rb  # noqa: E402  (the same server set-up and generator as make bench)

SCENARIOS = {
    "refresh-aws": lambda: ["--scenario", "refresh", "--scope", "aws",
                            "--application-arn", rb.DEMO_APP, "--redirect-uri", rb.DEMO_REDIRECT],
    "refresh-full": lambda: ["--scenario", "refresh", "--application-arn", rb.DEMO_APP,
                             "--redirect-uri", rb.DEMO_REDIRECT],
    "client-refresh": lambda: ["--scenario", "client-refresh"],
    "device-poll": lambda: ["--scenario", "device-poll", "--start-url", rb.DEMO_START_URL,
                            "--device-codes", "2000", "--rate", "100000"],
}


def total_instructions(out_dir):
    """The `summary:` (or `totals:`) line of every callgrind output of one server run."""
    total = 0
    for path in glob.glob(os.path.join(out_dir, "callgrind.*.out")):
        with open(path) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    total = max(total, int(line.split()[1]))
    return total


def run_once(bin_dir, scenario, requests, work):
    """Starts the build's server under callgrind, serves `requests` of the scenario, stops it;
    returns the instructions the whole run executed."""
    run_dir = tempfile.mkdtemp(prefix=f"{scenario}-{requests}-", dir=work)
    wrapper = os.path.join(run_dir, "tessera")
    # run_bench starts `taskset -c CORE TESSERA serve ...`: the wrapper puts callgrind under
    # the server only (the other commands, e.g. `account add`, and `serve --help`, which
    # run_bench reads for the flags a build has, run as they are).
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                f'if [ "$1" = serve ] && [ "$2" != --help ]; then '
                f'exec valgrind --tool=callgrind --quiet '
                f'--callgrind-out-file={run_dir}/callgrind.%p.out '
                f'{bin_dir}/tessera "$@"; fi\n'
                f'exec {bin_dir}/tessera "$@"\n')
    os.chmod(wrapper, 0o755)
    rb.TESSERA = wrapper
    rb.LOADGEN = os.path.join(bin_dir, "tessera-loadgen")
    server = rb.Tessera(run_dir, rb.free_port(), 0,
                        ["--device-authorizations-per-minute", "10000000",
                         "--client-registrations-per-minute", "1000"])
    try:
        common = ["--port", str(server.port), "--key-id", rb.KEY_ID, "--secret", rb.SECRET,
                  "--password", rb.PASSWORD, "--server-pid", str(server.proc.pid),
                  "--warmup", "0", "--requests", str(requests), "--duration", "900",
                  "--concurrency", "8", "--label", scenario]
        result = rb.loadgen(common + SCENARIOS[scenario](), 1,
                            os.path.join(run_dir, "loadgen.jsonl"))
    finally:
        server.stop()
    if result.get("errors"):
        sys.exit(f"instructions: {scenario} had errors; see {run_dir}/server.log")
    for _ in range(50):  # callgrind writes its file as the process exits
        total = total_instructions(run_dir)
        if total:
            return total
        time.sleep(0.2)
    sys.exit(f"instructions: no callgrind output in {run_dir}")


def per_request(bin_dir, scenario, n1, n2, work):
    cost = (run_once(bin_dir, scenario, n2, work) - run_once(bin_dir, scenario, n1, work)) / (
        n2 - n1)
    # More requests cannot take fewer instructions: a non-positive difference means the runs did
    # not serve what they were asked to (or the setup differed between them).
    if cost <= 0:
        sys.exit(f"instructions: {scenario} gave {cost:,.0f} instructions per request")
    return cost


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", required=True, help="directory of the baseline's binaries")
    ap.add_argument("--current", default=rb.BUILD, help="directory of the current binaries")
    ap.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                    help="repeatable; default: every scenario")
    ap.add_argument("--requests", type=int, nargs=2, default=[200, 1200], metavar=("N1", "N2"))
    ap.add_argument("--repeat", type=int, default=1, help="runs per build and scenario")
    opts = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("instructions: needs valgrind (apt-get install valgrind)")
    work = tempfile.mkdtemp(prefix="tessera-instructions-")
    n1, n2 = opts.requests
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; instructions per request "
          f"(callgrind, ({n2} - {n1} requests) of one scenario, concurrency 8)\n")
    print("| scenario | baseline | current | change |")
    print("|---|---|---|---|")
    for scenario in opts.scenario or list(SCENARIOS):
        sides = {}
        for name, bin_dir in (("baseline", opts.baseline), ("current", opts.current)):
            sides[name] = [per_request(bin_dir, scenario, n1, n2, work)
                           for _ in range(opts.repeat)]
        base = sum(sides["baseline"]) / len(sides["baseline"])
        cur = sum(sides["current"]) / len(sides["current"])
        cells = {k: " / ".join(f"{v:,.0f}" for v in runs) for k, runs in sides.items()}
        print(f"| {scenario} | {cells['baseline']} | {cells['current']} | "
              f"{(cur - base) / base * 100:+.1f}% |", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
