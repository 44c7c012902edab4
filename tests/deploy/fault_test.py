#!/usr/bin/python3
"""The fault test of the local HA cluster (deploy/local-cluster): faults under load, counted.

While clients keep getting tokens through haproxy's https front (refresh-token chains of the demo user through
the public demo app, and client_credentials of the demo service), it causes, one after the other, each fault
named by --faults and waits for the cluster to heal by itself:

  leader-kill    SIGKILL of the PostgreSQL leader's postmaster: Patroni fails over to the synchronous standby
                 and the old leader comes back as a replica (pg_rewind)
  instance-kill  SIGKILL of one authsvc instance, which is then started again (as systemd or Kubernetes would)
  switchover     `patronictl switchover` to the standby
  rolling-restart  SIGTERM to each instance in turn, started again, the next once it is ready
  key-rotation   `authsvc keys rotate` in the shared key directory and SIGHUP to each instance in turn: each
                 publishes the new key at once and signs with it after the publish lead

Then it checks, and prints one line per check and `N passed, N failed`:
  - no answer other than 200 or 503 (with Retry-After) reached a client: no 500, no 502/504 from haproxy;
  - no refresh family was revoked: a client that retries a rotation whose answer it lost (a 503, a connection
    cut) with the same token gets the same successor (the grace window is longer than a failover);
  - no acknowledged rotation was lost: every successor a client received is stored on the primary after all
    the faults (synchronous replication), and each client's last one still refreshes;
  - the cluster healed without intervention: a Patroni leader and a synchronous standby, every instance ready.
For each fault it prints the requests, the failures by kind, the seconds during which requests failed, and the
seconds until the service and the database cluster were whole again.

Requests go to 127.0.0.1 only, their number is bounded by the time limits, and the test stops by itself.
A client waits 0.1 s after a failed request, not the 1 s of Retry-After, so that the figures have a finer grain.

  tests/deploy/fault_test.py --env .local/cluster/env [--faults leader-kill,instance-kill,switchover]
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCAL_CLUSTER = os.path.join(ROOT, "deploy", "local-cluster")

HEAL_TIMEOUT = 90  # seconds for the cluster to be whole again after a fault
REQUEST_TIMEOUT = 10  # seconds for one request
BACKOFF = 0.1  # seconds a client waits after a failed request
SETTLE = 2.0  # seconds of load after the cluster is whole again, before the next fault


def load_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                name, _, value = line[len("export "):].partition("=")
                env[name] = value.strip("'")
    return env


def stored_form(token):
    """A SQL row (family uuid, gen, hash) of what the database keeps of a refresh token (authsvc/token/refresh.h):
    format 1 (32 bytes, the secret): no family, no gen, SHA-256 of the token; format 2 (68 bytes: family 16,
    generation 4, secret 32, tag 16): its family, its generation, SHA-256 of its secret."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    if len(raw) == 32:
        return f"(NULL::uuid, NULL::integer, '\\x{hashlib.sha256(raw).hexdigest()}'::bytea)"
    if len(raw) == 68:
        return (f"('{uuid.UUID(bytes=raw[0:16])}'::uuid, {int.from_bytes(raw[16:20], 'big')}::integer, "
                f"'\\x{hashlib.sha256(raw[20:52]).hexdigest()}'::bytea)")
    raise ValueError(f"not a refresh token of either format: {len(token)} characters")


class Event:
    __slots__ = ("start", "end", "kind", "outcome", "status", "retry_after")

    def __init__(self, start, end, kind, outcome, status, retry_after):
        self.start, self.end, self.kind, self.outcome, self.status, self.retry_after = (start, end, kind, outcome,
                                                                                        status, retry_after)


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []

    def add(self, event):
        with self.lock:
            self.events.append(event)

    def between(self, t0, t1):
        with self.lock:
            return [e for e in self.events if t0 <= e.start < t1]


class Connection:
    """One keep-alive HTTPS connection to haproxy, reopened after any error."""

    def __init__(self, url, cafile):
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.context = ssl.create_default_context(cafile=cafile)
        self.conn = None

    def post(self, path, fields, headers=None):
        """(status, headers dict, parsed JSON body or None); raises OSError/HTTPException on a cut connection."""
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(self.host, self.port, timeout=REQUEST_TIMEOUT, context=self.context)
        body = urllib.parse.urlencode(fields)
        all_headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        try:
            self.conn.request("POST", path, body=body, headers=all_headers)
            response = self.conn.getresponse()
            data = response.read()
        except Exception:
            self.close()
            raise
        if response.getheader("connection", "").lower() == "close":
            self.close()
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        return response.status, {k.lower(): v for k, v in response.getheaders()}, parsed

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def classify(status, body):
    if status == 200:
        return "ok"
    if status == 503:
        # authsvc's own (no database) or haproxy's (no instance ready: its http-error says so)
        description = body.get("error_description", "") if isinstance(body, dict) else ""
        return "unavailable_lb" if "no authsvc instance" in description else "unavailable"
    if status == 400 and isinstance(body, dict) and body.get("error") == "invalid_grant":
        return "invalid_grant"
    if status >= 500:
        return f"http_{status}"
    return f"http_{status}"


class Worker(threading.Thread):
    def __init__(self, name, env, recorder, stop):
        super().__init__(name=name, daemon=True)
        self.env, self.recorder, self.stop = env, recorder, stop
        self.conn = Connection(env["ISSUER"], env["CA_FILE"])
        self.error = None

    def request(self, kind, fields, headers=None):
        start = time.monotonic()
        try:
            status, response_headers, body = self.conn.post("/oauth2/token", fields, headers)
        except (OSError, http.client.HTTPException):
            self.recorder.add(Event(start, time.monotonic(), kind, "connection", 0, None))
            return None, None, None
        outcome = classify(status, body)
        self.recorder.add(Event(start, time.monotonic(), kind, outcome, status, response_headers.get("retry-after")))
        return outcome, body, response_headers

    def run(self):
        try:
            self.work()
        except Exception as e:  # noqa: BLE001 — reported by the main thread
            self.error = e


class RefreshWorker(Worker):
    """One login, then a chain of rotations; a failed rotation is retried with the same token."""

    def __init__(self, *args):
        super().__init__(*args)
        self.acknowledged = []  # every refresh token this client received, in order
        self.families_lost = 0

    def login(self):
        fields = {"grant_type": "password", "client_id": self.env["APP_ID"], "username": self.env["USERNAME"],
                  "password": self.env["PASSWORD"]}
        while not self.stop.is_set():
            outcome, body, _ = self.request("login", fields)
            if outcome == "ok":
                self.acknowledged.append(body["refresh_token"])
                return body["refresh_token"]
            time.sleep(BACKOFF)
        return None

    def work(self):
        current = self.login()
        while current is not None and not self.stop.is_set():
            outcome, body, _ = self.request("refresh", {"grant_type": "refresh_token", "client_id": self.env["APP_ID"],
                                                        "refresh_token": current})
            if outcome == "ok":
                current = body["refresh_token"]
                self.acknowledged.append(current)
            elif outcome == "invalid_grant":
                self.families_lost += 1  # the check fails; a new login keeps the load going
                current = self.login()
            else:
                time.sleep(BACKOFF)  # 503 or a cut connection: the same token again

    def final_refresh(self):
        """One more rotation of the last acknowledged token, retried while the answer is 503: its outcome."""
        current = self.acknowledged[-1]
        deadline = time.monotonic() + 30
        while True:
            outcome, body, _ = self.request("final", {"grant_type": "refresh_token", "client_id": self.env["APP_ID"],
                                                      "refresh_token": current})
            if outcome in ("unavailable", "unavailable_lb", None) and time.monotonic() < deadline:
                time.sleep(BACKOFF)
                continue
            if outcome == "ok":
                self.acknowledged.append(body["refresh_token"])
            return outcome, body


class ServiceWorker(Worker):
    def work(self):
        credentials = base64.b64encode(f"{self.env['SERVICE_ID']}:{self.env['SERVICE_SECRET']}".encode()).decode()
        while not self.stop.is_set():
            outcome, _, _ = self.request("client_credentials", {"grant_type": "client_credentials"},
                                         {"Authorization": "Basic " + credentials})
            if outcome != "ok":
                time.sleep(BACKOFF)


# --- the cluster --------------------------------------------------------------------------------------------


class Cluster:
    def __init__(self, env):
        self.env = env
        self.dir = env["CLUSTER_DIR"]
        self.base = int(env["CLUSTER_BASE"])
        self.nodes = {"pg1": self.base + 21, "pg2": self.base + 22}  # Patroni REST ports
        self.instances = {"a1": self.base + 51, "a2": self.base + 52, "a3": self.base + 53}

    def _get(self, port, path):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            return 0, b""
        finally:
            conn.close()

    def jwks_kids(self, port):
        status, body = self._get(port, "/.well-known/jwks.json")
        return {k.get("kid") for k in json.loads(body).get("keys", [])} if status == 200 else set()

    def token_kid(self, port, credentials):
        """The kid in the header of a client_credentials token that one instance issues."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        basic = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        try:
            conn.request("POST", "/oauth2/token", body="grant_type=client_credentials",
                         headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic " + basic})
            response = conn.getresponse()
            body = json.loads(response.read())
            if response.status != 200:
                return None
            header = body["access_token"].split(".")[0]
            return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))).get("kid")
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            return None
        finally:
            conn.close()

    def leader(self):
        leaders = [name for name, port in self.nodes.items() if self._get(port, "/primary")[0] == 200]
        return leaders[0] if len(leaders) == 1 else None

    def members(self):
        result = subprocess.run(["patronictl", "-c", self.env["PATRONICTL_CONFIG"], "list", "-f", "json"],
                                capture_output=True, text=True, timeout=20)
        try:
            return json.loads(result.stdout) if result.returncode == 0 else []
        except ValueError:
            return []

    def whole(self):
        """A leader, a streaming synchronous standby, every instance ready: (True, '') or (False, what is missing)."""
        members = self.members()
        roles = sorted((m.get("Role"), m.get("State")) for m in members)
        if roles != [("Leader", "running"), ("Sync Standby", "streaming")] and \
                roles != [("Leader", "running"), ("Sync Standby", "running")]:
            return False, f"patroni members {roles}"
        if self.leader() is None:
            return False, "no node answers /primary"
        for name, port in self.instances.items():
            if self._get(port, "/readyz")[0] != 200:
                return False, f"instance {name} not ready"
        return True, ""

    def timeline(self):
        members = self.members()
        return max((m.get("TL") or 0 for m in members), default=0)

    def postmaster_pid(self, node):
        with open(os.path.join(self.dir, "pg", node, "data", "postmaster.pid")) as f:
            return int(f.readline())

    def instance_pid(self, name):
        with open(os.path.join(self.dir, "run", f"authsvc-{name}.pid")) as f:
            return int(f.read())

    def psql(self, sql):
        conninfo = f"host=127.0.0.1 port={self.base + 30} dbname=authsvc user=postgres connect_timeout=5"
        result = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", conninfo, "-f", "-"], input=sql,
                                capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PGPASSFILE": self.env["PGPASSFILE"]})
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()


def wait_until(what, condition, timeout):
    """Polls condition() (returning (ok, detail)) until ok; returns seconds waited, or None after `timeout`."""
    start = time.monotonic()
    detail = ""
    while time.monotonic() - start < timeout:
        ok, detail = condition()
        if ok:
            return time.monotonic() - start
        time.sleep(0.1)
    print(f"  timed out after {timeout}s waiting for {what}: {detail}", flush=True)
    return None


# --- the faults ---------------------------------------------------------------------------------------------


def fault_leader_kill(cluster):
    leader = cluster.leader()
    if leader is None:
        raise RuntimeError("no leader to kill")
    pid = cluster.postmaster_pid(leader)
    os.kill(pid, signal.SIGKILL)
    return f"SIGKILL to the postmaster of the leader {leader} (pid {pid})"


def fault_instance_kill(cluster):
    # the supervisor's part (systemd's Restart=, Kubernetes' restartPolicy): start it again once it is gone
    pid = restart_instance(cluster, "a2", signal.SIGKILL)
    return f"SIGKILL to authsvc a2 (pid {pid}), started again by `deploy/local-cluster up`"


def fault_switchover(cluster):
    leader = cluster.leader()
    candidate = next(n for n in cluster.nodes if n != leader)
    result = subprocess.run(["patronictl", "-c", cluster.env["PATRONICTL_CONFIG"], "switchover", "--leader", leader,
                             "--candidate", candidate, "--force"], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"patronictl switchover failed: {result.stdout}{result.stderr}")
    return f"patronictl switchover {leader} -> {candidate}"


def restart_instance(cluster, name, sig):
    """Signals one instance, waits for it to exit, and starts it again as its supervisor would."""
    pid = cluster.instance_pid(name)
    os.kill(pid, sig)
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    subprocess.run([LOCAL_CLUSTER, "up"], check=True, capture_output=True, timeout=120,
                   env={**os.environ, "AUTHSVC_CLUSTER_DIR": cluster.dir, "AUTHSVC_CLUSTER_BASE": str(cluster.base)})
    return pid


def fault_rolling_restart(cluster):
    for name, port in cluster.instances.items():
        restart_instance(cluster, name, signal.SIGTERM)
        # the next one only once this one is back in haproxy's rotation, as a rolling update waits for readiness
        deadline = time.monotonic() + 30
        while cluster._get(port, "/readyz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
    return "SIGTERM to a1, a2, a3 in turn, each started again once the previous one was ready"


def fault_key_rotation(cluster):
    keys = cluster.env["KEYS"]
    before = {n[:-4] for n in os.listdir(keys) if n.endswith(".pem")}
    subprocess.run([cluster.env["AUTHSVC_BIN"], "keys", "rotate", "--keys", keys, "--publish-lead", "4", "--token-ttl",
                    "600"], check=True, capture_output=True, timeout=30)
    (kid,) = {n[:-4] for n in os.listdir(keys) if n.endswith(".pem")} - before
    credentials = (cluster.env["SERVICE_ID"], cluster.env["SERVICE_SECRET"])
    for name, port in cluster.instances.items():
        os.kill(cluster.instance_pid(name), signal.SIGHUP)
        # published at once by the instance that re-read the directory, before it signs with it
        if not poll(lambda: kid in cluster.jwks_kids(port), 10):
            raise RuntimeError(f"instance {name} does not publish the new key {kid} after SIGHUP")
    for name, port in cluster.instances.items():
        if not poll(lambda: cluster.token_kid(port, credentials) == kid, 30):
            raise RuntimeError(f"instance {name} does not sign with the new key {kid} after its publish lead")
    return f"authsvc keys rotate (publish lead 4 s), SIGHUP to a1, a2, a3 in turn; all sign with {kid}"


def poll(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


FAULTS = {"leader-kill": fault_leader_kill, "instance-kill": fault_instance_kill, "switchover": fault_switchover,
          "rolling-restart": fault_rolling_restart, "key-rotation": fault_key_rotation}


# --- the report ---------------------------------------------------------------------------------------------


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"  {'PASS' if ok else 'FAIL'}: {what}" + (f" ({detail})" if detail and not ok else ""), flush=True)


def summarize(events, t_fault):
    failures = [e for e in events if e.outcome != "ok"]
    labels = {"unavailable": "503 from authsvc", "unavailable_lb": "503 from haproxy", "connection": "connection cut"}
    by_kind = {}
    for e in failures:
        label = labels.get(e.outcome, e.outcome)
        by_kind[label] = by_kind.get(label, 0) + 1
    if failures:
        first, last = min(e.start for e in failures), max(e.end for e in failures)
        after = [e.end for e in events if e.outcome == "ok" and e.start >= last]
        recovered = (min(after) if after else last) - t_fault
        window = last - first
    else:
        window = recovered = 0.0
    return {"requests": len(events), "ok": len(events) - len(failures), "failures": by_kind, "window": window,
            "recovered": recovered}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True, help="the env file that `deploy/local-cluster up` wrote")
    parser.add_argument("--faults", default="leader-kill,instance-kill,switchover,rolling-restart,key-rotation")
    parser.add_argument("--refresh-clients", type=int, default=4)
    parser.add_argument("--service-clients", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before the first fault")
    args = parser.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    for f in faults:
        if f not in FAULTS:
            parser.error(f"unknown fault {f!r} (known: {', '.join(FAULTS)})")

    env = load_env(args.env)
    cluster = Cluster(env)
    checks = Checks()
    began = time.monotonic()
    waited = wait_until("the cluster to be whole before the test", cluster.whole, HEAL_TIMEOUT)
    if waited is None:
        print("0 passed, 1 failed")
        return 1

    recorder, stop = Recorder(), threading.Event()
    refreshers = [RefreshWorker(f"refresh-{i}", env, recorder, stop) for i in range(args.refresh_clients)]
    services = [ServiceWorker(f"service-{i}", env, recorder, stop) for i in range(args.service_clients)]
    for w in refreshers + services:
        w.start()
    time.sleep(args.warmup)  # load, not synchronisation: the clients run meanwhile

    tl_before = cluster.timeline()
    results = []
    for name in faults:
        t_fault = time.monotonic()
        try:
            what = FAULTS[name](cluster)
        except Exception as e:  # noqa: BLE001
            checks.check(False, f"{name}: the fault ran as planned", str(e))
            continue
        print(f"fault {name}: {what}", flush=True)
        healed = wait_until(f"the cluster to heal after {name}", cluster.whole, HEAL_TIMEOUT)
        time.sleep(SETTLE)  # load keeps running: successes after the heal close the failure window
        t_end = time.monotonic()
        events = recorder.between(t_fault, t_end)
        summary = summarize(events, t_fault)
        summary["healed"] = healed
        results.append((name, what, summary, events))

    stop.set()
    for w in refreshers + services:
        w.join(REQUEST_TIMEOUT + 5)

    print()
    for name, what, s, _ in results:
        failures = ", ".join(f"{k} {v}" for k, v in sorted(s["failures"].items())) or "none"
        healed = f"{s['healed']:.1f} s" if s["healed"] is not None else "NOT healed"
        print(f"{name}: {s['requests']} requests, {s['ok']} ok, failed: {failures}; requests failed during "
              f"{s['window']:.1f} s; service back {s['recovered']:.1f} s after the fault; cluster whole again after {healed}")
    print()

    all_events = recorder.between(began, time.monotonic())
    for w in refreshers + services:
        checks.check(w.error is None, f"client {w.name} ran to the end", repr(w.error))
    for name, _, s, events in results:
        checks.check(s["healed"] is not None, f"{name}: the cluster healed by itself within {HEAL_TIMEOUT} s")
        bad = sorted({e.outcome for e in events if e.outcome not in ("ok", "unavailable", "unavailable_lb", "connection")})
        checks.check(not bad, f"{name}: clients got only 200, 503 or a cut connection", f"also {bad}")
        no_retry_after = sum(1 for e in events if e.status == 503 and not e.retry_after)
        checks.check(no_retry_after == 0, f"{name}: every 503 carried Retry-After", f"{no_retry_after} did not")
    lost = sum(w.families_lost for w in refreshers)
    checks.check(lost == 0, "no refresh family was revoked (retries within the grace window got their successor)",
                 f"{lost} invalid_grant")

    # Every acknowledged refresh token is on the primary now, and each chain's last one still rotates.
    finals = [w.final_refresh() for w in refreshers]
    bad_finals = [f"{o}: {b}" for o, b in finals if o != "ok"]
    checks.check(not bad_finals, "every client's last acknowledged refresh token still refreshes", "; ".join(bad_finals))
    acknowledged = [t for w in refreshers for t in w.acknowledged]
    # Format 1: the token's own row. Format 2: the family's row holds only its current token; an acknowledged
    # token is stored if it is the current one (its generation and hash) or a later generation replaced it.
    values = ",".join(stored_form(t) for t in acknowledged)
    try:
        stored = int(cluster.psql(
            f"SELECT count(*) FROM (VALUES {values}) AS a(family, gen, h) WHERE CASE WHEN a.family IS NULL "
            f"THEN EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.hash = a.h) "
            f"ELSE EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = a.family "
            f"AND (f.gen > a.gen OR (f.gen = a.gen AND f.cur_hash = a.h))) END;"))
    except RuntimeError as e:
        stored, detail = -1, str(e)
    else:
        detail = f"{len(acknowledged) - stored} of {len(acknowledged)} missing"
    checks.check(stored == len(acknowledged), f"all {len(acknowledged)} acknowledged refresh tokens are stored on the "
                                              f"new primary (no committed rotation lost)", detail)
    ok, detail = cluster.whole()
    checks.check(ok, "the cluster is whole at the end: leader, synchronous standby, three ready instances", detail)
    if any(name in ("leader-kill", "switchover") for name in faults):
        checks.check(cluster.timeline() > tl_before, "the leader changed (the PostgreSQL timeline advanced)",
                     f"timeline {tl_before} -> {cluster.timeline()}")

    total = len(all_events)
    print(f"\n{total} requests in {time.monotonic() - began:.0f} s, "
          f"{sum(1 for e in all_events if e.outcome == 'ok')} answered 200")
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
