#!/usr/bin/env python3
"""`make bench`: Tessera's benchmarks in one run, printed as one table with the machine they ran on.

1. The crypto floor and the hot-path microbenchmarks (build/release/tessera-microbench).
2. A release Tessera on an on-disk SQLite database (durable: WAL, synchronous=FULL), pinned to
   one core, driven by build/release/tessera-loadgen pinned to the other core: refresh_token (the
   family's scopes: access + ID token; and downscoped to `aws`: access token only), the same
   open-loop at half the target rate, authorization_code, jwt-bearer and token exchange.
3. The peer, node oidc-provider (bench/peer), pinned the same way and driven by the same
   generator on the same grant (rotating refresh tokens, ES256 JWT access token + ES256 ID token).

Writes build/bench/results.json and build/bench/table.md (copy the latter into BENCHMARKS.md).
4. The same on PostgreSQL 15 (bench/pg_bench.py), one node and two, with PostgreSQL's CPU and
   round trips per request: --skip-pg leaves them out, --pg-only runs them alone.

Options: --quick (shorter runs, for trying the script), --skip-peer, --skip-micro, --skip-overload,
--only-overload (the capacity run and the 4x overload only: build/bench/overload.md), and --smoke:
tiny runs that only check every scenario completes without a single error (CTest runs it, so the
benchmark tooling cannot rot; it asserts nothing about speed). TESSERA_BIN, TESSERA_LOADGEN and
TESSERA_MICROBENCH override the binaries' paths.
"""
import argparse
import datetime
import functools
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import pg_bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "release")
OUT = os.environ.get("TS_BENCH_OUT") or os.path.join(ROOT, "build", "bench")
TESSERA = os.environ.get("TESSERA_BIN") or os.path.join(BUILD, "tessera")
LOADGEN = os.environ.get("TESSERA_LOADGEN") or os.path.join(BUILD, "tessera-loadgen")
MICRO = os.environ.get("TESSERA_MICROBENCH") or os.path.join(BUILD, "tessera-microbench")

KEY_ID = "AKIABENCHROOT0000001"
SECRET = "bench-root-secret/abcdefghijklmnopqrstuvwxyz"
PASSWORD = "bench password 2026"
MASTER_KEY = "42" * 32
PREFIX = "arn:aws:sso::123456789012:application/ssoins-111111111111/"
DEMO_APP = PREFIX + "apl-222222222222"
DEMO_REDIRECT = "https://mywebapp.example/redirect"
TX_SOURCE = PREFIX + "apl-b0000000000a"
TX_TARGET = PREFIX + "apl-b0000000000b"
JWT_APP = PREFIX + "apl-b0000000000c"
TX_REDIRECT = "https://bench.example/callback"
TTI = "arn:aws:sso::123456789012:trustedTokenIssuer/ssoins-111111111111/" \
      "tti-b0000000-0000-4000-8000-000000000001"
JWT_AUDIENCE = "bench-audience"
JWT_EMAIL = "bench@example.com"
# The demo instance's start URL, as `aws sso login` sends it (its identity store's awsapps.com
# address: docs/design/public-clients.md).
DEMO_START_URL = "https://d-3333333333.awsapps.com/start"

# The performance targets; BENCHMARKS.md reports every run against them (its `target` column).
TARGET_REFRESH = 10000      # durable refresh_token grants/s on one server core
TARGET_REFRESH_P99_MS = 2   # at half that rate
TARGET_JWT = 5000           # jwt-bearer grants/s on one core
TARGET_PEER_RATIO = 8       # x node oidc-provider per core (the issue says 5x)
TARGET_IDLE_MB = 20
TARGET_LOAD_MB = 100
TARGET_START_MS = 200
TARGET_POLL_CPU_US = 20     # server CPU per pending device-code poll (issue 22)
TARGET_ROLE_CREDENTIALS = 5000  # GetRoleCredentials/s on one core (issue 19)
TARGET_LIST_ROLES = 5000    # ListAccountRoles/s on one core, user in 50 groups (issue 19)
# The access portal scenarios' accounts (bench/loadgen/scenarios.cc: 200000000000 + i).
PORTAL_ACCOUNTS = [str(200000000000 + i) for i in range(10)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def machine():
    cpu = re.search(r"Model name:\s*(.*)", sh("lscpu")) if shutil.which("lscpu") else None
    return {
        "cpu": cpu.group(1).strip() if cpu else platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "openssl": sh("openssl version"),
        "sqlite": sh("sqlite3 --version | cut -d' ' -f1") or "libsqlite3 (Debian 12)",
        "node": sh("node --version"),
        "filesystem": sh(f"df -T {OUT} | tail -1 | awk '{{print $2}}'"),
        "commit": sh(f"git -C {ROOT} rev-parse --short HEAD"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def bootstrap(issuer_port):
    refresh = {"GrantType": "refresh_token", "Grant": {"RefreshToken": {}}}
    assign = [{"PrincipalType": "USER", "UserName": "demo"}]
    return {
        "TrustedTokenIssuers": [{
            "TrustedTokenIssuerArn": TTI, "Name": "loadgen-issuer",
            "TrustedTokenIssuerType": "OIDC_JWT",
            "TrustedTokenIssuerConfiguration": {"OidcJwtConfiguration": {
                "IssuerUrl": f"http://127.0.0.1:{issuer_port}", "ClaimAttributePath": "email",
                "IdentityStoreAttributePath": "emails.value",
                "JwksRetrievalOption": "OPEN_ID_DISCOVERY"}}}],
        "Users": [{"UserName": "jwtuser", "DisplayName": "JWT user",
                   "Emails": [{"Value": JWT_EMAIL}]}],
        "Applications": [
            {"ApplicationArn": TX_SOURCE, "Name": "exchange source", "AssignmentRequired": True,
             "Grants": [{"GrantType": "authorization_code",
                         "Grant": {"AuthorizationCode": {"RedirectUris": [TX_REDIRECT]}}}, refresh],
             "AccessScopes": [{"Scope": "openid", "AuthorizedTargets": []},
                              {"Scope": "bench:read", "AuthorizedTargets": [TX_TARGET]}],
             "Assignments": assign},
            {"ApplicationArn": TX_TARGET, "Name": "exchange target", "AssignmentRequired": True,
             "Grants": [{"GrantType": "urn:ietf:params:oauth:grant-type:token-exchange",
                         "Grant": {"TokenExchange": {}}}, refresh],
             "AccessScopes": [{"Scope": "bench:read", "AuthorizedTargets": []}],
             "Assignments": assign},
            {"ApplicationArn": JWT_APP, "Name": "jwt bearer", "AssignmentRequired": True,
             "Grants": [{"GrantType": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                         "Grant": {"JwtBearer": {"AuthorizedTokenIssuers": [
                             {"TrustedTokenIssuerArn": TTI,
                              "AuthorizedAudiences": [JWT_AUDIENCE]}]}}}, refresh],
             "AccessScopes": [{"Scope": "openid", "AuthorizedTargets": []},
                              {"Scope": "aws", "AuthorizedTargets": []}],
             "Assignments": [{"PrincipalType": "USER", "UserName": "jwtuser"}]},
        ]}


def tessera_env():
    """The environment every Tessera the benchmark starts gets: fixed keys and credentials."""
    return dict(os.environ, TESSERA_MASTER_KEY=MASTER_KEY, TESSERA_ROOT_ACCESS_KEY_ID=KEY_ID,
                TESSERA_ROOT_SECRET_ACCESS_KEY=SECRET, TESSERA_DEMO_PASSWORD=PASSWORD)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def start_server(args, log_path, env):
    """Starts `tessera serve` (args), its stderr to log_path; returns once it listens."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(log_path, "w"), text=True,
                            env=env)
    first = proc.stdout.readline()
    if "listening" not in first:
        raise RuntimeError(f"tessera did not start: {first!r}; see {log_path}")
    # Drain the banner so the pipe never fills.
    import threading
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc


def stop_process(proc):
    """SIGTERM (the drained shutdown), then SIGKILL after 10 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


class Tessera:
    def __init__(self, workdir, issuer_port, core, extra_args=()):
        self.dir = workdir
        path = os.path.join(workdir, "bootstrap.json")
        with open(path, "w") as f:
            json.dump(bootstrap(issuer_port), f)
        self.port = free_port()
        env = tessera_env()
        args = ["taskset", "-c", str(core), TESSERA, "serve", "--demo", "--listen",
                f"127.0.0.1:{self.port}", "--db", os.path.join(workdir, "tessera.db"),
                "--bootstrap", path, "--allow-insecure-loopback-issuers"] + list(extra_args)
        # The management port (its own io thread) for the overload run's lag samples; older
        # baselines (compare.py) have none.
        self.metrics_url = None
        if "--management-listen" in serve_usage():
            management_port = free_port()
            args += ["--management-listen", f"127.0.0.1:{management_port}"]
            self.metrics_url = f"http://127.0.0.1:{management_port}/metrics"
        # Start-to-ready on a fresh database (migrations, key generation, bootstrap included).
        start = time.monotonic()
        self.proc = start_server(args, os.path.join(workdir, "server.log"), env)
        self.fresh_start_ms = (time.monotonic() - start) * 1000
        time.sleep(1.0)
        self.idle_mb = rss_mb(self.proc.pid)

    def stop(self):
        stop_process(self.proc)


def serve_usage():
    """`tessera serve --help` of the binary in use (scripts may point TESSERA at another)."""
    return _serve_usage(TESSERA)


@functools.lru_cache(maxsize=None)
def _serve_usage(binary):
    usage = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True)
    return usage.stdout + usage.stderr


def has_portal():
    """Whether the binary serves the access portal (compare.py runs older baselines too)."""
    return "--portal-requests-per-minute" in serve_usage()


def declare_accounts(workdir):
    """The portal scenarios' accounts, declared as an operator does (Tessera has no
    Organizations API)."""
    for account in PORTAL_ACCOUNTS:
        subprocess.run([TESSERA, "account", "add", "--db", os.path.join(workdir, "tessera.db"),
                        "--account-id", account, "--name", "bench " + account[-2:],
                        "--email", f"bench+{account}@example.com"],
                       check=True, capture_output=True, env=tessera_env())


def restart_time_ms(workdir, core):
    """Start-to-ready on an existing database: the figure an operator restarting a node sees."""
    env = tessera_env()
    best = None
    for _ in range(3):
        start = time.monotonic()
        proc = subprocess.Popen(["taskset", "-c", str(core), TESSERA, "serve", "--listen",
                                 f"127.0.0.1:{free_port()}", "--db",
                                 os.path.join(workdir, "tessera.db")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=env)
        line = proc.stdout.readline()
        elapsed = (time.monotonic() - start) * 1000
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        if "listening" in line:
            best = elapsed if best is None else min(best, elapsed)
    return best


def loadgen(args, core, results_path):
    cmd = ["taskset", "-c", str(core), LOADGEN, "--json-out", results_path] + args
    proc = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode not in (0, 3):
        sys.stdout.write(proc.stderr)
        raise RuntimeError(f"loadgen failed ({proc.returncode}): {' '.join(cmd)}")
    with open(results_path) as f:
        return json.loads(f.read().strip().splitlines()[-1])


def run_micro(min_time):
    print("== microbenchmarks and crypto floor (tessera-microbench, core 0)", flush=True)
    out = os.path.join(OUT, "micro.json")
    subprocess.run(["taskset", "-c", "0", MICRO, f"--benchmark_min_time={min_time}",
                    "--benchmark_out=" + out, "--benchmark_out_format=json"],
                   check=True, cwd=OUT)
    with open(out) as f:
        data = json.load(f)
    micro = {}
    for b in data["benchmarks"]:
        if b.get("error_occurred"):
            raise RuntimeError(f"microbenchmark {b['name']} failed: {b.get('error_message')}")
        unit = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[b.get("time_unit", "ns")]
        micro[b["name"]] = {"cpu_us": b["cpu_time"] * unit, "real_us": b["real_time"] * unit,
                            "items_per_second": b.get("items_per_second")}
    return micro


def floors(micro):
    """CPU a request cannot avoid: its signatures, the SigV4 check (payload hash, canonical
    request hash, one HMAC with the cached signing key), the refresh-token hashes (old token
    looked up, successor stored) and the successor's HMAC derivation; plus the identity context's
    AES-GCM when the scope asks for it."""
    g = lambda name: micro.get(name, {}).get("cpu_us", 0.0)  # noqa: E731
    sigv4 = 2 * g("BM_Floor_Sha256/400") + g("BM_Floor_HmacSha256")
    hashes = 2 * g("BM_Floor_Sha256/64") + g("BM_Floor_HmacSha256")
    return {
        "refresh (openid aws sts:identity_context)":
            2 * g("BM_Floor_Es256Sign") + sigv4 + hashes + g("BM_Floor_AesGcmSeal"),
        "refresh (aws)": g("BM_Floor_Es256Sign") + sigv4 + hashes,
    }


def scrape(metrics_url):
    """The server's metrics (Prometheus text) as {"name{labels}": value}, or {} when the scrape
    fails."""
    import urllib.request
    values = {}
    try:
        with urllib.request.urlopen(metrics_url, timeout=1) as reply:
            for line in reply.read().decode().splitlines():
                if line and not line.startswith("#"):
                    name, _, value = line.rpartition(" ")
                    values[name] = float(value)
    except (OSError, ValueError):
        return {}
    return values


def io_lag_ms(metrics_url):
    """The server's smoothed io-thread lag (tessera_io_lag_seconds, docs/design/overload.md) in
    ms, or None when the scrape fails."""
    lag = scrape(metrics_url).get("tessera_io_lag_seconds")
    return None if lag is None else lag * 1000


class RssSampler:
    """The server's resident memory every `interval` seconds, in a thread: [(seconds, MB)]; with
    a metrics URL also its io-thread lag: lag_samples [(seconds, ms)]."""

    def __init__(self, pid, interval=0.25, metrics_url=None):
        import threading
        self.pid, self.interval, self.samples = pid, interval, []
        self.metrics_url, self.lag_samples = metrics_url, []
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic() - self.start, rss_mb(self.pid)))
            except OSError:
                return
            if self.metrics_url:
                lag = io_lag_ms(self.metrics_url)
                if lag is not None:
                    self.lag_samples.append((time.monotonic() - self.start, lag))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.samples


# Answers that mean "throttled" in each API's shape (docs/design/overload.md).
THROTTLING = ("SlowDownException", "ThrottlingException", "TooManyRequestsException", "HTTP 503")


def run_overload(common, demo, capacity, client_core, results, seconds, users, settle,
                 metrics_url=None):
    """Open loop at 4x the measured refresh capacity over more connections than the server admits
    (--max-queued-requests 1024 + 32 workers): memory over time, the share of throttled answers,
    the p99 of the admitted ones, and memory `settle` seconds after. Issue 23."""
    pid = int(common[common.index("--server-pid") + 1])
    time.sleep(1)
    baseline = rss_mb(pid)
    sampler = RssSampler(pid, metrics_url=metrics_url)
    rate = int(4 * capacity)
    run = loadgen(common + demo + ["--scenario", "refresh", "--scope", "aws", "--rate", str(rate),
                                   "--concurrency", str(users), "--duration", str(seconds),
                                   "--label", f"refresh (aws), open loop {rate}/s (4x capacity)"],
                  client_core, results)
    during = [mb for _, mb in sampler.samples]
    time.sleep(settle)
    samples = sampler.stop()
    errors = run["errors"]
    throttled = sum(n for k, n in errors.items() if k.split(":")[0] in THROTTLING)
    # The generator's own failures (no answer in time, a broken connection) are not answers.
    answered = run["ok"] + sum(n for k, n in errors.items()
                               if k not in ("Timeout", "ConnectionError"))
    server_errors = sum(n for k, n in errors.items()
                        if (k.startswith("HTTP 5") and k != "HTTP 503")
                        or k.split(":")[0] == "InternalServerException")
    run["overload"] = {
        "offered_per_s": rate, "capacity_per_s": capacity, "connections": users,
        "answered_per_s": answered / run["seconds"] if run["seconds"] else 0.0,
        "baseline_mb": baseline, "peak_mb": max(during) if during else baseline,
        "end_mb": during[-1] if during else baseline, "after_mb": samples[-1][1] if samples else 0,
        "settle_s": settle, "throttled": throttled, "answered": answered,
        "throttled_share": throttled / answered if answered else 0.0,
        "server_errors": server_errors, "rss_samples": samples,
        "lag_samples": sampler.lag_samples,
        "peak_lag_ms": max((ms for _, ms in sampler.lag_samples), default=None)}
    o = run["overload"]
    print(f"  overload: RSS {o['baseline_mb']:.1f} MB before, peak {o['peak_mb']:.1f}, end "
          f"{o['end_mb']:.1f}, {settle} s after {o['after_mb']:.1f}; throttled "
          f"{throttled:,} of {answered:,} ({o['throttled_share']:.1%}); 5xx {server_errors}",
          flush=True)
    if sampler.lag_samples:
        lags = [ms for _, ms in sampler.lag_samples]
        print(f"  io lag (smoothed): peak {max(lags):.0f} ms, median {statistics.median(lags):.0f}"
              f" ms over {len(lags)} samples", flush=True)
    return run


def run_peer(core_server, core_client, results, seconds, users):
    peer_dir = os.path.join(ROOT, "bench", "peer")
    if not os.path.exists(os.path.join(peer_dir, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=peer_dir, check=True)
    port = free_port()
    seed = os.path.join(OUT, "peer-seed.json")
    env = dict(os.environ, NODE_ENV="production")
    proc = subprocess.Popen(["taskset", "-c", str(core_server), "node",
                             os.path.join(peer_dir, "peer.mjs"), "--port", str(port),
                             "--seed", str(users), "--out", seed],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        if "ready" not in line:
            raise RuntimeError(f"peer did not start: {line!r}")
        return loadgen(["--scenario", "oauth-refresh", "--port", str(port), "--seed-file", seed,
                        "--concurrency", str(users), "--duration", str(seconds),
                        "--server-pid", str(proc.pid), "--label", "peer: oidc-provider refresh"],
                       core_client, results)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--skip-micro", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--skip-overload", action="store_true")
    ap.add_argument("--only-overload", action="store_true",
                    help="only the closed-loop refresh (aws) that measures capacity and the 4x "
                         "overload scenario")
    # The PostgreSQL scenarios (bench/pg_bench.py): skipped, or run alone.
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--pg-only", action="store_true")
    opts = ap.parse_args()
    if opts.only_overload and (opts.skip_overload or opts.pg_only):
        sys.exit("run_bench: --only-overload excludes --skip-overload and --pg-only")
    if opts.only_overload:
        opts.skip_pg = True
    if opts.smoke:
        opts.skip_peer = True
    if opts.pg_only:
        return run_pg_only(opts)
    os.makedirs(OUT, exist_ok=True)
    for path in (TESSERA, LOADGEN, MICRO):
        if not os.path.exists(path):
            sys.exit(f"run_bench: {path} is missing (make bench builds it)")
    seconds = 1 if opts.smoke else 3 if opts.quick else 10
    warmup = "0.5" if opts.smoke else "1" if opts.quick else "2"
    # Enough users to keep the server's core busy: a refresh waits about two group commits, and
    # with 64 users the core idled about a quarter of the time while every user waited for the
    # disk (7,000/s at 73% CPU; 256 users: 8,700/s at 97%, the same CPU per request). The peer
    # gets the same number of connections.
    users = 8 if opts.smoke else 256
    results = os.path.join(OUT, "loadgen.jsonl")
    if os.path.exists(results):
        os.remove(results)
    info = machine()
    print("== machine: " + json.dumps(info), flush=True)
    micro = {} if opts.skip_micro else run_micro(
        "0.01" if opts.smoke else "0.1" if opts.quick else "0.5")

    server_core, client_core = 0, 1
    workdir = tempfile.mkdtemp(prefix="tessera-bench-", dir=OUT)
    issuer_port = free_port()
    runs = {}
    # RegisterClient and StartDeviceAuthorization are rate-limited per client address (60 a
    # minute); the device-poll setup starts thousands of authorizations from loopback.
    portal = has_portal()
    server = Tessera(workdir, issuer_port, server_core,
                     ["--device-authorizations-per-minute", "10000000",
                      "--client-registrations-per-minute", "1000"] +
                     # every virtual user's token asks as fast as it can
                     (["--portal-requests-per-minute", "0"] if portal else []))
    print(f"== Tessera on core {server_core} (pid {server.proc.pid}), load generator on core "
          f"{client_core}; database {workdir}/tessera.db ({info['filesystem']})", flush=True)
    try:
        common = ["--port", str(server.port), "--key-id", KEY_ID, "--secret", SECRET,
                  "--password", PASSWORD, "--server-pid", str(server.proc.pid),
                  "--warmup", warmup]
        demo = ["--application-arn", DEMO_APP, "--redirect-uri", DEMO_REDIRECT]
        closed = ["--concurrency", str(users), "--duration", str(seconds)]
        # --only-overload: the capacity it is 4x of, then the overload itself.
        if not opts.only_overload:
            runs["refresh_full"] = loadgen(
                common + demo + closed + ["--scenario", "refresh",
                                          "--label", "refresh (openid aws sts:identity_context)"],
                client_core, results)
        runs["refresh_aws"] = loadgen(
            common + demo + closed + ["--scenario", "refresh", "--scope", "aws",
                                      "--label", "refresh (aws)"], client_core, results)
        if not opts.only_overload:
            rate = 200 if opts.smoke else TARGET_REFRESH // 2
            runs["refresh_open"] = loadgen(
                common + demo + ["--scenario", "refresh", "--scope", "aws", "--rate",
                                 str(rate), "--concurrency", str(users),
                                 "--duration", str(seconds),
                                 "--label", f"refresh (aws), open loop {rate}/s"],
                client_core, results)
            # And at half of what the closed loop measured: the latency of a server with headroom.
            half = max(50, int(runs["refresh_aws"]["throughput"] / 2))
            runs["refresh_half"] = loadgen(
                common + demo + ["--scenario", "refresh", "--scope", "aws", "--rate", str(half),
                                 "--concurrency", str(users), "--duration", str(seconds),
                                 "--label",
                                 f"refresh (aws), open loop {half}/s (half of capacity)"],
                client_core, results)
            n_code = 100 if opts.smoke else 4000 if opts.quick else 20000
            runs["code"] = loadgen(
                common + demo + ["--scenario", "code", "--requests", str(n_code), "--concurrency",
                                 str(users), "--warmup", "0", "--duration", "600",
                                 "--label", "authorization_code"], client_core, results)
            n_jwt = 100 if opts.smoke else 3000 if opts.quick else 15000
            runs["jwt"] = loadgen(
                common + ["--scenario", "jwt", "--application-arn", JWT_APP, "--issuer-port",
                          str(issuer_port), "--jwt-audience", JWT_AUDIENCE,
                          "--jwt-email", JWT_EMAIL,
                          "--requests", str(n_jwt), "--concurrency", str(users), "--warmup", "0",
                          "--duration", "600", "--label", "jwt-bearer (RS256 assertion)"],
                client_core, results)
            runs["exchange"] = loadgen(
                common + closed + ["--scenario", "exchange", "--application-arn", TX_SOURCE,
                                   "--redirect-uri", TX_REDIRECT,
                                   "--exchange-target-arn", TX_TARGET,
                                   "--label", "token exchange"], client_core, results)
            # The registered client's CreateToken (aws sso login's token calls): its refresh chain,
            # and the device flow's pending polls, which must write nothing.
            runs["client_refresh"] = loadgen(
                common + closed + ["--scenario", "client-refresh",
                                   "--label", "CreateToken refresh (registered client)"],
                client_core, results)
            poll_rate = 200 if opts.smoke else 20000
            runs["device_poll"] = loadgen(
                common + ["--scenario", "device-poll", "--start-url", DEMO_START_URL,
                          "--device-codes", str(int(poll_rate * 1.5)), "--rate", str(poll_rate),
                          "--concurrency", str(users), "--duration", str(seconds),
                          "--label",
                          f"CreateToken device_code, pending poll, open loop {poll_rate}/s"],
                client_core, results)
            # The access portal (issue 19): a user in 50 groups holding 200 account assignments.
            if portal:
                declare_accounts(workdir)
                runs["get_role_credentials"] = loadgen(
                    common + closed + ["--scenario", "get-role-credentials",
                                       "--label", "GetRoleCredentials (user in 50 groups)"],
                    client_core, results)
                runs["list_account_roles"] = loadgen(
                    common + closed + ["--scenario", "list-account-roles",
                                       "--label", "ListAccountRoles (20 roles via 50 groups)"],
                    client_core, results)
        load_peak_mb = max(r["peak_rss_mb"] for r in runs.values())
        if not opts.skip_overload:
            # Last: it leaves the chains' tokens where the throttled answers left them.
            runs["overload"] = run_overload(
                common, demo, runs["refresh_aws"]["throughput"], client_core, results,
                2 if opts.smoke else 5 if opts.quick else 20, 64 if opts.smoke else 2048,
                2 if opts.smoke else 10, server.metrics_url)
    finally:
        server.stop()
    start_ms = restart_time_ms(workdir, server_core)
    pg_runs = {}
    if not opts.skip_pg and pg_bench.available():
        pg_runs = pg_bench.run(sys.modules[__name__], opts, seconds, warmup, users, results)
        runs.update(pg_runs)

    if not opts.skip_peer:
        runs["peer"] = run_peer(server_core, client_core, results, seconds, users)

    if opts.smoke:
        overload = runs.pop("overload", None)
        if overload and overload["overload"]["server_errors"]:
            sys.exit(f"run_bench --smoke: 5xx under overload: {overload['errors']}")
        failed = {k: r["errors"] for k, r in runs.items() if r["errors"] or not r["ok"]}
        shutil.rmtree(workdir, ignore_errors=True)
        with open(os.path.join(OUT, "results.json"), "w") as f:
            json.dump({"machine": info, "runs": runs}, f, indent=1)
        if failed:
            sys.exit(f"run_bench --smoke: scenarios with errors or no successes: {failed}")
        print(f"run_bench --smoke: {len(runs)} scenarios, every request succeeded")
        return
    table = render(info, micro, runs, server, start_ms, load_peak_mb)
    if pg_runs:
        table += "\n" + pg_bench.render(pg_runs, runs)
    print("\n" + table)
    # --only-overload leaves a full run's table and results where they are.
    name = "overload" if opts.only_overload else "results"
    with open(os.path.join(OUT, "overload.md" if opts.only_overload else "table.md"), "w") as f:
        f.write(table)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump({"machine": info, "micro": micro, "runs": runs,
                   "fresh_start_ms": server.fresh_start_ms, "restart_ms": start_ms,
                   "idle_mb": server.idle_mb}, f, indent=1)
    shutil.rmtree(workdir, ignore_errors=True)


def run_pg_only(opts):
    """--pg-only: the PostgreSQL scenarios alone (their SQLite comparison is then left out)."""
    if not pg_bench.available():
        sys.exit(f"run_bench: no PostgreSQL at {pg_bench.pg_harness.PG_BIN}")
    os.makedirs(OUT, exist_ok=True)
    seconds = 1 if opts.smoke else 3 if opts.quick else 10
    warmup = "0.5" if opts.smoke else "1" if opts.quick else "2"
    users = 8 if opts.smoke else 256
    results = os.path.join(OUT, "loadgen-pg.jsonl")
    info = machine()
    print("== machine: " + json.dumps(info), flush=True)
    runs = pg_bench.run(sys.modules[__name__], opts, seconds, warmup, users, results)
    failed = {k: r["errors"] for k, r in runs.items() if r["errors"] or not r["ok"]}
    table = pg_bench.render(runs, {})
    print("\n" + table)
    with open(os.path.join(OUT, "table-pg.md"), "w") as f:
        f.write(table)
    with open(os.path.join(OUT, "results-pg.json"), "w") as f:
        json.dump({"machine": info, "runs": runs}, f, indent=1)
    if opts.smoke and failed:
        sys.exit(f"run_bench --smoke: scenarios with errors or no successes: {failed}")


def render(info, micro, runs, server, start_ms, load_peak_mb):
    fl = floors(micro) if micro else {}
    lines = [f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, "
             f"{info['os']}, kernel {info['kernel']}, {info['openssl']}, database on "
             f"{info['filesystem']}; commit {info['commit']}, {info['date']}.",
             "Server pinned to one core, load generator to the other (taskset). Durable: every "
             "acknowledged token is fsync'd (SQLite WAL, synchronous=FULL, group commit).", "",
             "| scenario | req/s (1 core) | p50 ms | p99 ms | errors | server CPU µs/req | "
             "× crypto floor | target | met |",
             "|---|---|---|---|---|---|---|---|---|"]

    def row(key, target_text, met, floor_key=None):
        r = runs.get(key)
        if not r:
            return
        errors = sum(r["errors"].values())
        floor = fl.get(floor_key) if floor_key else None
        mult = f"{r['cpu_us_per_request'] / floor:.1f}× ({floor:.0f} µs)" if floor else "–"
        lines.append(f"| {r['label']} | {r['throughput']:,.0f} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {errors} | {r['cpu_us_per_request']:.0f} | {mult} | "
                     f"{target_text} | {met} |")

    yes = lambda ok: "yes" if ok else "**no**"  # noqa: E731
    peer = runs.get("peer")
    full = runs.get("refresh_full")
    aws = runs.get("refresh_aws")
    openl = runs.get("refresh_open")
    row("refresh_full", f"≥ {TARGET_PEER_RATIO}× peer",
        yes(peer and full["throughput"] >= TARGET_PEER_RATIO * peer["throughput"]) if peer else "–",
        "refresh (openid aws sts:identity_context)")
    row("refresh_aws", f"≥ {TARGET_REFRESH:,}/s, ≤ 2× floor",
        yes(aws["throughput"] >= TARGET_REFRESH) + " / " + (
            yes(aws["cpu_us_per_request"] <= 2 * fl["refresh (aws)"]) if fl else "–")
        if aws else "–", "refresh (aws)")
    row("refresh_open", f"p99 ≤ {TARGET_REFRESH_P99_MS} ms",
        yes(openl["p99_ms"] <= TARGET_REFRESH_P99_MS and openl["throughput"] >=
            0.95 * TARGET_REFRESH // 2) if openl else "–")
    row("refresh_half", "–", "–")
    row("code", "–", "–")
    jwt = runs.get("jwt")
    row("jwt", f"≥ {TARGET_JWT:,}/s", yes(jwt["throughput"] >= TARGET_JWT) if jwt else "–")
    row("exchange", "–", "–")
    crefresh = runs.get("client_refresh")
    row("client_refresh", f"≥ {TARGET_REFRESH:,}/s",
        yes(crefresh["throughput"] >= TARGET_REFRESH) if crefresh else "–")
    poll = runs.get("device_poll")
    row("device_poll", f"≤ {TARGET_POLL_CPU_US} µs CPU, no disk write",
        yes(poll["cpu_us_per_request"] <= TARGET_POLL_CPU_US) + " / " +
        (yes(poll["server_write_bytes"] == 0) + f" ({poll['server_write_bytes']:,} B)")
        if poll else "–")
    creds = runs.get("get_role_credentials")
    row("get_role_credentials", f"≥ {TARGET_ROLE_CREDENTIALS:,}/s",
        yes(creds["throughput"] >= TARGET_ROLE_CREDENTIALS) if creds else "–")
    roles = runs.get("list_account_roles")
    row("list_account_roles", f"≥ {TARGET_LIST_ROLES:,}/s",
        yes(roles["throughput"] >= TARGET_LIST_ROLES) if roles else "–")
    if peer:
        row("peer", "–", "–")
        lines.append("")
        lines.append(f"Tessera / peer, same grant and token formats, per core: "
                     f"{full['throughput'] / peer['throughput']:.1f}× in throughput, "
                     f"{peer['cpu_us_per_request'] / full['cpu_us_per_request']:.1f}× in CPU per "
                     f"request (target ≥ {TARGET_PEER_RATIO}×).")
    over = runs.get("overload")
    if over:
        o = over["overload"]
        lines += ["", "| overload (issue 23) | offered/s | answered/s | throttled | p99 ms "
                  "(admitted) | 5xx | RSS MB before / peak / end / after | io lag peak ms |",
                  "|---|---|---|---|---|---|---|---|",
                  f"| {over['label']}, {o['connections']} connections | {o['offered_per_s']:,} | "
                  f"{o['answered_per_s']:,.0f} | "
                  f"{o['throttled_share']:.1%} | {over['p99_ms']:.2f} | {o['server_errors']} | "
                  f"{o['baseline_mb']:.1f} / {o['peak_mb']:.1f} / {o['end_mb']:.1f} / "
                  f"{o['after_mb']:.1f} ({o['settle_s']} s after) | "
                  f"{'–' if o.get('peak_lag_ms') is None else format(o['peak_lag_ms'], ',.0f')} |"]
    lines.append("")
    lines.append(f"Memory: {server.idle_mb:.1f} MB resident idle (target ≤ {TARGET_IDLE_MB}), "
                 f"{load_peak_mb:.1f} MB peak under load (target ≤ {TARGET_LOAD_MB}). Start to "
                 f"ready: {server.fresh_start_ms:.0f} ms on a new database (key generation, "
                 f"migrations, bootstrap), {start_ms:.0f} ms on an existing one (target ≤ "
                 f"{TARGET_START_MS}).")
    if micro:
        lines += ["", "| microbenchmark | CPU µs | per second |", "|---|---|---|"]
        for name, m in micro.items():
            ips = f"{m['items_per_second']:,.0f}" if m.get("items_per_second") else \
                f"{1e6 / m['cpu_us']:,.0f}" if m["cpu_us"] else "–"
            lines.append(f"| {name} | {m['cpu_us']:.2f} | {ips} |")
        lines.append("")
        lines.append("Crypto floor per request: " + "; ".join(
            f"{k}: {v:.1f} µs" for k, v in fl.items()) + ".")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
