"""A refresh after an outage: the client rotated its refresh token, the answer was lost, the service
restarted, and the client retries with the token it had, long after the old 5-second window.

The rule (README "Refresh tokens", the comment on STMT_REFRESH_CHECK): the retry gets the same successor
while that successor has never been used and at most --refresh-grace seconds (default 60) have passed; after
that, or once the successor was used, the parent is reuse and the family is revoked (RFC 9700 §4.14.2).

Time moves in the database (the rotation is set back: format 2's rotated_at, format 1's used_at), never by
sleeping.
"""

import harness
from harness import API, Client


class RefreshAfterOutageTests(harness.ServiceTestCase):
    users = {"alice": "alice-password"}
    clients = [Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read")]

    def rotate(self, token):
        return self.assertTokenSuccess(self.refresh(self.client["web"], token), refresh=True)["refresh_token"]

    def restart(self):
        self.server.stop_cleanly()
        type(self)._start_server()

    def set_back(self, token, seconds):
        self.move_rotation_back(token, seconds)

    def test_a_retry_across_a_restart_keeps_the_session(self):
        first = self.password_login("web", "alice")["refresh_token"]
        lost = self.rotate(first)  # the client never saw this answer
        self.restart()
        self.set_back(first, 30)  # six times the old 5 s window
        retry = self.rotate(first)
        self.assertEqual(retry, lost, "the retry must get the successor the lost answer carried")
        # the session goes on, and the retry was not taken for reuse
        self.rotate(self.rotate(retry))
        self.assertEqual(self.db.query("SELECT count(*) FROM refresh_families WHERE revoked_at IS NOT NULL"), "0")

    def test_a_retry_after_the_bound_is_reuse(self):
        first = self.password_login("web", "alice")["refresh_token"]
        successor = self.rotate(first)
        self.restart()
        self.set_back(first, 61)
        self.assertInvalidGrant(self.refresh(self.client["web"], first))
        self.assertInvalidGrant(self.refresh(self.client["web"], successor))  # the family is revoked

    def test_a_retry_after_the_successor_was_used_is_reuse(self):
        first = self.password_login("web", "alice")["refresh_token"]
        successor = self.rotate(first)
        self.rotate(successor)  # the client did get the answer and went on
        self.set_back(first, 10)
        self.assertInvalidGrant(self.refresh(self.client["web"], first))


if __name__ == "__main__":
    harness.main()
