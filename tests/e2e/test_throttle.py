"""Brute-force throttling of password logins: per (username, address) and per address, in PostgreSQL (so every
instance sees it), with exponential back-off; a throttled attempt gets 429 slow_down with Retry-After and no
password check; another address is never held back; a good password after the wait clears the count.
/account/password checks the current password through the same mechanism: its wrong guesses count with the
logins' (per username and address, per address), and it is throttled alike.

The waits are not waited out: the test moves `blocked_until` in the database, and polls the database for the
failures being recorded (they are written after the answer goes out)."""

import harness
from harness import ACCOUNT_PASSWORD_PATH, API, Client

ADDRESS_KEY = "u:alice|127.0.0.1"


class ThrottleTests(harness.ServiceTestCase):
    users = {"alice": "alice correct horse", "carol": "carol correct horse"}
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

    def test_account_password_is_throttled_as_logins_are(self):
        """A stolen access token buys no more guesses at the current password than the sign-in does."""
        access = self.assertTokenSuccess(self.http.token({"grant_type": "password", "client_id": "app", "username": "carol",
                                                          "password": self.users["carol"]}), refresh=False)["access_token"]
        key = "u:carol|127.0.0.4"

        def change(current, address="127.0.0.4"):
            return self.http.post_form(ACCOUNT_PASSWORD_PATH, {"current_password": current,
                                                               "new_password": "carol's brand new passphrase"},
                                       headers=[f"Authorization: Bearer {access}"], extra_args=("--interface", address))

        for n in range(1, 5):
            self.assertOAuthError(change("wrong guess %d" % n), 400, "invalid_grant")
            harness.wait_for(f"failure {n} to be recorded", lambda: self.failures(key) >= n)
        audited = self.db.query("SELECT count(*) FROM audit_events WHERE kind = 'login_failure'"
                                " AND detail->>'username' = 'carol' AND detail->>'address' = '127.0.0.4'"
                                " AND client_id = 'app'").strip()
        self.assertEqual(int(audited), 4, "each wrong current password is audited with username, client and address")
        # throttled: 429 slow_down with Retry-After, the right password included, and nothing verified or counted
        for current in ("another guess", self.users["carol"]):
            r = change(current)
            self.assertOAuthError(r, 429, "slow_down")
            self.assertGreaterEqual(int(r.header("retry-after")), 1, r)
        self.assertEqual(self.failures(key), 4, "a throttled attempt is not checked, so not counted")
        # one mechanism: the password grant from that address is held back by the same failures
        r = self.http.token({"grant_type": "password", "client_id": "app", "username": "carol",
                             "password": self.users["carol"]}, extra_args=("--interface", "127.0.0.4"))
        self.assertOAuthError(r, 429, "slow_down")
        self.assertEqual(self.db.query("SELECT token_version FROM users WHERE username = 'carol'").strip(), "1")
        # the rightful user from another address changes the password
        r = change(self.users["carol"], address="127.0.0.5")
        self.assertTokenSuccess(r, refresh=False)
        self.assertEqual(self.db.query("SELECT token_version FROM users WHERE username = 'carol'").strip(), "2")


if __name__ == "__main__":
    harness.main()
