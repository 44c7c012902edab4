"""The access log: one JSON line per request, with the request id the client sent (or one made up and returned),
what the operator needs (method, path, status, latency, client, grant, error code, address) and never a secret:
no client secret, password, access or refresh token, and no query string, neither in it nor in the server's log."""

import json
import os

import harness
from harness import API, Client, JWKS_PATH


class AccessLogTests(harness.ServiceTestCase):
    users = {"alice": "alice correct horse"}
    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read",
                      options=["--allow", "revocation-feed"]),
               Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read")]

    @classmethod
    def setUpClass(cls):
        cls.log_path = None
        super().setUpClass()

    @classmethod
    def _start_server(cls):
        cls.log_path = os.path.join(cls.workdir, "access.log")
        cls.serve_args = ("--access-log", cls.log_path)
        super()._start_server()

    def lines(self):
        with open(self.log_path, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def line_for(self, request_id):
        found = [line for line in self.lines() if line.get("request_id") == request_id]
        self.assertEqual(len(found), 1, f"{request_id} in {self.lines()}")
        return found[0]

    def test_one_line_per_request_with_the_clients_request_id(self):
        backend = self.client["backend"]
        r = self.http.token({"grant_type": "client_credentials"}, basic=backend.basic,
                            headers=["X-Request-Id: trace-0001.a_b-c"])
        self.assertTokenSuccess(r, refresh=False)
        self.assertEqual(r.header("x-request-id"), "trace-0001.a_b-c", r)
        line = harness.wait_for("the access-log line", lambda: [l for l in self.lines()
                                                                 if l.get("request_id") == "trace-0001.a_b-c"])[0]
        self.assertEqual(line["method"], "POST")
        self.assertEqual(line["path"], "/oauth2/token")
        self.assertEqual(line["status"], 200)
        self.assertEqual(line["client_id"], "backend")
        self.assertEqual(line["grant"], "client_credentials")
        self.assertEqual(line["remote"], "127.0.0.1")
        self.assertEqual(line["http"], 2)
        self.assertIsInstance(line["latency_us"], int)
        self.assertGreaterEqual(line["latency_us"], 0)
        self.assertRegex(line["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_a_request_id_is_made_up_when_absent_or_unacceptable(self):
        for headers in ([], ["X-Request-Id: has spaces"], ["X-Request-Id: " + "x" * 129]):
            r = self.http.get(JWKS_PATH, headers=headers)
            self.assertEqual(r.status, 200, r)
            rid = r.header("x-request-id")
            self.assertRegex(rid or "", r"^[A-Za-z0-9_-]{22}$", r)
            line = harness.wait_for("the access-log line",
                                    lambda: [l for l in self.lines() if l.get("request_id") == rid])[0]
            self.assertEqual(line["path"], JWKS_PATH)
            self.assertNotIn("client_id", line)

    def test_errors_are_logged_with_their_code(self):
        r = self.http.token({"grant_type": "password", "username": "alice", "password": "wrong one"},
                            basic=self.client["web"].basic, headers=["X-Request-Id: wrong-password"])
        self.assertOAuthError(r, 400, "invalid_grant")
        line = harness.wait_for("the line", lambda: [l for l in self.lines() if l.get("request_id") == "wrong-password"])[0]
        self.assertEqual((line["status"], line["error"], line["client_id"]), (400, "invalid_grant", "web"))

    def test_no_secret_reaches_any_log(self):
        backend, web = self.client["backend"], self.client["web"]
        access = self.assertTokenSuccess(self.http.token({"grant_type": "client_credentials"}, basic=backend.basic),
                                         refresh=False)["access_token"]
        login = self.password_login(web, "alice")
        rotated = self.assertTokenSuccess(self.refresh(web, login["refresh_token"]))
        self.http.get("/oauth2/revocations?since=12345&secret=" + backend.secret, basic=backend.basic,
                      headers=["X-Request-Id: with-query"])
        harness.wait_for("the last line", lambda: [l for l in self.lines() if l.get("request_id") == "with-query"])
        self.assertEqual(self.line_for("with-query")["path"], "/oauth2/revocations")
        with open(self.log_path, encoding="utf-8") as f:
            access_log = f.read()
        server_log = self.server.stderr_text()
        secrets = {"client secret": backend.secret, "web secret": web.secret, "password": self.users["alice"],
                   "access token": access, "id of a token's signature": access.rsplit(".", 1)[1],
                   "refresh token": login["refresh_token"], "rotated refresh token": rotated["refresh_token"],
                   "rotated access token": rotated["access_token"]}
        for what, secret in secrets.items():
            self.assertNotIn(secret, access_log, f"the {what} is in the access log")
            self.assertNotIn(secret, server_log, f"the {what} is in the server's log")


if __name__ == "__main__":
    harness.main()
