"""A throwaway PostgreSQL 15 server for end-to-end tests (the Python twin of
test/common/postgres_server.h).

initdb in a fresh temporary directory, started on a free loopback port with its socket in that
directory, stopped and removed by stop() (also when a test fails: use it from setUpClass with
addClassCleanup, or as a context manager). PostgreSQL refuses to run as root, so under root the
server runs as the `postgres` OS user (runuser); otherwise as the current user.
"""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

PG_BIN = os.environ.get("TS_PG_BIN", "/usr/lib/postgresql/15/bin")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self):
        if not os.path.exists(os.path.join(PG_BIN, "initdb")):
            raise RuntimeError(f"no PostgreSQL at {PG_BIN} (apt-get install postgresql-15)")
        self.dir = tempfile.mkdtemp(prefix="tessera-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "server.log")
        self.prefix = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.port = _free_port()
        self.running = False
        try:
            self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust",
                       "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-instructions"])
            self.start()
        except Exception:
            self.stop()
            raise
        # If the test process dies without stop() (killed by a timeout), a detached watchdog
        # stops the server and removes its directory within a second.
        stop = " ".join(self.prefix + [os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m",
                                       "immediate", "-w", "stop"])
        subprocess.Popen(
            ["sh", "-c", f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
                         f"{stop}; rm -rf {self.dir}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def _run(self, args, check=True):
        r = subprocess.run(self.prefix + args, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {r.stdout}{r.stderr}{self.log()}")
        return r

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def start(self):
        """Starts the server on the cluster (again, after stop_server). Durability settings are
        PostgreSQL's defaults (fsync and synchronous_commit on)."""
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=200")
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log_path,
                   "-w", "-t", "60", "-o", options, "start"])
        self.running = True

    def stop_server(self, mode="fast"):
        """Stops the server, keeping the cluster. mode "immediate" is a crash: no checkpoint,
        recovery from the WAL at the next start."""
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop"])
        self.running = False

    def restart(self, mode="fast"):
        self.stop_server(mode)
        self.start()

    def url(self, database="postgres"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement, database="postgres"):
        """Runs SQL with psql; returns its unaligned, tuples-only output."""
        r = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-A", "-t", "-v",
                            "ON_ERROR_STOP=1", "-d", self.url(database), "-c", statement],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql {statement!r}: {r.stderr}")
        return r.stdout.strip()

    def create_database(self, name):
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self):
        """Stops the server (if running) and removes everything; safe to call twice."""
        if self.running:
            self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "immediate",
                       "-w", "stop"], check=False)
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
