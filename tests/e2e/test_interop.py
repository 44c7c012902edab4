"""Interoperability: every signing algorithm is verified by at least two independent JWT libraries.

For a key directory of each algorithm (ES256, EdDSA, RS256), tokens from the client_credentials and the
password grants are verified against the JWKS the server serves, fetched over HTTP, by:
  - PyJWT (Debian's python3-jwt), with the JWKS fetched by curl over HTTP/2;
  - jose (npm, panva/jose; tests/e2e/node_modules from `npm ci --prefix tests/e2e`), with its own
    createRemoteJWKSet fetching the JWKS (tests/e2e/interop/jose_verify.mjs);
  - cjose (Debian's libcjose-dev), through a small C verifier compiled here at test time
    (tests/e2e/interop/cjose_verify.c) and given the served JWK. cjose 0.6 has no EdDSA: that one pair is
    skipped, and only because the verifier reports, from cjose's own list of algorithms, that it cannot;
    a library that reports it cannot do any other algorithm (ES256 above all, the default) fails the test.
    (Debian's libjwt 1.10 cannot be used: its jwt_decode refuses every token whose typ is not "JWT", so it
    rejects any RFC 9068 `at+jwt` token before looking at the signature.)
The libraries must agree on the claims, and each must refuse a token with one flipped signature byte and
one with a changed claim.
"""

import json
import os
import shutil
import subprocess
import tempfile

import jwt

import harness
from harness import API, Client, ISSUER, JWKS_PATH, b64url_decode, b64url_encode

API2 = "https://reports.example.test"
OTHER_AUDIENCE = "https://elsewhere.example.test"

E2E_DIR = os.path.dirname(os.path.abspath(__file__))
INTEROP_DIR = os.path.join(E2E_DIR, "interop")
JOSE_SCRIPT = os.path.join(INTEROP_DIR, "jose_verify.mjs")
CJOSE_SOURCE = os.path.join(INTEROP_DIR, "cjose_verify.c")

LIBRARIES = ("PyJWT", "jose", "cjose")
# cjose_verify's exit status when its cjose does not implement the algorithm.
CJOSE_UNSUPPORTED = 3

# The only (library, algorithm) pairs that may be skipped because the library reports it cannot do the
# algorithm. Any other report of that kind is a failure: ES256, the default, must never be skipped.
MAY_BE_UNSUPPORTED = {("cjose", "EdDSA")}


class Unsupported(Exception):
    """The library itself reports that it cannot do this algorithm."""


# ---------------------------------------------------------------------------------------------------------
# Module-wide tools: the compiled cjose verifier and node with jose


_tools = {}


def setUpModule():
    tmp = tempfile.mkdtemp(prefix="authsvc-interop-")
    _tools["tmp"] = tmp
    # The cjose verifier: cc + pkg-config, into a temporary directory.
    pkg_config = shutil.which("pkg-config")
    cc = shutil.which("cc") or shutil.which("gcc")
    if pkg_config is None or cc is None:
        raise harness.HarnessError("cc and pkg-config are needed to build the cjose verifier")
    flags = harness.run([pkg_config, "--cflags", "--libs", "cjose"], check=False)
    if flags.returncode != 0:
        raise harness.HarnessError("pkg-config cannot find cjose (install libcjose-dev)\n" + harness.describe_process(flags))
    binary = os.path.join(tmp, "cjose_verify")
    harness.run([cc, "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-o", binary, CJOSE_SOURCE,
                 *flags.stdout.split()])
    _tools["cjose"] = binary
    # node and jose.
    node = shutil.which("node")
    if node is None:
        raise harness.HarnessError("node is not installed (the jose verifier needs it)")
    if not os.path.isfile(os.path.join(E2E_DIR, "node_modules", "jose", "package.json")):
        raise harness.HarnessError(f"jose is not installed in {E2E_DIR}/node_modules: run `npm ci --prefix tests/e2e`")
    _tools["node"] = node


def tearDownModule():
    shutil.rmtree(_tools.get("tmp", ""), ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# Helpers


def flip_signature_byte(token):
    """The same token with one bit of one signature byte flipped (decoded, flipped, re-encoded)."""
    header, payload, signature = token.split(".")
    sig = bytearray(b64url_decode(signature))
    sig[len(sig) // 2] ^= 0x01
    return ".".join([header, payload, b64url_encode(bytes(sig))])


def change_claim(token, name, value):
    """The same header and signature over a payload with one claim changed."""
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims[name] = value
    return ".".join([header, b64url_encode(json.dumps(claims, separators=(",", ":")).encode()), signature])


# ---------------------------------------------------------------------------------------------------------
# The tests, once per algorithm


class InteropTests:
    """Mixed into one ServiceTestCase per algorithm (key_alg, expected_kty)."""

    key_alg = None
    expected_kty = None
    clients = [Client("backend", grants=["client_credentials"], audiences=[API, API2], scope="read write"),
               Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read")]
    users = {"alice": "alice-interop-password"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._memo = {}

    # -- what the libraries verify ------------------------------------------------------------------

    def tokens(self):
        """{grant: (token, client)} for a client_credentials and a password-grant token, obtained once."""
        if "tokens" not in self._memo:
            backend, web = self.client["backend"], self.client["web"]
            cc = self.assertTokenSuccess(self.http.token({"grant_type": "client_credentials"}, basic=backend.basic))
            pw = self.password_login(web, "alice")
            self._memo["tokens"] = {"client_credentials": (cc["access_token"], backend),
                                    "password": (pw["access_token"], web)}
        return self._memo["tokens"]

    def served_jwks(self):
        """The JWKS as served over HTTP/2 (curl), fetched once per class."""
        if "jwks" not in self._memo:
            self._memo["jwks"] = self.jwks()
        return self._memo["jwks"]

    def served_jwk(self, token):
        return harness.jwk_of(token, self.served_jwks())

    def verify(self, library, token, audience):
        """Verifies with one library; returns (header, claims) or raises AssertionError / Unsupported."""
        return getattr(self, "verify_" + library.lower())(token, audience)

    def verify_pyjwt(self, token, audience):
        try:
            claims = self.verify_pyjwt_raw(token, audience)
        except jwt.PyJWTError as e:
            raise AssertionError(f"PyJWT: {type(e).__name__}: {e}") from None
        return jwt.get_unverified_header(token), claims

    def verify_jose(self, token, audience, typ="at+jwt"):
        result = self.jose([{"token": token, "audience": audience, "algorithms": [self.key_alg], "typ": typ}])[0]
        if not result["ok"]:
            raise AssertionError(f"jose: {result['code']}: {result['message']}")
        return result["header"], result["payload"]

    def verify_cjose(self, token, audience):
        jwk = self.served_jwk(token)
        jwk_path = os.path.join(self.workdir, f"{jwk['kid']}.jwk.json")
        with open(jwk_path, "w") as f:
            json.dump(jwk, f)
        result = harness.run([_tools["cjose"], jwk_path, self.key_alg, ISSUER, audience[0], token], check=False)
        if result.returncode == CJOSE_UNSUPPORTED:
            raise self.unsupported("cjose", result.stderr.strip())
        if result.returncode != 0:
            raise AssertionError(f"cjose: exit {result.returncode}: {result.stderr.strip()}")
        return jwt.get_unverified_header(token), json.loads(result.stdout)

    def unsupported(self, library, message):
        """The Unsupported to raise when a library reports it cannot do the class's algorithm; an
        AssertionError (a failure, not a skip) unless MAY_BE_UNSUPPORTED allows that pair."""
        if (library, self.key_alg) not in MAY_BE_UNSUPPORTED:
            return AssertionError(f"{library} reports it cannot do {self.key_alg}, which it must: {message}")
        return Unsupported(message)

    def jose(self, cases):
        """Runs jose_verify.mjs on a list of cases; returns its results."""
        request = {"jwks_uri": self.server.url(JWKS_PATH), "issuer": ISSUER, "cases": cases}
        result = subprocess.run([_tools["node"], JOSE_SCRIPT], input=json.dumps(request), capture_output=True,
                                text=True, timeout=60, cwd=E2E_DIR)
        if result.returncode != 0:
            self.fail("jose_verify.mjs failed\n" + harness.describe_process(result))
        results = json.loads(result.stdout)
        self.assertEqual(len(results), len(cases), result.stdout)
        return results

    def outcome(self, library, grant):
        """(header, claims), an AssertionError or an Unsupported for a library and a grant's token, once."""
        key = ("outcome", library, grant)
        if key not in self._memo:
            token, client = self.tokens()[grant]
            try:
                self._memo[key] = self.verify(library, token, client.audiences)
            except (AssertionError, Unsupported) as e:
                self._memo[key] = e
        return self._memo[key]

    def assertVerifies(self, library):
        """Both tokens verify with the library (skipped only if the library reports it cannot do the
        algorithm); the claims are the RFC 9068 ones the server meant."""
        for grant, (token, client) in self.tokens().items():
            with self.subTest(grant=grant):
                outcome = self.outcome(library, grant)
                if isinstance(outcome, Unsupported):
                    self.skipTest(f"{library} cannot do {self.key_alg}: {outcome}")
                if isinstance(outcome, AssertionError):
                    self.fail(f"{library} rejects a valid {self.key_alg} {grant} token: {outcome}\n"
                              f"header: {jwt.get_unverified_header(token)}\njwks: {self.served_jwks()}")
                header, claims = outcome
                context = f"\nlibrary: {library}\nheader: {header}\nclaims: {claims}"
                self.assertEqual(header.get("typ"), "at+jwt", context)
                self.assertEqual(header.get("alg"), self.key_alg, context)
                self.assertEqual(claims["iss"], ISSUER, context)
                self.assertEqual(sorted(harness.audiences(claims)), sorted(client.audiences), context)
                self.assertEqual(claims.get("client_id"), client.client_id, context)
                if grant == "client_credentials":
                    self.assertEqual(claims["sub"], "backend", context)
                    self.assertEqual(set(claims["scope"].split()), {"read", "write"}, context)
                else:
                    self.assertNotEqual(claims["sub"], "alice", "sub is the user's id, not the name" + context)
                    self.assertEqual(claims["scope"], "read", context)
                    self.assertIsInstance(claims.get("ver"), int, context)

    # -- tests --------------------------------------------------------------------------------------

    def test_served_jwks_and_headers(self):
        jwks = self.served_jwks()
        self.assertGreaterEqual(len(jwks["keys"]), 1, jwks)
        for key in jwks["keys"]:
            self.assertEqual(key.get("kty"), self.expected_kty, key)
            self.assertEqual(key.get("alg"), self.key_alg, key)
            self.assertEqual(key.get("use"), "sig", key)
        for grant, (token, _) in self.tokens().items():
            with self.subTest(grant=grant):
                header = jwt.get_unverified_header(token)
                self.assertEqual(header.get("typ"), "at+jwt", header)
                self.assertEqual(header.get("alg"), self.key_alg, header)
                self.assertEqual(self.served_jwk(token)["kid"], header["kid"])

    def test_pyjwt_verifies(self):
        self.assertVerifies("PyJWT")

    def test_jose_verifies(self):
        self.assertVerifies("jose")

    def test_cjose_verifies(self):
        self.assertVerifies("cjose")

    def test_verified_by_at_least_two_libraries_that_agree(self):
        for grant in self.tokens():
            with self.subTest(grant=grant):
                verified, unsupported, failed = {}, {}, {}
                for library in LIBRARIES:
                    outcome = self.outcome(library, grant)
                    if isinstance(outcome, Unsupported):
                        unsupported[library] = str(outcome)
                    elif isinstance(outcome, AssertionError):
                        failed[library] = str(outcome)
                    else:
                        verified[library] = outcome[1]
                summary = f"\n{self.key_alg} {grant}: verified by {sorted(verified)}, rejected by {failed}, " \
                          f"unsupported: {unsupported}"
                self.assertEqual(failed, {}, summary)
                self.assertGreaterEqual(len(verified), 2, summary)
                # Every library reads the same claims out of the token.
                reference = next(iter(verified.values()))
                for library, claims in verified.items():
                    self.assertEqual(claims, reference, f"{library} disagrees{summary}")

    def test_flipped_signature_byte_fails_in_every_library(self):
        self.assertRejectedEverywhere(lambda token: flip_signature_byte(token), "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
                                      jwt.InvalidSignatureError)

    def test_changed_claim_fails_in_every_library(self):
        self.assertRejectedEverywhere(lambda token: change_claim(token, "sub", "mallory"),
                                      "ERR_JWS_SIGNATURE_VERIFICATION_FAILED", jwt.InvalidSignatureError)

    def test_jose_enforces_typ_and_audience(self):
        # jose is told what to expect; the same valid token fails when it expects something else, which
        # shows that the positive checks above are real checks.
        token, client = self.tokens()["client_credentials"]
        results = self.jose([
            {"token": token, "audience": client.audiences, "algorithms": [self.key_alg], "typ": "at+jwt"},
            {"token": token, "audience": client.audiences, "algorithms": [self.key_alg], "typ": "JWT"},
            {"token": token, "audience": [OTHER_AUDIENCE], "algorithms": [self.key_alg], "typ": "at+jwt"},
            {"token": token, "audience": client.audiences, "algorithms": ["HS256"], "typ": "at+jwt"},
        ])
        self.assertTrue(results[0]["ok"], results[0])
        self.assertEqual(results[1].get("code"), "ERR_JWT_CLAIM_VALIDATION_FAILED", results[1])
        self.assertIn("typ", results[1].get("message", ""), results[1])
        self.assertEqual(results[2].get("code"), "ERR_JWT_CLAIM_VALIDATION_FAILED", results[2])
        self.assertIn("aud", results[2].get("message", ""), results[2])
        self.assertEqual(results[3].get("code"), "ERR_JOSE_ALG_NOT_ALLOWED", results[3])
        with self.assertRaises(jwt.InvalidAudienceError):
            self.verify_pyjwt_raw(token, [OTHER_AUDIENCE])

    def verify_pyjwt_raw(self, token, audience):
        """PyJWT's verification with the served key (PyJWT's own errors)."""
        return harness.decode_jwt(token, self.served_jwk(token), audience=audience, algorithm=self.key_alg)

    def assertRejectedEverywhere(self, tamper, jose_code, pyjwt_error):
        tampered = {grant: (tamper(token), client) for grant, (token, client) in self.tokens().items()}
        jose_results = self.jose([{"token": token, "audience": client.audiences, "algorithms": [self.key_alg],
                                   "typ": "at+jwt"} for token, client in tampered.values()])
        for (grant, (token, client)), jose_result in zip(tampered.items(), jose_results):
            with self.subTest(grant=grant, library="PyJWT"):
                with self.assertRaises(pyjwt_error):
                    self.verify_pyjwt_raw(token, client.audiences)
            with self.subTest(grant=grant, library="jose"):
                self.assertFalse(jose_result["ok"], f"jose accepts a tampered token: {jose_result}")
                self.assertEqual(jose_result["code"], jose_code, jose_result)
            with self.subTest(grant=grant, library="cjose"):
                try:
                    self.verify_cjose(token, client.audiences)
                except Unsupported as e:
                    self.skipTest(f"cjose cannot do {self.key_alg}: {e}")
                except AssertionError as e:
                    self.assertIn("cjose_jws_verify", str(e), "cjose must refuse the signature itself")
                else:
                    self.fail(f"cjose accepts a tampered {self.key_alg} token: {token}")


class ES256InteropTests(InteropTests, harness.ServiceTestCase):
    key_alg = "ES256"
    expected_kty = "EC"


class EdDSAInteropTests(InteropTests, harness.ServiceTestCase):
    key_alg = "EdDSA"
    expected_kty = "OKP"


class RS256InteropTests(InteropTests, harness.ServiceTestCase):
    key_alg = "RS256"
    expected_kty = "RSA"


if __name__ == "__main__":
    harness.main()
