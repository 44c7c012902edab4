"""Fair password work: one address flooding the password grant cannot starve everybody else's logins.

The flood (issue: 128 concurrent password-grant requests with a public client id) comes from 127.0.0.1 through
h2load; a legitimate user logs in from 127.0.0.2 (another loopback address, so the server sees another client)
while it runs. The flood logs in with a real account's right password: wrong passwords would soon be answered 429
by the brute-force throttle without reaching the argon2 queue (test_throttle), so only an attacker who holds one
valid account keeps the queue under pressure for as long as it likes, and that is the one the queue must withstand. The argon2 queue keeps at most a quarter of itself for any one address, and a full
queue turns away the newest job of its heaviest address, so the legitimate logins are queued and answered.
The flood is stopped only once the legitimate logins are done: nothing here depends on how long anything takes.
"""

import os
import signal
import subprocess

import harness
from harness import Client, TOKEN_PATH

LEGITIMATE = 20


class FairPasswordWorkTests(harness.ServiceTestCase):
    serve_args = ("--threads", "2")
    users = {"alice": "correct horse battery staple", "mallory": "mallory's own valid password"}
    clients = [Client("app", grants=["password"], public=True, audiences=["https://api.test"], scope="read")]

    def test_a_flooding_address_does_not_starve_other_logins(self):
        body = os.path.join(self.workdir, "flood.form")
        with open(body, "wb") as f:
            f.write(harness.form({"grant_type": "password", "client_id": "app", "username": "mallory",
                                  "password": self.users["mallory"]}))
        flood = subprocess.Popen(["h2load", "-n", "1000000", "-c", "16", "-m", "8", "-d", body,
                                  "-H", "content-type: " + harness.FORM_TYPE, self.server.url(TOKEN_PATH)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            # the flood is on once its own address is being turned away: one more request from it gets 503
            def flood_capped():
                r = self.http.token({"grant_type": "password", "client_id": "app", "username": "mallory",
                                     "password": self.users["mallory"]}, extra_args=("--interface", "127.0.0.1"))
                return r.status == 503
            harness.wait_for("the flooding address to be turned away", flood_capped, timeout=60)
            ok = 0
            statuses = []
            for _ in range(LEGITIMATE):
                response = self.http.token({"grant_type": "password", "client_id": "app", "username": "alice",
                                            "password": self.users["alice"]},
                                           extra_args=("--interface", "127.0.0.2"))
                statuses.append(response.status)
                ok += response.status == 200
        finally:
            flood.send_signal(signal.SIGINT)
            out, _ = flood.communicate(timeout=60)
        summary = out.decode("utf-8", "replace")
        self.assertGreaterEqual(ok, LEGITIMATE * 9 // 10, f"legitimate logins: {statuses}\nflood:\n{summary}")
        self.assertTrue(self.server.alive(), self.server.describe())


if __name__ == "__main__":
    harness.main()


def thread_priorities(pid):
    """{thread name: [nice, ...]} of the process's threads, from /proc."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            name = f.read().strip()
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        threads.setdefault(name, []).append(int(fields[16]))  # field 19 of stat: nice
    return threads


class PasswordWorkerPriorityTests(harness.ServiceTestCase):
    """When the CPU is short, token and JWKS requests go before argon2id hashing: the workers run at a lower priority."""
    serve_args = ("--password-workers-nice", "7")
    clients = [Client("app", grants=["password"], public=True, audiences=["https://api.test"], scope="read")]

    def test_the_workers_run_the_configured_steps_below_the_event_threads(self):
        threads = thread_priorities(self.server.proc.pid)
        workers = threads.pop("authsvc-argon2", [])
        self.assertGreaterEqual(len(workers), 1, f"no argon2 worker thread found among {threads}")
        others = [nice for nices in threads.values() for nice in nices]
        base = min(others)
        self.assertEqual(set(others), {base}, f"the other threads should keep the process's priority: {threads}")
        self.assertEqual(set(workers), {min(19, base + 7)})


class PasswordWorkerDefaultPriorityTests(harness.ServiceTestCase):
    clients = [Client("app", grants=["password"], public=True, audiences=["https://api.test"], scope="read")]

    def test_by_default_the_workers_run_below_the_event_threads(self):
        threads = thread_priorities(self.server.proc.pid)
        workers = threads.pop("authsvc-argon2", [])
        self.assertGreaterEqual(len(workers), 1)
        base = min(nice for nices in threads.values() for nice in nices)
        self.assertTrue(all(nice > base for nice in workers), f"workers {workers}, the rest at {base}")
