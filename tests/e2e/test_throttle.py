"""Brute-force throttling of password logins: per (username, address) and per address, in PostgreSQL (so every
instance sees it), with exponential back-off; a throttled attempt gets 429 slow_down with Retry-After and no
password check; another address is never held back; a good password after the wait clears the count.

The waits are not waited out: the test moves `blocked_until` in the database, and polls the database for the
failures being recorded (they are written after the answer goes out)."""

import harness
from harness import API, Client

ADDRESS_KEY = "u:alice|127.0.0.1"


class ThrottleTests(harness.ServiceTestCase):
    users = {"alice": "alice correct horse"}
    clients = [Client("app", grants=["password"], public=True, audiences=[API], scope="read")]

    def login(self, password, address="127.0.0.1"):
        return self.http.token({"grant_type": "password", "client_id": "app", "username": "alice", "password": password},
                               extra_args=("--interface", address))

    def failures(self, key):
        rows = self.db.query(f"SELECT failures FROM login_failures WHERE key = '{key}'").strip()
        return int(rows) if rows else 0

    def test_back_off_per_username_and_address(self):
        for n in range(1, 5):
            self.assertOAuthError(self.login("wrong guess %d" % n), 400, "invalid_grant")
            harness.wait_for(f"failure {n} to be recorded", lambda: self.failures(ADDRESS_KEY) >= n)
        # four failures: past the three free ones, blocked for a second at least
        for password in ("another guess", self.users["alice"]):
            r = self.login(password)
            self.assertOAuthError(r, 429, "slow_down")
            self.assertGreaterEqual(int(r.header("retry-after")), 1, r)
        self.assertEqual(self.failures(ADDRESS_KEY), 4, "a throttled attempt is not checked, so not counted")
        # the rightful user from elsewhere is not held back
        self.assertTokenSuccess(self.login(self.users["alice"], address="127.0.0.2"), refresh=False)
        # the wait passes: the right password gets in, and its count starts again
        self.db.query(f"UPDATE login_failures SET blocked_until = now() - interval '1 second' WHERE key = '{ADDRESS_KEY}'")
        self.assertTokenSuccess(self.login(self.users["alice"]), refresh=False)
        harness.wait_for("the count to be cleared", lambda: self.failures(ADDRESS_KEY) == 0)
        audited = self.db.query("SELECT count(*) FROM audit_events WHERE kind = 'login_failure'"
                                " AND detail->>'username' = 'alice' AND detail->>'address' = '127.0.0.1'"
                                " AND client_id = 'app'").strip()
        self.assertEqual(int(audited), 4)

    def test_an_unknown_user_is_throttled_alike(self):
        def guess(n):
            return self.http.token({"grant_type": "password", "client_id": "app", "username": "mallory",
                                    "password": "guess %d" % n}, extra_args=("--interface", "127.0.0.3"))
        for n in range(1, 5):
            self.assertOAuthError(guess(n), 400, "invalid_grant")
            harness.wait_for(f"failure {n}", lambda: self.failures("u:mallory|127.0.0.3") >= n)
        self.assertOAuthError(guess(5), 429, "slow_down")


if __name__ == "__main__":
    harness.main()
