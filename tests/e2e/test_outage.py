"""A database outage gives 503s with the RFC 6749 error body, leaves the key endpoints up, and heals by itself.

Stops and restarts the whole PostgreSQL cluster with $AUTHSVC_PG_CTL (tests/run always sets it; without it
this test fails rather than skip). The cluster is restarted in a cleanup even when the test fails.

No timing is asserted: a request that hangs shows up as curl giving up after harness.REQUEST_TIMEOUT
(status 0), which fails the 503 assertions. The server runs one event thread, whose connection pool is then
the only one: once one request succeeds after the outage, every later one meets the same reconnected pool.
Client records are not cached (--client-cache-ttl 0), so every token request needs the database.
"""

import os

import harness
from harness import API, Client, HEALTH_PATH, JWKS_PATH, METADATA_PATHS


class OutageTests(harness.ServiceTestCase):
    serve_args = ["--threads", "1", "--client-cache-ttl", "0"]
    users = {"alice": "alice-password"}
    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read"),
               Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read")]

    @classmethod
    def setUpClass(cls):
        cls.pg_ctl = os.environ.get("AUTHSVC_PG_CTL")
        if not cls.pg_ctl or not os.access(cls.pg_ctl, os.X_OK):
            raise harness.HarnessError(f"AUTHSVC_PG_CTL={cls.pg_ctl!r} is not an executable `stop`/`start` script for "
                                       f"the test cluster: run the e2e tests through tests/run, which sets it")
        super().setUpClass()

    def login(self):
        return self.http.token({"grant_type": "password", "username": "alice", "password": self.users["alice"]},
                               basic=self.client["web"].basic)

    def client_credentials(self):
        return self.http.token({"grant_type": "client_credentials"}, basic=self.client["backend"].basic)

    def health(self):
        return self.http.get(HEALTH_PATH)

    def assertUnavailable(self, response):
        """503 with the RFC 6749 §5.2 body temporarily_unavailable, not to be cached."""
        return self.assertOAuthError(response, 503, "temporarily_unavailable")

    def assertHealth(self, response, status, value):
        """/healthz as api/openapi.yaml documents it: {"status": ok|unavailable}, not to be cached."""
        self.assertStatus(response, status)
        body = self.assertJson(response)
        self.assertCacheNoStore(response)
        self.assertEqual(body.get("status"), value, response)
        if status == 503:
            self.assertIsInstance(body.get("error_description"), str, response)

    def test_database_outage_and_recovery(self):
        web = self.client["web"]
        before = self.assertTokenSuccess(self.login(), refresh=True)
        self.assertHealth(self.health(), 200, "ok")

        self.addCleanup(self._start_database)
        self.database_down = True
        harness.run([self.pg_ctl, "stop"], timeout=120)

        # Every request that needs the database gets a 503, again and again (no hang, no crash).
        for _ in range(3):
            self.assertUnavailable(self.login())
        self.assertUnavailable(self.refresh(web, before["refresh_token"]))
        self.assertUnavailable(self.client_credentials())
        self.assertHealth(self.health(), 503, "unavailable")

        # What needs no database keeps working.
        self.assertStatus(self.http.get(JWKS_PATH), 200)
        for path in METADATA_PATHS:
            self.assertStatus(self.http.get(path), 200)

        self._start_database()

        # The service reconnects by itself; until it has, the answer is the same 503 and nothing else.
        def recovered():
            response = self.login()
            if response.status != 200:
                self.assertUnavailable(response)
                return None
            return response

        after = self.assertTokenSuccess(harness.wait_for("a login to succeed after the database came back",
                                                         recovered, context=self.server.describe), refresh=True)
        self.assertAccessToken(after["access_token"], client=web)
        self.assertHealth(self.health(), 200, "ok")
        self.assertTokenSuccess(self.client_credentials(), refresh=False)

        # State from before the outage survived, and the failed refresh did not consume the token.
        self.assertTokenSuccess(self.refresh(web, before["refresh_token"]), refresh=True)

    def _start_database(self):
        if self.database_down:
            harness.run([self.pg_ctl, "start"], timeout=120)
            self.database_down = False


if __name__ == "__main__":
    harness.main()
