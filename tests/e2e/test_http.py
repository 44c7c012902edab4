"""Discovery documents and the protocols of the one cleartext port, with clients nobody here wrote.

The port speaks HTTP/2 with prior knowledge (curl, nghttp, h2load), HTTP/1.1 (curl, requests) and the
h2c Upgrade (curl --http2, nghttp -u). Keys of every supported algorithm are served and verify.
"""

import json
import re
import tempfile

import jwt
import requests

import harness
from harness import API, Client, HEALTH_PATH, ISSUER, JWKS_PATH, METADATA_PATHS, TOKEN_PATH

PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


class DiscoveryTests(harness.ServiceTestCase):
    key_alg = "ES256"
    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read")]

    def test_jwks(self):
        response = self.http.get(JWKS_PATH)
        self.assertStatus(response, 200)
        self.assertEqual(response.http_version, "2", response)
        jwks = self.assertJson(response)
        self.assertEqual(list(jwks), ["keys"], response)
        self.assertGreaterEqual(len(jwks["keys"]), 1, response)
        for key in jwks["keys"]:
            self.assertEqual(key.get("kty"), "EC", key)
            self.assertEqual(key.get("crv"), "P-256", key)
            self.assertEqual(key.get("alg"), "ES256", key)
            self.assertEqual(key.get("use"), "sig", key)
            self.assertIsInstance(key.get("kid"), str, key)
            for coordinate in ("x", "y"):
                # base64url without padding of a 32-byte coordinate
                self.assertRegex(key.get(coordinate, ""), r"^[A-Za-z0-9_-]{43}$", key)
            self.assertFalse(PRIVATE_JWK_MEMBERS & set(key), f"private key material in the JWKS: {key}")
            jwt.PyJWK(key)  # PyJWT can load it
        self.assertEqual(len({k["kid"] for k in jwks["keys"]}), len(jwks["keys"]), "duplicate kid")

    def test_jwks_is_cacheable(self):
        # DESIGN "Signing keys": Cache-Control: public, max-age=..., must-revalidate, and an ETag.
        response = self.http.get(JWKS_PATH)
        self.assertStatus(response, 200)
        cache_control = (response.header("cache-control") or "").lower()
        self.assertIn("public", cache_control, response)
        self.assertRegex(cache_control, r"max-age=\d+", response)
        self.assertTrue(response.header("etag"), f"JWKS without ETag\n{response}")

    def test_metadata(self):
        for path in METADATA_PATHS:
            with self.subTest(path=path):
                response = self.http.get(path)
                self.assertStatus(response, 200)
                metadata = self.assertJson(response)
                self.assertEqual(metadata.get("issuer"), ISSUER, response)
                self.assertEqual(metadata.get("token_endpoint"), ISSUER + TOKEN_PATH, response)
                self.assertEqual(metadata.get("jwks_uri"), ISSUER + JWKS_PATH, response)
                self.assertLessEqual({"client_credentials", "password", "refresh_token"},
                                     set(metadata.get("grant_types_supported", [])), response)
                self.assertLessEqual({"client_secret_basic", "client_secret_post", "none"},
                                     set(metadata.get("token_endpoint_auth_methods_supported", [])), response)
                self.assertIsInstance(metadata.get("response_types_supported"), list, response)

    def test_healthz(self):
        for proto in ("h2", "h1"):
            with self.subTest(proto=proto):
                self.assertStatus(self.http.get(HEALTH_PATH, proto=proto), 200)

    def test_token_verifies_with_the_published_key(self):
        backend = self.client["backend"]
        body = self.assertTokenSuccess(self.http.token({"grant_type": "client_credentials"}, basic=backend.basic))
        self.assertAccessToken(body["access_token"], client=backend, sub="backend", scopes={"read"}, user=False)
        self.assertEqual(jwt.get_unverified_header(body["access_token"])["alg"], "ES256")


class ProtocolTests(harness.ServiceTestCase):
    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read write"),
               Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read")]
    users = {"alice": "alice-password"}

    def test_http1_with_curl(self):
        response = self.http.get(JWKS_PATH, proto="h1")
        self.assertStatus(response, 200)
        self.assertEqual(response.http_version, "1.1", response)
        self.assertIn("keys", self.assertJson(response))
        backend = self.client["backend"]
        body = self.assertTokenSuccess(self.http.token({"grant_type": "client_credentials"}, basic=backend.basic,
                                                       proto="h1"))
        self.assertAccessToken(body["access_token"], client=backend, user=False)

    def test_http1_keep_alive_with_requests(self):
        backend = self.client["backend"]
        with requests.Session() as session:
            for _ in range(3):
                r = session.get(self.server.url(JWKS_PATH), timeout=harness.REQUEST_TIMEOUT)
                self.assertEqual(r.status_code, 200, r.text)
                self.assertEqual(r.raw.version, 11)
                self.assertIn("keys", r.json())
            r = session.post(self.server.url(TOKEN_PATH), data={"grant_type": "client_credentials"},
                             auth=backend.basic, timeout=harness.REQUEST_TIMEOUT)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertIn("no-store", r.headers.get("cache-control", ""))
            self.assertEqual(r.json()["token_type"], "Bearer")
            r = session.post(self.server.url(TOKEN_PATH), data={"grant_type": "client_credentials"},
                             auth=("backend", "wrong"), timeout=harness.REQUEST_TIMEOUT)
            self.assertEqual(r.status_code, 401, r.text)
            self.assertTrue(r.headers.get("www-authenticate", "").lower().startswith("basic"), r.headers)

    def test_h2c_upgrade_with_curl(self):
        response = self.http.get(JWKS_PATH, proto="h2-upgrade")
        self.assertStatus(response, 200)
        self.assertEqual(response.http_version, "2", f"curl --http2 did not upgrade to h2c\n{response}")
        self.assertIn("keys", self.assertJson(response))

    def test_nghttp_get(self):
        verbose = self.nghttp("-v", "-n", self.server.url(JWKS_PATH))
        self.assertRegex(verbose, r"recv \(stream_id=\d+\) :status: 200", verbose)
        self.assertRegex(verbose, r"recv \(stream_id=\d+\) content-type: application/json", verbose)
        self.assertIn("recv SETTINGS frame", verbose)
        self.assertIn("keys", json.loads(self.nghttp(self.server.url(JWKS_PATH))))

    def test_nghttp_upgrade(self):
        verbose = self.nghttp("-v", "-n", "-u", self.server.url(JWKS_PATH))
        self.assertIn("HTTP Upgrade success", verbose)
        self.assertRegex(verbose, r"recv \(stream_id=1\) :status: 200", verbose)

    def test_nghttp_many_streams_on_one_connection(self):
        stats = self.nghttp("-n", "-s", "-m", "20", self.server.url(JWKS_PATH), self.server.url(HEALTH_PATH))
        # -s prints one row per response: id, responseEnd, requestStart, process, code, size, path.
        codes = re.findall(r"^\s*\d+\s+\+\S+\s+\+\S+\s+\S+\s+(\d{3})\s", stats, re.M)
        self.assertEqual(codes, ["200"] * 40, stats)

    def test_nghttp_post_token(self):
        backend = self.client["backend"]
        common = self.token_post_args({"grant_type": "client_credentials", "scope": "read"}, backend)
        verbose = self.nghttp("-v", "-n", *common)
        self.assertRegex(verbose, r":status: 200", verbose)
        self.assertRegex(verbose, r"cache-control: [^\n]*no-store", verbose)
        body = json.loads(self.nghttp(*common))
        self.assertEqual(body["scope"], "read", body)
        self.assertAccessToken(body["access_token"], client=backend, scopes={"read"}, user=False)

    def test_h2load_get_jwks(self):
        summary = self.h2load("-n", "500", "-c", "4", "-m", "8", self.server.url(JWKS_PATH))
        self.assertAllSucceeded(summary, 500)

    def test_h2load_client_credentials(self):
        summary = self.h2load_token({"grant_type": "client_credentials"}, self.client["backend"],
                                    "-n", "300", "-c", "4", "-m", "8")
        self.assertAllSucceeded(summary, 300)

    def test_h2load_password_grant(self):
        # Password hashing runs off the event loop; concurrent logins must all be answered. One user may have four
        # checks queued at a time (work/pwcheck: fair use of the argon2 workers), so four at a time, 16 in all.
        summary = self.h2load_token({"grant_type": "password", "username": "alice", "password": self.users["alice"]},
                                    self.client["web"], "-n", "16", "-c", "1", "-m", "4")
        self.assertAllSucceeded(summary, 16)

    def test_h2load_http1(self):
        summary = self.h2load("--h1", "-n", "200", "-c", "4", self.server.url(JWKS_PATH))
        self.assertAllSucceeded(summary, 200)

    # -- helpers ----------------------------------------------------------------------------------------

    def nghttp(self, *args):
        result = harness.run(["nghttp", "-t", str(harness.REQUEST_TIMEOUT), *args], check=False,
                             timeout=harness.REQUEST_TIMEOUT + 10)
        if result.returncode != 0:
            self.fail("nghttp failed\n" + harness.describe_process(result))
        return result.stdout

    def h2load(self, *args):
        result = harness.run(["h2load", *args], check=False, timeout=120)
        if result.returncode != 0:
            self.fail("h2load failed\n" + harness.describe_process(result))
        return result.stdout

    def h2load_token(self, fields, client, *args):
        """h2load POSTing one form to the token endpoint as `client`."""
        return self.h2load(*args, *self.token_post_args(fields, client))

    def token_post_args(self, fields, client):
        """nghttp's and h2load's arguments for a POST of `fields` to the token endpoint, with
        client_secret_basic: -d FILE, the headers and the URL."""
        with tempfile.NamedTemporaryFile(dir=self.workdir, delete=False) as f:
            f.write(harness.form(fields))
        return ["-d", f.name, "-H", "content-type: " + harness.FORM_TYPE,
                "-H", "authorization: " + harness.basic_auth(*client.basic), self.server.url(TOKEN_PATH)]

    def assertAllSucceeded(self, summary, n):
        requests_line = re.search(r"^requests: .*$", summary, re.M)
        status_line = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", summary, re.M)
        self.assertTrue(requests_line and status_line, summary)
        self.assertRegex(requests_line.group(0), rf"\b{n} succeeded, 0 failed, 0 errored, 0 timeout", summary)
        self.assertEqual(int(status_line.group(1)), n, summary)


class _KeyAlgorithmTests(harness.ServiceTestCase):
    """DESIGN: ES256 by default, EdDSA and RS256 too; each served as a JWK that PyJWT verifies with."""

    key_alg = None
    expected_jwk = None
    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read")]

    def test_jwks_and_token(self):
        jwks = self.jwks()
        for key in jwks["keys"]:
            for member, value in self.expected_jwk.items():
                self.assertEqual(key.get(member), value, key)
            self.assertFalse(PRIVATE_JWK_MEMBERS & set(key), f"private key material in the JWKS: {key}")
        backend = self.client["backend"]
        body = self.assertTokenSuccess(self.http.token({"grant_type": "client_credentials"}, basic=backend.basic))
        self.assertEqual(jwt.get_unverified_header(body["access_token"])["alg"], self.expected_jwk["alg"])
        self.assertAccessToken(body["access_token"], client=backend, sub="backend", user=False)


class EdDSAKeyTests(_KeyAlgorithmTests):
    key_alg = "EdDSA"
    expected_jwk = {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA"}


class RS256KeyTests(_KeyAlgorithmTests):
    key_alg = "RS256"
    expected_jwk = {"kty": "RSA", "alg": "RS256"}


del _KeyAlgorithmTests  # only its subclasses run (ES256: DiscoveryTests above)


if __name__ == "__main__":
    harness.main()
