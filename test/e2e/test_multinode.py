"""Three Tessera nodes on one PostgreSQL (docs/design/deployment.md): any node finishes what
another started, races between nodes are settled by the database, signing keys rotate while every
node serves traffic, and a PostgreSQL restart under load loses nothing that was acknowledged.

Needs PostgreSQL 15 (label `postgres`); pg_harness starts a throwaway server.
"""
import concurrent.futures
import itertools
import json
import random
import sys
import threading
import time
import unittest
import urllib.request

import botocore.config
from joserfc import jwt
from joserfc.jwk import KeySet

from test.e2e import harness, pg_harness
from test.e2e.tx_support import signed_post

APP = harness.DEMO_APP
ISSUER_PATH = "/ssoins-111111111111"
TIMEOUT_SECONDS = 60


# Nodes behind one load balancer share its URL: it is the issuer of their tokens, which every
# node checks (the nodes are reached directly here; nothing listens at this address).
PUBLIC_URL = "http://tessera.lb.test"


def start_nodes(db, count, extra_args):
    """Starts `count` nodes on `db` one after another (the first applies the demo configuration;
    the others find it, which the bootstrap does idempotently)."""
    nodes = []
    try:
        for _ in range(count):
            nodes.append(harness.Server(db=db, extra_args=["--public-url", PUBLIC_URL,
                                                           *extra_args]))
    except Exception:
        for n in nodes:
            n.stop()
        raise
    return nodes


def internal_errors(nodes):
    return [line for n in nodes for line in n.internal_error_lines()]


class MultiNodeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pg_harness.PostgresServer()
        cls.addClassCleanup(cls.pg.stop)
        # Fast key rotation so that a rotation happens within a test: a key signs for 8 s, is
        # published 1 + 2 * 1 = 3 s ahead (JWKS max-age 1 s, reload every second).
        cls.nodes = start_nodes(cls.pg.create_database("tessera"), 3,
                                ["--refresh-grace", "0", "--signing-key-rotation", "8",
                                 "--jwks-max-age", "1", "--key-reload-interval", "1"])
        for n in cls.nodes:
            cls.addClassCleanup(n.stop)

    def sign_in(self, node):
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(node).sign_in(challenge)
        return redirect["code"], verifier

    def redeem(self, node, code, verifier):
        return node.client().create_token_with_iam(
            clientId=APP, grantType="authorization_code", code=code,
            redirectUri=harness.DEMO_REDIRECT, codeVerifier=verifier)

    def race(self, calls):
        """Runs the callables released together; returns (successes, failures)."""
        barrier = threading.Barrier(len(calls), timeout=TIMEOUT_SECONDS)

        def run(call):
            barrier.wait()
            try:
                return ("ok", call())
            except Exception as e:  # noqa: BLE001 - classified by the caller
                return ("error", e)

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
            results = [f.result(timeout=TIMEOUT_SECONDS)
                       for f in [pool.submit(run, c) for c in calls]]
        return ([r for kind, r in results if kind == "ok"],
                [e for kind, e in results if kind == "error"])

    def assert_invalid_grant(self, failures, description):
        for e in failures:
            self.assertEqual(e.response["Error"]["Code"], "InvalidGrantException", repr(e))
            self.assertIn(description, e.response["error_description"])

    def test_code_issued_by_one_node_is_redeemed_at_another(self):
        node1, node2, node3 = self.nodes
        code, verifier = self.sign_in(node1)
        tokens = self.redeem(node2, code, verifier)
        self.assertEqual(tokens["tokenType"], "Bearer")
        # ... and refreshed at the third.
        renewed = node3.client().create_token_with_iam(
            clientId=APP, grantType="refresh_token", refreshToken=tokens["refreshToken"])
        self.assertNotEqual(renewed["refreshToken"], tokens["refreshToken"])
        self.assertEqual(internal_errors(self.nodes), [])

    def test_one_code_redeemed_at_every_node_at_once_has_one_winner(self):
        code, verifier = self.sign_in(self.nodes[0])
        # Four callers per node, twelve in all, released together.
        clients = [n.client() for n in self.nodes for _ in range(4)]
        successes, failures = self.race([
            lambda c=c: c.create_token_with_iam(
                clientId=APP, grantType="authorization_code", code=code,
                redirectUri=harness.DEMO_REDIRECT, codeVerifier=verifier) for c in clients])
        self.assertEqual(len(successes), 1, failures)
        self.assertEqual(len(failures), len(clients) - 1)
        self.assert_invalid_grant(failures, "already been used")
        self.assertEqual(internal_errors(self.nodes), [])

    def test_one_refresh_token_rotated_at_every_node_at_once_has_one_winner(self):
        code, verifier = self.sign_in(self.nodes[1])
        first = self.redeem(self.nodes[1], code, verifier)
        clients = [n.client() for n in self.nodes for _ in range(4)]
        successes, failures = self.race([
            lambda c=c: c.create_token_with_iam(
                clientId=APP, grantType="refresh_token", refreshToken=first["refreshToken"])
            for c in clients])
        self.assertEqual(len(successes), 1, failures)
        self.assertEqual(len(failures), len(clients) - 1)
        for e in failures:
            self.assertEqual(e.response["Error"]["Code"], "InvalidGrantException", repr(e))
        # Reuse policy (no grace): the second presentation revoked the family, winner included,
        # whichever node it reached.
        for node in self.nodes:
            with self.assertRaises(Exception) as e:
                node.client().create_token_with_iam(
                    clientId=APP, grantType="refresh_token",
                    refreshToken=successes[0]["refreshToken"])
            self.assertEqual(e.exception.response["error_description"],
                             "Refresh token has been revoked")
        self.assertEqual(internal_errors(self.nodes), [])

    def test_configuration_changed_through_one_node_applies_at_the_next_request_elsewhere(self):
        key = self.nodes[0].new_access_key(harness.WEBAPP_ROLE)  # the CLI, on the shared database
        code, verifier = self.sign_in(self.nodes[1])
        webapp = self.nodes[2].client(key["AWS_ACCESS_KEY_ID"], key["AWS_SECRET_ACCESS_KEY"])
        tokens = webapp.create_token_with_iam(
            clientId=APP, grantType="authorization_code", code=code,
            redirectUri=harness.DEMO_REDIRECT, codeVerifier=verifier)
        r = self.nodes[0].tessera("delete-access-key", "--access-key-id", key["AWS_ACCESS_KEY_ID"])
        self.assertEqual(r.returncode, 0, r.stderr)
        with self.assertRaises(Exception) as e:
            self.nodes[1].client(key["AWS_ACCESS_KEY_ID"], key["AWS_SECRET_ACCESS_KEY"]) \
                .create_token_with_iam(clientId=APP, grantType="refresh_token",
                                       refreshToken=tokens["refreshToken"])
        self.assertEqual(e.exception.response["Error"]["Code"], "UnrecognizedClientException")
        # The node that used the key keeps it for --config-cache-ttl-ms (1 s by default): it
        # refuses the key once that has passed.
        time.sleep(1.1)
        with self.assertRaises(Exception) as e:
            webapp.create_token_with_iam(clientId=APP, grantType="refresh_token",
                                         refreshToken=tokens["refreshToken"])
        self.assertEqual(e.exception.response["Error"]["Code"], "UnrecognizedClientException")

    def test_failed_sign_ins_count_toward_one_limit_across_nodes(self):
        user = "nobody-" + harness.secrets.token_hex(4)
        _, challenge = harness.pkce_pair()
        statuses = []
        for i in range(6):  # the limit is 5 failures per user name; spread over the nodes
            browser = harness.Browser(self.nodes[i % 3])
            _, _, _, form = browser.open_login(browser.authorize_url(challenge))
            status, _, body = browser.submit_login(form, user, "wrong password")
            statuses.append(status)
        self.assertEqual(statuses, [401] * 5 + [429])
        self.assertIn("Too many failed sign-in attempts", body)

    def test_a_node_without_the_shared_master_key_refuses_to_start(self):
        db = self.nodes[0].db
        with self.assertRaises(RuntimeError) as e:
            harness.Server(db=db, env={"TESSERA_MASTER_KEY": "11" * 32})
        self.assertIn("the master key does not match this database", str(e.exception))
        # No key at all: a PostgreSQL node never makes one up for itself.
        with self.assertRaises(RuntimeError) as e:
            harness.Server(db=db, env={"TESSERA_MASTER_KEY": ""})
        self.assertIn("every node must use the same master key", str(e.exception))

    def test_key_rotation_while_every_node_serves_traffic(self):
        """Tokens from every node verify against the JWKS any node serves, cached as a resource
        server would (max-age), before, during and after rotations: no verification fails."""
        families = []
        for node in self.nodes:
            code, verifier = self.sign_in(node)
            families.append(self.redeem(node, code, verifier)["refreshToken"])
        cache = {}  # node url -> (fetched_at, max_age, KeySet)

        def jwks(node):
            entry = cache.get(node.url)
            if entry and time.monotonic() - entry[0] < entry[1]:
                return entry[2]
            with urllib.request.urlopen(node.url + ISSUER_PATH + "/.well-known/jwks.json") as r:
                max_age = int(r.headers["Cache-Control"].split("max-age=")[1])
                keys = KeySet.import_key_set(json.load(r))
            cache[node.url] = (time.monotonic(), max_age, keys)
            return keys

        kids = set()
        verified = 0
        failures = []
        deadline = time.monotonic() + 20  # more than two rotation periods
        for i in itertools.count():
            if time.monotonic() > deadline:
                break
            issuer = self.nodes[i % 3]
            family = i % len(families)
            tokens = issuer.client().create_token_with_iam(
                clientId=APP, grantType="refresh_token", refreshToken=families[family])
            families[family] = tokens["refreshToken"]
            verifier = self.nodes[random.randrange(3)]
            for token in (tokens["accessToken"], tokens["idToken"]):
                try:
                    decoded = jwt.decode(token, jwks(verifier), algorithms=["ES256"])
                    kids.add(decoded.header["kid"])
                    verified += 1
                except Exception as e:  # noqa: BLE001 - every failure is reported below
                    failures.append(f"{issuer.url} -> {verifier.url}: {e!r}")
            # Online verification too, at yet another node.
            status, _, body = signed_post(self.nodes[(i + 1) % 3], "/introspect",
                                          {"clientId": APP, "token": tokens["accessToken"]})
            if status != 200 or body.get("active") is not True:
                failures.append(f"introspection: {status} {body}")
            time.sleep(0.05)
        self.assertEqual(failures, [])
        self.assertGreaterEqual(len(kids), 2, "no rotation happened during the test")
        self.assertGreater(verified, 50)
        self.assertEqual(internal_errors(self.nodes), [])


class PostgresRestartTest(unittest.TestCase):
    """PostgreSQL restarts while three nodes serve refreshes: requests in flight fail with
    InternalServerException (retried by the SDK), nodes reconnect by themselves, and every token
    a client received before, during or after the restart is still good afterwards."""

    @classmethod
    def setUpClass(cls):
        cls.pg = pg_harness.PostgresServer()
        cls.addClassCleanup(cls.pg.stop)
        # A refresh grace window makes a retried rotation idempotent: if a commit succeeded but
        # its answer was lost with the connection, the SDK's retry gets the same successor
        # instead of tripping reuse detection (docs/design/deployment.md).
        cls.nodes = start_nodes(cls.pg.create_database("tessera"), 3,
                                ["--refresh-grace", "60"])
        for n in cls.nodes:
            cls.addClassCleanup(n.stop)

    def client(self, node):
        # The SDK's standard retry mode retries InternalServerException with backoff.
        return harness.boto3.client(
            "sso-oidc", region_name="us-east-1", endpoint_url=node.url,
            aws_access_key_id=harness.ROOT_KEY_ID, aws_secret_access_key=harness.ROOT_SECRET,
            config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 10}))

    def test_restart_under_load_loses_nothing_acknowledged(self):
        workers = 6
        chains = []
        for i in range(workers):
            node = self.nodes[i % 3]
            verifier, challenge = harness.pkce_pair()
            code = harness.Browser(node).sign_in(challenge)["code"]
            chains.append(self.client(node).create_token_with_iam(
                clientId=APP, grantType="authorization_code", code=code,
                redirectUri=harness.DEMO_REDIRECT, codeVerifier=verifier)["refreshToken"])
        acknowledged = [[] for _ in range(workers)]  # access tokens each worker received
        errors = []
        stop = threading.Event()

        def work(w):
            clients = [self.client(n) for n in self.nodes]
            for i in itertools.count():
                if stop.is_set():
                    return
                try:
                    tokens = clients[(w + i) % 3].create_token_with_iam(
                        clientId=APP, grantType="refresh_token", refreshToken=chains[w])
                except Exception as e:  # noqa: BLE001 - retries exhausted: reported below
                    errors.append(f"worker {w}: {e!r}")
                    return
                chains[w] = tokens["refreshToken"]
                acknowledged[w].append(tokens["accessToken"])

        threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
        for t in threads:
            t.start()
        time.sleep(2)
        before = sum(len(a) for a in acknowledged)
        self.pg.restart("immediate")  # a crash: recovery replays the WAL
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join(timeout=TIMEOUT_SECONDS)
        after = sum(len(a) for a in acknowledged)
        self.assertEqual(errors, [])
        self.assertGreater(before, 0)
        self.assertGreater(after, before, "no request succeeded after the restart")

        # Everything acknowledged is still valid: every access token introspects active (its
        # family lives) at every node, and every chain's last refresh token still refreshes.
        for w in range(workers):
            for n, token in enumerate(acknowledged[w]):
                status, _, body = signed_post(self.nodes[n % 3], "/introspect",
                                              {"clientId": APP, "token": token})
                self.assertEqual(status, 200, body)
                self.assertIs(body.get("active"), True, f"worker {w} token {n}: {body}")
            self.client(self.nodes[w % 3]).create_token_with_iam(
                clientId=APP, grantType="refresh_token", refreshToken=chains[w])
        print(f"\nrestart: {before} refreshes before, {after} in all, {len(internal_errors(self.nodes))} answered 500",
              file=sys.stderr, flush=True)
        # The failures the restart caused were answered as InternalServerException (500) and
        # logged as unavailable, never as anything else.
        for line in internal_errors(self.nodes):
            self.assertIn("UNAVAILABLE", line)


if __name__ == "__main__":
    unittest.main()
