"""CORS for browser apps (public clients on their own origin), as docs/cors.md decides it:
- the token and revocation endpoints, where a client authenticates: once the request names a registered client,
  its answer (success or error) carries `Access-Control-Allow-Origin: <Origin>` and `Vary: Origin` when the
  Origin is that of one of the client's registered redirect URIs (a loopback one with any port); any other origin
  reads nothing, so no site can use its visitors' browsers to try passwords and read the outcome;
- userinfo (a Bearer token: the request carries its own proof), the JWKS and discovery (public documents):
  `Access-Control-Allow-Origin: *` on every answer, errors included;
- each of them answers the preflight (OPTIONS: 204, the methods, Authorization and Content-Type, a max age);
- credentials are never allowed cross-origin (no Access-Control-Allow-Credentials anywhere);
- every other endpoint — the sign-in and sign-out pages, introspection, the revocation feed, /account/password —
  sends no CORS header and refuses OPTIONS (405).

Over HTTP/2 and HTTP/1.1 (curl), with the headers a browser sends."""

import harness
from harness import (ACCOUNT_PASSWORD_PATH, API, Client, FEED_PATH, INTROSPECT_PATH, JWKS_PATH, LOGOUT_PATH,
                     METADATA_PATHS, REVOKE_PATH, TOKEN_PATH, USERINFO_PATH)

ORIGIN = "https://spa.example"
EVIL = "https://evil.example"
AUTHORIZE_PATH = "/oauth2/authorize"
CORS = {TOKEN_PATH: "POST, OPTIONS", REVOKE_PATH: "POST, OPTIONS", USERINFO_PATH: "GET, HEAD, POST, OPTIONS",
        JWKS_PATH: "GET, HEAD, OPTIONS", METADATA_PATHS[0]: "GET, HEAD, OPTIONS", METADATA_PATHS[1]: "GET, HEAD, OPTIONS"}
NOT_CORS = (AUTHORIZE_PATH, LOGOUT_PATH, INTROSPECT_PATH, FEED_PATH, ACCOUNT_PASSWORD_PATH)


class CorsTests(harness.ServiceTestCase):
    users = {"alice": "alice-password-1"}
    clients = [
        Client("spa", grants=["authorization_code", "refresh_token", "password"], public=True, audiences=[API],
               scope="openid profile", options=["--redirect-uri", ORIGIN + "/callback?x=1",
                                                "--redirect-uri", "http://127.0.0.1:3000/cb"]),
        Client("backend", grants=["client_credentials"], audiences=[API], scope="openid"),
    ]

    def assertCors(self, response, origin="*"):
        context = f"\n{response}"
        self.assertEqual(response.header_values("access-control-allow-origin"), [origin], context)
        self.assertIsNone(response.header("access-control-allow-credentials"), "never credentials" + context)
        exposed = {h.strip().lower() for h in (response.header("access-control-expose-headers") or "").split(",")}
        self.assertLessEqual({"www-authenticate", "retry-after"}, exposed, context)
        if origin != "*":
            self.assertIn("origin", (response.header("vary") or "").lower(), context)

    def assertNoCors(self, response):
        for name in ("access-control-allow-origin", "access-control-allow-credentials", "access-control-allow-methods"):
            self.assertIsNone(response.header(name), f"{name} on an answer that origin may not read\n{response}")

    def preflight(self, path, method="POST", proto="h2"):
        return self.http.request("OPTIONS", path, proto=proto,
                                 headers=[f"Origin: {ORIGIN}", f"Access-Control-Request-Method: {method}",
                                          "Access-Control-Request-Headers: authorization, content-type"])

    def login(self, origin, password=None, client_id="spa"):
        return self.http.token({"grant_type": "password", "client_id": client_id, "username": "alice",
                                "password": password or self.users["alice"], "scope": "openid profile"},
                               headers=[f"Origin: {origin}"])

    def test_token_and_revocation_answer_the_clients_own_origins(self):
        login = self.login(ORIGIN)
        body = self.assertTokenSuccess(login, refresh=True)
        self.assertCors(login, ORIGIN)
        with self.subTest("an error, once the client is known"):
            self.assertCors(self.login(ORIGIN, password="wrong"), ORIGIN)
        with self.subTest("a loopback redirect URI stands for any port (RFC 8252 §7.3)"):
            self.assertCors(self.login("http://127.0.0.1:5173"), "http://127.0.0.1:5173")
        with self.subTest("revocation"):
            revoked = self.http.post_form(REVOKE_PATH, {"token": body["refresh_token"], "client_id": "spa"},
                                          headers=[f"Origin: {ORIGIN}"])
            self.assertStatus(revoked, 200)
            self.assertCors(revoked, ORIGIN)
        for origin in (EVIL, ORIGIN + ":8443", "http://spa.example", "https://spa.example.evil.example", "null",
                       "http://localhost:3000", "http://127.0.0.2:3000"):
            with self.subTest("another origin reads nothing", origin=origin):
                self.assertNoCors(self.login(origin))
                self.assertNoCors(self.login(origin, password="wrong"))
                refresh = self.assertTokenSuccess(self.login(ORIGIN), refresh=True)["refresh_token"]
                self.assertNoCors(self.http.post_form(REVOKE_PATH, {"token": refresh, "client_id": "spa"},
                                                      headers=[f"Origin: {origin}"]))
        with self.subTest("nor before a registered client is named"):
            self.assertNoCors(self.login(ORIGIN, client_id="nobody"))
            self.assertNoCors(self.http.token({"grant_type": "password"}, headers=[f"Origin: {ORIGIN}"]))

    def test_userinfo_and_documents_answer_any_origin(self):
        access = self.assertTokenSuccess(self.login(ORIGIN), refresh=True)["access_token"]
        for origin in (ORIGIN, EVIL):
            with self.subTest(origin=origin):
                ok = self.http.get(USERINFO_PATH, headers=[f"Origin: {origin}", f"Authorization: Bearer {access}"])
                self.assertStatus(ok, 200)
                self.assertCors(ok)
                denied = self.http.get(USERINFO_PATH, headers=[f"Origin: {origin}"])
                self.assertStatus(denied, 401)
                self.assertCors(denied)
        for path in (JWKS_PATH, *METADATA_PATHS):
            with self.subTest(path=path):
                response = self.http.get(path, headers=[f"Origin: {EVIL}"])
                self.assertStatus(response, 200)
                self.assertCors(response)
                # cacheable: the header does not depend on the request's Origin, so a shared cache may keep it
                self.assertCors(self.http.get(path))

    def test_preflight(self):
        for path, allow in CORS.items():
            for proto in ("h2", "h1"):
                with self.subTest(path=path, proto=proto):
                    response = self.preflight(path, "POST" if "POST" in allow else "GET", proto)
                    self.assertStatus(response, 204)
                    self.assertCors(response)
                    self.assertEqual(response.header("access-control-allow-methods"), allow, response)
                    self.assertEqual(response.header("allow"), allow, response)
                    allowed = {h.strip().lower() for h in response.header("access-control-allow-headers").split(",")}
                    self.assertEqual(allowed, {"authorization", "content-type"}, response)
                    self.assertGreater(int(response.header("access-control-max-age")), 0, response)
                    self.assertEqual(response.body, b"", response)
                    self.assertIsNone(response.header("content-length"), "RFC 9110 §8.6: none on a 204\n" + str(response))
                    self.assertIsNone(response.header("transfer-encoding"), response)

    def test_other_endpoints_refuse_other_origins(self):
        for path in NOT_CORS:
            with self.subTest(path=path):
                response = self.preflight(path)
                self.assertStatus(response, 405)
                self.assertNoCors(response)
                self.assertNoCors(self.http.request("POST", path, body=b"x=1", headers=[f"Origin: {ORIGIN}",
                                                                                       "Content-Type: application/x-www-form-urlencoded"]))
        self.assertNoCors(self.http.get("/no-such-endpoint", headers=[f"Origin: {ORIGIN}"]))


if __name__ == "__main__":
    harness.main()
