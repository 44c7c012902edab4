#!/usr/bin/env python3
"""authsvc serve --tls-listen: HTTP/2 over TLS negotiated with ALPN, HTTP/1.1 over TLS, and tokens
that verify against the JWKS fetched over TLS. The certificate is a throwaway self-signed one."""

import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Client, ServiceTestCase


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
        deadline = time.monotonic() + 10
        cls.tls_port = None
        while cls.tls_port is None and time.monotonic() < deadline:
            with open(cls.server.stdout_path, encoding="utf-8", errors="replace") as f:
                m = re.search(r"https://127\.0\.0\.1:(\d+)", f.read())
            if m:
                cls.tls_port = int(m.group(1))
            else:
                time.sleep(0.05)
        if cls.tls_port is None:
            raise AssertionError("no https listening address printed\n" + cls.server.describe())

    def curl(self, *args):
        out = subprocess.run(["curl", "-sS", "--cacert", self.cert, "--max-time", "15", "-w", "\n%{http_version} %{http_code}",
                              *args], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        body, _, status = out.stdout.rpartition("\n")
        version, code = status.split()
        return version, int(code), body

    def test_h2_over_tls_with_alpn(self):
        version, code, body = self.curl("--http2", f"https://127.0.0.1:{self.tls_port}/.well-known/jwks.json")
        self.assertEqual((version, code), ("2", 200))
        self.assertIn('"keys"', body)

    def test_http1_over_tls(self):
        version, code, _ = self.curl("--http1.1", f"https://127.0.0.1:{self.tls_port}/healthz")
        self.assertEqual((version, code), ("1.1", 200))

    def test_token_over_tls_verifies(self):
        svc = self.client["svc"]
        version, code, body = self.curl("--http2", "-u", f"{svc.client_id}:{svc.secret}", "-d", "grant_type=client_credentials",
                                        f"https://127.0.0.1:{self.tls_port}/oauth2/token")
        self.assertEqual((version, code), ("2", 200), body)
        import json
        token = json.loads(body)["access_token"]
        _, _, jwks = self.curl("--http2", f"https://127.0.0.1:{self.tls_port}/.well-known/jwks.json")
        _, claims = harness.verify_access_token(token, json.loads(jwks), audience="api")
        self.assertEqual(claims["sub"], "svc")

    def test_untrusted_certificate_is_refused_by_clients(self):
        # the negative control: without --cacert curl must refuse our self-signed certificate
        out = subprocess.run(["curl", "-sS", "--max-time", "10", f"https://127.0.0.1:{self.tls_port}/healthz"],
                             capture_output=True, text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)

    def test_cleartext_port_still_serves(self):
        response = self.http.get("/healthz")
        self.assertStatus(response, 200)


if __name__ == "__main__":
    harness.main()
