"""Prometheus metrics and the management listener (--admin-listen), as an operator's monitoring uses them.

- with --admin-listen, a second port serves /livez, /readyz and /metrics (HTTP/1.1 and h2c) and nothing else;
  /metrics is 404 on the public listener; `--admin-listen PORT` alone listens on 127.0.0.1;
- without the flag no second port is opened (the process's listening sockets, read from /proc);
- the counters move as the traffic implies, summed over the event threads: 3 client_credentials grants raise
  the issued counter by exactly 3, a wrong secret is one invalid_client and one refused grant, logins and
  refresh rotations by outcome (rotated, grace, reuse_detected), the pools' and workers' histograms;
- a live scrape after traffic of every kind passes `promtool check metrics` (Debian's prometheus package);
- a database outage is counted: connection failures and, once it is back, reconnections.

A request is counted when h2o finishes it, which may be a moment after the client has read the response:
a test waits (harness.wait_for) until the counters reach what it expects, then asserts they are exactly that.
"""

import os
import re
import shutil
import subprocess

import harness
from harness import API, Client, LIVE_PATH, READY_PATH, TOKEN_PATH, JWKS_PATH

METRICS_PATH = "/metrics"
_ADMIN_LINE = re.compile(r"management listener on http://127\.0\.0\.1:(\d+) ")
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """{(name, frozenset of (label, value)): float} from the text format (our own simple reader; promtool is
    the real check)."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise AssertionError(f"not a sample line: {line!r}")
        name, labels, value = match.groups()
        key = (name, frozenset(_LABEL.findall(labels or "")))
        if key in samples:
            raise AssertionError(f"sample given twice: {line!r}")
        samples[key] = float(value)
    return samples


class _AdminEndpoint:
    """What harness.Http needs of a server, for the management port."""

    def __init__(self, port):
        self.port = port

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


def admin_port_of(server):
    with open(server.stdout_path, encoding="utf-8", errors="replace") as f:
        match = _ADMIN_LINE.search(f.read())
    return int(match.group(1)) if match else None


def listening_ports(pid):
    """The TCP ports process `pid` listens on (its socket inodes matched against /proc/net/tcp{,6})."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # TCP_LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class _MetricsCase(harness.ServiceTestCase):
    users = {"alice": "alice-password"}
    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read"),
               Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read")]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin_port = admin_port_of(cls.server)
        if cls.admin_port is None:
            raise harness.HarnessError(f"no management listener line\n{cls.server.describe()}")
        cls.admin = harness.Http(_AdminEndpoint(cls.admin_port), cls.workdir)

    def scrape_text(self, proto="h2"):
        response = self.admin.get(METRICS_PATH, proto=proto)
        self.assertStatus(response, 200)
        self.assertEqual(response.header("content-type"), "text/plain; version=0.0.4; charset=utf-8", response)
        self.assertCacheNoStore(response)
        return response.body.decode("utf-8")

    def scrape(self):
        return parse_exposition(self.scrape_text())

    @staticmethod
    def value(samples, name, **labels):
        return samples.get((name, frozenset(labels.items())), 0.0)

    def wait_for_value(self, name, expected, **labels):
        """Scrapes until the sample reaches `expected`, then asserts it is exactly that."""
        samples = harness.wait_for(f"{name}{labels} to reach {expected}",
                                   lambda: (lambda s: s if self.value(s, name, **labels) >= expected else None)(
                                       self.scrape()), context=self.server.describe)
        self.assertEqual(self.value(samples, name, **labels), expected, f"{name}{labels}")
        return samples

    def login(self, password=None):
        return self.http.token({"grant_type": "password", "username": "alice",
                                "password": password or self.users["alice"]}, basic=self.client["web"].basic)

    def client_credentials(self, basic=None):
        return self.http.token({"grant_type": "client_credentials"}, basic=basic or self.client["backend"].basic)


class ManagementListenerTests(_MetricsCase):
    """--admin-listen PORT (a bare port: 127.0.0.1) with two event threads."""

    serve_args = ["--threads", "2", "--admin-listen", "0"]

    def test_probes_and_metrics_on_the_management_listener_only(self):
        for proto in ("h2", "h2-upgrade", "h1"):
            with self.subTest(proto=proto):
                for path in (LIVE_PATH, READY_PATH):
                    response = self.admin.get(path, proto=proto)
                    self.assertStatus(response, 200)
                    self.assertEqual(self.assertJson(response), {"status": "ok"}, response)
                self.assertIn("authsvc_build_info{", self.scrape_text(proto))
                # the public endpoints are not there, and /metrics is not on the public listener
                for path in (TOKEN_PATH, JWKS_PATH, "/healthz", "/"):
                    self.assertStatus(self.admin.get(path, proto=proto), 404)
                self.assertStatus(self.http.get(METRICS_PATH, proto=proto), 404)
        self.assertStatus(self.admin.request("POST", METRICS_PATH, body=b"x=1"), 405)

    def test_both_ports_listen_and_the_bare_port_is_loopback(self):
        ports = listening_ports(self.server.proc.pid)
        self.assertEqual(ports, {self.server.port, self.admin_port})

    def test_counters_follow_the_traffic_and_promtool_accepts_the_scrape(self):
        before = self.scrape()
        issued = ("authsvc_oauth_grants_total", {"grant_type": "client_credentials", "outcome": "issued"})
        refused = ("authsvc_oauth_grants_total", {"grant_type": "client_credentials", "outcome": "refused"})
        token_ok = ("authsvc_http_requests_total", {"route": TOKEN_PATH, "method": "POST", "status": "2xx"})
        bad_client = ("authsvc_http_requests_total",
                      {"route": TOKEN_PATH, "method": "POST", "status": "4xx", "error": "invalid_client"})

        def expect(metric, delta):
            name, labels = metric
            return self.wait_for_value(name, self.value(before, name, **labels) + delta, **labels)

        # three client_credentials grants, over a connection per request, on whichever thread takes it
        for _ in range(3):
            self.assertTokenSuccess(self.client_credentials(), refresh=False)
        expect(issued, 3)
        # a wrong secret: one invalid_client, one refused grant
        self.assertOAuthError(self.client_credentials(basic=("backend", "not-the-secret")), 401, "invalid_client")
        expect(bad_client, 1)
        expect(refused, 1)
        expect(token_ok, 3)

        # logins: one success, one wrong password
        def login_outcome(outcome, delta):
            return expect(("authsvc_logins_total", {"outcome": outcome}), delta)

        first = self.assertTokenSuccess(self.login(), refresh=True)
        login_outcome("success", 1)
        self.assertOAuthError(self.login("wrong-password"), 400, "invalid_grant")
        login_outcome("wrong_password", 1)

        # refresh: rotated, a retry inside the grace window, then reuse once the successor has been used
        def refresh_outcome(outcome, delta):
            return expect(("authsvc_refresh_rotations_total", {"outcome": outcome}), delta)

        web = self.client["web"]
        second = self.assertTokenSuccess(self.refresh(web, first["refresh_token"]), refresh=True)
        refresh_outcome("rotated", 1)
        again = self.assertTokenSuccess(self.refresh(web, first["refresh_token"]), refresh=True)
        self.assertEqual(again["refresh_token"], second["refresh_token"])
        refresh_outcome("grace", 1)
        self.assertTokenSuccess(self.refresh(web, second["refresh_token"]), refresh=True)
        refresh_outcome("rotated", 2)
        self.assertOAuthError(self.refresh(web, first["refresh_token"]), 400, "invalid_grant")
        refresh_outcome("reuse_detected", 1)

        # an unknown path and a method not allowed are counted under their own labels
        self.assertStatus(self.http.get("/no/such/path"), 404)
        expect(("authsvc_http_requests_total", {"route": "other", "method": "GET", "status": "4xx"}), 1)

        after = self.scrape()
        # the histograms moved: per-route latency, database queries, argon2 queue waits
        for name, labels, least in (("authsvc_http_request_duration_seconds_count", {"route": TOKEN_PATH}, 10),
                                    ("authsvc_db_query_duration_seconds_count", {}, 1),
                                    ("authsvc_argon2_queue_wait_seconds_count", {}, 2)):
            with self.subTest(name=name):
                self.assertGreaterEqual(self.value(after, name, **labels) - self.value(before, name, **labels), least)
        self.assertEqual(self.value(after, "authsvc_event_threads"), 2)
        self.assertEqual(self.value(after, "authsvc_keys_published"), 1)
        self.assertGreaterEqual(self.value(after, "authsvc_db_connections"), 2)  # one pool per thread
        self.assertGreater(self.value(after, "process_open_fds"), 0)
        self.assertGreater(self.value(after, "process_resident_memory_bytes"), 0)
        versions = [dict(labels)["version"] for name, labels in after if name == "authsvc_build_info"]
        self.assertEqual(len(versions), 1, versions)
        # no secret reaches the metrics
        text = self.scrape_text()
        for secret in (self.client["backend"].secret, self.users["alice"], first["refresh_token"]):
            self.assertNotIn(secret, text)
        self.assertPromtoolAccepts(text)

    def assertPromtoolAccepts(self, text):
        promtool = shutil.which("promtool")
        if promtool is None:
            self.fail("promtool is not installed (Debian package prometheus: deploy/install-deps --test)")
        result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, f"promtool check metrics:\n{result.stdout}{result.stderr}\n{text}")


class DatabaseOutageMetricsTests(_MetricsCase):
    """A database outage, through $AUTHSVC_PG_CTL as test_outage does; --admin-listen HOST:PORT."""

    serve_args = ["--threads", "1", "--client-cache-ttl", "0", "--admin-listen", "127.0.0.1:0"]

    @classmethod
    def setUpClass(cls):
        cls.pg_ctl = os.environ.get("AUTHSVC_PG_CTL")
        if not cls.pg_ctl or not os.access(cls.pg_ctl, os.X_OK):
            raise harness.HarnessError(f"AUTHSVC_PG_CTL={cls.pg_ctl!r} is not an executable `stop`/`start` script "
                                       f"for the test cluster: run the e2e tests through tests/run, which sets it")
        super().setUpClass()

    def test_outage_counts_failures_and_reconnections(self):
        self.assertTokenSuccess(self.client_credentials(), refresh=False)
        before = self.scrape()
        self.database_down = True
        self.addCleanup(self._start_database)
        harness.run([self.pg_ctl, "stop"], timeout=120)
        self.assertOAuthError(self.client_credentials(), 503, "temporarily_unavailable")
        # the management listener keeps answering: liveness yes, readiness no, metrics yes
        self.assertStatus(self.admin.get(LIVE_PATH), 200)
        self.assertStatus(self.admin.get(READY_PATH), 503)
        during = self.scrape()
        self.assertGreater(self.value(during, "authsvc_db_connection_failures_total"),
                           self.value(before, "authsvc_db_connection_failures_total"))
        self.assertGreaterEqual(self.value(during, "authsvc_http_requests_total", route=TOKEN_PATH, method="POST",
                                           status="5xx", error="temporarily_unavailable"), 1)
        self._start_database()

        def recovered():
            response = self.client_credentials()
            return response if response.status == 200 else None

        harness.wait_for("a grant to succeed after the database came back", recovered, context=self.server.describe)
        after = self.scrape()
        self.assertGreater(self.value(after, "authsvc_db_reconnects_total"),
                           self.value(before, "authsvc_db_reconnects_total"))
        self.assertStatus(self.admin.get(READY_PATH), 200)

    def _start_database(self):
        if self.database_down:
            harness.run([self.pg_ctl, "start"], timeout=120)
            self.database_down = False


class WithoutManagementListenerTests(harness.ServiceTestCase):
    """No --admin-listen: one listening port, no management line, and still no /metrics in public."""

    serve_args = ["--threads", "2"]

    def test_no_second_port(self):
        self.assertEqual(listening_ports(self.server.proc.pid), {self.server.port})
        self.assertIsNone(admin_port_of(self.server))
        self.assertStatus(self.http.get(METRICS_PATH), 404)

    def test_a_bad_management_address_is_refused_at_start(self):
        for bad in ("nonsense", "70000", "127.0.0.1:", "[::1]"):
            with self.subTest(address=bad):
                result = subprocess.run([*self.server.args, "--admin-listen", bad], stdin=subprocess.DEVNULL,
                                        capture_output=True, text=True, timeout=harness.STARTUP_TIMEOUT)
                self.assertNotEqual(result.returncode, 0, result.stdout)
                self.assertIn("--admin-listen", result.stderr)
                self.assertNotIn("listening on", result.stdout)


if __name__ == "__main__":
    harness.main()
