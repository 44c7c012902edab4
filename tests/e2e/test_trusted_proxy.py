"""--trusted-proxy: whose X-Forwarded-For is believed for the client address (the login throttle, the argon2
queue's per-address share, the access log).

- Nobody is trusted by default: an X-Forwarded-For from the client itself is ignored, and the throttle counts the
  real (TCP) address.
- Behind a trusted proxy (127.0.0.1/32 here: curl plays the proxy) the forwarded address counts, and two
  forwarded addresses are throttled apart; a peer outside the trusted networks (127.0.0.2) is not believed.
- Chains: the right-most address that is not itself a trusted proxy, walking right to left; an element that is
  not an address stops the walk at the last trusted hop.
- A --trusted-proxy that is not a network stops the server from starting, saying which one."""

import json
import os

import harness
from harness import API, Client


class ProxyTestCase(harness.ServiceTestCase):
    users = {"alice": "alice correct horse"}
    clients = [Client("app", grants=["password"], public=True, audiences=[API], scope="read")]

    def login(self, password, *, forwarded=(), source="127.0.0.1"):
        return self.http.token({"grant_type": "password", "client_id": "app", "username": "alice", "password": password},
                               headers=[f"X-Forwarded-For: {v}" for v in forwarded], extra_args=("--interface", source))

    def failures(self, address):
        rows = self.db.query(f"SELECT failures FROM login_failures WHERE key = 'u:alice|{address}'").strip()
        return int(rows) if rows else 0

    def fail_once_as(self, address, **kwargs):
        """One wrong password; waits until it is counted against `address` (failures are recorded after the answer)."""
        before = self.failures(address)
        self.assertOAuthError(self.login("a wrong guess", **kwargs), 400, "invalid_grant")
        harness.wait_for(f"a failure counted against {address}", lambda: self.failures(address) > before,
                         context=self.server.describe)


class UntrustedTests(ProxyTestCase):
    def test_a_spoofed_header_is_ignored(self):
        self.fail_once_as("127.0.0.1", forwarded=["198.51.100.7"])
        self.assertEqual(self.failures("198.51.100.7"), 0)
        # and it cannot buy a fresh throttle: four failures under four made-up addresses are four for 127.0.0.1
        for i in range(3):
            self.fail_once_as("127.0.0.1", forwarded=[f"198.51.100.{10 + i}"])
        self.assertOAuthError(self.login(self.users["alice"], forwarded=["198.51.100.99"]), 429, "slow_down")


class TrustedTests(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.access_log = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"authsvc-proxy-access-{os.getpid()}.log")
        cls.serve_args = ("--trusted-proxy", "127.0.0.1/32", "--trusted-proxy", "10.0.0.0/8",
                          "--trusted-proxy", "2001:db8::/32", "--access-log", cls.access_log)
        super().setUpClass()
        cls.addClassCleanup(lambda: os.path.exists(cls.access_log) and os.unlink(cls.access_log))

    def remotes(self):
        with open(self.access_log) as f:
            return [json.loads(line)["remote"] for line in f if line.strip()]

    def test_forwarded_addresses_are_throttled_apart(self):
        proxy_failures = self.failures("127.0.0.1")
        for _ in range(4):
            self.fail_once_as("198.51.100.7", forwarded=["198.51.100.7"])
        self.assertEqual(self.failures("127.0.0.1"), proxy_failures, "the proxy's own address was counted")
        self.assertOAuthError(self.login(self.users["alice"], forwarded=["198.51.100.7"]), 429, "slow_down")
        # another user behind the same proxy is not held back
        self.assertTokenSuccess(self.login(self.users["alice"], forwarded=["198.51.100.8"]), refresh=False)
        harness.wait_for("the access log", lambda: "198.51.100.8" in self.remotes())
        self.assertIn("198.51.100.7", self.remotes())

    def test_a_peer_outside_the_trusted_networks_is_not_believed(self):
        self.fail_once_as("127.0.0.2", forwarded=["198.51.100.20"], source="127.0.0.2")
        self.assertEqual(self.failures("198.51.100.20"), 0)

    def test_chains_of_proxies(self):
        cases = [
            # what the client claimed, then what each proxy appended (the last by the proxy we talk to)
            (["203.0.113.66, 198.51.100.30, 10.1.2.3"], "198.51.100.30"),
            (["203.0.113.66", "198.51.100.31", "10.1.2.3, 10.4.5.6"], "198.51.100.31"),  # several headers are one list
            (["198.51.100.32, 2001:db8::5, [2001:db8::6]"], "198.51.100.32"),
            (["10.7.7.7, 10.8.8.8"], "10.7.7.7"),  # every hop trusted: the left-most
            (["198.51.100.33, unknown, 10.9.9.9"], "10.9.9.9"),  # not an address: the last trusted hop
            (["198.51.100.34:4711"], "127.0.0.1"),
        ]
        for forwarded, expected in cases:
            with self.subTest(forwarded=forwarded):
                self.fail_once_as(expected, forwarded=forwarded)

    def test_an_invalid_network_stops_the_server_from_starting(self):
        for bad in ("10.0.0.1/8", "example.com", "10.0.0.0/33", "2001:db8::/129"):
            with self.subTest(bad=bad):
                with self.assertRaises(harness.HarnessError) as refused:
                    self.start_another_server("bad-proxy", extra_args=("--trusted-proxy", bad))
                self.assertIn(f"--trusted-proxy {bad}: not an IPv4 or IPv6 address or network", str(refused.exception))


if __name__ == "__main__":
    harness.main()
