"""HTTP/2 and connection-level abuse, as an attacker with a raw HTTP/2 client (Debian's python3-h2) does it.

- Rapid Reset (CVE-2023-44487: HEADERS then RST_STREAM, in a loop), PING and SETTINGS floods: the server
  answers GOAWAY(ENHANCE_YOUR_CALM) and closes, while legitimate requests on other connections keep working.
- A connection kept open by a PING every few hundred milliseconds, or by a request body trickling in one byte
  at a time, is closed at the idle timeout (here --idle-timeout 1), which those frames do not reset.
- Connection caps per client address and per process; a connection over a cap is closed at once, and the
  count goes down when connections close.
- More header fields than HTTP/1.1 accepts (100) get 431 over HTTP/2 too.
- Two Authorization headers are a 400 (which one counts would be a guess); every answer carries
  X-Content-Type-Options: nosniff, and Strict-Transport-Security over TLS only.
- Out of descriptors (the server under a low `ulimit -n`): the listener pauses instead of spinning, the key
  reloader and the database pool keep working, and the server accepts again once clients go away.

Nothing here sleeps to synchronise: each test waits for the event it expects (a GOAWAY, the socket's end, a log
line) with a deadline. The PING/DATA trickles pause between frames because pausing is the attack.
"""

import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

import harness
from harness import API, Client, HEALTH_PATH, JWKS_PATH, TOKEN_PATH

ENHANCE_YOUR_CALM = h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
DEADLINE = 15  # seconds for any expected event


class RawH2:
    """One HTTP/2 connection (h2c prior knowledge) driven frame by frame."""

    def __init__(self, port, source="127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE, source_address=(source, 0))
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()
        self.events = []
        self.closed = False  # the server closed the TCP connection
        self.goaway = None  # the ConnectionTerminated event, if any
        self.port = port

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            try:
                self.sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                self.closed = True

    def send_raw(self, data):
        self.sock.sendall(data)

    def headers(self, stream_id, method="GET", path=JWKS_PATH, end_stream=True, extra=()):
        return [(":method", method), (":scheme", "http"), (":authority", f"127.0.0.1:{self.port}"), (":path", path),
                *extra]

    def read_until(self, condition, timeout=DEADLINE):
        """Reads events until condition(self) is true or the server closes; returns condition(self)."""
        deadline = time.monotonic() + timeout
        while not condition(self) and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                break
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                events = []
            for event in events:
                self.events.append(event)
                if isinstance(event, h2.events.ConnectionTerminated):
                    self.goaway = event
            try:
                self.flush()
            except OSError:
                pass
        return condition(self)

    def responses(self):
        return {e.stream_id: dict(e.headers) for e in self.events if isinstance(e, h2.events.ResponseReceived)}

    def close(self):
        self.sock.close()


def send_ignoring_reset(h2c, data):
    """Sends attack traffic; the server may have closed the connection under us (that is the point)."""
    try:
        h2c.send_raw(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


class Http2AbuseTests(harness.ServiceTestCase):
    serve_args = ["--idle-timeout", "1"]
    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read")]

    def assertGoAway(self, h2c, why):
        h2c.read_until(lambda c: c.goaway is not None)
        self.assertIsNotNone(h2c.goaway, f"no GOAWAY after {why}\n{self.server.log()}")
        self.assertEqual(h2c.goaway.error_code, ENHANCE_YOUR_CALM, f"{why}: {h2c.goaway}")
        # ... and the server closes the connection after it
        h2c.read_until(lambda c: c.closed)
        self.assertTrue(h2c.closed, f"the connection stayed open after the GOAWAY ({why})")

    def rapid_reset(self, h2c, rounds, path=JWKS_PATH, method="GET"):
        """HEADERS then RST_STREAM(CANCEL), `rounds` times in batches of 50; returns how many went out."""
        stream_id, sent = 1, 0
        while sent < rounds and h2c.goaway is None and not h2c.closed:
            for _ in range(50):
                h2c.conn.send_headers(stream_id, h2c.headers(stream_id, method=method, path=path), end_stream=True)
                h2c.conn.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
                stream_id += 2
                sent += 1
            if not send_ignoring_reset(h2c, h2c.conn.data_to_send()):
                break
            h2c.read_until(lambda c: False, timeout=0.001)  # take what came, without waiting
        return sent

    def test_rapid_reset_gets_goaway(self):
        h2c = RawH2(self.server.port)
        sent = self.rapid_reset(h2c, 5000)
        self.assertGoAway(h2c, f"{sent} rapid resets")
        self.assertLess(sent, 5000, "the server let 5000 rapid resets through")
        self.server.wait_for_log("too many stream resets")

    def test_rapid_reset_on_the_token_endpoint_gets_goaway(self):
        h2c = RawH2(self.server.port)
        sent = self.rapid_reset(h2c, 5000, path=TOKEN_PATH, method="POST")
        self.assertGoAway(h2c, f"{sent} rapid resets of POSTs")

    def test_ping_flood_gets_goaway(self):
        h2c = RawH2(self.server.port)
        for i in range(2000):
            h2c.conn.ping(i.to_bytes(8, "big"))
        send_ignoring_reset(h2c, h2c.conn.data_to_send())
        self.assertGoAway(h2c, "2000 PINGs")

    def test_settings_flood_gets_goaway(self):
        h2c = RawH2(self.server.port)
        for _ in range(2000):
            h2c.conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100})
        send_ignoring_reset(h2c, h2c.conn.data_to_send())
        self.assertGoAway(h2c, "2000 SETTINGS")

    def test_ping_trickle_is_closed_at_the_idle_timeout(self):
        h2c = RawH2(self.server.port)
        pings = 0
        deadline = time.monotonic() + DEADLINE
        while not h2c.closed and time.monotonic() < deadline:
            h2c.conn.ping(pings.to_bytes(8, "big"))
            pings += 1
            if not send_ignoring_reset(h2c, h2c.conn.data_to_send()):
                break
            h2c.read_until(lambda c: False, timeout=0.2)  # one PING every 200 ms: the attack
        self.assertTrue(h2c.closed, f"{pings} PINGs kept the connection open for {DEADLINE} s")
        acks = [e for e in h2c.events if isinstance(e, h2.events.PingAckReceived)]
        self.assertGreater(len(acks), 1, "the connection was not alive before the timeout")

    def test_data_trickle_is_closed_at_the_idle_timeout(self):
        h2c = RawH2(self.server.port)
        h2c.conn.send_headers(1, h2c.headers(1, method="POST", path=TOKEN_PATH,
                                             extra=[("content-type", harness.FORM_TYPE)]), end_stream=False)
        h2c.flush()
        sent = 0
        deadline = time.monotonic() + DEADLINE
        while not h2c.closed and time.monotonic() < deadline:
            h2c.conn.send_data(1, b"g")
            sent += 1
            if not send_ignoring_reset(h2c, h2c.conn.data_to_send()):
                break
            h2c.read_until(lambda c: False, timeout=0.2)
        self.assertTrue(h2c.closed, f"a body trickling for {DEADLINE} s ({sent} bytes) kept the connection open")

    def test_a_connection_that_makes_requests_is_not_idle(self):
        h2c = RawH2(self.server.port)
        stream_id = 1
        deadline = time.monotonic() + 2.5  # beyond the 1 s idle timeout
        while time.monotonic() < deadline:
            h2c.conn.send_headers(stream_id, h2c.headers(stream_id), end_stream=True)
            h2c.flush()
            self.assertTrue(h2c.read_until(lambda c, s=stream_id: s in c.responses()), f"no answer on stream {stream_id}")
            self.assertEqual(h2c.responses()[stream_id][":status"], "200")
            stream_id += 2
            h2c.read_until(lambda c: False, timeout=0.3)
        self.assertFalse(h2c.closed)
        h2c.close()

    def test_more_header_fields_than_http1_accepts(self):
        h2c = RawH2(self.server.port)
        many = [(f"x-field-{i}", "1") for i in range(101)]
        h2c.conn.send_headers(1, h2c.headers(1, extra=many), end_stream=True)
        h2c.conn.send_headers(3, h2c.headers(3, extra=many[:90]), end_stream=True)
        h2c.flush()
        self.assertTrue(h2c.read_until(lambda c: {1, 3} <= set(c.responses())), f"no answers\n{h2c.events}")
        self.assertEqual(h2c.responses()[1][":status"], "431")
        self.assertEqual(h2c.responses()[3][":status"], "200")
        h2c.close()

    def test_legitimate_requests_keep_working_during_a_rapid_reset_flood(self):
        stop = threading.Event()
        goaways = []

        def attacker():
            while not stop.is_set():
                h2c = RawH2(self.server.port)
                self.rapid_reset(h2c, 100000)
                goaways.append(h2c.goaway)
                h2c.close()

        threads = [threading.Thread(target=attacker) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            backend = self.client["backend"]
            for _ in range(20):
                response = self.http.token({"grant_type": "client_credentials"}, basic=backend.basic)
                self.assertTokenSuccess(response)
                self.assertStatus(self.http.get(HEALTH_PATH), 200)
        finally:
            stop.set()
            for t in threads:
                t.join(DEADLINE)
        self.assertTrue(any(g is not None and g.error_code == ENHANCE_YOUR_CALM for g in goaways), goaways)


def burst_then_request(port, kind, n):
    """Sends n rapid resets or n PINGs on one connection, then one GET; returns the connection after the answer or
    the GOAWAY."""
    h2c = RawH2(port)
    stream_id = 1
    for i in range(n):
        if kind == "reset":
            h2c.conn.send_headers(stream_id, h2c.headers(stream_id), end_stream=True)
            h2c.conn.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
            stream_id += 2
        else:
            h2c.conn.ping(i.to_bytes(8, "big"))
    h2c.conn.send_headers(stream_id, h2c.headers(stream_id), end_stream=True)
    send_ignoring_reset(h2c, h2c.conn.data_to_send())
    h2c.read_until(lambda c, s=stream_id: s in c.responses() or c.goaway is not None)
    return h2c, stream_id


class Http2BudgetFlagTests(harness.ServiceTestCase):
    """--h2-reset-budget and --h2-frame-budget replace the built-in 100 and 200: 40 resets or 40 PINGs on one
    connection are within the defaults (the default server answers the request that follows) but over budgets of
    10 and 20 (this server sends GOAWAY instead)."""

    serve_args = ["--h2-reset-budget", "10", "--h2-frame-budget", "20"]

    def test_small_reset_budget(self):
        h2c, stream_id = burst_then_request(self.server.port, "reset", 40)
        self.assertIsNotNone(h2c.goaway, f"40 resets over a budget of 10 got no GOAWAY: {h2c.events}")
        self.assertEqual(h2c.goaway.error_code, ENHANCE_YOUR_CALM)
        self.assertNotIn(stream_id, h2c.responses())
        self.server.wait_for_log("too many stream resets")
        h2c.close()

    def test_small_frame_budget(self):
        h2c, stream_id = burst_then_request(self.server.port, "ping", 40)
        self.assertIsNotNone(h2c.goaway, f"40 PINGs over a budget of 20 got no GOAWAY: {h2c.events}")
        self.assertEqual(h2c.goaway.error_code, ENHANCE_YOUR_CALM)
        self.server.wait_for_log("too many frames that produce no response")
        h2c.close()

    def test_the_defaults_allow_what_the_small_budgets_refuse(self):
        default, _ = self.start_another_server("defaults")
        for kind in ("reset", "ping"):
            with self.subTest(kind=kind):
                h2c, stream_id = burst_then_request(default.port, kind, 40)
                self.assertIsNone(h2c.goaway, f"the default budgets refused 40 {kind}s")
                self.assertEqual(h2c.responses()[stream_id][":status"], "200")
                h2c.close()


class HeaderTests(harness.ServiceTestCase):
    """Small items of the hardening issue: repeated Authorization, nosniff everywhere, HSTS on TLS."""

    users = {"alice": "alice-password"}
    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read")]

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="authsvc-tls-")
        cls.addClassCleanup(shutil.rmtree, cls.certdir, ignore_errors=True)
        cls.cert, key = os.path.join(cls.certdir, "cert.pem"), os.path.join(cls.certdir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cls.cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        cls.serve_args = ("--tls-listen", "127.0.0.1:0", "--tls-cert", cls.cert, "--tls-key", key)
        super().setUpClass()
        cls.https = harness.Http(cls.server, cls.workdir, tls=True, cacert=cls.cert)

    def test_two_authorization_headers_are_a_bad_request(self):
        backend = self.client["backend"]
        auth = "Authorization: " + harness.basic_auth(*backend.basic)
        for proto in ("h2", "h1"):
            with self.subTest(proto=proto):
                response = self.http.token({"grant_type": "client_credentials"}, headers=[auth, auth], proto=proto)
                self.assertOAuthError(response, 400, "invalid_request")
                response = self.http.post_form(harness.ACCOUNT_PASSWORD_PATH, {"current_password": "x", "new_password": "y"},
                                               headers=["Authorization: Bearer a", "Authorization: Bearer b"], proto=proto)
                self.assertStatus(response, 400)

    def test_nosniff_everywhere_and_hsts_on_tls_only(self):
        backend = self.client["backend"]
        answers = [self.http.get(JWKS_PATH), self.http.get("/no/such/path"), self.http.get(HEALTH_PATH),
                   self.http.token({"grant_type": "client_credentials"}, basic=backend.basic),
                   self.http.token({"grant_type": "client_credentials"}, basic=("backend", "wrong"))]
        for response in answers:
            self.assertEqual(response.header("x-content-type-options"), "nosniff", response)
            self.assertIsNone(response.header("strict-transport-security"), response)
        for proto in ("h2", "h1"):
            response = self.https.get(JWKS_PATH, proto=proto)
            self.assertStatus(response, 200)
            self.assertEqual(response.header("x-content-type-options"), "nosniff", response)
            self.assertRegex(response.header("strict-transport-security") or "", r"^max-age=\d{7,}", response)


class ConnectionCapTests(harness.ServiceTestCase):
    """--max-connections-per-address 3 --max-connections 5, with clients on several loopback addresses."""

    serve_args = ["--max-connections-per-address", "3", "--max-connections", "5"]

    def open_alive(self, source):
        """A connection that the server has accepted and answered once."""
        h2c = RawH2(self.server.port, source)
        h2c.conn.send_headers(1, h2c.headers(1), end_stream=True)
        h2c.flush()
        h2c.read_until(lambda c: 1 in c.responses() or c.closed)
        return h2c

    def assertRefused(self, source):
        h2c = self.open_alive(source)
        self.assertTrue(h2c.closed and not h2c.responses(), f"a connection from {source} over the cap was served")
        h2c.close()

    def test_caps_per_address_and_per_process(self):
        held = [self.open_alive("127.0.0.1") for _ in range(3)]
        self.assertTrue(all(1 in c.responses() for c in held))
        self.assertRefused("127.0.0.1")  # the address has 3
        held += [self.open_alive("127.0.0.2") for _ in range(2)]
        self.assertTrue(all(1 in c.responses() for c in held))
        self.assertRefused("127.0.0.3")  # the process has 5
        # closing one makes room again (the server counts closed connections out)
        held.pop(0).close()
        harness.wait_for("a connection to be accepted again",
                         lambda: 1 in self.open_alive("127.0.0.1").responses(), context=self.server.log)
        for c in held:
            c.close()


class LowDescriptorLimit(harness.ServiceTestCase):
    """A server under `ulimit -n 128` (prlimit(1) lowers the limit of the server process only)."""

    NOFILE = 128
    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read")]

    @classmethod
    def _start_server(cls):
        log_dir = harness.tempfile.mkdtemp(prefix="serve-", dir=cls.workdir)
        cls.server = harness.Server(cls.db, cls.keys_dir, log_dir, cls.serve_args)
        cls.server.args = ["prlimit", f"--nofile={cls.NOFILE}:{cls.NOFILE}", "--", *cls.server.args]
        cls.server.start()
        cls.http = harness.Http(cls.server, cls.workdir)

    def cpu_seconds(self):
        with open(f"/proc/{self.server.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def assertNotSpinning(self):
        """With both loops retrying accept(2) at once the process would burn two cores; it must rest instead.
        CPU time, not wall time: a loaded machine makes a spinning server look better, never a resting one worse."""
        before = self.cpu_seconds()
        time.sleep(2)  # the observation window, not a synchronisation
        self.assertLess(self.cpu_seconds() - before, 0.5, f"the server spins\n{self.server.log()}")

    def flood(self, n):
        """n connections that stay open (closed by the caller)."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < n + 256:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
        return [socket.create_connection(("127.0.0.1", self.server.port), timeout=DEADLINE) for _ in range(n)]

    def held(self, flood):
        """The flood's connections the server keeps open, once it has closed all it refused: as many as the cap it
        logged at start (a refused connection reads end-of-file here)."""
        cap = int(re.search(r"at most (\d+) connections", self.server.stderr_text()).group(1))

        def open_ones():
            alive = []
            for s in flood:
                s.setblocking(False)  # a socket with a timeout would wait for it before peeking
                try:
                    if s.recv(1, socket.MSG_PEEK) == b"":
                        continue
                except BlockingIOError:  # nothing to read: still open
                    pass
                except OSError:
                    continue
                alive.append(s)
            return alive if len(alive) == cap else None

        return harness.wait_for(f"the server to keep {cap} connections and close the rest", open_ones,
                                context=self.server.log)

    def assertRecovers(self):
        backend = self.client["backend"]
        harness.wait_for("a token once the flood is gone",
                         lambda: self.http.token({"grant_type": "client_credentials"}, basic=backend.basic).status == 200,
                         context=self.server.log)
        self.assertStatus(self.http.get(HEALTH_PATH), 200)


class DescriptorReserveTests(LowDescriptorLimit):
    """The default connection cap stays below the descriptor limit: clients cannot take the descriptors the key
    reloader and the database pool need."""

    serve_args = ["--threads", "2", "--db-connections", "2", "--max-connections-per-address", "0", "--keys-reload", "3600",
                  "--idle-timeout", "60"]

    def test_a_connection_flood_leaves_descriptors_to_the_keys_and_the_database(self):
        flood = self.flood(2 * self.NOFILE)
        try:
            harness.wait_for("the cap to refuse connections",
                             lambda: "connection refused: too many connections" in self.server.stderr_text(),
                             context=self.server.log)
            self.assertNotSpinning()
            self.server.proc.send_signal(signal.SIGHUP)
            harness.wait_for("the key directory to be re-read",
                             lambda: "keys re-read from" in self.server.stderr_text(), context=self.server.log)
            self.assertNotIn("key reload failed", self.server.stderr_text())
            # the pool's connections are killed meanwhile: it reconnects with the descriptors kept for it
            self.db.query("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                          f"WHERE datname = '{self.db.name}' AND pid <> pg_backend_pid()")
            harness.wait_for("the pool to notice", lambda: "database connection lost" in self.server.stderr_text(),
                             context=self.server.log)
            # two clients the server holds go (which ones it took depends on which thread accepted first): the
            # next request finds the database again, the rest of the flood still held
            held = self.held(flood)
            for s in held[:2]:
                s.close()
            harness.wait_for("the database to answer again", lambda: self.http.get(HEALTH_PATH).status == 200,
                             context=self.server.log)
        finally:
            for s in flood:
                s.close()
        self.assertRecovers()


class AcceptFailureTests(LowDescriptorLimit):
    """A connection cap set above the descriptor limit: accept(2) itself fails with EMFILE."""

    serve_args = ["--threads", "2", "--db-connections", "2", "--max-connections", "100000",
                  "--max-connections-per-address", "0"]

    def test_out_of_descriptors_pauses_and_recovers(self):
        flood = self.flood(2 * self.NOFILE)
        try:
            harness.wait_for("the server to run out of descriptors",
                             lambda: "Too many open files; not accepting" in self.server.stderr_text(),
                             context=self.server.log)
            self.assertNotSpinning()
        finally:
            for s in flood:
                s.close()
        self.assertRecovers()


if __name__ == "__main__":
    harness.main()
