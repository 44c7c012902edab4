"""The real-browser suite: Debian's chromium, driven by playwright-core, signs in through authsvc's own pages.

This file builds the world with the end-to-end harness (tests/e2e/harness.py): a fresh database migrated by
`authsvc migrate`, a key directory, the users and clients below created with the CLI, and one `authsvc serve`
whose issuer is its real address (so that the discovery document's endpoints are where the browser goes). Then
it runs the node suites in this folder (`node --test`), which drive the browser; their codes land on a real
loopback HTTP listener, are exchanged with oauth4webapi and their id_tokens verified with jose against the JWKS:

  flow.test.mjs  the whole flow, SSO across two clients, prompt=none, logout, a password change ending the
                 sessions, a wrong password, CSRF tokens missing and replayed, consent
  demo.test.mjs  deploy/demo-web, the demo browser app of deploy/run, started here against this server

Screenshots of the pages are kept in AUTHSVC_ARTIFACT_DIR (ctest sets BUILD/browser-artifacts).

Environment: as the e2e tests (AUTHSVC_BIN, PG*), plus node with `npm ci --prefix tests/browser` done
(tests/run does it) and /usr/bin/chromium (deploy/install-deps --test).
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

import harness  # noqa: E402
from harness import API, Client  # noqa: E402

NODE_TIMEOUT = 300  # seconds for one node suite (about 15 s in the normal build)
LOOPBACK_CB = "http://127.0.0.1/cb"  # loopback: any port at sign-in (RFC 8252 §7.3)
LOOPBACK_SIGNED_OUT = "http://127.0.0.1/signed-out"
DEMO_CB = "http://127.0.0.1/demo/callback"  # as deploy/run registers demo-web


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BrowserTests(harness.ServiceTestCase):
    # one user per scenario, so that the scenarios cannot disturb each other
    users = {"alice": "alice-password-1", "bob": "bob-password-22", "carol": "carol-password-3",
             "dave": "dave-password-44", "erin": "erin-password-5", "frank": "frank-password-66",
             "gina": "gina-password-7", "hank": "hank-password-88", "demo": "demo-password-9"}
    clients = [
        Client("web", grants=["authorization_code", "refresh_token"], audiences=[API], scope="openid profile read",
               public=True, options=["--redirect-uri", LOOPBACK_CB, "--post-logout-redirect-uri", LOOPBACK_SIGNED_OUT,
                                     "--name", "Web App"]),
        Client("portal", grants=["authorization_code", "refresh_token"], audiences=[API], scope="openid profile",
               options=["--redirect-uri", "http://127.0.0.1/portal/cb", "--name", "Portal"]),
        Client("third", grants=["authorization_code"], audiences=[API], scope="openid read", public=True,
               options=["--redirect-uri", LOOPBACK_CB, "--consent", "--name", "Third Party"]),
        Client("demo-web", grants=["authorization_code", "refresh_token"], audiences=["demo-api"],
               scope="openid profile read", public=True,
               options=["--redirect-uri", DEMO_CB, "--post-logout-redirect-uri", DEMO_CB, "--name", "authsvc demo"]),
    ]

    @classmethod
    def _start_server(cls):
        # The issuer must be the address the browser uses: its metadata names the endpoints. So the port is
        # chosen here; if another process takes it before the server binds it, the server exits and another
        # port is tried.
        last = None
        for _ in range(5):
            port = free_port()
            log_dir = tempfile.mkdtemp(prefix="serve-", dir=cls.workdir)
            server = harness.Server(cls.db, cls.keys_dir, log_dir,
                                    ["--listen", f"127.0.0.1:{port}", "--issuer", f"http://127.0.0.1:{port}"])
            try:
                server.start()
            except harness.HarnessError as e:
                last = e
                continue
            cls.server = server
            cls.http = harness.Http(server, cls.workdir)
            return
        raise last

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.artifacts = os.environ.get("AUTHSVC_ARTIFACT_DIR") or os.path.join(cls.workdir, "artifacts")
        os.makedirs(cls.artifacts, exist_ok=True)

    def config(self, **extra):
        """The node suites' world, as JSON in a file named by AUTHSVC_BROWSER_CONFIG."""
        world = {
            "issuer": f"http://127.0.0.1:{self.server.port}",
            "artifacts": self.artifacts,
            "users": self.users,
            "clients": {c.client_id: {"secret": c.secret} for c in self.clients},
            "audience": API,
            **extra,
        }
        path = os.path.join(self.workdir, "browser-config.json")
        with open(path, "w") as f:
            json.dump(world, f)
        return path

    def run_node(self, suite, config):
        env = dict(os.environ, AUTHSVC_BROWSER_CONFIG=config)
        argv = ["node", "--test", "--test-reporter=spec", "--test-concurrency=1", os.path.join(HERE, suite)]
        try:
            result = subprocess.run(argv, cwd=HERE, env=env, capture_output=True, text=True, timeout=NODE_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            self.fail(f"{suite} did not finish within {NODE_TIMEOUT}s\n{e.stdout}\n{e.stderr}\n{self.server.log()}")
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        if result.returncode != 0:
            self.fail(f"{suite} failed (exit {result.returncode})\n--- stderr ---\n{result.stderr}\n{self.server.log()}")

    def test_flows(self):
        self.run_node("flow.test.mjs", self.config())

    def test_demo_app(self):
        """deploy/demo-web against this server, signed in through it as a newcomer would."""
        demo = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "deploy", "demo-web"),
                                 "--authsvc", f"http://127.0.0.1:{self.server.port}", "--listen", "127.0.0.1:0"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stderr = []
        drain = threading.Thread(target=lambda: stderr.extend(demo.stderr), daemon=True)
        drain.start()

        def stop():
            if demo.poll() is None:
                demo.terminate()
                demo.wait(10)
            drain.join(5)
            demo.stdout.close()
            demo.stderr.close()
        self.addCleanup(stop)
        url = demo.stdout.readline().strip()  # its first line is its address
        self.assertTrue(url.startswith("http://127.0.0.1:"), f"demo-web printed {url!r}; stderr: {''.join(stderr)}")
        self.run_node("demo.test.mjs", self.config(demo=url))
        self.assertIsNone(demo.poll(), "demo-web died:\n" + "".join(stderr))
        demo.terminate()
        demo.wait(10)
        drain.join(5)
        log = "".join(stderr)
        self.assertIn("GET /demo/callback", log, "demo-web logs its requests")
        for secret in ("code=", "access_token", "eyJ"):
            self.assertNotIn(secret, log, "demo-web must not log codes or tokens")


if __name__ == "__main__":
    harness.main()
