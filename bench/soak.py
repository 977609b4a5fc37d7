#!/usr/bin/env python3
"""`make soak`: Tessera under a steady mixed load for a long time (issue 23; RELIABILITY.md "Soak").

A release Tessera on an on-disk SQLite database (pinned to core 0, as in `make bench`) gets, for
--seconds (SOAK_SECONDS, default 1800), rounds of --round seconds. In each round, at once:
refresh_token, authorization_code and jwt-bearer grants from build/release/tessera-loadgen (core
1, open loop, 60/20/20 % of the grants, their rates chosen so that their cost, each weighed
against a refresh's (COST), is half the refresh capacity measured at the start), and
admin-plane calls from this script (SigV4 by botocore: create a user, read it, list, delete it).
After each round one CSV row: elapsed seconds, server RSS, database size (file + WAL), each
scenario's p99 and throughput, the admin calls' p99, and errors.

The trend rule (written down in RELIABILITY.md): over the rows after the first quarter (warm-up:
caches, SQLite's page cache, the allocator's arenas), compare the mean of the last quarter with
the mean of the second quarter. RSS fails when it grew by more than 10 % and 8 MB; a p99 fails
when it grew by more than 50 % and 2 ms (the machine is shared: latency is noisy). The
least-squares slope of each over the second half is printed for the record. The database grows
by design (tokens live until they expire; housekeeping purges them later) and is recorded, not
judged. Fewer than 8 rows: too short to judge, the check is skipped and says so.

  python3 bench/soak.py [--seconds 1800] [--round 30] [--csv build/soak/soak.csv]
  python3 bench/soak.py --check FILE.csv      # only the trend check, on a CSV written before

Exit status: 0 pass, 1 a trend failed, 2 the run itself failed (errors, a server that died).
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pg_bench  # noqa: E402  (cpu_seconds)
import run_bench as rb  # noqa: E402  (the bench's server, bootstrap and loadgen helpers)

COLUMNS = ["elapsed_s", "rss_mb", "db_mb", "refresh_p99_ms", "refresh_per_s", "code_p99_ms",
           "code_per_s", "jwt_p99_ms", "jwt_per_s", "admin_p99_ms", "admin_calls",
           "server_cpu_pct", "server_token_p99_ms_le", "checkpoint_passes", "pass_ms_mean",
           "catch_up_ms_mean", "catch_ups_over_10ms", "commits_over_50ms", "late_start_s",
           "errors"]
RSS_GROWTH, RSS_SLACK_MB = 0.10, 8.0
P99_GROWTH, P99_SLACK_MS = 0.50, 2.0
MIN_ROWS = 8
# The mix (shares of the grants), and what each costs the server relative to a refresh: from
# BENCHMARKS.md's CPU per request (authorization_code 157 µs and jwt-bearer 213 µs against 84 µs
# per refresh), and a code also costs the /authorize that issues it in the round's setup.
MIX = {"refresh": 0.6, "code": 0.2, "jwt": 0.2}
COST = {"refresh": 1.0, "code": 3.0, "jwt": 2.5}


def slope(xs, ys):
    """Least-squares slope of ys over xs (per unit of x); 0 for fewer than two points."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def trend_failures(rows):
    """The trend rule over CSV rows (dicts of strings). Returns (failures, notes): failures name
    the column and the figures; notes hold the slopes, or why nothing was judged."""
    if len(rows) < MIN_ROWS:
        return [], [f"{len(rows)} rows: too short to judge a trend (at least {MIN_ROWS})"]
    q = len(rows) // 4
    second, last = rows[q:2 * q], rows[len(rows) - q:]
    half = rows[len(rows) // 2:]
    failures, notes = [], []
    checks = [("rss_mb", RSS_GROWTH, RSS_SLACK_MB, "MB")] + [
        (c, P99_GROWTH, P99_SLACK_MS, "ms")
        for c in ("refresh_p99_ms", "code_p99_ms", "jwt_p99_ms", "admin_p99_ms")]
    for column, growth, slack, unit in checks:
        values = [float(r[column]) for r in rows if r.get(column, "") != ""]
        if len(values) < MIN_ROWS:
            continue
        before = sum(float(r[column]) for r in second) / len(second)
        after = sum(float(r[column]) for r in last) / len(last)
        per_hour = slope([float(r["elapsed_s"]) for r in half],
                         [float(r[column]) for r in half]) * 3600
        notes.append(f"{column}: second quarter {before:.2f} {unit}, last quarter {after:.2f} "
                     f"{unit}; second-half slope {per_hour:+.2f} {unit}/h")
        if after > before * (1 + growth) and after - before > slack:
            failures.append(f"{column} trends upward: {before:.2f} -> {after:.2f} {unit} "
                            f"(allowed +{growth:.0%} or +{slack} {unit})")
    return failures, notes


def check(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    failures, notes = trend_failures(rows)
    for n in notes:
        print("  " + n)
    for f in failures:
        print("  FAIL " + f)
    print(f"soak: {'FAIL' if failures else 'pass'} ({len(rows)} rows in {path})")
    return 1 if failures else 0


class AdminTraffic:
    """Admin-plane calls at about `rate`/s in a thread: CreateUser, DescribeUser, ListUsers,
    DeleteUser (identitystore) and ListInstances (sso-admin). Latencies per round."""

    def __init__(self, url, rate):
        import boto3
        import botocore.config
        cfg = botocore.config.Config(retries={"max_attempts": 1})
        kw = dict(region_name="us-east-1", endpoint_url=url, aws_access_key_id=rb.KEY_ID,
                  aws_secret_access_key=rb.SECRET, config=cfg)
        self.ids = boto3.client("identitystore", **kw)
        self.admin = boto3.client("sso-admin", **kw)
        self.store = self.admin.list_instances()["Instances"][0]["IdentityStoreId"]
        self.interval = 1.0 / rate
        self.lock = threading.Lock()
        self.latencies, self.errors = [], {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def timed(self, fn, **kw):
        start = time.monotonic()
        try:
            out = fn(**kw)
        except Exception as e:  # noqa: BLE001: counted by its code, the soak goes on
            code = getattr(e, "response", {}).get("Error", {}).get("Code", type(e).__name__)
            with self.lock:
                self.errors[code] = self.errors.get(code, 0) + 1
            return None
        with self.lock:
            self.latencies.append((time.monotonic() - start) * 1000)
        return out

    def run(self):
        n = 0
        while not self.stopping.is_set():
            n += 1
            created = self.timed(self.ids.create_user, IdentityStoreId=self.store,
                                 UserName=f"soak-{os.getpid()}-{n}", DisplayName="Soak",
                                 Name={"GivenName": "S", "FamilyName": "Oak"})
            if created:
                self.timed(self.ids.describe_user, IdentityStoreId=self.store,
                           UserId=created["UserId"])
                self.timed(self.ids.list_users, IdentityStoreId=self.store, MaxResults=20)
                self.timed(self.ids.delete_user, IdentityStoreId=self.store,
                           UserId=created["UserId"])
            self.timed(self.admin.list_instances)
            self.stopping.wait(5 * self.interval)

    def take(self):
        with self.lock:
            lat, err = sorted(self.latencies), dict(self.errors)
            self.latencies, self.errors = [], {}
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else 0.0
        return p99, len(lat), err

    def stop(self):
        self.stopping.set()
        self.thread.join()


class ServerStats:
    """What the server itself saw in each round: its CPU, its own p99 for CreateTokenWithIAM
    (arrival to answer, tessera_request_duration_seconds: the generators' queues left out), the
    checkpoint thread's passes and the writer's catch-ups after them
    (tessera_sqlite_checkpoint_duration_seconds), and the writer's slow commits
    (tessera_sqlite_writer_commit_duration_seconds): what a latency spike coincides with."""

    CHECKPOINT = "tessera_sqlite_checkpoint_duration_seconds"
    COMMIT = "tessera_sqlite_writer_commit_duration_seconds"
    TOKEN = 'tessera_request_duration_seconds_bucket{api="sso-oidc",operation="CreateTokenWithIAM",'

    def __init__(self, pid, metrics_url):
        self.pid, self.metrics_url = pid, metrics_url
        self.last = self.read()

    def read(self):
        m = rb.scrape(self.metrics_url) if self.metrics_url else {}
        out = {"time": time.monotonic(), "cpu_s": pg_bench.cpu_seconds([self.pid]),
               "commits_over_50ms": m.get(self.COMMIT + "_count", 0.0)
               - m.get(self.COMMIT + '_bucket{le="0.05"}', 0.0)}
        for stage in ("pass", "catch_up"):
            series = f'{self.CHECKPOINT}_%s{{stage="{stage}"%s}}'
            out[stage + "_n"] = m.get(series % ("count", ""), 0.0)
            out[stage + "_s"] = m.get(series % ("sum", ""), 0.0)
            out[stage + "_over_10ms"] = out[stage + "_n"] - m.get(
                series % ("bucket", ',le="0.01"'), 0.0)
        for key, value in m.items():
            if key.startswith(self.TOKEN):
                out["le " + key[len(self.TOKEN):].split('"')[1]] = value
        return out

    def take(self):
        now = self.read()
        d = {k: now[k] - self.last.get(k, 0.0) for k in now}
        self.last = now
        # The server's p99: the smallest bucket bound holding 99 % of the round's token requests.
        buckets = sorted((float(k[3:]), v) for k, v in d.items()
                         if k.startswith("le ") and k != "le +Inf")
        total = d.get("le +Inf", 0.0)
        p99 = next((f"{bound * 1000:g}" for bound, count in buckets if count >= 0.99 * total),
                   "inf") if total else ""
        mean = lambda stage: (f"{d[stage + '_s'] * 1000 / d[stage + '_n']:.1f}"  # noqa: E731
                              if d[stage + "_n"] else "")
        return {"server_cpu_pct": f"{100 * d['cpu_s'] / d['time']:.0f}" if d["time"] else "",
                "server_token_p99_ms_le": p99,
                "checkpoint_passes": f"{d['pass_n']:.0f}", "pass_ms_mean": mean("pass"),
                "catch_up_ms_mean": mean("catch_up"),
                "catch_ups_over_10ms": f"{d['catch_up_over_10ms']:.0f}",
                "commits_over_50ms": f"{d['commits_over_50ms']:.0f}"}


def db_mb(workdir):
    total = 0
    for name in ("tessera.db", "tessera.db-wal"):
        try:
            total += os.path.getsize(os.path.join(workdir, name))
        except OSError:
            pass
    return total / 2**20


def soak(opts):
    os.makedirs(os.path.dirname(os.path.abspath(opts.csv)), exist_ok=True)
    for path in (rb.TESSERA, rb.LOADGEN):
        if not os.path.exists(path):
            sys.exit(f"soak: {path} is missing (make soak builds it)")
    workdir = tempfile.mkdtemp(prefix="tessera-soak-",
                               dir=os.path.dirname(os.path.abspath(opts.csv)))
    issuer_port = rb.free_port()
    # Each round's jwt generator is a new process with a new issuer key (to Tessera, a key
    # rotation): the unknown kid must be refetched at the round's start, not 10 s later.
    server = rb.Tessera(workdir, issuer_port, 0, ["--device-authorizations-per-minute", "0",
                                                  "--client-registrations-per-minute", "0",
                                                  "--jwks-refetch-interval", "1"])
    results = os.path.join(workdir, "loadgen.jsonl")
    common = ["--port", str(server.port), "--key-id", rb.KEY_ID, "--secret", rb.SECRET,
              "--password", rb.PASSWORD, "--server-pid", str(server.proc.pid), "--warmup", "0"]
    demo = ["--application-arn", rb.DEMO_APP, "--redirect-uri", rb.DEMO_REDIRECT]
    status = 0
    try:
        if opts.capacity:
            capacity = opts.capacity
        else:
            r = rb.loadgen(common + demo + ["--scenario", "refresh", "--scope", "aws",
                                            "--concurrency", "64", "--duration", "5",
                                            "--label", "soak: capacity"], 1, results)
            capacity = r["throughput"]
        # Half the capacity in server work, not in requests: each grant weighed by its cost.
        half = max(30.0, capacity / 2)
        per_request = sum(MIX[k] * COST[k] for k in MIX)
        rates = {k: MIX[k] * half / per_request for k in MIX}
        print(f"soak: capacity {capacity:,.0f} refreshes/s; half of it mixed: "
              + ", ".join(f"{k} {v:,.0f}/s" for k, v in rates.items())
              + f"; admin plane ~{opts.admin_rate}/s; {opts.seconds} s in rounds of {opts.round} s",
              flush=True)
        admin = AdminTraffic(f"http://127.0.0.1:{server.port}", opts.admin_rate)
        stats = ServerStats(server.proc.pid, server.metrics_url)
        start = time.monotonic()
        with open(opts.csv, "w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=COLUMNS)
            out.writeheader()
            while time.monotonic() - start < opts.seconds and server.proc.poll() is None:
                row = run_round(opts, common, demo, rates, issuer_port, workdir)
                p99, calls, admin_errors = admin.take()
                row.update(elapsed_s=f"{time.monotonic() - start:.0f}",
                           rss_mb=f"{rb.rss_mb(server.proc.pid):.1f}",
                           db_mb=f"{db_mb(workdir):.1f}", admin_p99_ms=f"{p99:.2f}",
                           admin_calls=calls, **stats.take())
                errors = {**row.pop("_errors"),
                          **{"admin " + k: v for k, v in admin_errors.items()}}
                row["errors"] = ";".join(f"{k}={v}" for k, v in sorted(errors.items()))
                out.writerow(row)
                f.flush()
                print("  " + ", ".join(f"{k} {row[k]}" for k in COLUMNS), flush=True)
                if errors:
                    status = 2
        admin.stop()
        if server.proc.poll() is not None:
            print("soak: the server exited", flush=True)
            status = 2
    finally:
        server.stop()
    if status == 0:
        status = check(opts.csv)
    else:
        check(opts.csv)
        print("soak: FAIL (errors during the run; see the CSV's errors column)")
    shutil.rmtree(workdir, ignore_errors=True)
    return status


def run_round(opts, common, demo, rates, issuer_port, workdir):
    """One round: the three loadgen scenarios at once, each open loop for opts.round seconds."""
    seconds = opts.round
    # The three start their runs together once every setup is done (--start-at): one's setup
    # (thousands of /authorize calls, RSA signatures on the generators' core) must not fall in
    # another's measured window. The allowance follows the slowest setup seen so far.
    start = ["--start-at", f"{time.time() + opts.setup_allowance:.3f}"]
    runs = {
        "refresh": common + demo + ["--scenario", "refresh", "--rate", f"{rates['refresh']:.0f}",
                                    "--concurrency", "64", "--duration", str(seconds)],
        "code": common + demo + ["--scenario", "code", "--rate", f"{rates['code']:.0f}",
                                 "--requests", str(int(rates["code"] * seconds)),
                                 "--concurrency", "32", "--duration", str(seconds)],
        "jwt": common + ["--scenario", "jwt", "--application-arn", rb.JWT_APP, "--issuer-port",
                         str(issuer_port), "--jwt-audience", rb.JWT_AUDIENCE, "--jwt-email",
                         rb.JWT_EMAIL, "--rate", f"{rates['jwt']:.0f}",
                         "--requests", str(int(rates["jwt"] * seconds)),
                         "--concurrency", "32", "--duration", str(seconds)],
    }
    procs = {}
    for name, args in runs.items():
        path = os.path.join(workdir, f"{name}.json")
        if os.path.exists(path):
            os.remove(path)
        cmd = ["taskset", "-c", "1", rb.LOADGEN, "--json-out", path, "--label", name] + args + start
        procs[name] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True), path)
    row, errors = {}, {}
    setups, late = [], 0.0
    for name, (proc, path) in procs.items():
        _, stderr = proc.communicate()
        try:
            with open(path) as f:
                r = json.loads(f.read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            errors[name + " loadgen"] = 1
            sys.stdout.write(stderr)
            continue
        setups.append(r.get("setup_s", 0.0))
        late = max(late, r.get("late_start_s", 0.0))
        row[f"{name}_p99_ms"] = f"{r['p99_ms']:.2f}"
        row[f"{name}_per_s"] = f"{r['throughput']:.0f}"
        for k, v in r["errors"].items():
            errors[f"{name} {k}"] = v
    row["_errors"] = errors
    row["late_start_s"] = f"{late:.1f}"
    if setups:
        opts.setup_allowance = max(1.0, 1.5 * max(setups) + 0.5)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("SOAK_SECONDS") or 1800))
    ap.add_argument("--round", type=float, default=30)
    ap.add_argument("--admin-rate", type=float, default=10)
    ap.add_argument("--capacity", type=float, default=0,
                    help="refreshes/s to take as capacity (default: measured for 5 s)")
    ap.add_argument("--csv", default=os.path.join(rb.ROOT, "build", "soak", "soak.csv"))
    ap.add_argument("--check", metavar="CSV", help="only the trend check of an earlier run")
    opts = ap.parse_args()
    # Seconds from a round's launch to its start; then 1.5 times the slowest setup seen (a late
    # start in the first round, a warm-up round, is reported in the CSV and not judged).
    opts.setup_allowance = 2.0
    if opts.check:
        sys.exit(check(opts.check))
    sys.exit(soak(opts))


if __name__ == "__main__":
    main()
