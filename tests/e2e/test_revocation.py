"""Ending sessions, as clients, resource servers and users see it.

- POST /oauth2/revoke (RFC 7009): a refresh token takes its whole family with it; an access token is
  listed by jti, so introspection and the revocation feed report it.
- POST /oauth2/introspect (RFC 7662): what is active, and for whom.
- GET /oauth2/revocations?since=CURSOR: the feed offline verifiers poll (subjects with their minimum
  valid `ver`, revoked jtis with their exp).
- POST /account/password: self-service change with a Bearer access token; every other session ends.
- `authsvc user passwd|revoke|disable|enable`.
- The metadata advertises the three endpoints.

Time never passes by sleeping: expired tokens are made by moving timestamps in the class's database,
or (for an access JWT) by signing one with the server's own key and an exp in the past.
"""

import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

import harness
from harness import (ACCOUNT_PASSWORD_PATH, API, FEED_PATH, INTROSPECT_PATH, METADATA_PATHS, REVOKE_PATH, Client,
                     sql_refresh_family, unknown_refresh_token)

ACCESS_TTL = 300

# the endpoints that tell about others' tokens are for clients granted them (migrations/0005_client_rights.sql)
INTROSPECTION = ["--allow", "introspection"]
FEED = ["--allow", "revocation-feed"]


class SessionCase(harness.ServiceTestCase):
    """Helpers for the three endpoints and the password change, with their assertions."""

    # -- requests ---------------------------------------------------------------------------------------

    def revoke(self, client, token, **fields):
        return self.http.post_form_as(REVOKE_PATH, client, {"token": token, **fields})[0]

    def introspect(self, client, token, **fields):
        return self.http.post_form_as(INTROSPECT_PATH, client, {"token": token, **fields})[0]

    def feed(self, client, since=None, *, query=None):
        path = FEED_PATH
        if query is not None:
            path += "?" + query
        elif since is not None:
            path += "?since=" + since
        return self.http.get(path, basic=None if client is None else client.basic)

    def change_password(self, access_token, current, new, *, headers=None):
        if headers is None:
            headers = [f"Authorization: Bearer {access_token}"]
        return self.http.post_form(ACCOUNT_PASSWORD_PATH, {"current_password": current, "new_password": new},
                                   headers=headers)

    def token_version(self, username):
        return int(self.db.query(f"SELECT token_version FROM users WHERE username = '{username}'"))

    # -- assertions -------------------------------------------------------------------------------------

    def assertRevoked(self, response):
        """RFC 7009 §2.2: 200 for a revoked, unknown or foreign token alike."""
        self.assertStatus(response, 200)
        self.assertCacheNoStore(response)

    def assertIntrospection(self, response):
        self.assertStatus(response, 200)
        body = self.assertJson(response)
        self.assertNoStore(response)
        self.assertIsInstance(body, dict, response)
        self.assertIs(type(body.get("active")), bool, f"active must be a boolean\n{response}")
        return body

    def assertActive(self, response):
        body = self.assertIntrospection(response)
        self.assertIs(body["active"], True, f"expected an active token\n{response}")
        return body

    def assertInactive(self, response):
        body = self.assertIntrospection(response)
        # RFC 7662 §2.2: nothing more than active=false for a token that is not active.
        self.assertEqual(body, {"active": False}, f"expected exactly {{\"active\": false}}\n{response}")

    def assertFeed(self, response):
        self.assertStatus(response, 200)
        body = self.assertJson(response)
        self.assertNoStore(response)
        self.assertIsInstance(body, dict, response)
        self.assertRegex(body.get("cursor", ""), r"^[0-9]{1,19}$", f"cursor\n{response}")
        self.assertIs(type(body.get("reset")), bool, f"reset\n{response}")
        self.assertIsInstance(body.get("subjects"), list, response)
        self.assertIsInstance(body.get("jtis"), list, response)
        return body

    def assertBearerChallenge(self, response, status=401, error=None):
        self.assertStatus(response, status)
        body = self.assertJson(response)
        self.assertNoStore(response)
        challenge = response.header("www-authenticate") or ""
        self.assertTrue(challenge.lower().startswith("bearer"), f"expected WWW-Authenticate: Bearer\n{response}")
        if error is not None:
            self.assertEqual(body.get("error"), error, response)
            self.assertIn(f'error="{error}"', challenge, response)
        return body

    def current_cursor(self, client):
        return self.assertFeed(self.feed(client))["cursor"]


class RevokeAndIntrospectTests(SessionCase):
    users = {"alice": "alice-password", "bob": "bob-password", "erin": "erin-password", "frank": "frank-password"}
    clients = [
        Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read write", options=INTROSPECTION),
        Client("partner", grants=["password", "refresh_token"], audiences=[API], scope="read", options=INTROSPECTION),
        Client("mobile", grants=["password", "refresh_token"], audiences=[API], scope="read", public=True,
               options=INTROSPECTION),
        Client("rs", grants=["client_credentials"], audiences=[API], scope="introspect",
               options=INTROSPECTION + FEED),
    ]
    serve_args = ["--access-ttl", str(ACCESS_TTL)]

    # -- revocation: the request ----------------------------------------------------------------------

    def test_revoke_requires_client_authentication(self):
        web = self.client["web"]
        login = self.password_login("web", "alice")
        self.assertInvalidClient(self.revoke(None, login["refresh_token"]))
        self.assertInvalidClient(self.http.post_form(REVOKE_PATH, {"token": login["refresh_token"]},
                                                     basic=("web", "not-the-secret")))
        self.assertInvalidClient(self.http.post_form(REVOKE_PATH, {"token": login["refresh_token"]},
                                                     basic=("nobody", "x")))
        # None of these revoked anything.
        self.assertTokenSuccess(self.refresh(web, login["refresh_token"]), refresh=True)
        self.assertActive(self.introspect(self.client["rs"], login["access_token"]))

    def test_revoke_without_token_is_invalid_request(self):
        self.assertOAuthError(self.http.post_form(REVOKE_PATH, {"token_type_hint": "refresh_token"},
                                                  basic=self.client["web"].basic), 400, "invalid_request")

    def test_revoke_unknown_or_garbage_token_is_200(self):
        web = self.client["web"]
        for token in (unknown_refresh_token(1), unknown_refresh_token(2, self.keys_dir), "garbage",
                      "eyJhbGciOiJFUzI1NiJ9.e30.AAAA", "x" * 43, "x" * 91):
            with self.subTest(token=token):
                self.assertRevoked(self.revoke(web, token))
                self.assertRevoked(self.revoke(web, token, token_type_hint="refresh_token"))

    # -- revocation: refresh tokens -------------------------------------------------------------------

    def test_revoking_the_current_refresh_token_revokes_the_family(self):
        web = self.client["web"]
        first = self.password_login("web", "alice")["refresh_token"]
        second = self.assertTokenSuccess(self.refresh(web, first), refresh=True)["refresh_token"]
        third = self.assertTokenSuccess(self.refresh(web, second), refresh=True)["refresh_token"]
        other_session = self.password_login("web", "alice")["refresh_token"]

        self.assertRevoked(self.revoke(web, third, token_type_hint="refresh_token"))
        self.assertInvalidGrant(self.refresh(web, third))
        self.assertInactive(self.introspect(web, third))
        # A retry of the token rotated a moment ago (inside the grace window) must not revive the family.
        self.assertInvalidGrant(self.refresh(web, second))
        self.assertInvalidGrant(self.refresh(web, first))
        # Another login of the same user is another family.
        self.assertTokenSuccess(self.refresh(web, other_session), refresh=True)

    def test_revoking_a_consumed_refresh_token_revokes_its_live_successor(self):
        web = self.client["web"]
        first = self.password_login("web", "alice")["refresh_token"]
        second = self.assertTokenSuccess(self.refresh(web, first), refresh=True)["refresh_token"]
        self.assertRevoked(self.revoke(web, first))
        self.assertInvalidGrant(self.refresh(web, second))
        self.assertInvalidGrant(self.refresh(web, first))

    def test_a_wrong_hint_does_not_stop_revocation(self):
        web = self.client["web"]
        token = self.password_login("web", "alice")["refresh_token"]
        self.assertRevoked(self.revoke(web, token, token_type_hint="access_token"))
        self.assertInvalidGrant(self.refresh(web, token))

    def test_a_public_client_revokes_its_own_refresh_token(self):
        mobile = self.client["mobile"]
        token = self.password_login("mobile", "bob")["refresh_token"]
        self.assertRevoked(self.revoke(mobile, token))
        self.assertInvalidGrant(self.refresh(mobile, token))

    def test_a_client_cannot_revoke_another_clients_refresh_token(self):
        web = self.client["web"]
        token = self.password_login("web", "bob")["refresh_token"]
        for other in ("partner", "mobile", "rs"):
            with self.subTest(client=other):
                self.assertRevoked(self.revoke(self.client[other], token))
        self.assertEqual(self.db.query(f"SELECT revoked_at IS NULL FROM refresh_families "
                                       f"WHERE id = {sql_refresh_family(token)}"), "t")
        self.assertTokenSuccess(self.refresh(web, token), refresh=True)

    # -- revocation: access tokens ----------------------------------------------------------------------

    def test_revoking_an_access_token(self):
        web, rs = self.client["web"], self.client["rs"]
        login = self.password_login("web", "bob")
        claims = self.assertAccessToken(login["access_token"], client=web)
        self.assertActive(self.introspect(rs, login["access_token"]))
        cursor = self.current_cursor(rs)

        self.assertRevoked(self.revoke(web, login["access_token"], token_type_hint="access_token"))
        self.assertInactive(self.introspect(rs, login["access_token"]))
        self.assertInactive(self.introspect(web, login["access_token"]))

        feed = self.assertFeed(self.feed(rs, cursor))
        self.assertFalse(feed["reset"], feed)
        self.assertEqual(feed["jtis"], [{"jti": claims["jti"], "exp": claims["exp"]}], feed)
        self.assertEqual(feed["subjects"], [], "revoking one access token must not list the user")
        snapshot = self.assertFeed(self.feed(rs))
        self.assertIn({"jti": claims["jti"], "exp": claims["exp"]}, snapshot["jtis"], snapshot)

        # Revoking it again is harmless, and is not listed twice.
        self.assertRevoked(self.revoke(web, login["access_token"]))
        again = self.assertFeed(self.feed(rs, feed["cursor"]))
        self.assertEqual(again["jtis"], [], again)
        # Other tokens of the same login are untouched.
        other = self.password_login("web", "bob")
        self.assertActive(self.introspect(rs, other["access_token"]))

    def test_a_client_cannot_revoke_another_clients_access_token(self):
        rs = self.client["rs"]
        login = self.password_login("web", "bob")
        cursor = self.current_cursor(rs)
        for other in ("partner", "mobile", "rs"):
            with self.subTest(client=other):
                self.assertRevoked(self.revoke(self.client[other], login["access_token"]))
        self.assertActive(self.introspect(rs, login["access_token"]))
        self.assertEqual(self.assertFeed(self.feed(rs, cursor))["jtis"], [])

    # -- introspection ----------------------------------------------------------------------------------

    def test_introspection_requires_client_authentication(self):
        login = self.password_login("web", "alice")
        self.assertInvalidClient(self.introspect(None, login["access_token"]))
        self.assertInvalidClient(self.http.post_form(INTROSPECT_PATH, {"token": login["access_token"]},
                                                     basic=("rs", "wrong-secret")))
        self.assertOAuthError(self.http.post_form(INTROSPECT_PATH, {}, basic=self.client["rs"].basic),
                              400, "invalid_request")

    def test_introspection_of_unknown_tokens(self):
        rs, web = self.client["rs"], self.client["web"]
        # A JWT of the right shape signed by a key the server does not have.
        stranger = ec.generate_private_key(ec.SECP256R1())
        forged = jwt.encode({"iss": harness.ISSUER, "sub": self.user_id("alice"), "aud": API, "exp": int(time.time()) + 60,
                             "iat": int(time.time()), "nbf": int(time.time()), "jti": str(uuid.uuid4()),
                             "client_id": "web", "scope": "read", "ver": 1},
                            stranger, algorithm="ES256", headers={"kid": "stranger", "typ": "at+jwt"})
        for token in (unknown_refresh_token(1), unknown_refresh_token(2, self.keys_dir), "garbage", forged):
            with self.subTest(token=token[:20]):
                self.assertInactive(self.introspect(rs, token))
                self.assertInactive(self.introspect(web, token))

    def test_introspection_of_an_access_token(self):
        web, rs = self.client["web"], self.client["rs"]
        login = self.password_login("web", "alice")
        claims = self.assertAccessToken(login["access_token"], client=web)
        for client in (rs, web):
            with self.subTest(client=client.client_id):
                body = self.assertActive(self.introspect(client, login["access_token"], token_type_hint="access_token"))
                for name in ("sub", "client_id", "scope", "exp", "iat", "jti", "iss"):
                    self.assertEqual(body.get(name), claims[name], f"{name}\n{body}")
                self.assertEqual(body["sub"], self.user_id("alice"))
                self.assertEqual(body["client_id"], "web")
                self.assertEqual(body.get("token_type"), "Bearer", body)

    def test_a_public_client_introspects_only_its_own_access_tokens(self):
        mobile = self.client["mobile"]
        own = self.password_login("mobile", "bob")["access_token"]
        foreign = self.password_login("web", "bob")["access_token"]
        self.assertEqual(self.assertActive(self.introspect(mobile, own))["client_id"], "mobile")
        self.assertInactive(self.introspect(mobile, foreign))

    def test_introspection_of_a_refresh_token(self):
        web = self.client["web"]
        login = self.password_login("web", "alice")
        token = login["refresh_token"]
        before = int(time.time())
        body = self.assertActive(self.introspect(web, token, token_type_hint="refresh_token"))
        self.assertEqual(body.get("client_id"), "web", body)
        self.assertEqual(body.get("sub"), self.user_id("alice"), body)
        self.assertEqual(set(body.get("scope", "").split()), {"read", "write"}, body)
        self.assertEqual(body.get("iss"), harness.ISSUER, body)
        self.assertIsInstance(body.get("exp"), int, body)
        self.assertIsInstance(body.get("iat"), int, body)
        self.assertGreater(body["exp"], before + 3600, "the default idle lifetime is 14 days")
        self.assertLessEqual(abs(body["iat"] - before), 60, body)
        # Only its own client learns anything about it.
        for other in ("partner", "mobile", "rs"):
            with self.subTest(client=other):
                self.assertInactive(self.introspect(self.client[other], token))
        # After rotation the old token is inactive and the new one active.
        successor = self.assertTokenSuccess(self.refresh(web, token), refresh=True)["refresh_token"]
        self.assertInactive(self.introspect(web, token))
        self.assertActive(self.introspect(web, successor))

    def test_expired_refresh_tokens_are_inactive(self):
        web = self.client["web"]
        idle = self.password_login("web", "alice")["refresh_token"]
        self.assertActive(self.introspect(web, idle))
        self.expire_refresh_token(idle)
        self.assertInactive(self.introspect(web, idle))

        absolute = self.password_login("web", "alice")["refresh_token"]
        self.assertActive(self.introspect(web, absolute))
        self.db.query(f"UPDATE refresh_families SET expires_at = now() - interval '1 second' WHERE id = "
                      f"{sql_refresh_family(absolute)}")
        self.assertInactive(self.introspect(web, absolute))

    def _server_key(self):
        """(kid, alg, private key) of the server's one signing key."""
        kids = self.key_directory.kids()
        self.assertEqual(len(kids), 1, kids)
        return (kids[0], *self.key_directory.private_key(kids[0]))

    def test_an_expired_access_token_is_inactive(self):
        web, rs = self.client["web"], self.client["rs"]
        claims = self.assertAccessToken(self.password_login("web", "alice")["access_token"], client=web)
        kid, alg, key = self._server_key()
        now = int(time.time())

        def signed(exp):
            return jwt.encode({**claims, "jti": str(uuid.uuid4()), "iat": now - 600, "nbf": now - 600, "exp": exp}, key,
                              algorithm=alg, headers={"kid": kid, "typ": "at+jwt"})

        # The control: a token signed the same way that has not expired is active ...
        self.assertActive(self.introspect(rs, signed(now + 60)))
        # ... and one that expired 10 seconds ago is not.
        self.assertInactive(self.introspect(rs, signed(now - 10)))

    def test_access_and_refresh_tokens_are_inactive_after_cli_passwd(self):
        web, rs = self.client["web"], self.client["rs"]
        login = self.password_login("web", "erin")
        self.assertActive(self.introspect(rs, login["access_token"]))
        self.cli.set_password("erin", "erin-new-password")
        self.assertInactive(self.introspect(rs, login["access_token"]))
        self.assertInactive(self.introspect(web, login["refresh_token"]))
        self.assertInvalidGrant(self.refresh(web, login["refresh_token"]))
        fresh = self.password_login("web", "erin", "erin-new-password")
        self.assertActive(self.introspect(rs, fresh["access_token"]))
        self.assertActive(self.introspect(web, fresh["refresh_token"]))

    # -- metadata ---------------------------------------------------------------------------------------

    def test_metadata_lists_the_endpoints(self):
        response = self.http.get(METADATA_PATHS[0])
        self.assertStatus(response, 200)
        body = self.assertJson(response)
        self.assertEqual(body.get("revocation_endpoint"), harness.ISSUER + REVOKE_PATH, body)
        self.assertEqual(body.get("introspection_endpoint"), harness.ISSUER + INTROSPECT_PATH, body)
        self.assertEqual(body.get("revocation_feed_endpoint"), harness.ISSUER + FEED_PATH, body)


class FeedTests(SessionCase):
    users = {"alice": "alice-password", "bob": "bob-password", "carol": "carol-password", "erin": "erin-password"}
    clients = [
        Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read", options=INTROSPECTION),
        Client("mobile", grants=["password", "refresh_token"], audiences=[API], scope="read", public=True,
               options=INTROSPECTION),
        Client("rs", grants=["client_credentials"], audiences=[API], scope="introspect",
               options=INTROSPECTION + FEED),
    ]

    def test_feed_requires_client_authentication(self):
        self.assertInvalidClient(self.feed(None))
        self.assertInvalidClient(self.http.get(FEED_PATH, basic=("rs", "wrong-secret")))
        self.assertInvalidClient(self.http.get(FEED_PATH + "?since=1", basic=("rs", "wrong")))

    def test_a_public_client_cannot_read_the_feed(self):
        # A public client has no secret to authenticate with: whatever it sends, it is not a client the
        # feed can authenticate (api/openapi.yaml: 401 invalid_client).
        for secret in ("", "x"):
            with self.subTest(secret=secret):
                body = self.assertInvalidClient(self.http.get(FEED_PATH, basic=("mobile", secret)))
                self.assertNotIn("cursor", body)

    def test_snapshot_without_cursor(self):
        body = self.assertFeed(self.feed(self.client["rs"]))
        self.assertIs(body["reset"], True, body)

    def test_users_revoked_by_the_cli_are_listed_since_the_cursor(self):
        rs, web = self.client["rs"], self.client["web"]
        bob_login = self.password_login("web", "bob")
        cursor = self.current_cursor(rs)

        self.cli.set_password("alice", "alice-new-password")
        first = self.assertFeed(self.feed(rs, cursor))
        self.assertIs(first["reset"], False, first)
        self.assertEqual(first["subjects"], [{"sub": self.user_id("alice"), "min_ver": 2}], first)
        self.assertEqual(first["jtis"], [], first)
        self.assertGreaterEqual(int(first["cursor"]), int(cursor))

        self.cli.run("user", "revoke", "bob")
        second = self.assertFeed(self.feed(rs, first["cursor"]))
        self.assertIs(second["reset"], False, second)
        self.assertEqual(second["subjects"], [{"sub": self.user_id("bob"), "min_ver": 2}], second)
        # bob's sessions are over: refresh and introspection agree with the feed.
        self.assertInvalidGrant(self.refresh(web, bob_login["refresh_token"]))
        self.assertInactive(self.introspect(rs, bob_login["access_token"]))

        # Nothing happened since: empty lists, the cursor stays usable.
        third = self.assertFeed(self.feed(rs, second["cursor"]))
        self.assertEqual((third["reset"], third["subjects"], third["jtis"]), (False, [], []), third)
        self.assertEqual(self.assertFeed(self.feed(rs, third["cursor"]))["subjects"], [])

        # From the first cursor both changes show, and a snapshot has both too; carol is never listed.
        both = self.assertFeed(self.feed(rs, cursor))
        self.assertEqual(sorted(s["sub"] for s in both["subjects"]), sorted([self.user_id("alice"), self.user_id("bob")]))
        snapshot = self.assertFeed(self.feed(rs))
        listed = {s["sub"]: s["min_ver"] for s in snapshot["subjects"]}
        self.assertEqual(listed.get(self.user_id("alice")), 2, snapshot)
        self.assertEqual(listed.get(self.user_id("bob")), 2, snapshot)
        self.assertNotIn(self.user_id("carol"), listed, snapshot)

    def test_bad_cursors_are_invalid_request(self):
        rs = self.client["rs"]
        for query in ("since=abc", "since=12a", "since=" + "1" * 25, "since=-1", "since=1&since=2"):
            with self.subTest(query=query):
                self.assertOAuthError(self.feed(rs, query=query), 400, "invalid_request")

    def test_a_cursor_older_than_compaction_resets(self):
        rs = self.client["rs"]
        old = self.current_cursor(rs)
        self.cli.run("user", "revoke", "erin")
        newer = self.assertFeed(self.feed(rs, old))
        self.assertIs(newer["reset"], False, newer)
        self.assertGreater(int(newer["cursor"]), int(old))
        # Compaction removed the feed's rows below old + 1: the old cursor can no longer be answered
        # incrementally (cleanup sets compacted_xid the same way, to the last deleted row's xid + 1).
        self.db.query(f"UPDATE revocation_feed_state SET compacted_xid = '{int(old) + 1}'")
        reset = self.assertFeed(self.feed(rs, old))
        self.assertIs(reset["reset"], True, reset)
        # A cursor at or above the horizon is still answered incrementally.
        self.assertIs(self.assertFeed(self.feed(rs, newer["cursor"]))["reset"], False)
        self.assertIs(self.assertFeed(self.feed(rs, reset["cursor"]))["reset"], False)


class PasswordChangeTests(SessionCase):
    users = {"alice": "alice-password", "bob": "bob-password", "carol": "carol-password", "dave": "dave-password",
             "gina": "gina-password", "hank": "hank-password"}
    clients = [
        Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read write", options=INTROSPECTION),
        Client("partner", grants=["password", "refresh_token"], audiences=[API], scope="read", options=INTROSPECTION),
        Client("rs", grants=["client_credentials"], audiences=[API], scope="introspect",
               options=INTROSPECTION + FEED),
    ]

    def test_wrong_current_password(self):
        login = self.password_login("web", "gina")
        response = self.change_password(login["access_token"], "not-gina-password", "gina-new-password")
        self.assertOAuthError(response, 400, "invalid_grant")
        self.assertEqual(self.token_version("gina"), 1, "a refused change must not revoke anything")
        self.assertTokenSuccess(self.refresh(self.client["web"], login["refresh_token"]), refresh=True)

    def test_a_bearer_access_token_is_required(self):
        login = self.password_login("web", "gina")
        self.assertBearerChallenge(self.change_password(None, "gina-password", "gina-new-password", headers=[]))
        self.assertBearerChallenge(self.change_password("garbage", "gina-password", "gina-new-password"),
                                   error="invalid_token")
        # A refresh token is not an access token.
        self.assertBearerChallenge(self.change_password(login["refresh_token"], "gina-password", "gina-new-password"),
                                   error="invalid_token")
        # Client credentials are not a user's token.
        basic = "Authorization: " + harness.basic_auth(*self.client["web"].basic)
        self.assertBearerChallenge(self.change_password(None, "gina-password", "gina-new-password", headers=[basic]))
        self.assertEqual(self.token_version("gina"), 1)

    def test_a_service_token_cannot_change_a_password(self):
        rs = self.client["rs"]
        body = self.assertTokenSuccess(self.http.token({"grant_type": "client_credentials"}, basic=rs.basic))
        response = self.change_password(body["access_token"], "x" * 8, "y" * 8)
        self.assertStatus(response, 403)
        self.assertEqual(self.assertJson(response).get("error"), "insufficient_scope", response)

    def test_the_new_password_must_have_8_bytes(self):
        login = self.password_login("web", "gina")
        self.assertOAuthError(self.change_password(login["access_token"], "gina-password", "short12"), 400,
                              "invalid_request")
        self.assertEqual(self.token_version("gina"), 1)

    def test_weak_new_passwords_are_refused_with_the_rule(self):
        """NIST SP 800-63B: characters (not bytes) after NFKC, no common password in any case or width; the
        description says which rule failed and never echoes the password."""
        login = self.password_login("web", "gina")
        cases = [("short12", "at least 8 characters"),
                 ("\u00e9" * 7, "at least 8 characters"),            # 14 bytes, 7 characters
                 ("iloveyou", "commonly used"),
                 ("ILoveYou", "commonly used"),
                 ("\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44", "commonly used"),  # fullwidth "password"
                 ("y" * 1025, "longer than 1024 bytes")]
        for password, rule in cases:
            with self.subTest(password=password[:12]):
                response = self.change_password(login["access_token"], "gina-password", password)
                body = self.assertOAuthError(response, 400, "invalid_request")
                self.assertIn(rule, body.get("error_description", ""), body)
                self.assertNotIn(password.encode(), response.body)
        self.assertEqual(self.token_version("gina"), 1)

    def test_a_password_composed_differently_still_logs_in(self):
        """The NFKC form is hashed: "café" typed with a combining accent matches "café" typed precomposed."""
        login = self.password_login("web", "hank")
        composed, decomposed = "caf\u00e9-hank-pw", "cafe\u0301-hank-pw"
        self.assertTokenSuccess(self.change_password(login["access_token"], "hank-password", decomposed), refresh=True)
        web = self.client["web"]
        for typed in (composed, decomposed):
            with self.subTest(typed=ascii(typed)):
                self.assertTokenSuccess(self.http.token({"grant_type": "password", "username": "hank",
                                                         "password": typed}, basic=web.basic))

    def test_a_successful_change_ends_every_other_session(self):
        web, partner, rs = self.client["web"], self.client["partner"], self.client["rs"]
        alice = self.user_id("alice")
        first = self.password_login("web", "alice")
        rotated = self.assertTokenSuccess(self.refresh(web, first["refresh_token"]), refresh=True)
        elsewhere = self.password_login("partner", "alice")
        bob = self.password_login("web", "bob")
        old_ver = self.assertAccessToken(first["access_token"], client=web)["ver"]
        cursor = self.current_cursor(rs)

        response = self.change_password(rotated["access_token"], "alice-password", "alice-new-password")
        body = self.assertTokenSuccess(response, refresh=True)
        claims = self.assertAccessToken(body["access_token"], client=web, sub=alice, scopes={"read", "write"})
        self.assertEqual(claims["ver"], old_ver + 1, claims)
        self.assertEqual(body.get("token_version"), claims["ver"], body)
        self.assertEqual(self.token_version("alice"), claims["ver"])

        # The new pair works.
        self.assertActive(self.introspect(rs, body["access_token"]))
        self.assertTokenSuccess(self.refresh(web, body["refresh_token"]), refresh=True)
        # Every older session ends, the caller's own included.
        for token, client in ((first["refresh_token"], web), (rotated["refresh_token"], web),
                              (elsewhere["refresh_token"], partner)):
            self.assertInvalidGrant(self.refresh(client, token))
        for token in (first["access_token"], rotated["access_token"], elsewhere["access_token"]):
            self.assertInactive(self.introspect(rs, token))
        # Resource servers polling the feed learn the new minimum version.
        feed = self.assertFeed(self.feed(rs, cursor))
        self.assertEqual(feed["subjects"], [{"sub": alice, "min_ver": claims["ver"]}], feed)
        # The old access token cannot change the password again.
        self.assertBearerChallenge(self.change_password(rotated["access_token"], "alice-new-password", "alice-3rd-password"),
                                   error="invalid_token")
        # Logins: the old password fails, the new one works.
        self.assertInvalidGrant(self.http.token({"grant_type": "password", "username": "alice",
                                                 "password": "alice-password"}, basic=web.basic))
        self.password_login("web", "alice", "alice-new-password")
        # bob is untouched.
        self.assertActive(self.introspect(rs, bob["access_token"]))
        self.assertTokenSuccess(self.refresh(web, bob["refresh_token"]), refresh=True)
        self.assertEqual(self.token_version("bob"), 1)

    def test_a_revoked_access_token_cannot_change_the_password(self):
        web, rs = self.client["web"], self.client["rs"]
        login = self.password_login("web", "carol")
        self.assertRevoked(self.revoke(web, login["access_token"]))
        self.assertInactive(self.introspect(rs, login["access_token"]))
        response = self.change_password(login["access_token"], "carol-password", "carol-new-password")
        self.assertBearerChallenge(response, error="invalid_token")
        self.assertEqual(self.token_version("carol"), 1, "a revoked access token changed the password")

    def test_disable_and_enable(self):
        web, rs = self.client["web"], self.client["rs"]
        login = self.password_login("web", "dave")
        cursor = self.current_cursor(rs)

        self.cli.run("user", "disable", "dave")
        self.assertInvalidGrant(self.refresh(web, login["refresh_token"]))
        self.assertInvalidGrant(self.http.token({"grant_type": "password", "username": "dave",
                                                 "password": "dave-password"}, basic=web.basic))
        self.assertInactive(self.introspect(rs, login["access_token"]))
        self.assertInactive(self.introspect(web, login["refresh_token"]))
        feed = self.assertFeed(self.feed(rs, cursor))
        self.assertEqual(feed["subjects"], [{"sub": self.user_id("dave"), "min_ver": 2}], feed)
        self.assertBearerChallenge(self.change_password(login["access_token"], "dave-password", "dave-new-password"),
                                   error="invalid_token")

        self.cli.run("user", "enable", "dave")
        again = self.password_login("web", "dave")
        self.assertEqual(self.assertAccessToken(again["access_token"], client=web)["ver"], 2)
        self.assertTokenSuccess(self.refresh(web, again["refresh_token"]), refresh=True)
        # Enabling does not bring the old sessions back.
        self.assertInvalidGrant(self.refresh(web, login["refresh_token"]))
        self.assertInactive(self.introspect(rs, login["access_token"]))


if __name__ == "__main__":
    harness.main()
