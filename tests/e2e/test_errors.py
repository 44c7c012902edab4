"""Bad requests get the RFC 6749 §5.2 error they deserve, never a crash or a 5xx.

Every token-endpoint error is JSON with Cache-Control: no-store and Pragma: no-cache.
"""

import base64
import secrets

import harness
from harness import API, Client, JWKS_PATH, TOKEN_PATH

MIB = 1024 * 1024


class TokenErrorTests(harness.ServiceTestCase):
    users = {"alice": "alice-password"}
    clients = [
        Client("backend", grants=["client_credentials"], audiences=[API], scope="read write"),
        Client("web", grants=["password", "refresh_token"], audiences=[API], scope="profile read"),
        Client("mobile", grants=["password", "refresh_token"], audiences=[API], scope="profile", public=True),
    ]

    def client_credentials(self, **fields):
        return self.http.token({"grant_type": "client_credentials", **fields}, basic=self.client["backend"].basic)

    # -- invalid_request --------------------------------------------------------------------------------

    def test_missing_grant_type(self):
        response = self.http.token({"scope": "read"}, basic=self.client["backend"].basic)
        self.assertOAuthError(response, 400, "invalid_request")

    def test_empty_body(self):
        response = self.http.token(b"", basic=self.client["backend"].basic)
        self.assertOAuthError(response, 400, "invalid_request")

    def test_password_grant_missing_username(self):
        response = self.http.token({"grant_type": "password", "password": "x"}, basic=self.client["web"].basic)
        self.assertOAuthError(response, 400, "invalid_request")

    def test_password_grant_missing_password(self):
        response = self.http.token({"grant_type": "password", "username": "alice"}, basic=self.client["web"].basic)
        self.assertOAuthError(response, 400, "invalid_request")

    def test_refresh_grant_missing_refresh_token(self):
        response = self.http.token({"grant_type": "refresh_token"}, basic=self.client["web"].basic)
        self.assertOAuthError(response, 400, "invalid_request")

    def test_repeated_grant_type(self):
        response = self.http.token([("grant_type", "client_credentials"), ("grant_type", "client_credentials")],
                                   basic=self.client["backend"].basic)
        self.assertOAuthError(response, 400, "invalid_request")

    def test_repeated_username(self):
        response = self.http.token([("grant_type", "password"), ("username", "alice"), ("username", "mallory"),
                                    ("password", self.users["alice"])], basic=self.client["web"].basic)
        self.assertOAuthError(response, 400, "invalid_request")

    def test_json_content_type(self):
        response = self.http.request("POST", TOKEN_PATH, body=b'{"grant_type":"client_credentials"}',
                                     headers=["Content-Type: application/json"], basic=self.client["backend"].basic)
        self.assertOAuthError(response, 400, "invalid_request")

    def test_missing_content_type(self):
        response = self.http.request("POST", TOKEN_PATH, body=b"grant_type=client_credentials",
                                     headers=["Content-Type:"],  # curl: drop the header
                                     basic=self.client["backend"].basic)
        self.assertOAuthError(response, 400, "invalid_request")

    def test_malformed_percent_encoding(self):
        for body in (b"grant_type=client_credentials&scope=%zz", b"grant_type=client%2", b"grant_type=%"):
            with self.subTest(body=body):
                response = self.http.token(body, basic=self.client["backend"].basic)
                self.assertOAuthError(response, 400, "invalid_request")

    def test_two_client_authentication_methods(self):
        # RFC 6749 §2.3 / §5.2: a client MUST NOT use more than one authentication method per request.
        backend = self.client["backend"]
        response = self.http.token({"grant_type": "client_credentials", "client_id": "backend",
                                    "client_secret": backend.secret}, basic=backend.basic)
        self.assertOAuthError(response, 400, "invalid_request")

    # -- invalid_client ---------------------------------------------------------------------------------

    def test_unknown_client_with_basic_auth(self):
        self.assertInvalidClient(self.client_credentials_as(("nobody", "whatever")))

    def test_wrong_secret_with_basic_auth(self):
        self.assertInvalidClient(self.client_credentials_as(("backend", "not-the-secret")))

    def test_unknown_client_with_client_secret_post(self):
        response = self.http.token({"grant_type": "client_credentials", "client_id": "nobody",
                                    "client_secret": "whatever"})
        self.assertOAuthError(response, 401, "invalid_client")

    def test_wrong_secret_with_client_secret_post(self):
        response = self.http.token({"grant_type": "client_credentials", "client_id": "backend",
                                    "client_secret": self.client["backend"].secret[:-1]})
        self.assertOAuthError(response, 401, "invalid_client")

    def test_confidential_client_without_secret(self):
        response = self.http.token({"grant_type": "password", "username": "alice", "password": self.users["alice"],
                                    "client_id": "web"})
        self.assertOAuthError(response, 401, "invalid_client")

    def test_no_client_authentication_at_all(self):
        response = self.http.token({"grant_type": "client_credentials"})
        self.assertOAuthError(response, 401, "invalid_client")

    def test_unknown_client_and_wrong_secret_look_the_same(self):
        unknown = self.client_credentials_as(("nobody", "whatever"))
        wrong = self.client_credentials_as(("backend", "not-the-secret"))
        self.assertEqual(unknown.body, wrong.body, f"\n{unknown}\n\n{wrong}")

    def test_malformed_basic_header(self):
        for value in ("Basic", "Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"no-colon").decode(),
                      "Basic " + base64.b64encode(b"backend:%zz").decode()):
            with self.subTest(authorization=value):
                response = self.http.request("POST", TOKEN_PATH, body=b"grant_type=client_credentials",
                                             headers=["Authorization: " + value])
                self.assertIn(response.status, (400, 401), response)
                if response.status == 400:
                    self.assertOAuthError(response, 400, "invalid_request")
                else:
                    self.assertInvalidClient(response)

    def client_credentials_as(self, credentials):
        return self.http.token({"grant_type": "client_credentials"}, basic=credentials)

    # -- invalid_grant ----------------------------------------------------------------------------------

    def test_wrong_password(self):
        response = self.http.token({"grant_type": "password", "username": "alice", "password": "wrong"},
                                   basic=self.client["web"].basic)
        self.assertOAuthError(response, 400, "invalid_grant")

    def test_unknown_user(self):
        response = self.http.token({"grant_type": "password", "username": "nobody", "password": "wrong"},
                                   basic=self.client["web"].basic)
        self.assertOAuthError(response, 400, "invalid_grant")

    def test_unknown_user_and_wrong_password_give_identical_bodies(self):
        web = self.client["web"]
        wrong = self.http.token({"grant_type": "password", "username": "alice", "password": "wrong"},
                                basic=web.basic)
        unknown = self.http.token({"grant_type": "password", "username": "nobody", "password": "wrong"},
                                  basic=web.basic)
        self.assertOAuthError(wrong, 400, "invalid_grant")
        self.assertEqual(unknown.body, wrong.body, f"\n{unknown}\n\n{wrong}")

    def test_bogus_refresh_token(self):
        for token in (secrets.token_urlsafe(32), "x", "a" * 5000):
            with self.subTest(token=token[:20]):
                response = self.http.token({"grant_type": "refresh_token", "refresh_token": token},
                                           basic=self.client["web"].basic)
                self.assertOAuthError(response, 400, "invalid_grant")

    # -- unauthorized_client, unsupported_grant_type, invalid_scope -------------------------------------

    def test_public_client_asking_for_client_credentials(self):
        response = self.http.token({"grant_type": "client_credentials", "client_id": "mobile"})
        self.assertOAuthError(response, 400, "unauthorized_client")

    def test_client_without_password_grant(self):
        response = self.http.token({"grant_type": "password", "username": "alice", "password": self.users["alice"]},
                                   basic=self.client["backend"].basic)
        self.assertOAuthError(response, 400, "unauthorized_client")

    def test_client_without_client_credentials_grant(self):
        response = self.http.token({"grant_type": "client_credentials"}, basic=self.client["web"].basic)
        self.assertOAuthError(response, 400, "unauthorized_client")

    def test_unknown_grant_type(self):
        for grant in ("urn:example:no-such-grant", "implicit", "authorization_code_typo"):
            with self.subTest(grant_type=grant):
                response = self.http.token({"grant_type": grant}, basic=self.client["backend"].basic)
                self.assertOAuthError(response, 400, "unsupported_grant_type")

    def test_empty_grant_type(self):
        response = self.http.token({"grant_type": ""}, basic=self.client["backend"].basic)
        self.assertStatus(response, 400)
        # Either reading is fair: a missing value, or a grant type nobody supports.
        error = self.assertJson(response).get("error")
        self.assertIn(error, ("invalid_request", "unsupported_grant_type"), response)
        self.assertOAuthError(response, 400, error)

    def test_scope_outside_the_clients_scopes(self):
        self.assertOAuthError(self.client_credentials(scope="read delete"), 400, "invalid_scope")
        response = self.http.token({"grant_type": "password", "username": "alice", "password": self.users["alice"],
                                    "client_id": "mobile", "scope": "profile admin"})
        self.assertOAuthError(response, 400, "invalid_scope")

    # -- method, path -----------------------------------------------------------------------------------

    def test_get_on_token_endpoint(self):
        for proto in ("h2", "h1"):
            with self.subTest(proto=proto):
                response = self.http.get(TOKEN_PATH, proto=proto)
                self.assertStatus(response, 405)
                allow = [m.strip().upper() for m in (response.header("allow") or "").split(",")]
                self.assertIn("POST", allow, f"405 needs Allow: POST\n{response}")

    def test_put_on_token_endpoint(self):
        response = self.http.request("PUT", TOKEN_PATH, body=b"grant_type=client_credentials")
        self.assertStatus(response, 405)
        self.assertIn("POST", (response.header("allow") or "").upper(), response)

    def test_unknown_paths(self):
        # h2o registers paths as prefixes: the exact path must be checked.
        for method, path in (("GET", "/nope"), ("GET", "/"), ("POST", "/oauth2/token/extra"),
                             ("POST", "/oauth2/tokens"), ("GET", JWKS_PATH + "/x"), ("GET", "/.well-known/")):
            with self.subTest(method=method, path=path):
                body = b"grant_type=client_credentials" if method == "POST" else None
                response = self.http.request(method, path, body=body)
                self.assertStatus(response, 404)
                self.assertIn("error", self.assertJson(response), response)

    # -- limits -----------------------------------------------------------------------------------------

    def assertServerAnswers(self):
        self.assertStatus(self.http.get(JWKS_PATH), 200)
        self.assertTokenSuccess(self.client_credentials())

    def test_oversized_body_over_http1_gets_413(self):
        body = b"grant_type=client_credentials&pad=" + b"a" * MIB
        head = (f"POST {TOKEN_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
                f"Authorization: {harness.basic_auth(*self.client['backend'].basic)}\r\n\r\n").encode()
        response = harness.raw_http1(self.server.port, head, body)
        # Far above --max-body, h2o's own backstop limit answers (in text/plain) before authsvc's handler
        # runs, so the body is never buffered whole; test_a_100_kb_field covers authsvc's JSON 413.
        self.assertStatus(response, 413)
        self.assertServerAnswers()

    def test_oversized_body_over_http2_is_refused(self):
        response = self.client_credentials(pad="a" * MIB)
        # h2o refuses the stream (RST_STREAM REFUSED_STREAM; curl then gives up after retries) or says 413.
        if response.status != 0:
            self.assertStatus(response, 413)
        else:
            self.assertTrue(response.client_error, response)
        self.assertServerAnswers()

    def test_a_thousand_parameters(self):
        fields = [("grant_type", "client_credentials")] + [(f"p{i}", str(i)) for i in range(999)]
        for _ in range(5):  # a few times: heap damage need not crash on the first request
            response = self.http.token(fields, basic=self.client["backend"].basic)
            # Unknown parameters are ignored (RFC 6749 §3.2), or the server limits them; never a 5xx.
            self.assertIn(response.status, (200, 400, 413), response)
            if response.status == 200:
                self.assertTokenSuccess(response)
            else:
                self.assertOAuthError(response, response.status, "invalid_request")
            self.assertServerAnswers()

    def test_a_100_kb_field(self):
        big = "u" * (100 * 1024)
        for fields in ({"grant_type": "password", "username": big, "password": "x"},
                       {"grant_type": "password", "username": "alice", "password": big},
                       {"grant_type": "refresh_token", "refresh_token": big},
                       {"grant_type": "password", "username": "alice", "password": "x", "scope": big}):
            name = next(k for k, v in fields.items() if v is big)
            for proto in ("h2", "h1"):
                with self.subTest(field=name, proto=proto):
                    # Above --max-body (16 KiB) and below h2o's own backstop: authsvc's JSON 413, over
                    # HTTP/2 as over HTTP/1.1.
                    response = self.http.token(fields, basic=self.client["web"].basic, proto=proto)
                    self.assertOAuthError(response, 413, "invalid_request")
        self.assertServerAnswers()


if __name__ == "__main__":
    harness.main()
