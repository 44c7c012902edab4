#!/usr/bin/env python3
"""authsvc serve --tls-listen: HTTP/2 over TLS negotiated with ALPN, HTTP/1.1 over TLS, and tokens
that verify against the JWKS fetched over TLS. The certificate is a throwaway self-signed one."""

import os
import shutil
import subprocess
import tempfile

import harness
from harness import Client, HEALTH_PATH, JWKS_PATH, ServiceTestCase


class TlsTests(ServiceTestCase):
    clients = [Client("svc", grants=["client_credentials"], audiences=["api"], scope="read")]

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="authsvc-tls-")
        cls.addClassCleanup(shutil.rmtree, cls.certdir, ignore_errors=True)
        cls.cert = os.path.join(cls.certdir, "cert.pem")
        cls.key = os.path.join(cls.certdir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", cls.key, "-out", cls.cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        cls.serve_args = ("--tls-listen", "127.0.0.1:0", "--tls-cert", cls.cert, "--tls-key", cls.key)
        super().setUpClass()
        if cls.server.tls_port is None:
            raise AssertionError("no https listening address printed\n" + cls.server.describe())
        cls.https = harness.Http(cls.server, cls.workdir, tls=True, cacert=cls.cert)

    def test_h2_over_tls_with_alpn(self):
        response = self.https.get(JWKS_PATH, proto="h2")
        self.assertStatus(response, 200)
        self.assertEqual(response.http_version, "2", f"ALPN did not negotiate h2\n{response}")
        self.assertIn("keys", self.assertJson(response))

    def test_http1_over_tls(self):
        response = self.https.get(HEALTH_PATH, proto="h1")
        self.assertStatus(response, 200)
        self.assertEqual(response.http_version, "1.1", response)

    def test_token_over_tls_verifies(self):
        svc = self.client["svc"]
        response = self.https.token({"grant_type": "client_credentials"}, basic=svc.basic)
        self.assertEqual(response.http_version, "2", response)
        body = self.assertTokenSuccess(response)
        jwks = self.https.get(JWKS_PATH)
        self.assertStatus(jwks, 200)
        _, claims = harness.verify_access_token(body["access_token"], jwks.json(), audience="api")
        self.assertEqual(claims["sub"], "svc")

    def test_untrusted_certificate_is_refused_by_clients(self):
        # the negative control: without the certificate as a trust anchor curl must refuse it
        response = harness.Http(self.server, self.workdir, tls=True).get(HEALTH_PATH)
        self.assertEqual(response.status, 0, response)
        self.assertRegex(response.client_error, r"(?i)certificate", response)

    def test_cleartext_port_still_serves(self):
        self.assertStatus(self.http.get(HEALTH_PATH), 200)


if __name__ == "__main__":
    harness.main()
