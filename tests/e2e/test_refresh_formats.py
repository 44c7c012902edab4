"""The two refresh-token formats, as a user and an operator rely on them (authsvc/token/refresh.h).

- A server issues format 2 by default: 91 base64url characters that name the family and the generation, with
  a tag under the server's refresh key; the family's row holds the current token. `serve
  --refresh-token-format 1` issues format 1 (43 characters, a refresh_tokens row per token).
- The rolling upgrade: a format-1 token issued by an instance started with `--refresh-token-format 1` keeps
  rotating, to format-1 successors, on an instance with the default format over the same database; grace
  and reuse detection work for it there. Nothing a user had is lost. A format-2 family keeps its format on
  a format-1 instance too: the option chooses the format of new families only.
- Format 2 against an attacker: a token with a broken tag, or a well-formed token of a family that does not
  exist, is invalid_grant and revokes nothing; a genuine token from three generations back is reuse and
  ends the family; introspection calls only the current token active; revoking (RFC 7009) with an older
  genuine token ends the family.

Time never passes by sleeping: the rotation is moved back in the class's database.
"""

import harness
from harness import API, INTROSPECT_PATH, REVOKE_PATH, Client, RefreshToken

INTROSPECTION = ["--allow", "introspection"]


class RefreshFormatTests(harness.ServiceTestCase):
    """The class's server has the default format; a second one, over the same database and key directory, is
    started with `--refresh-token-format 1`, as an instance of a rolling upgrade would be."""

    users = {"alice": "alice-password", "bob": "bob-password"}
    clients = [Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read write",
                      options=INTROSPECTION)]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.v1_server, cls.v1_http = cls.start_another_server("format-1", extra_args=["--refresh-token-format", "1"])

    # -- requests and views -------------------------------------------------------------------------------

    def login_on(self, http, username="alice"):
        """The refresh token of a password login through `http` (self.http: the default server)."""
        fields, basic = harness.client_auth(self.client["web"], {"grant_type": "password", "username": username,
                                                                 "password": self.users[username]})
        return self.assertTokenSuccess(http.token(fields, basic=basic), refresh=True)["refresh_token"]

    def refresh_on(self, http, token):
        fields, basic = harness.client_auth(self.client["web"], {"grant_type": "refresh_token", "refresh_token": token})
        return http.token(fields, basic=basic)

    def rotate_on(self, http, token):
        """The successor of `token`, rotated through `http`."""
        return self.assertTokenSuccess(self.refresh_on(http, token), refresh=True)["refresh_token"]

    def rotate(self, token):
        return self.rotate_on(self.http, token)

    def introspect(self, token):
        return self.http.post_form_as(INTROSPECT_PATH, self.client["web"], {"token": token})[0]

    def revoke(self, token):
        response = self.http.post_form_as(REVOKE_PATH, self.client["web"], {"token": token})[0]
        self.assertStatus(response, 200)  # RFC 7009 §2.2: also for a token the server does not know
        return response

    def active(self, token):
        response = self.introspect(token)
        self.assertStatus(response, 200)
        body = response.json()
        self.assertIs(type(body.get("active")), bool, response)
        return body["active"]

    def family_state(self, family):
        """(revoked, revoked_reason) of a family."""
        row = self.db.query(f"SELECT revoked_at IS NOT NULL, coalesce(revoked_reason, '') FROM refresh_families "
                            f"WHERE id = '{family}'")
        self.assertTrue(row, f"family {family} does not exist")
        revoked, reason = row.split("|")
        return revoked == "t", reason

    def revoked_families(self):
        return int(self.db.query("SELECT count(*) FROM refresh_families WHERE revoked_at IS NOT NULL"))

    def reuse_audits(self, family):
        return int(self.db.query(f"SELECT count(*) FROM audit_events WHERE kind = 'refresh_token_reuse' "
                                 f"AND detail->>'family_id' = '{family}'"))

    def stored_rows(self, family):
        return int(self.db.query(f"SELECT count(*) FROM refresh_tokens WHERE family_id = '{family}'"))

    def key(self):
        return harness.refresh_key(self.keys_dir)

    def assertFamilyLives(self, family, current):
        """The family is not revoked and `current` still rotates."""
        self.assertEqual(self.family_state(family), (False, ""))
        return self.rotate(current)

    def assertFamilyRevoked(self, family, current, reason=None):
        revoked, got = self.family_state(family)
        self.assertTrue(revoked, f"family {family} was not revoked")
        if reason is not None:
            self.assertEqual(got, reason)
        self.assertInvalidGrant(self.refresh(self.client["web"], current))

    # -- which format a server issues --------------------------------------------------------------------

    def test_the_default_server_issues_format_2(self):
        text = self.login_on(self.http)
        token = self.assertRefreshToken(text, format=2)
        self.assertEqual(len(text), harness.REFRESH_V2_LEN)
        self.assertEqual(token.gen, 0)
        # the family the token names is the login's, and its row holds the token (its secret's hash), not rows
        self.assertEqual(self.db.query(f"SELECT user_id, client_id, gen, encode(cur_hash, 'hex'), rotated_at IS NULL, "
                                       f"cur_expires > now() FROM refresh_families WHERE id = '{token.family}'"),
                         f"{self.user_id('alice')}|web|0|{token.hash}|t|t")
        self.assertEqual(self.stored_rows(token.family), 0, "a format-2 family has no refresh_tokens rows")
        # a rotation: same family, next generation, the secret derived from the parent's, the row updated
        successor = self.assertRefreshToken(self.rotate(text), format=2)
        self.assertEqual((successor.family, successor.gen), (token.family, 1))
        self.assertEqual(successor.secret, harness.refresh_next_secret(self.key(), token.secret))
        self.assertEqual(self.db.query(f"SELECT gen, encode(cur_hash, 'hex'), rotated_at IS NOT NULL FROM refresh_families "
                                       f"WHERE id = '{token.family}'"), f"1|{successor.hash}|t")
        self.assertEqual(self.stored_rows(token.family), 0)

    def test_a_format_1_server_issues_format_1(self):
        text = self.login_on(self.v1_http)
        token = self.assertRefreshToken(text, format=1)
        self.assertEqual(len(text), harness.REFRESH_V1_LEN)
        family = self.refresh_family(text)  # its refresh_tokens row
        self.assertEqual(self.db.query(f"SELECT user_id, client_id, gen IS NULL, cur_hash IS NULL FROM refresh_families "
                                       f"WHERE id = '{family}'"), f"{self.user_id('alice')}|web|t|t")
        self.assertTrue(self.refresh_is_current(text))
        successor = self.rotate_on(self.v1_http, text)
        self.assertRefreshToken(successor, format=1)
        self.assertEqual(RefreshToken(successor).secret, harness.refresh_next_secret(self.key(), token.secret))
        self.assertEqual(self.stored_rows(family), 2)

    # -- the rolling upgrade ------------------------------------------------------------------------------

    def test_a_format_1_token_keeps_rotating_on_a_default_server(self):
        first = self.login_on(self.v1_http)
        family = self.refresh_family(first)
        self.assertTrue(self.active(first), "the default server must know a format-1 token")
        token = first
        for _ in range(3):
            successor = self.rotate(token)
            self.assertRefreshToken(successor, format=1)  # the family keeps its format
            self.assertEqual(self.refresh_family(successor), family)
            self.assertFalse(self.refresh_is_current(token))
            self.assertTrue(self.refresh_is_current(successor))
            token = successor
        self.assertEqual(self.stored_rows(family), 4)
        self.assertEqual(self.db.query(f"SELECT gen IS NULL FROM refresh_families WHERE id = '{family}'"), "t")
        # and back on the format-1 instance, as a load balancer may send it
        self.assertRefreshToken(self.rotate_on(self.v1_http, token), format=1)
        self.assertEqual(self.family_state(family), (False, ""))

    def test_a_format_2_family_keeps_its_format_on_a_format_1_server(self):
        first = self.login_on(self.http)
        successor = self.assertRefreshToken(self.rotate_on(self.v1_http, first), format=2)
        self.assertEqual((successor.family, successor.gen), (RefreshToken(first).family, 1))
        self.assertTrue(self.refresh_is_current(successor.text))

    def test_grace_for_a_format_1_token_on_a_default_server(self):
        web = self.client["web"]
        first = self.login_on(self.v1_http)
        family = self.refresh_family(first)
        second = self.rotate(first)
        # the answer was lost: the retry, inside the grace window, gets the same successor, and is not reuse
        self.assertEqual(self.rotate(first), second)
        self.assertEqual(self.rotate_on(self.v1_http, first), second)
        self.assertEqual(self.stored_rows(family), 2, "the retries made a second branch")
        self.assertTrue(self.refresh_is_current(second))
        # after the window it is reuse: the family ends, with an audit event
        self.move_rotation_back(first, 65)
        self.assertInvalidGrant(self.refresh(web, first))
        self.assertFamilyRevoked(family, second, "reuse")
        self.assertEqual(self.reuse_audits(family), 1)

    def test_reuse_of_a_format_1_token_on_a_default_server(self):
        first = self.login_on(self.v1_http)
        family = self.refresh_family(first)
        third = self.rotate(self.rotate(first))
        self.assertInvalidGrant(self.refresh(self.client["web"], first))
        self.assertFamilyRevoked(family, third, "reuse")
        self.assertEqual(self.reuse_audits(family), 1)

    # -- format 2 against forgery and replay -----------------------------------------------------------------

    def test_a_broken_tag_is_invalid_grant_and_revokes_nothing(self):
        web = self.client["web"]
        first = self.login_on(self.http, "bob")
        second = self.rotate(first)
        family = RefreshToken(first).family
        revoked_before = self.revoked_families()
        for genuine in (second, first):  # the current token, and one a thief could replay to end the session
            raw = bytearray(RefreshToken(genuine).raw)
            for label, offset in (("a flipped tag byte", 60), ("the last tag byte", 67), ("another generation", 19),
                                  ("a flipped secret byte", 30)):
                forged = bytearray(raw)
                forged[offset] ^= 0x01
                forged = harness.b64url_encode(bytes(forged))
                with self.subTest(genuine=RefreshToken(genuine).gen, forged=label):
                    self.assertFalse(harness.refresh_tag_valid(forged, self.keys_dir))
                    self.assertInvalidGrant(self.refresh(web, forged))
                    self.assertFalse(self.active(forged))
                    self.revoke(forged)
        self.assertEqual(self.revoked_families(), revoked_before, "a forged token revoked a family")
        self.assertEqual(self.reuse_audits(family), 0)
        self.assertTrue(self.refresh_is_current(second), "a forged token consumed the current one")
        self.assertFamilyLives(family, second)

    def test_a_token_of_a_family_that_does_not_exist_is_invalid_grant(self):
        web = self.client["web"]
        live = self.login_on(self.http, "bob")
        revoked_before = self.revoked_families()
        families_before = self.db.query("SELECT count(*) FROM refresh_families")
        unknown = harness.unknown_refresh_token(2, self.keys_dir)
        self.assertTrue(harness.refresh_tag_valid(unknown, self.keys_dir))
        # of another generation too: a tag the server would accept, a family it never had
        later = harness.make_refresh_token_v2(self.key(), RefreshToken(unknown).family, 3, RefreshToken(unknown).secret)
        for token in (unknown, later):
            with self.subTest(gen=RefreshToken(token).gen):
                self.assertInvalidGrant(self.refresh(web, token))
                self.assertFalse(self.active(token))
                self.revoke(token)
        self.assertEqual(self.revoked_families(), revoked_before)
        self.assertEqual(self.db.query("SELECT count(*) FROM refresh_families"), families_before)
        self.assertEqual(self.db.query("SELECT count(*) FROM audit_events WHERE kind = 'refresh_token_reuse' AND "
                                       f"detail->>'family_id' = '{RefreshToken(unknown).family}'"), "0")
        self.assertFamilyLives(RefreshToken(live).family, live)

    def test_a_token_from_three_generations_back_revokes_the_family(self):
        first = self.login_on(self.http)
        family = RefreshToken(first).family
        other = self.login_on(self.http)  # another session of the same user
        fourth = self.rotate(self.rotate(self.rotate(first)))
        self.assertEqual(RefreshToken(fourth).gen, 3)
        self.assertInvalidGrant(self.refresh(self.client["web"], first))
        self.assertFamilyRevoked(family, fourth, "reuse")
        self.assertEqual(self.reuse_audits(family), 1)
        self.assertFamilyLives(RefreshToken(other).family, other)

    def test_introspection_calls_only_the_current_token_active(self):
        first = self.login_on(self.http)
        second = self.rotate(first)
        third = self.rotate(second)
        self.assertTrue(self.active(third))
        self.assertFalse(self.active(first))
        self.assertFalse(self.active(second))
        # introspection is no refresh: it consumed nothing and revoked nothing
        self.assertFamilyLives(RefreshToken(first).family, third)

    def test_revoking_with_an_older_genuine_token_revokes_the_family(self):
        first = self.login_on(self.http)
        family = RefreshToken(first).family
        other = self.login_on(self.http)
        third = self.rotate(self.rotate(first))
        self.assertTrue(self.active(third))
        self.revoke(first)
        self.assertFamilyRevoked(family, third)
        self.assertFalse(self.active(third))
        self.assertFamilyLives(RefreshToken(other).family, other)


if __name__ == "__main__":
    harness.main()
