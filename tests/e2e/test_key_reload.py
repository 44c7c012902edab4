"""Key reloads hammered under load: every event thread swaps its key set while requests that started with the
old set are still running, and nothing is lost, mixed up or freed too early.

The server (two event threads) re-reads the key directory on SIGHUP; each SIGHUP is acknowledged by a line in
its log. Between SIGHUPs the test flips which of two published keys signs (the second key's active_at moves
to the past or the future), so every re-read installs a different set and every thread swaps. Meanwhile
h2load keeps client_credentials and JWKS requests in flight on several connections per thread. The test
ends after a fixed number of swaps, not after a time; under the suite's AddressSanitizer build a set freed
while a request still held it would abort the server.
"""

import json
import os
import re
import signal
import threading
import time

import jwt

import harness
from harness import Client, JWKS_PATH, TOKEN_PATH

API = "https://api.example.test"
SWAPS = 40
DEADLINE = 30  # seconds for any polled condition
RELOADED = re.compile(r"keys reloaded from")


class KeyReloadUnderLoadTests(harness.ServiceTestCase):
    serve_args = ("--threads", "2", "--keys-reload", "3600")
    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read")]

    def reloads_logged(self):
        with open(self.server.stderr_path, "rb") as f:
            return len(RELOADED.findall(f.read().decode("utf-8", "replace")))

    def write_meta(self, meta):
        tmp = os.path.join(self.keys_dir, f".{meta['kid']}.json.edit")
        with open(tmp, "w") as f:
            json.dump(meta, f, indent=2)
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(self.keys_dir, meta["kid"] + ".json"))

    def read_meta(self, kid):
        with open(os.path.join(self.keys_dir, kid + ".json")) as f:
            return json.load(f)

    def sighup_and_wait(self, count_before):
        self.server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + DEADLINE
        while self.reloads_logged() <= count_before:
            if time.monotonic() > deadline or not self.server.alive():
                raise AssertionError(f"no reload after SIGHUP\n{self.server.describe()}")
            time.sleep(0.01)  # polling the log for the acknowledgement, not waiting for time to pass

    def assertAllSucceeded(self, summary, n):
        self.assertRegex(summary, rf"(?m)^requests: .*\b{n} succeeded, 0 failed, 0 errored, 0 timeout", summary)
        self.assertRegex(summary, rf"(?m)^status codes: {n} 2xx, 0 3xx, 0 4xx, 0 5xx", summary)

    def test_swaps_under_load_lose_nothing(self):
        backend = self.client["backend"]
        (kid_a,) = [n[:-4] for n in os.listdir(self.keys_dir) if n.endswith(".pem")]
        # a second key; both stay published and never retire, and which one signs is the newer active_at:
        # A's is two minutes ago, B's flips between one minute ago (B signs) and an hour ahead (A signs)
        self.cli.run("keys", "rotate", "--keys", self.keys_dir, db=False)
        (kid_b,) = [n[:-4] for n in os.listdir(self.keys_dir) if n.endswith(".pem") and n[:-4] != kid_a]
        now = int(time.time())
        meta_a, meta_b = self.read_meta(kid_a), self.read_meta(kid_b)
        for meta in (meta_a, meta_b):
            meta.pop("retired_at", None)
            meta.pop("unpublish_at", None)
            meta["created_at"] = meta["published_at"] = meta["active_at"] = now - 120
        meta_b["active_at"] = now + 3600
        self.write_meta(meta_a)
        self.write_meta(meta_b)
        self.sighup_and_wait(self.reloads_logged())  # the server learns B (published, not signing)

        body = os.path.join(self.workdir, "client_credentials.form")
        with open(body, "wb") as f:
            f.write(b"grant_type=client_credentials")
        loads = {
            "token": (["-n", "2000", "-c", "4", "-m", "8", "-d", body, "-H", "content-type: " + harness.FORM_TYPE,
                       "-H", "authorization: " + harness.basic_auth(*backend.basic), self.server.url(TOKEN_PATH)], 2000),
            "jwks": (["-n", "2000", "-c", "2", "-m", "8", self.server.url(JWKS_PATH)], 2000),
        }
        summaries, failures = [], []
        flowing, done = threading.Event(), threading.Event()

        def load():
            # rounds of h2load back to back until the swaps are over; the swaps start after the first round
            try:
                while True:
                    for args, n in loads.values():
                        result = harness.run(["h2load", *args], check=False, timeout=120)
                        summaries.append((result, n))
                    flowing.set()
                    if done.is_set():
                        return
            except Exception as e:  # reported by the test thread
                failures.append(e)
                flowing.set()

        thread = threading.Thread(target=load, daemon=True)
        thread.start()
        self.assertTrue(flowing.wait(120), "the load did not start")
        reloads_before = self.reloads_logged()
        try:
            for i in range(SWAPS):
                meta_b["active_at"] = now - 60 if i % 2 == 0 else now + 3600
                self.write_meta(meta_b)
                self.sighup_and_wait(self.reloads_logged())
        finally:
            done.set()
            thread.join(180)
        self.assertEqual(failures, [])
        self.assertGreaterEqual(len(summaries), 4, "the swaps ran during at least one more round of load")
        for result, n in summaries:
            self.assertEqual(result.returncode, 0, harness.describe_process(result))
            self.assertAllSucceeded(result.stdout, n)
        self.assertEqual(self.reloads_logged() - reloads_before, SWAPS, "every SIGHUP installed a different set")
        self.assertTrue(self.server.alive(), self.server.describe())

        # the last swap (odd) put B's active_at an hour ahead: A signs again, and both keys stay published
        self.assertEqual(sorted(k["kid"] for k in self.jwks()["keys"]), sorted([kid_a, kid_b]))
        for _ in range(8):
            answer = self.assertTokenSuccess(self.http.token({"grant_type": "client_credentials"}, basic=backend.basic))
            self.assertEqual(jwt.get_unverified_header(answer["access_token"])["kid"], kid_a)
            self.assertAccessToken(answer["access_token"], client=backend, user=False)


if __name__ == "__main__":
    harness.main()
