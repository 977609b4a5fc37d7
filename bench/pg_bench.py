"""`make bench`'s PostgreSQL scenarios (issue 21), run by run_bench.py.

A throwaway PostgreSQL 15 (test/e2e/pg_harness.py: initdb in a temporary directory, the
`postgres` OS user under root, a port picked at run time, PostgreSQL's default durability:
fsync and synchronous_commit on) and release Tessera nodes on it:

- one node: Tessera pinned to core 0, PostgreSQL and the load generator to core 1; refresh with
  all three tokens, refresh downscoped to `aws`, the open loop at half that capacity,
  authorization_code, jwt-bearer, token exchange (as run_bench.py's SQLite scenarios drive them);
- scaling: one node, then two nodes on the same database, nothing pinned (two cores cannot give
  two nodes, PostgreSQL and the generators a core each), refresh (`aws`), one generator per node.

Per scenario: throughput, latency, Tessera's CPU per request (the generator's --server-pid
sample, summed over the nodes), PostgreSQL's CPU per request (utime + stime of the postmaster and
every backend, /proc/<pid>/stat, over the measured window) and round trips per request: the
database's transactions (pg_stat_database xact_commit + xact_rollback) over the window divided by
the requests. On the hot path every round trip is one transaction (an autocommit read, one
group commit's read pipeline, an implicit transaction up to its sync point, or its pipelined
BEGIN … COMMIT), so the two counts agree; PostgreSQL publishes a
backend's counters at most once a second, so the figure is good to a few percent over 10 s.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "e2e"))

import pg_harness  # noqa: E402

# The targets of issue 21, against the SQLite figures of the same run.
TARGET_PG_SHARE = 0.60    # refresh on PostgreSQL ≥ 60% of SQLite's throughput
TARGET_ROUND_TRIPS = 1.0  # per hot request
TARGET_TWO_NODES = 1.6    # two nodes ≥ 1.6× one node, where the database has headroom

CLK_TCK = os.sysconf("SC_CLK_TCK")
# How long after a run the transaction count is read (run_loadgens); --smoke does not wait.
SETTLE_SECONDS = 11


def available():
    return os.path.exists(os.path.join(pg_harness.PG_BIN, "initdb"))


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass  # a backend that exited
    return total / CLK_TCK


class Database:
    def __init__(self):
        self.server = pg_harness.PostgresServer()
        self.url = self.server.create_database("tessera")

    def postmaster(self):
        with open(os.path.join(self.server.data, "postmaster.pid")) as f:
            return int(f.readline())

    def pids(self):
        pm = self.postmaster()
        try:
            with open(f"/proc/{pm}/task/{pm}/children") as f:
                return [pm] + [int(p) for p in f.read().split()]
        except OSError:
            return [pm]

    def pin(self, cores):
        """Pins the postmaster and every backend; backends forked later inherit it."""
        for pid in self.pids():
            subprocess.run(["taskset", "-a", "-p", "-c", cores, str(pid)], check=False,
                           capture_output=True)

    def transactions(self):
        return int(self.server.sql("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                                   "WHERE datname = 'tessera'"))

    def stop(self):
        self.server.stop()


class Node:
    """One `tessera serve` on the database; the first one configures it (--demo, --bootstrap)."""

    def __init__(self, bench, db, workdir, name, cores, first, issuer_port):
        self.port = bench.free_port()
        self.bench = bench
        args = ["taskset", "-c", cores, bench.TESSERA, "serve", "--listen",
                f"127.0.0.1:{self.port}", "--db", db.url, "--allow-insecure-loopback-issuers"]
        if first:
            path = os.path.join(workdir, "bootstrap.json")
            with open(path, "w") as f:
                json.dump(bench.bootstrap(issuer_port), f)
            args += ["--demo", "--bootstrap", path]
        self.proc = bench.start_server(args, os.path.join(workdir, f"{name}.log"),
                                       bench.tessera_env())
        time.sleep(0.5)

    def stop(self):
        self.bench.stop_process(self.proc)


def run_loadgens(bench, db, jobs, warmup, results):
    """Runs one generator per (args, core) in `jobs` at once and samples PostgreSQL over the
    measured window: from `warmup` seconds after the last generator finished its setup to the
    last one's exit. Returns the generators' JSON results and the database's CPU seconds and
    transactions in the window."""
    procs = []
    for i, (args, core) in enumerate(jobs):
        out = f"{results}.{i}"
        if os.path.exists(out):
            os.remove(out)
        cmd = (["taskset", "-c", core] if core else []) + [bench.LOADGEN, "--json-out", out] + args
        procs.append((subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True), out, cmd))
    for proc, _, cmd in procs:
        for line in proc.stderr:
            if "loadgen: running" in line:
                break
        else:
            proc.wait()
            raise RuntimeError(f"loadgen failed in setup: {' '.join(cmd)}")
    time.sleep(float(warmup))
    pids = db.pids()
    cpu0, tx0 = cpu_seconds(pids), db.transactions()
    outs = []
    for proc, out, cmd in procs:
        stdout, stderr = proc.communicate()
        sys.stdout.write(stdout)
        if proc.returncode not in (0, 3):
            sys.stdout.write(stderr)
            raise RuntimeError(f"loadgen failed ({proc.returncode}): {' '.join(cmd)}")
        with open(out) as f:
            outs.append(json.loads(f.read().strip().splitlines()[-1]))
        with open(results, "a") as f:
            f.write(json.dumps(outs[-1]) + "\n")
    # PostgreSQL publishes a busy backend's statistics at most once a second and an idle one's
    # after 10 s: wait for both, so the window's last transactions are counted.
    time.sleep(SETTLE_SECONDS)
    return outs, cpu_seconds(pids) - cpu0, db.transactions() - tx0


def combine(label, outs, pg_cpu, transactions):
    """One row from the generators that ran together (one per node)."""
    done = [o["ok"] + sum(o["errors"].values()) for o in outs]
    completed = sum(done)
    row = {
        "label": label,
        "throughput": sum(o["throughput"] for o in outs),
        # Latency percentiles of the busiest generator (they agree closely when balanced).
        "p50_ms": max(o["p50_ms"] for o in outs),
        "p99_ms": max(o["p99_ms"] for o in outs),
        "errors": {k: v for o in outs for k, v in o["errors"].items()},
        "ok": sum(o["ok"] for o in outs),
        # Every node's CPU over every node's requests.
        "cpu_us_per_request": sum(o["cpu_us_per_request"] * n for o, n in zip(outs, done)) /
        completed if completed else 0,
        "pg_cpu_us_per_request": pg_cpu * 1e6 / completed if completed else 0,
        "round_trips_per_request": transactions / completed if completed else 0,
        "peak_rss_mb": max(o.get("peak_rss_mb", 0) for o in outs),
    }
    return row


def run(bench, opts, seconds, warmup, users, results):
    """All PostgreSQL scenarios; returns {key: row}."""
    global SETTLE_SECONDS
    if opts.smoke:
        SETTLE_SECONDS = 0.1
    runs = {}
    db = Database()
    workdir = tempfile.mkdtemp(prefix="tessera-bench-pg-", dir=bench.OUT)
    issuer_port = bench.free_port()
    nodes = []
    try:
        print(f"== PostgreSQL 15 on port {db.server.port} ({db.server.dir}), pinned to core 1 "
              "with the load generator; Tessera on core 0", flush=True)
        db.pin("1")
        nodes.append(Node(bench, db, workdir, "node1", "0", True, issuer_port))
        common = ["--port", str(nodes[0].port), "--key-id", bench.KEY_ID, "--secret",
                  bench.SECRET, "--password", bench.PASSWORD, "--server-pid",
                  str(nodes[0].proc.pid), "--warmup", warmup]
        demo = ["--application-arn", bench.DEMO_APP, "--redirect-uri", bench.DEMO_REDIRECT]
        closed = ["--concurrency", str(users), "--duration", str(seconds)]

        def one(key, label, args, sample_after=warmup):
            # The generator idles SETTLE_SECONDS after its setup (sign-ins, codes, source
            # tokens), so the setup's transactions, published late, fall before the window.
            outs, pg_cpu, tx = run_loadgens(
                bench, db, [(common + args + ["--settle", str(SETTLE_SECONDS), "--label", label],
                             "1")], sample_after, results)
            runs[key] = combine(label, outs, pg_cpu, tx)

        # A fixed number of requests, all measured (as the SQLite run's: a warmup could outlast
        # them all and leave nothing measured), so the database is sampled from their start too
        # (it was sampled from --warmup on, which left the first second's transactions out):
        # every request's transactions over every request.
        fixed = ["--warmup", "0", "--duration", "600"]

        one("pg_refresh_full", "PostgreSQL: refresh (openid aws sts:identity_context)",
            demo + closed + ["--scenario", "refresh"])
        one("pg_refresh_aws", "PostgreSQL: refresh (aws)",
            demo + closed + ["--scenario", "refresh", "--scope", "aws"])
        half = max(50, int(runs["pg_refresh_aws"]["throughput"] / 2))
        one("pg_refresh_half", f"PostgreSQL: refresh (aws), open loop {half}/s (half of capacity)",
            demo + ["--scenario", "refresh", "--scope", "aws", "--rate", str(half),
                    "--concurrency", str(users), "--duration", str(seconds)])
        n_code = 100 if opts.smoke else 4000 if opts.quick else 20000
        one("pg_code", "PostgreSQL: authorization_code",
            demo + ["--scenario", "code", "--requests", str(n_code), "--concurrency",
                    str(users)] + fixed, sample_after=0)
        n_jwt = 100 if opts.smoke else 3000 if opts.quick else 15000
        one("pg_jwt", "PostgreSQL: jwt-bearer (RS256 assertion)",
            ["--scenario", "jwt", "--application-arn", bench.JWT_APP, "--issuer-port",
             str(issuer_port), "--jwt-audience", bench.JWT_AUDIENCE, "--jwt-email",
             bench.JWT_EMAIL, "--requests", str(n_jwt), "--concurrency", str(users)] + fixed,
            sample_after=0)
        one("pg_exchange", "PostgreSQL: token exchange",
            closed + ["--scenario", "exchange", "--application-arn", bench.TX_SOURCE,
                      "--redirect-uri", bench.TX_REDIRECT, "--exchange-target-arn",
                      bench.TX_TARGET])

        # Scaling: nothing pinned, one node and then two on the same database.
        print("== PostgreSQL scaling: nodes, PostgreSQL and generators share both cores",
              flush=True)
        db.pin("0,1")
        nodes.append(Node(bench, db, workdir, "node2", "0,1", False, issuer_port))
        for proc in (nodes[0].proc,):
            subprocess.run(["taskset", "-a", "-p", "-c", "0,1", str(proc.pid)], check=False,
                           capture_output=True)
        refresh = demo + ["--scenario", "refresh", "--scope", "aws", "--duration", str(seconds)]

        def node_args(node, concurrency):
            return ["--port", str(node.port), "--key-id", bench.KEY_ID, "--secret", bench.SECRET,
                    "--password", bench.PASSWORD, "--server-pid", str(node.proc.pid),
                    "--warmup", warmup, "--concurrency", str(concurrency)] + refresh

        label = "PostgreSQL: refresh (aws), 1 node, unpinned"
        outs, pg_cpu, tx = run_loadgens(bench, db, [(node_args(nodes[0], users) +
                                                     ["--label", label], None)], warmup, results)
        runs["pg_scale_1"] = combine(label, outs, pg_cpu, tx)
        label = "PostgreSQL: refresh (aws), 2 nodes, unpinned"
        outs, pg_cpu, tx = run_loadgens(
            bench, db, [(node_args(n, users // 2) + ["--label", f"{label} (node {i + 1})"], None)
                        for i, n in enumerate(nodes)], warmup, results)
        runs["pg_scale_2"] = combine(label, outs, pg_cpu, tx)
    finally:
        for node in nodes:
            node.stop()
        db.stop()
        if not opts.smoke:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)
    return runs


def render(runs, sqlite_runs):
    """The PostgreSQL table, against the SQLite figures of the same run where there are any."""
    lines = ["PostgreSQL 15 (PostgreSQL's defaults: fsync and synchronous_commit on; one database "
             "on the same disk). One node: Tessera on core 0, PostgreSQL and the load generator "
             "on core 1. Scaling rows: nothing pinned.", "",
             "| scenario | req/s | p50 ms | p99 ms | errors | Tessera CPU µs/req | PostgreSQL CPU "
             "µs/req | round trips/req | vs SQLite (same run) | target | met |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    yes = lambda ok: "yes" if ok else "**no**"  # noqa: E731

    def row(key, sqlite_key, target, met):
        r = runs.get(key)
        if not r:
            return
        s = sqlite_runs.get(sqlite_key) if sqlite_key else None
        share = f"{r['throughput'] / s['throughput']:.0%} of {s['throughput']:,.0f}/s" \
            if s and s["throughput"] else "–"
        lines.append(f"| {r['label']} | {r['throughput']:,.0f} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {sum(r['errors'].values())} | "
                     f"{r['cpu_us_per_request']:.0f} | {r['pg_cpu_us_per_request']:.0f} | "
                     f"{r['round_trips_per_request']:.2f} | {share} | {target} | {met(r, s)} |")

    share_met = lambda r, s: (yes(r["throughput"] >= TARGET_PG_SHARE * s["throughput"])  # noqa
                              if s else "–") + " / " + yes(
        r["round_trips_per_request"] <= TARGET_ROUND_TRIPS + 0.05)
    trips_met = lambda r, s: yes(r["round_trips_per_request"] <= TARGET_ROUND_TRIPS + 0.05)  # noqa
    share_text = f"≥ {TARGET_PG_SHARE:.0%} of SQLite, ≤ {TARGET_ROUND_TRIPS:.0f} round trip"
    row("pg_refresh_full", "refresh_full", share_text, share_met)
    row("pg_refresh_aws", "refresh_aws", share_text, share_met)
    row("pg_refresh_half", None, f"≤ {TARGET_ROUND_TRIPS:.0f} round trip", trips_met)
    trips_text = f"≤ {TARGET_ROUND_TRIPS:.0f} round trip"
    row("pg_code", "code", trips_text, trips_met)
    row("pg_jwt", "jwt", share_text, share_met)
    row("pg_exchange", "exchange", trips_text, trips_met)
    row("pg_scale_1", None, "–", lambda r, s: "–")
    one, two = runs.get("pg_scale_1"), runs.get("pg_scale_2")
    row("pg_scale_2", None, f"≥ {TARGET_TWO_NODES}× 1 node",
        lambda r, s: yes(one and r["throughput"] >= TARGET_TWO_NODES * one["throughput"]) +
        (f" ({r['throughput'] / one['throughput']:.2f}×)" if one and one["throughput"] else ""))
    if one and two:
        lines += ["", f"Two nodes / one node: {two['throughput'] / one['throughput']:.2f}× "
                  f"(CPU per request: Tessera {one['cpu_us_per_request']:.0f} → "
                  f"{two['cpu_us_per_request']:.0f} µs, PostgreSQL "
                  f"{one['pg_cpu_us_per_request']:.0f} → {two['pg_cpu_us_per_request']:.0f} µs). "
                  "On two cores the nodes, PostgreSQL and the generators share the same two "
                  "cores, so a second node adds no CPU: what the ratio shows is the cost of "
                  "splitting the load, not the database's headroom."]
    return "\n".join(lines) + "\n"
