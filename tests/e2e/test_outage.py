"""A database outage gives prompt 503s, leaves the key endpoints up, and heals by itself.

Stops and restarts the whole PostgreSQL cluster with $AUTHSVC_PG_CTL; the cluster is restarted in a
cleanup even when the test fails.
"""

import os
import time

import harness
from harness import Client, JWKS_PATH

API = "https://api.example.test"
RECOVERY_DEADLINE = 30  # seconds for the service to answer 200 again once the database is back
ANSWER_DEADLINE = 10  # seconds within which a request must be answered while the database is down


class OutageTests(harness.ServiceTestCase):
    users = {"alice": "alice-password"}
    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read"),
               Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read")]

    @classmethod
    def setUpClass(cls):
        cls.pg_ctl = os.environ.get("AUTHSVC_PG_CTL")
        super().setUpClass()

    def setUp(self):
        if not self.pg_ctl:
            self.skipTest("AUTHSVC_PG_CTL is not set")

    def login(self):
        return self.http.token({"grant_type": "password", "username": "alice", "password": self.users["alice"]},
                               basic=self.client["web"].basic)

    def timed(self, request):
        start = time.monotonic()
        response = request()
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, ANSWER_DEADLINE, f"no answer within {ANSWER_DEADLINE}s while the database is down "
                                                  f"(took {elapsed:.1f}s)\n{response}")
        return response

    def assertUnavailable(self, response):
        self.assertStatus(response, 503)
        body = self.assertJson(response)
        self.assertNoStore(response)
        self.assertEqual(body.get("error"), "temporarily_unavailable", response)

    def test_database_outage_and_recovery(self):
        web = self.client["web"]
        before = self.assertTokenSuccess(self.login(), refresh=True)

        self.addCleanup(self._start_database)
        self.database_down = True
        harness.run([self.pg_ctl, "stop"], timeout=120)

        # Requests that need the database fail fast with 503, again and again (no hang, no crash).
        for _ in range(3):
            self.assertUnavailable(self.timed(self.login))
        self.assertUnavailable(self.timed(lambda: self.refresh(web, before["refresh_token"])))
        # client_credentials may be served from cached client records, or may need the database.
        response = self.timed(lambda: self.http.token({"grant_type": "client_credentials"},
                                                      basic=self.client["backend"].basic))
        if response.status != 200:
            self.assertUnavailable(response)

        # What needs no database keeps working.
        self.assertStatus(self.timed(lambda: self.http.get(JWKS_PATH)), 200)
        self.assertStatus(self.timed(lambda: self.http.get("/.well-known/oauth-authorization-server")), 200)
        self.assertGreater(self.timed(lambda: self.http.get("/healthz")).status, 0)

        self._start_database()

        # The service reconnects by itself.
        deadline = time.monotonic() + RECOVERY_DEADLINE
        while True:
            response = self.login()
            if response.status == 200 or time.monotonic() > deadline:
                break
            self.assertUnavailable(response)  # anything but 503 on the way back is a bug
            time.sleep(0.5)  # poll interval, not synchronisation
        after = self.assertTokenSuccess(response, refresh=True)
        self.assertAccessToken(after["access_token"], client=web)
        self.assertStatus(self.http.get("/healthz"), 200)

        # State from before the outage survived, and the failed refresh did not consume the token.
        self.assertTokenSuccess(self.refresh(web, before["refresh_token"]), refresh=True)

    def _start_database(self):
        if self.database_down:
            harness.run([self.pg_ctl, "start"], timeout=120)
            self.database_down = False


if __name__ == "__main__":
    harness.main()
