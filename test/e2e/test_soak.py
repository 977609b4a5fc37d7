"""`make soak`'s mechanics (bench/soak.py, issue 23): the trend rule on synthetic data, and a
20-second run that writes its CSV. Tests are not timed: the real soak is `make soak`."""
import csv
import os
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import soak  # noqa: E402

RETURN_SECONDS = 15
MIN_BURST_GROWTH_MB = 6
# What may stay besides half the burst: a little slack for a noisy machine, well below a
# sign-in's argon2id work area (m=19456 KiB, 19 MiB). That block used to stay at the top of a
# thread arena, which malloc_trim does not trim (one was the whole difference under parallel
# tests: 11.9 MB before, 30.8 after); it is now mapped and unmapped for each hash
# (docs/design/memory.md), and this bound fails if it stays again.
SLACK_MB = 4.0


def rows(n, rss=lambda i: 30.0, p99=lambda i: 1.0):
    return [{"elapsed_s": str(30 * i), "rss_mb": str(rss(i)), "db_mb": str(i),
             "refresh_p99_ms": str(p99(i)), "code_p99_ms": "2.0", "jwt_p99_ms": "3.0",
             "admin_p99_ms": "4.0"} for i in range(n)]


class TrendRuleTest(unittest.TestCase):
    def test_flat_series_pass_and_a_growing_database_is_not_judged(self):
        failures, notes = soak.trend_failures(rows(40))
        self.assertEqual(failures, [])
        self.assertTrue(any(n.startswith("rss_mb:") for n in notes))

    def test_memory_that_keeps_growing_fails(self):
        failures, _ = soak.trend_failures(rows(40, rss=lambda i: 30 + 1.0 * i))
        self.assertEqual(len(failures), 1)
        self.assertIn("rss_mb trends upward", failures[0])

    def test_memory_that_grows_then_levels_off_passes(self):
        # Warm-up growth in the first quarter is not a trend.
        failures, _ = soak.trend_failures(rows(40, rss=lambda i: 30 + min(i, 8) * 3))
        self.assertEqual(failures, [])

    def test_small_noise_within_the_slack_passes(self):
        failures, _ = soak.trend_failures(rows(40, rss=lambda i: 30 + (i % 3),
                                               p99=lambda i: 1 + (i % 5) * 0.3))
        self.assertEqual(failures, [])

    def test_latency_that_keeps_growing_fails(self):
        failures, _ = soak.trend_failures(rows(40, p99=lambda i: 1 + 0.2 * i))
        self.assertEqual(len(failures), 1)
        self.assertIn("refresh_p99_ms trends upward", failures[0])

    def test_a_short_series_is_not_judged(self):
        failures, notes = soak.trend_failures(rows(5, rss=lambda i: 30 + 10 * i))
        self.assertEqual(failures, [])
        self.assertIn("too short", notes[0])

    def test_check_reads_a_csv_and_sets_the_exit_status(self):
        with tempfile.TemporaryDirectory() as d:
            for name, series, want in [("flat", rows(20), 0),
                                       ("leak", rows(20, rss=lambda i: 30 + 2 * i), 1)]:
                path = os.path.join(d, name + ".csv")
                with open(path, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=list(series[0]))
                    w.writeheader()
                    w.writerows(series)
                r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "soak.py"),
                                    "--check", path], capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, want, r.stdout + r.stderr)


@unittest.skipUnless(os.environ.get("TESSERA_LOADGEN"), "needs tessera-loadgen (ctest sets it)")
class ShortSoakTest(unittest.TestCase):
    def test_a_20_second_soak_writes_a_row_per_round_without_errors(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "soak.csv")
            r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "soak.py"),
                                "--seconds", "20", "--round", "5", "--capacity", "100",
                                "--admin-rate", "5", "--csv", path],
                               capture_output=True, text=True, timeout=240)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
            self.assertIn("too short to judge", r.stdout)
            with open(path) as f:
                got = list(csv.DictReader(f))
            self.assertGreaterEqual(len(got), 3)
            for row in got:
                self.assertEqual(row["errors"], "")
                self.assertGreater(float(row["rss_mb"]), 1)
                self.assertGreater(float(row["db_mb"]), 0)
                self.assertGreater(float(row["refresh_per_s"]), 0)
                self.assertGreater(int(row["admin_calls"]), 0)
                # What the server saw (its CPU, and its own p99 from its metrics), and how late
                # the generators started together after their setups.
                self.assertGreater(float(row["server_cpu_pct"]), 0)
                self.assertNotEqual(row["server_token_p99_ms_le"], "")
                self.assertGreaterEqual(float(row["late_start_s"]), 0)


@unittest.skipUnless(os.environ.get("TESSERA_LOADGEN"), "needs tessera-loadgen (ctest sets it)")
class MemoryAfterABurstTest(unittest.TestCase):
    """After a burst the resident memory comes back down (docs/design/memory.md): glibc keeps
    what a burst freed in its arenas unless --memory-trim-interval gives it back. With 1, anonymous
    RSS went 13.9 MB before the second burst, 24.2 at its end, 14.1 after; with 0 it was 39.3,
    42.4, 42.4 (the first burst's garbage never left, the second reused it), which fails here.
    Memory is asserted, not time: RSS is polled until it is back, for up to RETURN_SECONDS."""

    @staticmethod
    def anon_mb(pid):
        """Anonymous resident memory (the heap's): the executable's own pages, which a burst's
        new code paths bring in, are file pages no allocator returns."""
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
        raise AssertionError("no RssAnon in /proc/PID/status")

    def burst(self, extra_args):
        """Anonymous RSS before a burst, at its end, and the lowest within RETURN_SECONDS after,
        in MB."""
        import run_bench as rb
        with tempfile.TemporaryDirectory() as d:
            server = rb.Tessera(d, rb.free_port(), 0, extra_args)
            try:
                pid = server.proc.pid
                results = os.path.join(d, "loadgen.jsonl")
                common = ["--port", str(server.port), "--key-id", rb.KEY_ID, "--secret", rb.SECRET,
                          "--password", rb.PASSWORD, "--application-arn", rb.DEMO_APP,
                          "--redirect-uri", rb.DEMO_REDIRECT, "--scenario", "refresh",
                          "--scope", "aws", "--warmup", "0"]
                # The burst: a thousand connections with a request each in flight, past capacity.
                burst = common + ["--concurrency", "1024", "--rate", "20000", "--duration", "1"]
                # A first one grows what stays by design (SQLite's pooled connections, up to 16,
                # each with its page cache; caches), so that the second measures what the
                # allocator keeps.
                rb.loadgen(burst, 1, results)
                time.sleep(2)
                before = self.anon_mb(pid)
                rb.loadgen(burst, 1, results)
                end = self.anon_mb(pid)
                lowest = end
                deadline = time.monotonic() + RETURN_SECONDS
                while time.monotonic() < deadline and lowest > self.bound(before, end):
                    time.sleep(0.5)
                    lowest = min(lowest, self.anon_mb(pid))
                return before, end, lowest
            finally:
                server.stop()

    @staticmethod
    def bound(before, end):
        """Half of what the burst added given back, and no sign-in work area left behind."""
        return before + (end - before) / 2 + SLACK_MB

    def test_resident_memory_returns_after_a_burst(self):
        before, end, after = self.burst(["--memory-trim-interval", "1"])
        msg = f"anonymous RSS {before:.1f} MB before, {end:.1f} at the burst's end, {after:.1f} after"
        # Memory before the burst is what stays; a burst that adds little to it found the last
        # one's garbage still there (or the test proves nothing): either way, a failure.
        self.assertGreater(end - before, MIN_BURST_GROWTH_MB, msg)
        self.assertLessEqual(after, self.bound(before, end), msg)

if __name__ == "__main__":
    unittest.main()
