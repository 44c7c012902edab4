"""The operators' health endpoints: /livez, /readyz (and /healthz beside them), as probes and load balancers use them.

- /livez answers 200 without the database, also while the database is down: a liveness probe on it never
  restarts instances because of an outage;
- /readyz answers 200 when the instance is ready, 503 {"reason": "database"} while the database is stopped
  (through $AUTHSVC_PG_CTL, as test_outage does) and 200 again once it is back, by itself;
- /readyz answers within its own deadline when the database accepts connections but never answers (a
  listening socket that nobody serves), even with a --db-timeout far longer: a load balancer's check does
  not hang on it;
- a key set whose signing key has retired makes the instance unready ({"reason": "keys"});
- a SIGTERM with a drain delay makes /readyz answer 503 {"reason": "draining"} while the instance still
  serves tokens, and the instance then exits 0.
"""

import os
import signal
import socket
import time
import unittest

import harness
from harness import API, Client, HEALTH_PATH, LIVE_PATH, READY_PATH


class _HealthAssertions:
    def assertLive(self, response):
        self.assertStatus(response, 200)
        self.assertEqual(self.assertJson(response), {"status": "ok"}, response)
        self.assertCacheNoStore(response)

    def assertReady(self, response):
        self.assertStatus(response, 200)
        self.assertEqual(self.assertJson(response), {"status": "ok"}, response)
        self.assertCacheNoStore(response)

    def assertUnready(self, response, reason):
        self.assertStatus(response, 503)
        body = self.assertJson(response)
        self.assertCacheNoStore(response)
        self.assertEqual(body.get("status"), "unavailable", response)
        self.assertEqual(body.get("reason"), reason, response)
        self.assertIsInstance(body.get("error_description"), str, response)
        return body


class HealthEndpointTests(_HealthAssertions, harness.ServiceTestCase):
    """The probes on a healthy instance, over every protocol a probe or load balancer uses."""

    serve_args = ["--threads", "2"]

    def test_live_and_ready_over_h2_and_http1(self):
        for proto in ("h2", "h1"):
            with self.subTest(proto=proto):
                self.assertLive(self.http.get(LIVE_PATH, proto=proto))
                self.assertReady(self.http.get(READY_PATH, proto=proto))
                self.assertStatus(self.http.get(HEALTH_PATH, proto=proto), 200)

    def test_head_for_checks_that_send_it(self):
        for path in (LIVE_PATH, READY_PATH):
            with self.subTest(path=path):
                response = self.http.request("HEAD", path, proto="h1")
                self.assertStatus(response, 200)
                self.assertEqual(response.body, b"", response)


class ReadinessOutageTests(_HealthAssertions, harness.ServiceTestCase):
    """/readyz follows the database; /livez does not."""

    serve_args = ["--threads", "1"]

    @classmethod
    def setUpClass(cls):
        cls.pg_ctl = os.environ.get("AUTHSVC_PG_CTL")
        if not cls.pg_ctl or not os.access(cls.pg_ctl, os.X_OK):
            raise harness.HarnessError(f"AUTHSVC_PG_CTL={cls.pg_ctl!r} is not an executable `stop`/`start` script for "
                                       f"the test cluster: run the e2e tests through tests/run, which sets it")
        super().setUpClass()

    def test_database_outage(self):
        self.assertReady(self.http.get(READY_PATH))
        self.addCleanup(self._start_database)
        self.database_down = True
        harness.run([self.pg_ctl, "stop"], timeout=120)

        # The pool learns of the outage at its next use: from then on every check says so, quickly.
        for _ in range(3):
            self.assertUnready(self.http.get(READY_PATH), "database")
            self.assertStatus(self.http.get(HEALTH_PATH), 503)
            self.assertLive(self.http.get(LIVE_PATH))

        self._start_database()

        def ready_again():
            response = self.http.get(READY_PATH)
            if response.status == 503:
                self.assertUnready(response, "database")
                return None
            return response

        self.assertReady(harness.wait_for("/readyz to answer 200 after the database came back", ready_again,
                                          context=self.server.describe))
        self.assertLive(self.http.get(LIVE_PATH))

    def _start_database(self):
        if self.database_down:
            harness.run([self.pg_ctl, "start"], timeout=120)
            self.database_down = False


class ReadinessDeadlineTests(_HealthAssertions, harness.ServiceTestCase):
    """A database that accepts connections and never answers: /readyz still answers, within its deadline."""

    start_server = False
    DB_TIMEOUT_MS = 30000

    def test_silent_database(self):
        silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel completes the handshakes; nobody ever reads or answers
        port = silent.getsockname()[1]
        log_dir = os.path.join(self.workdir, "silent")
        os.mkdir(log_dir)
        server = harness.Server(f"host=127.0.0.1 port={port} dbname=authsvc user=authsvc", self.keys_dir, log_dir,
                                ["--threads", "1", "--db-timeout", str(self.DB_TIMEOUT_MS)])
        server.start()
        self.addCleanup(server.kill)
        http = harness.Http(server, self.workdir)

        self.assertLive(http.get(LIVE_PATH))
        # curl gives up long before --db-timeout: only the readiness deadline can answer in time
        limit = self.DB_TIMEOUT_MS // 1000 // 3
        for _ in range(2):
            response = http.get(READY_PATH, timeout=limit)
            self.assertNotEqual(response.status, 0, f"/readyz did not answer within {limit}s\n{response}\n"
                                                    f"{server.describe()}")
            self.assertUnready(response, "database")
        self.assertLive(http.get(LIVE_PATH))


class ReadinessKeysTests(_HealthAssertions, harness.ServiceTestCase):
    """The only signing key retires while the instance runs and no new key appears: the instance is unready."""

    serve_args = ["--threads", "1", "--keys-reload", "1"]
    RETIRES_IN = 4  # seconds after the key directory is written

    @classmethod
    def setUpClass(cls):
        cls.start_server = False
        super().setUpClass()
        keys = harness.KeyDir(cls.keys_dir)
        (kid,) = keys.kids()
        meta = keys.read_meta(kid)
        cls.retired_at = int(time.time()) + cls.RETIRES_IN
        meta["retired_at"] = cls.retired_at
        keys.write_meta(meta)
        cls.start_server = True
        cls.addClassCleanup(cls._stop_server)
        cls._start_server()

    # app/ hands each thread's key view to ops: a set with no key that may sign makes the instance unready.
    def test_retired_signing_key(self):
        self.assertReady(self.http.get(READY_PATH))
        harness.wait_for("the signing key to retire", lambda: time.time() > self.retired_at + 1)
        self.assertUnready(self.http.get(READY_PATH), "keys")
        self.assertLive(self.http.get(LIVE_PATH))


class DrainingTests(_HealthAssertions, harness.ServiceTestCase):
    """SIGTERM with a drain delay: unready at once, still serving, then a clean exit."""

    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read")]
    start_server = False  # the test starts its own, with the drain delay
    DRAIN_DELAY = 3  # seconds

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        help_text = harness.run([harness.authsvc_bin(), "serve", "--help"], check=False)
        cls.has_drain_delay = "--drain-delay" in help_text.stdout + help_text.stderr

    def test_sigterm_drains(self):
        if not self.has_drain_delay:
            self.skipTest("`authsvc serve` has no --drain-delay yet (app/ must call as_ops_drain on SIGTERM)")
        log_dir = os.path.join(self.workdir, "drain")
        os.mkdir(log_dir)
        server = harness.Server(self.db, self.keys_dir, log_dir,
                                ["--threads", "2", "--drain-delay", str(self.DRAIN_DELAY)])
        server.start()
        self.addCleanup(server.kill)
        http = harness.Http(server, self.workdir)
        self.assertReady(http.get(READY_PATH))

        server.proc.send_signal(signal.SIGTERM)
        self.assertUnready(harness.wait_for("/readyz to say draining", lambda: (lambda r: r if r.status == 503 else None)(
            http.get(READY_PATH)), context=server.describe), "draining")
        # still serving while the load balancer takes it out
        self.assertLive(http.get(LIVE_PATH))
        self.assertTokenSuccess(http.token({"grant_type": "client_credentials"}, basic=self.client["backend"].basic))
        server.proc.wait(self.DRAIN_DELAY + harness.SHUTDOWN_TIMEOUT)
        self.assertEqual(server.proc.returncode, 0, server.describe())


if __name__ == "__main__":
    harness.main()
