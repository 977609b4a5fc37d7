"""`make soak`'s mechanics (bench/soak.py, issue 23): the trend rule on synthetic data, and a
20-second run that writes its CSV. Tests are not timed: the real soak is `make soak`."""
import csv
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import soak  # noqa: E402


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


if __name__ == "__main__":
    unittest.main()
