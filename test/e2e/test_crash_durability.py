"""Crash durability (issue 23): refresh-token chains and code redemptions under load while the
server is killed with SIGKILL at random moments, and on PostgreSQL also while PostgreSQL itself
stops in immediate mode (a crash: recovery from its WAL) and starts again. After every restart
each chain and each code is checked against what its client was told.

Words. An answer is ACKNOWLEDGED when the client received it (a 200, the 302 carrying a code, a
400 saying a family is now revoked). A request is IN FLIGHT when its connection was opened and no
answer came (reset by the kill, or a 5xx while PostgreSQL is down): its outcome is unknown to the
client. A connection refused was never sent and changes nothing.

The rules checked after every restart:
- Zero LOST. A chain's last acknowledged refresh token, not presented since, rotates (200). A
  code whose issue was acknowledged and that was never presented redeems.
- Zero RESURRECTED. A refresh token whose successor was acknowledged is refused
  (InvalidGrantException); a code whose redemption was acknowledged is refused as already used;
  a token of a family whose revocation was acknowledged stays refused, after any later crash.
- Exactly once. The last acknowledged token, presented after the restart, rotates once; presented
  again it is refused as reuse (RFC 9700 §4.14.2) and its family is revoked.
- In flight at the crash. A rotation of T may or may not have committed. If it did not, T rotates
  now (200) and the chain goes on. If it did, the client never saw the successor, and presenting T
  is reuse of a rotated token: refused "already been used", the family revoked (T is then refused
  as "revoked"). Both are correct, and neither is a loss: T was presented again, so it was not
  "never presented". Anything else (T unknown, T refused as revoked at first, a 5xx after the
  service came back) fails the test. An in-flight code redemption likewise redeems now or is
  refused as already used.

Refresh grace is 0 (the default): a second presentation of a rotated token is reuse, never the
same successor again, so every answer above has one meaning.

What a SIGKILL proves: Tessera acknowledges nothing before its commit reached the database (SQLite:
the WAL frame written; PostgreSQL: the commit answered). Data written to the kernel survives a
process crash with or without fsync, so an operating-system crash or power loss is not what
this test simulates (RELIABILITY.md says so).

TS_CRASH_CYCLES (default 20) sets the number of crashes per backend; TS_CRASH_SEED replays a run's
random choices (the kill moments still fall where the scheduler puts them). `make crash` runs 100.
"""
import contextlib
import dataclasses
import errno
import http.client
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials

from test.e2e import harness, pg_harness

CYCLES = int(os.environ.get("TS_CRASH_CYCLES", "20"))
SEED = int(os.environ.get("TS_CRASH_SEED", str(random.randrange(1 << 32))))
PUBLIC_URL = "http://tessera.crash.test"  # fixed, so the issuer does not follow the port
APP = harness.DEMO_APP
CLIENT_REDIRECT = "http://127.0.0.1/oauth/callback"  # the AWS CLI's registration
CLIENT_CALLBACK = "http://127.0.0.1:9/oauth/callback"  # nobody listens: the 302 is read
WORKERS = 4
IAM_CHAINS = 8
CLIENT_CHAINS = 4
CODE_SHARE = 0.03  # of the operations under load: a code issued and redeemed
REQUEST_TIMEOUT = 20
# Load runs this long (seconds, uniform) before the fault, so the kill falls at a random moment.
LOAD_BEFORE_FAULT = (0.2, 2.0)
# A request begun this long after PostgreSQL is back may still meet the outage (a connection the
# node opened before it); later, a 5xx fails the test.
OUTAGE_GRACE = 2.0
REUSED = "already been used"
REVOKED = "Refresh token has been revoked"


class NotSent(Exception):
    """The connection was refused: the server never saw the request."""


class NoAnswer(Exception):
    """The request may have reached the server; no answer came."""


def exchange(port, method, path, body=None, headers=None):
    """One request on a fresh connection. Returns (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        try:
            conn.connect()
        except OSError as e:
            raise NotSent(repr(e)) from e
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise NoAnswer(repr(e)) from e
    finally:
        conn.close()


@dataclasses.dataclass
class Answer:
    status: int
    error_type: str
    body: dict

    def ok(self):
        return self.status == 200

    def refused(self, phrase):
        """A 400 InvalidGrantException whose description holds `phrase`."""
        return (self.status == 400 and self.error_type == "InvalidGrantException"
                and phrase in self.body.get("error_description", ""))

    def __str__(self):
        return f"{self.status} {self.error_type} {self.body.get('error_description', self.body)}"


def token_call(port, body, signed):
    """CreateTokenWithIAM (signed, POST /token?aws_iam=t) or CreateToken (POST /token)."""
    path = "/token?aws_iam=t" if signed else "/token"
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signed:
        request = botocore.awsrequest.AWSRequest(
            method="POST", url=f"http://127.0.0.1:{port}{path}", data=data, headers=headers)
        credentials = botocore.credentials.Credentials(harness.ROOT_KEY_ID, harness.ROOT_SECRET)
        botocore.auth.SigV4Auth(credentials, "sso-oauth", "us-east-1").add_auth(request)
        headers = dict(request.prepare().headers.items())
    status, response_headers, raw = exchange(port, "POST", path, data, headers)
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = {"_raw": raw.decode(errors="replace")}
    # x-amzn-ErrorType is "Name:namespace-URL"; the name is what the SDKs map.
    error_type = response_headers.get("x-amzn-ErrorType", "").split(":", 1)[0]
    return Answer(status, error_type, parsed)


@dataclasses.dataclass
class Client:
    """Who redeems: the demo IAM application (CreateTokenWithIAM, SigV4) or a client registered
    with RegisterClient (CreateToken with its secret)."""
    kind: str  # "iam" or "client"
    client_id: str = APP
    secret: str = ""

    def body(self, **members):
        body = {"clientId": self.client_id, **members}
        if self.kind == "client":
            body["clientSecret"] = self.secret
        return body

    def refresh(self, port, token):
        return token_call(port, self.body(grantType="refresh_token", refreshToken=token),
                          self.kind == "iam")

    def redirect_uri(self):
        return harness.DEMO_REDIRECT if self.kind == "iam" else CLIENT_CALLBACK

    def authorize_path(self, challenge):
        q = {"response_type": "code", "client_id": self.client_id,
             "redirect_uri": self.redirect_uri(), "state": "crash", "code_challenge": challenge,
             "code_challenge_method": "S256"}
        if self.kind == "client":
            q["scopes"] = "sso:account:access"
        return "/authorize?" + urllib.parse.urlencode(q)

    def redeem(self, port, code, verifier):
        return token_call(port, self.body(grantType="authorization_code", code=code,
                                          redirectUri=self.redirect_uri(),
                                          codeVerifier=verifier), self.kind == "iam")


@dataclasses.dataclass
class Chain:
    """One refresh-token family driven by one worker at a time."""
    client: Client
    acked: list  # the refresh tokens the client received, oldest first (the last few)
    in_flight: bool = False

    def receive(self, token):
        self.acked.append(token)
        del self.acked[:-6]


@dataclasses.dataclass
class CodeRecord:
    client: Client
    code: str
    verifier: str
    state: str  # "issued" (never presented), "in_flight" or "redeemed"
    refresh_token: str = ""  # what the acknowledged redemption produced


class Totals:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {"lost": 0, "resurrected": 0}  # printed even when zero

    def add(self, name, n=1):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + n

    def __getitem__(self, name):
        return self.counts.get(name, 0)


class CrashRun:
    """The load, the faults and the checks, over a backend's nodes (a subclass starts and
    crashes them)."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.ports = []  # the nodes' ports, None for a node that is down
        self.outages = []  # [start, end] of each PostgreSQL outage (monotonic; end None: down)
        self.totals = Totals()
        self.failures = []
        self.failures_lock = threading.Lock()
        self.internal_errors = []
        self.cookies = {}
        self.chains = []
        self.codes = []  # this cycle's
        self.dead_tokens = []  # (client, token): refused for good (family revoked)
        self.dead_codes = []  # (client, code, verifier): redemption acknowledged

    # A backend (subclass) defines any_server(), fault(cycle), recover() and stop().

    def in_outage(self, began):
        """Whether a request begun at `began` (time.monotonic()) and answered now overlapped a
        PostgreSQL outage: then a 5xx is expected."""
        now = time.monotonic()
        return any(start <= now and (end is None or began <= end + OUTAGE_GRACE)
                   for start, end in self.outages)

    def fail(self, message):
        with self.failures_lock:
            self.failures.append(message)

    def live_port(self):
        return self.rng.choice([p for p in self.ports if p is not None])

    # Set-up: one browser session (durable: it outlives every crash) and one registration.

    def set_up(self):
        server = self.any_server()
        browser = harness.Browser(server)
        _, challenge = harness.pkce_pair()
        browser.sign_in(challenge)
        self.cookies = dict(browser.cookies)
        registration = server.client().register_client(
            clientName="crash-test", clientType="public",
            grantTypes=["authorization_code", "refresh_token"], redirectUris=[CLIENT_REDIRECT],
            scopes=["sso:account:access"])
        self.clients = {"iam": Client("iam"),
                        "client": Client("client", registration["clientId"],
                                         registration["clientSecret"])}
        for kind, count in (("iam", IAM_CHAINS), ("client", CLIENT_CHAINS)):
            for _ in range(count):
                self.chains.append(self.new_chain(self.clients[kind]))

    def issue_code(self, port, client):
        """GET /authorize with the signed-in session: the 302 carries a code. Returns
        (code, verifier); raises NotSent or NoAnswer when no code was acknowledged."""
        verifier, challenge = harness.pkce_pair()
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        began = time.monotonic()
        status, response_headers, body = exchange(port, "GET", client.authorize_path(challenge),
                                                  headers=headers)
        if status >= 500 and self.in_outage(began):
            # 503 when the session could not be read (before issue 23's fix: the sign-in page).
            raise NoAnswer(f"authorize answered {status}")
        if status != 302:
            raise AssertionError(f"/authorize answered {status}: {body[:300]!r}")
        query = harness.parse_redirect(response_headers["Location"])
        if query.get("error") == "server_error" and self.in_outage(began):
            # RFC 6749 §4.1.2.1: the code could not be stored (PostgreSQL down).
            raise NoAnswer(f"authorize redirected with {query}")
        if "code" not in query:
            raise AssertionError(f"/authorize redirected without a code: {query}")
        self.totals.add("codes issued")
        return query["code"], verifier

    def new_chain(self, client):
        """A family from a fresh code, made while the nodes are up (retried until one is)."""
        for _ in range(50):
            port = self.live_port()
            try:
                code, verifier = self.issue_code(port, client)
                answer = client.redeem(port, code, verifier)
            except (NotSent, NoAnswer):
                time.sleep(0.1)
                continue
            if not answer.ok():
                raise AssertionError(f"redeeming a fresh code: {answer}")
            # Not kept for the code checks: presenting this code again would revoke the chain.
            self.totals.add("codes redeemed")
            return Chain(client, [answer.body["refreshToken"]])
        raise AssertionError("no node answered for a new chain")

    # The load.

    def work(self, worker, chains, stop, rng):
        try:
            self.rotate_until(worker, chains, stop, rng)
        except Exception as e:  # noqa: BLE001 - a worker's surprise fails the test
            self.fail(f"worker {worker}: {e!r}")

    def rotate_until(self, worker, chains, stop, rng):
        """Rotates its chains round robin, now and then issuing and redeeming a code, until
        `stop`. A chain whose rotation got no answer is in flight and left alone."""
        turn = 0
        while not stop.is_set():
            live = [c for c in chains if not c.in_flight]
            if not live:
                return
            chain = live[turn % len(live)]
            turn += 1
            # Each chain sticks to one node per cycle (on PostgreSQL, several nodes share them).
            port = self.ports[(chains.index(chain) + worker) % len(self.ports)]
            if port is None:
                time.sleep(0.005)
                continue
            began = time.monotonic()
            try:
                if rng.random() < CODE_SHARE:
                    self.code_under_load(port, chain.client)
                    continue
                answer = chain.client.refresh(port, chain.acked[-1])
            except NotSent:
                time.sleep(0.005)
                continue
            except NoAnswer:
                chain.in_flight = True
                self.totals.add("rotations in flight")
                continue
            if answer.ok():
                chain.receive(answer.body["refreshToken"])
                self.totals.add("rotations acknowledged")
            elif answer.status >= 500 and self.in_outage(began):
                chain.in_flight = True  # PostgreSQL down: the commit may or may not be there
                self.totals.add("rotations in flight")
                self.totals.add("5xx answers during an outage")
            else:
                chain.in_flight = True  # not ours to judge again
                self.fail(f"rotation under load answered {answer}")

    def code_under_load(self, port, client):
        try:
            code, verifier = self.issue_code(port, client)
        except NoAnswer:
            return
        record = CodeRecord(client, code, verifier, "issued")
        with self.failures_lock:
            self.codes.append(record)
        began = time.monotonic()
        try:
            answer = client.redeem(port, code, verifier)
        except NotSent:
            return  # stays "issued": never presented
        except NoAnswer:
            record.state = "in_flight"
            return
        if answer.ok():
            record.state = "redeemed"
            record.refresh_token = answer.body["refreshToken"]
            self.totals.add("codes redeemed")
        elif answer.status >= 500 and self.in_outage(began):
            record.state = "in_flight"
        else:
            record.state = "in_flight"
            self.fail(f"redeeming a fresh code under load answered {answer}")

    def load_until_fault(self, cycle):
        stop = threading.Event()
        shares = [self.chains[w::WORKERS] for w in range(WORKERS)]
        threads = [threading.Thread(target=self.work,
                                    args=(w, shares[w], stop, random.Random(self.rng.random())))
                   for w in range(WORKERS)]
        for t in threads:
            t.start()
        try:
            time.sleep(self.rng.uniform(*LOAD_BEFORE_FAULT))
            self.fault(cycle)
            time.sleep(0.1)  # requests sent after the fault meet a dead node or database
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=2 * REQUEST_TIMEOUT)
        self.recover()

    # The checks after a restart.

    def check_codes(self):
        for record in self.codes:
            port = self.live_port()
            answer = record.client.redeem(port, record.code, record.verifier)
            if record.state == "issued":
                self.totals.add("lost checks")
                if answer.ok():
                    self.totals.add("codes redeemed")
                    self.totals.add("codes issued before a crash, redeemed after")
                    continue
                self.fail(f"LOST: a code whose issue was acknowledged does not redeem: {answer}")
                self.totals.add("lost")
            elif record.state == "in_flight":
                if answer.ok():
                    self.totals.add("code redemptions in flight, not committed")
                    self.totals.add("codes redeemed")
                elif answer.refused(REUSED):
                    self.totals.add("code redemptions in flight, committed")
                    self.dead_codes.append((record.client, record.code, record.verifier))
                else:
                    self.fail(f"an in-flight code redemption answers {answer}")
            else:
                self.totals.add("resurrection checks")
                if answer.ok():
                    self.fail("RESURRECTED: a code whose redemption was acknowledged redeems again")
                    self.totals.add("resurrected")
                    continue
                if not answer.refused(REUSED):
                    self.fail(f"a redeemed code answers {answer}")
                    continue
                # Reuse revoked what the first redemption produced.
                self.expect_dead(record.client, record.refresh_token, REVOKED,
                                 "the family of a reused code")
                self.dead_codes.append((record.client, record.code, record.verifier))
        self.codes = []

    def expect_dead(self, client, token, phrase, what):
        """`token` must be refused (with `phrase`); it joins the tokens checked after every later
        crash."""
        answer = client.refresh(self.live_port(), token)
        self.totals.add("resurrection checks")
        if answer.ok():
            self.fail(f"RESURRECTED: {what} rotates")
            self.totals.add("resurrected")
        elif not answer.refused(phrase):
            self.fail(f"{what}: expected '{phrase}', got {answer}")
        self.dead_tokens.append((client, token))

    def check_graveyard(self):
        """A sample of what was refused before any earlier crash is refused still."""
        for client, token in self.rng.sample(self.dead_tokens, min(10, len(self.dead_tokens))):
            answer = client.refresh(self.live_port(), token)
            self.totals.add("resurrection checks")
            if answer.ok():
                self.fail("RESURRECTED: a token of a revoked family rotates after a crash")
                self.totals.add("resurrected")
            elif not (answer.refused(REVOKED) or answer.refused(REUSED)):
                self.fail(f"a token of a revoked family answers {answer}")
        for client, code, verifier in self.rng.sample(self.dead_codes,
                                                      min(5, len(self.dead_codes))):
            answer = client.redeem(self.live_port(), code, verifier)
            self.totals.add("resurrection checks")
            if answer.ok():
                self.fail("RESURRECTED: a used code redeems after a crash")
                self.totals.add("resurrected")
            elif not answer.refused(REUSED):
                self.fail(f"a used code answers {answer}")

    def check_chain(self, chain, probe):
        """Checks one chain after a restart; returns False when the chain is over (its family
        revoked) and must be replaced."""
        last = chain.acked[-1]
        client = chain.client
        if probe == "earlier" and len(chain.acked) >= 2:
            # A token whose successor was acknowledged: most often the one rotated last.
            earlier = chain.acked[-2] if self.rng.random() < 0.5 else \
                self.rng.choice(chain.acked[:-1])
            answer = client.refresh(self.live_port(), earlier)
            self.totals.add("resurrection checks")
            if answer.ok():
                self.fail("RESURRECTED: a token whose successor was acknowledged rotates")
                self.totals.add("resurrected")
            elif not answer.refused(REUSED):
                self.fail(f"a rotated token answers {answer}")
            self.dead_tokens.append((client, earlier))
            self.expect_dead(client, last, REVOKED, "the last token after its family's reuse")
            return False
        answer = client.refresh(self.live_port(), last)
        if answer.ok():
            if chain.in_flight:
                self.totals.add("rotations in flight, not committed")
            else:
                self.totals.add("lost checks")
            chain.in_flight = False
            chain.receive(answer.body["refreshToken"])
            self.totals.add("rotations acknowledged")
        elif chain.in_flight and answer.refused(REUSED):
            # The rotation in flight had committed: reuse, and the family is revoked.
            self.totals.add("rotations in flight, committed")
            self.expect_dead(client, last, REVOKED, "a token of a family revoked for reuse")
            return False
        else:
            if chain.in_flight:
                self.fail(f"an in-flight rotation's token answers {answer}")
            else:
                self.totals.add("lost checks")
                self.totals.add("lost")
                self.fail(f"LOST: the last acknowledged refresh token answers {answer}")
            return False
        if probe == "once":
            # Exactly once: the token just rotated is refused as reuse; the family is revoked.
            again = client.refresh(self.live_port(), last)
            self.totals.add("resurrection checks")
            if again.ok():
                self.fail("RESURRECTED: a token rotated after the restart rotates twice")
                self.totals.add("resurrected")
            elif not again.refused(REUSED):
                self.fail(f"a token presented twice answers {again}")
            self.dead_tokens.append((client, last))
            self.expect_dead(client, chain.acked[-1], REVOKED, "the successor after reuse")
            return False
        return True

    def check_after_restart(self, cycle):
        self.wait_until_serving()
        self.check_codes()
        self.check_graveyard()
        # Two chains a cycle are probed destructively (one each way), then replaced.
        probes = {}
        picks = self.rng.sample(range(len(self.chains)), 2)
        probes[picks[0]] = "earlier"
        probes[picks[1]] = "once"
        for i, chain in enumerate(self.chains):
            if not self.check_chain(chain, probes.get(i)):
                self.chains[i] = self.new_chain(chain.client)

    def wait_until_serving(self):
        """Every node answers a token request with a modeled answer (an unknown refresh token:
        a read, which changes nothing)."""
        deadline = time.monotonic() + 60
        for port in self.ports:
            while True:
                try:
                    answer = self.clients["iam"].refresh(port, "tsrt_unknown")
                    if answer.refused("Invalid refresh token provided"):
                        break
                    if answer.status < 500:
                        raise AssertionError(f"an unknown refresh token answers {answer}")
                except (NotSent, NoAnswer):
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("the service did not resume within 60 s")
                time.sleep(0.1)

    def run(self, cycles):
        started = time.monotonic()
        self.set_up()
        for cycle in range(cycles):
            self.load_until_fault(cycle)
            self.check_after_restart(cycle)
            self.totals.add("cycles")
        # Every chain's last token, once more after the last restart: it rotates exactly once.
        for chain in self.chains:
            self.check_chain(chain, "once")
        self.totals.add("seconds", round(time.monotonic() - started))
        return self.totals


class SqliteCrash(CrashRun):

    def __init__(self, seed, directory):
        super().__init__(seed)
        self.db = os.path.join(directory, "tessera.db")
        self.server = self.start()
        self.ports = [self.server.port]

    def start(self):
        return harness.Server(db=self.db, extra_args=["--public-url", PUBLIC_URL,
                                                      "--refresh-grace", "0"])

    def any_server(self):
        return self.server

    def fault(self, cycle):
        self.server.proc.kill()  # SIGKILL
        self.server.proc.wait()
        self.totals.add("kills")

    def recover(self):
        self.internal_errors += self.server.internal_error_lines()
        self.server.stop()
        self.server = self.start()
        self.ports = [self.server.port]

    def stop(self):
        self.internal_errors += self.server.internal_error_lines()
        self.server.stop()


class RolledBackSqlite(SqliteCrash):
    """A store that acknowledges what it then loses: at each kill the database goes back to a
    copy taken before the load (the checks must notice)."""

    def snapshot(self):
        self.copy = self.db + ".snapshot"
        with contextlib.closing(sqlite3.connect(self.db)) as source, \
                contextlib.closing(sqlite3.connect(self.copy)) as target:
            source.backup(target)

    def set_up(self):
        super().set_up()
        # A code issued before the copy and redeemed after it: the rollback revives it.
        client = self.clients["iam"]
        code, verifier = self.issue_code(self.ports[0], client)
        self.snapshot()
        answer = client.redeem(self.ports[0], code, verifier)
        self.codes.append(CodeRecord(client, code, verifier, "redeemed",
                                     answer.body["refreshToken"]))

    def fault(self, cycle):
        super().fault(cycle)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.db + suffix):
                os.remove(self.db + suffix)
        shutil.copyfile(self.copy, self.db)


class PostgresCrash(CrashRun):
    """Two nodes on one PostgreSQL. Every third cycle PostgreSQL stops in immediate mode while
    the load runs and starts again; the other cycles kill -9 one node."""
    NODES = 2

    def __init__(self, seed, pg, database="tessera"):
        super().__init__(seed)
        self.pg = pg
        self.url = pg.create_database(database)
        self.servers = [self.start() for _ in range(self.NODES)]
        self.ports = [s.port for s in self.servers]
        self.killed = None

    def start(self):
        return harness.Server(db=self.url, extra_args=["--public-url", PUBLIC_URL,
                                                       "--refresh-grace", "0"])

    def any_server(self):
        return self.servers[0]

    def fault(self, cycle):
        if cycle % 3 == 2:
            self.outages.append([time.monotonic(), None])
            self.pg.stop_server("immediate")
            self.totals.add("PostgreSQL crashes")
            time.sleep(self.rng.uniform(0.1, 0.5))  # the outage: requests get 5xx meanwhile
            self.pg.start()
            self.outages[-1][1] = time.monotonic()
            return
        self.killed = self.rng.randrange(self.NODES)
        self.ports[self.killed] = None
        self.servers[self.killed].proc.kill()
        self.servers[self.killed].proc.wait()
        self.totals.add("kills")

    def recover(self):
        if self.killed is None:
            return
        server = self.servers[self.killed]
        self.internal_errors += server.internal_error_lines()
        server.stop()
        self.servers[self.killed] = self.start()
        self.ports[self.killed] = self.servers[self.killed].port
        self.killed = None

    def stop(self):
        for server in self.servers:
            self.internal_errors += server.internal_error_lines()
            server.stop()


def report(backend, run, seed):
    counts = dict(sorted(run.totals.counts.items()))
    counts["internal errors logged"] = len(run.internal_errors)
    print(f"\ncrash durability ({backend}, seed {seed}): " +
          ", ".join(f"{k} {v}" for k, v in counts.items()), file=sys.stderr, flush=True)


class SqliteCrashTest(unittest.TestCase):
    maxDiff = None

    def test_kill_9_loses_and_resurrects_nothing(self):
        directory = tempfile.mkdtemp(prefix="tessera-crash-")
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        run = SqliteCrash(SEED, directory)
        try:
            totals = run.run(CYCLES)
        finally:
            run.stop()
            report("SQLite", run, SEED)
        self.assertEqual(run.failures, [], f"seed {SEED}")
        self.assertEqual(totals["cycles"], CYCLES)
        self.assertEqual(totals["kills"], CYCLES)
        self.assertEqual(totals["lost"], 0)
        self.assertEqual(totals["resurrected"], 0)
        # The test proved something: rotations were acknowledged between kills, each kill
        # checked every chain, and some requests were in flight at a kill.
        self.assertGreater(totals["rotations acknowledged"], 20 * CYCLES)
        self.assertGreaterEqual(totals["lost checks"], CYCLES * 3)
        self.assertGreater(totals["resurrection checks"], CYCLES)
        self.assertGreater(totals["rotations in flight"], 0)
        # A process crash is no reason for an internal error: none was answered.
        self.assertEqual(run.internal_errors, [])
        # The database is sound.
        with contextlib.closing(sqlite3.connect(run.db)) as conn:
            self.assertEqual(conn.execute("PRAGMA integrity_check").fetchall(), [("ok",)])


    def test_the_checks_notice_a_store_that_loses_acknowledged_writes(self):
        """The checker itself: a database rolled back at the kill must be reported."""
        directory = tempfile.mkdtemp(prefix="tessera-crash-")
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        run = RolledBackSqlite(SEED, directory)
        try:
            totals = run.run(1)
        finally:
            run.stop()
        self.assertGreater(totals["lost"], 0)
        self.assertGreater(totals["resurrected"], 0)
        self.assertIn("RESURRECTED: a code whose redemption was acknowledged redeems again",
                      run.failures)
        self.assertTrue(any(f.startswith("LOST: the last acknowledged refresh token answers "
                                         "400 InvalidGrantException Invalid refresh token")
                            for f in run.failures), run.failures)


class PostgresCrashTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.pg = pg_harness.PostgresServer()
        cls.addClassCleanup(cls.pg.stop)

    def test_authorize_while_postgres_is_down_answers_503(self):
        """The sign-in page cannot read the application or client: the server's failure (503
        and a page saying to try again, the cause in the log), not the request's (400)."""
        run = PostgresCrash(SEED, self.pg, database="outage")
        self.addCleanup(run.stop)
        run.set_up()
        port = run.ports[0]
        self.pg.stop_server("immediate")
        try:
            for kind, what in (("iam", "application"), ("client", "client")):
                _, challenge = harness.pkce_pair()
                headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in run.cookies.items())}
                status, _, body = exchange(port, "GET",
                                           run.clients[kind].authorize_path(challenge),
                                           headers=headers)
                self.assertEqual(status, 503, body[:400])
                self.assertIn(f"The server could not read the {what}. Try again.", body.decode())
        finally:
            self.pg.start()
        self.assertIn("authorize: UNAVAILABLE", run.servers[0].server_log())
        run.wait_until_serving()
        self.assertEqual(len(run.issue_code(port, run.clients["iam"])), 2)  # resumed

    def test_node_kills_and_postgres_crashes_lose_and_resurrect_nothing(self):
        pg = self.pg
        run = PostgresCrash(SEED, pg)
        try:
            totals = run.run(CYCLES)
        finally:
            run.stop()
            report("PostgreSQL", run, SEED)
        self.assertEqual(run.failures, [], f"seed {SEED}")
        self.assertEqual(totals["cycles"], CYCLES)
        self.assertEqual(totals["lost"], 0)
        self.assertEqual(totals["resurrected"], 0)
        self.assertEqual(totals["PostgreSQL crashes"], CYCLES // 3)
        self.assertGreater(totals["rotations acknowledged"], 20 * CYCLES)
        self.assertGreater(totals["resurrection checks"], CYCLES)
        # The outage's failures were answered as InternalServerException and logged as
        # unavailable, never as anything else.
        for line in run.internal_errors:
            self.assertIn("UNAVAILABLE", line)



class DiskFullTest(unittest.TestCase):
    """SQLite on a small file system (a tmpfs; mounting needs root, else the test is skipped)
    that fills up while chains rotate. Writes then fail as InternalServerException (500 in the
    modeled shape, which the SDKs retry); reads go on; the process lives; nothing acknowledged
    is lost and a failed write committed nothing (its token rotates once space returns); the
    database passes integrity_check; the service resumes by itself."""
    maxDiff = None
    MEGABYTES = 16

    def mount_small_file_system(self):
        mount = tempfile.mkdtemp(prefix="tessera-full-")
        self.addCleanup(os.rmdir, mount)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.MEGABYTES}m,mode=0700",
                            "tessera-full", mount], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        self.addCleanup(subprocess.run, ["umount", mount], check=True)
        return mount

    @staticmethod
    def fill(path):
        """Writes `path` until the file system has no byte left."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for size in (1 << 16, 1 << 12, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
        finally:
            os.close(fd)

    def assert_internal_error(self, answer):
        self.assertEqual((answer.status, answer.error_type), (500, "InternalServerException"),
                         str(answer))
        self.assertEqual(answer.body.get("error"), "server_error")
        self.assertEqual(answer.body.get("error_description"),
                         "An internal error occurred. Retry the request.")

    def test_a_full_disk_fails_writes_with_a_modeled_error_and_recovers(self):
        mount = self.mount_small_file_system()
        run = SqliteCrash(SEED, mount)
        self.addCleanup(run.stop)  # before the unmount (cleanups run last first)
        run.set_up()
        port = run.ports[0]
        for chain in run.chains:
            answer = chain.client.refresh(port, chain.acked[-1])
            self.assertTrue(answer.ok(), str(answer))
            chain.receive(answer.body["refreshToken"])

        filler = os.path.join(mount, "filler")
        self.fill(filler)
        failed = 0
        acknowledged = 0
        for turn in range(5000):
            live = [c for c in run.chains if not c.in_flight]
            if not live or failed >= 20:
                break
            chain = live[turn % len(live)]
            answer = chain.client.refresh(port, chain.acked[-1])
            if answer.ok():
                chain.receive(answer.body["refreshToken"])
                acknowledged += 1
                continue
            self.assert_internal_error(answer)
            chain.in_flight = True  # its token is presented again once space returns
            failed += 1
        self.assertGreater(failed, 0, f"{acknowledged} rotations and the disk never filled up")
        # Still full: a retry is refused the same way, a read is answered, the process lives.
        stuck = next(c for c in run.chains if c.in_flight)
        self.assert_internal_error(stuck.client.refresh(port, stuck.acked[-1]))
        self.assertTrue(run.clients["iam"].refresh(port, "tsrt_unknown").refused(
            "Invalid refresh token provided"))
        self.assertIsNone(run.server.proc.poll())

        os.remove(filler)
        # Space is back: every chain's last acknowledged token rotates, those whose rotation
        # failed included (a 500 committed nothing), within a few retries as an SDK makes them.
        for chain in run.chains:
            deadline = time.monotonic() + 10
            while True:
                answer = chain.client.refresh(port, chain.acked[-1])
                if answer.ok() or answer.status != 500 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.assertTrue(answer.ok(), f"after space returned: {answer}")
            chain.receive(answer.body["refreshToken"])
            chain.in_flight = False
        for chain in run.chains:
            run.check_chain(chain, "once")
        self.assertEqual(run.failures, [])
        with contextlib.closing(sqlite3.connect(run.db)) as conn:
            self.assertEqual(conn.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
        print(f"\ndisk full: {acknowledged} rotations acknowledged on the full file system, "
              f"{failed} answered 500", file=sys.stderr, flush=True)
        # Each 500 was logged with its cause, as a failure of the database, not of the request.
        lines = run.server.internal_error_lines()
        self.assertGreaterEqual(len(lines), failed)
        for line in lines:
            self.assertIn("UNAVAILABLE", line)
            self.assertIn("database or disk is full", line)


if __name__ == "__main__":
    unittest.main()
