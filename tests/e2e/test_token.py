"""The token endpoint's grants, as a client and a resource server see them.

Each grant returns an access token that PyJWT verifies against the served JWKS with the RFC 9068
claims; refresh tokens rotate with reuse detection (RFC 9700); a password change revokes refresh tokens.
The grace window, races and lifetimes of refresh tokens are in test_refresh_security.py.
"""

import harness
from harness import API, Client

BILLING = "https://billing.example.test"
ACCESS_TTL = 120


class GrantTests(harness.ServiceTestCase):
    # No grace window: presenting a spent refresh token is reuse at once (see test_refresh_rotation_...).
    serve_args = ["--access-ttl", str(ACCESS_TTL), "--refresh-grace", "0"]
    users = {"alice": "alice-Passw0rd!", "bob": "bob correct horse", "carol": "carol-old-password",
             "dave": "dave-password"}
    clients = [
        Client("backend", grants=["client_credentials"], audiences=[API], scope="read write admin"),
        Client("two-audiences", grants=["client_credentials"], audiences=[API, BILLING], scope="read"),
        Client("web", grants=["password", "refresh_token"], audiences=[API], scope="profile read write"),
        Client("mobile", grants=["password", "refresh_token"], audiences=[API], scope="profile read", public=True),
        Client("no-refresh", grants=["password"], audiences=[API], scope="read"),
    ]

    # -- client_credentials -----------------------------------------------------------------------------

    def test_client_credentials_with_basic_auth(self):
        backend = self.client["backend"]
        response = self.http.token({"grant_type": "client_credentials"}, basic=backend.basic)
        body = self.assertTokenSuccess(response, refresh=False)
        self.assertEqual(body["expires_in"], ACCESS_TTL, response)
        self.assertEqual(set(body["scope"].split()), backend.scopes, response)
        self.assertEqual(response.http_version, "2", response)
        self.assertAccessToken(body["access_token"], client=backend, sub="backend", scopes=backend.scopes,
                               ttl=ACCESS_TTL, user=False)

    def test_client_credentials_with_client_secret_post(self):
        backend = self.client["backend"]
        response = self.http.token({"grant_type": "client_credentials", "client_id": "backend",
                                    "client_secret": backend.secret})
        body = self.assertTokenSuccess(response, refresh=False)
        self.assertAccessToken(body["access_token"], client=backend, sub="backend", scopes=backend.scopes,
                               ttl=ACCESS_TTL, user=False)

    def test_client_credentials_with_requested_scope_subset(self):
        backend = self.client["backend"]
        response = self.http.token({"grant_type": "client_credentials", "scope": "write read"}, basic=backend.basic)
        body = self.assertTokenSuccess(response, refresh=False)
        self.assertEqual(set(body["scope"].split()), {"read", "write"}, response)
        self.assertAccessToken(body["access_token"], client=backend, sub="backend", scopes={"read", "write"},
                               user=False)

    def test_client_with_two_audiences(self):
        client = self.client["two-audiences"]
        response = self.http.token({"grant_type": "client_credentials"}, basic=client.basic)
        body = self.assertTokenSuccess(response, refresh=False)
        claims = self.assertAccessToken(body["access_token"], client=client, sub="two-audiences", user=False)
        self.assertEqual(sorted(harness.audiences(claims)), sorted([API, BILLING]), claims)

    def test_every_token_has_its_own_jti(self):
        backend = self.client["backend"]
        jtis = set()
        for _ in range(3):
            body = self.assertTokenSuccess(self.http.token({"grant_type": "client_credentials"}, basic=backend.basic))
            jtis.add(self.assertAccessToken(body["access_token"], client=backend, user=False)["jti"])
        self.assertEqual(len(jtis), 3, jtis)

    # -- password ---------------------------------------------------------------------------------------

    def test_password_grant_with_confidential_client(self):
        web = self.client["web"]
        body = self.password_login(web, "alice")
        self.assertIn("refresh_token", body)
        self.assertEqual(body["expires_in"], ACCESS_TTL, body)
        self.assertEqual(set(body["scope"].split()), web.scopes, body)
        claims = self.assertAccessToken(body["access_token"], client=web, scopes=web.scopes, ttl=ACCESS_TTL)
        self.assertNotEqual(claims["sub"], "web", "sub must be the user, not the client")

    def test_password_grant_subject_is_stable_per_user(self):
        web, mobile = self.client["web"], self.client["mobile"]
        alice_1 = self.assertAccessToken(self.password_login(web, "alice")["access_token"],
                                         client=web)
        alice_2 = self.assertAccessToken(self.password_login(mobile, "alice")["access_token"],
                                         client=mobile)
        bob = self.assertAccessToken(self.password_login(web, "bob")["access_token"], client=web)
        self.assertEqual(alice_1["sub"], alice_2["sub"], "two logins of alice must have the same sub")
        self.assertNotEqual(alice_1["sub"], bob["sub"], "alice and bob must have different subs")

    def test_password_grant_with_public_client(self):
        mobile = self.client["mobile"]
        response = self.http.token({"grant_type": "password", "username": "bob", "password": self.users["bob"],
                                    "client_id": "mobile"})
        body = self.assertTokenSuccess(response, refresh=True)
        self.assertAccessToken(body["access_token"], client=mobile, scopes=mobile.scopes, ttl=ACCESS_TTL)

    def test_password_grant_with_requested_scope(self):
        web = self.client["web"]
        body = self.password_login(web, "alice", scope="read")
        self.assertEqual(body["scope"].split(), ["read"], body)
        self.assertAccessToken(body["access_token"], client=web, scopes={"read"})

    def test_password_grant_without_refresh_grant_gives_no_refresh_token(self):
        client = self.client["no-refresh"]
        response = self.http.token({"grant_type": "password", "username": "bob", "password": self.users["bob"]},
                                   basic=client.basic)
        body = self.assertTokenSuccess(response, refresh=False)
        self.assertAccessToken(body["access_token"], client=client, scopes={"read"})

    # -- refresh_token ----------------------------------------------------------------------------------

    def test_refresh_grant_issues_a_fresh_access_token_for_the_same_user(self):
        web = self.client["web"]
        login = self.password_login(web, "alice", scope="profile read")
        first = self.assertAccessToken(login["access_token"], client=web)
        response = self.refresh(web, login["refresh_token"])
        body = self.assertTokenSuccess(response, refresh=True)
        self.assertEqual(set(body["scope"].split()), {"profile", "read"}, response)
        second = self.assertAccessToken(body["access_token"], client=web, sub=first["sub"],
                                        scopes={"profile", "read"}, ttl=ACCESS_TTL)
        self.assertNotEqual(first["jti"], second["jti"])

    def test_refresh_grant_with_public_client(self):
        mobile = self.client["mobile"]
        login = self.password_login(mobile, "bob")
        body = self.assertTokenSuccess(self.refresh(mobile, login["refresh_token"]), refresh=True)
        self.assertAccessToken(body["access_token"], client=mobile, scopes=mobile.scopes)

    def test_refresh_rotation_and_reuse_detection(self):
        web = self.client["web"]
        first = self.password_login(web, "alice")["refresh_token"]

        second = self.assertTokenSuccess(self.refresh(web, first), refresh=True)["refresh_token"]
        self.assertNotEqual(second, first, "refresh must rotate")
        third = self.assertTokenSuccess(self.refresh(web, second), refresh=True)["refresh_token"]
        self.assertNotIn(third, (first, second))

        # The spent token no longer works ...
        self.assertInvalidGrant(self.refresh(web, first))
        # ... and presenting it outside the grace window revoked the whole family (RFC 9700 §4.14.2,
        # DESIGN "Refresh tokens"), so the latest token is dead too.
        self.assertInvalidGrant(self.refresh(web, third))

    def test_refresh_token_is_bound_to_its_client(self):
        web, mobile = self.client["web"], self.client["mobile"]
        stolen = self.password_login(web, "bob")["refresh_token"]
        self.assertOAuthError(self.refresh(mobile, stolen), 400, "invalid_grant")

    def test_refresh_may_narrow_but_not_widen_the_scope(self):
        web = self.client["web"]
        login = self.password_login(web, "bob", scope="profile read")
        self.assertOAuthError(self.refresh(web, login["refresh_token"], scope="profile read write"), 400,
                              "invalid_scope")
        login = self.password_login(web, "bob", scope="profile read")
        body = self.assertTokenSuccess(self.refresh(web, login["refresh_token"], scope="read"), refresh=True)
        self.assertEqual(body["scope"].split(), ["read"], body)
        self.assertAccessToken(body["access_token"], client=web, scopes={"read"})

    # -- password change --------------------------------------------------------------------------------

    def test_password_change_revokes_refresh_tokens(self):
        web = self.client["web"]
        before = self.password_login(web, "carol", "carol-old-password")
        old_ver = self.assertAccessToken(before["access_token"], client=web)["ver"]

        self.cli.set_password("carol", "carol-new-password")

        self.assertOAuthError(self.http.token({"grant_type": "password", "username": "carol",
                                               "password": "carol-old-password"}, basic=web.basic),
                              400, "invalid_grant")
        after = self.password_login(web, "carol", "carol-new-password")
        new_ver = self.assertAccessToken(after["access_token"], client=web)["ver"]
        self.assertGreater(new_ver, old_ver, "a password change must bump the token version (DESIGN)")
        self.assertOAuthError(self.refresh(web, before["refresh_token"]), 400, "invalid_grant")
        # Tokens from after the change keep working.
        self.assertTokenSuccess(self.refresh(web, after["refresh_token"]), refresh=True)


if __name__ == "__main__":
    harness.main()
