"""Signing-key rotation end to end: a rotation performed while tokens are being issued and verified produces
zero verification failures.

Deterministic, with no sleeping for time to pass: the servers here re-read the key directory on SIGHUP
(their periodic re-read is set to an hour, except in PeriodicReloadTests), and every SIGHUP is acknowledged
by one line in the server's log ("keys re-read ... unchanged", "keys reloaded ...", or "key reload failed
..."), which the tests wait for. The passage of the publish lead and of the token lifetime is simulated by
editing the keys' metadata (keys/README.md: published_at, active_at, retired_at, unpublish_at), and the age
of a verifier's JWKS cache by a clock the test advances.

The verifiers behave as real resource servers do: PyJWT over a JWKS cached for the max-age the server
announces, fetched again only when the cache is older than that or (the lenient one) when a token names a
kid it does not know; the strict one never refetches early, so it fails at once if a token is ever signed by
a key it could not have learned in time.
"""

import os
import re
import signal
import threading
import time

import jwt

import harness
from harness import API, Client, JWKS_PATH, kid_of, kids_of

ACCESS_TTL = 300
JWKS_MAX_AGE = 120

RELOAD_LINE = re.compile(r"keys re-read from|keys reloaded from|key reload failed")


# ---------------------------------------------------------------------------------------------------------
# A verifier with a JWKS cache


def max_age_of(response):
    match = re.search(r"(?:^|[,\s])max-age=(\d+)", response.header("cache-control") or "")
    if match is None:
        raise AssertionError(f"JWKS response without max-age\n{response}")
    return int(match.group(1))


class CachingVerifier:
    """PyJWT with a JWKS cache, as a resource server has one.

    The cache's age is measured on `clock`, which only advance() moves: the test decides when max-age has
    passed. refetch_on_unknown_kid: fetch again when a token names a kid the cache lacks (the lenient,
    common behaviour); without it the verifier relies on the publish lead alone."""

    def __init__(self, name, fetch, *, refetch_on_unknown_kid):
        self.name = name
        self.fetch = fetch  # () -> Response of GET JWKS
        self.refetch_on_unknown_kid = refetch_on_unknown_kid
        self.clock = 0
        self.fetched_at = None
        self.max_age = None
        self.keys = {}
        self.fetches = 0
        self.unknown_kid_fetches = 0
        self.lock = threading.Lock()

    def advance(self, seconds):
        with self.lock:
            self.clock += seconds

    def known_kids(self):
        with self.lock:
            return set(self.keys)

    def _refresh(self):
        response = self.fetch()
        if response.status != 200:
            raise AssertionError(f"{self.name}: JWKS fetch failed\n{response}")
        self.max_age = max_age_of(response)
        self.keys = {k["kid"]: k for k in response.json()["keys"]}
        self.fetched_at = self.clock
        self.fetches += 1

    def verify(self, token, audience):
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        with self.lock:
            if self.fetched_at is None or self.clock - self.fetched_at >= self.max_age:
                self._refresh()
            if kid not in self.keys and self.refetch_on_unknown_kid:
                self.unknown_kid_fetches += 1
                self._refresh()
            jwk = self.keys.get(kid)
            known = sorted(self.keys)
        if jwk is None:
            raise AssertionError(f"{self.name}: unknown kid {kid!r} (cached JWKS has {known})")
        if header.get("typ") != "at+jwt":
            raise AssertionError(f"{self.name}: typ {header.get('typ')!r}")
        return harness.decode_jwt(token, jwk, audience=audience)


class LoadThread(threading.Thread):
    """Issues client_credentials tokens one after another and verifies each with every verifier."""

    def __init__(self, test, client, verifiers):
        super().__init__(daemon=True)
        self.test = test
        self.client = client
        self.verifiers = verifiers
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.issued = []  # (index, kid, token) in issue order
        self.issue_failures = []
        self.verify_failures = []  # (verifier name, kid, error)
        self.verified = {}  # kid -> tokens verified by every verifier

    def run(self):
        index = 0
        while not self.stop_event.is_set() and index < 5000:  # bounded in count as well as in time
            index += 1
            try:
                response = self.test.http.token({"grant_type": "client_credentials"}, basic=self.client.basic)
                if response.status != 200:
                    raise AssertionError(f"token request failed\n{response}")
                token = response.json()["access_token"]
            except Exception as e:  # noqa: BLE001 — reported by the test, never lost
                with self.lock:
                    self.issue_failures.append(f"{type(e).__name__}: {e}")
                continue
            kid = kid_of(token)
            ok = True
            for verifier in self.verifiers:
                try:
                    verifier.verify(token, self.client.audiences)
                except Exception as e:  # noqa: BLE001
                    ok = False
                    with self.lock:
                        self.verify_failures.append((verifier.name, kid, f"{type(e).__name__}: {e}"))
            with self.lock:
                self.issued.append((index, kid, token))
                if ok:
                    self.verified[kid] = self.verified.get(kid, 0) + 1

    def count(self, kid):
        with self.lock:
            return self.verified.get(kid, 0)

    def stop(self):
        self.stop_event.set()
        self.join(60)
        if self.is_alive():
            raise AssertionError("the load thread did not stop")


# ---------------------------------------------------------------------------------------------------------
# The base class


class KeyDirTestCase(harness.ServiceTestCase):
    key_alg = "ES256"
    serve_args = ("--keys-reload", "3600", "--access-ttl", str(ACCESS_TTL), "--jwks-max-age", str(JWKS_MAX_AGE))
    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read")]

    # -- the directory ------------------------------------------------------------------------------

    def kids_on_disk(self):
        return self.key_directory.kids()

    def key_states(self):
        """{kid: state} from `authsvc keys list` (which must exit 0)."""
        out = self.keys("list").stdout
        states = {}
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[0] in self.kids_on_disk():
                states[fields[0]] = fields[2]
        return states

    # -- the server ---------------------------------------------------------------------------------

    def sighup(self):
        """Sends SIGHUP and waits for the server to acknowledge the re-read in its log; returns that line."""
        before = len(RELOAD_LINE.findall(self.server.stderr_text()))
        self.server.proc.send_signal(signal.SIGHUP)

        def acknowledged():
            if not self.server.alive():
                raise AssertionError(f"the server died after SIGHUP\n{self.server.describe()}")
            lines = [line for line in self.server.stderr_text().splitlines() if RELOAD_LINE.search(line)]
            return lines[before] if len(lines) > before else None

        return harness.wait_for("the server to re-read its keys after SIGHUP", acknowledged,
                                context=self.server.describe)

    def poll(self, what, condition):
        """Polls condition() until it returns a true value (returned); fails after harness.WAIT_TIMEOUT."""
        return harness.wait_for(what, condition, context=self.server.describe)

    def issue(self):
        backend = self.client["backend"]
        body = self.assertTokenSuccess(self.http.token({"grant_type": "client_credentials"}, basic=backend.basic))
        return body["access_token"]

    def verifier(self, name, *, refetch_on_unknown_kid):
        return CachingVerifier(name, lambda: self.http.get(JWKS_PATH), refetch_on_unknown_kid=refetch_on_unknown_kid)


# ---------------------------------------------------------------------------------------------------------
# The rotation


class RotationUnderLoadTests(KeyDirTestCase):

    def test_rotation_under_load_has_zero_verification_failures(self):
        backend = self.client["backend"]
        (kid_a,) = self.kids_on_disk()
        self.assertEqual(kids_of(self.jwks()), [kid_a])

        lenient = self.verifier("lenient verifier", refetch_on_unknown_kid=True)
        strict = self.verifier("strict verifier", refetch_on_unknown_kid=False)
        stale = self.verifier("stale verifier (never refreshed)", refetch_on_unknown_kid=False)
        load = LoadThread(self, backend, [lenient, strict])
        load.start()
        try:
            # 1. A batch with key A, verified.
            for _ in range(5):
                token = self.issue()
                self.assertEqual(kid_of(token), kid_a)
                for verifier in (lenient, strict, stale):
                    verifier.verify(token, backend.audiences)
            self.poll("the load thread to verify tokens signed by A", lambda: load.count(kid_a) >= 10)
            self.assertEqual(lenient.max_age, JWKS_MAX_AGE, "verifiers cache for the announced max-age")

            # 2. Rotate: B is published now and signs only after the publish lead.
            result = self.keys("rotate", "--token-ttl", str(ACCESS_TTL))
            (kid_b,) = set(self.kids_on_disk()) - {kid_a}
            self.assertIn(kid_b, result.stdout)
            meta_a, meta_b = self.key_directory.read_meta(kid_a), self.key_directory.read_meta(kid_b)
            self.assertEqual(meta_b["active_at"] - meta_b["published_at"], 600, meta_b)
            self.assertEqual(meta_a["retired_at"], meta_b["active_at"], meta_a)
            self.assertEqual(meta_a["unpublish_at"], meta_a["retired_at"] + ACCESS_TTL, meta_a)
            self.assertEqual(self.key_states(), {kid_a: "active", kid_b: "next"})
            self.assertIn("keys reloaded", self.sighup())
            self.poll("the JWKS to list A and B", lambda: set(kids_of(self.jwks())) == {kid_a, kid_b})
            for _ in range(3):
                self.assertEqual(kid_of(self.issue()), kid_a, "B signed before its active_at")

            # 3. Every verifier's cache outlives max-age; the next verification fetches the JWKS with B.
            baseline = load.count(kid_a)
            for verifier in (lenient, strict):
                verifier.advance(JWKS_MAX_AGE)
            self.poll("the verifiers to learn B", lambda: kid_b in lenient.known_kids() and kid_b in strict.known_kids())
            self.poll("more tokens signed by A verified", lambda: load.count(kid_a) >= baseline + 5)
            self.assertNotIn(kid_b, stale.known_kids())

            # 4. The publish lead "passes": B active now, A retired at the same instant.
            now = int(time.time())
            ttl = meta_a["unpublish_at"] - meta_a["retired_at"]
            meta_b["active_at"] = now
            self.key_directory.write_meta(meta_b)  # B first: an intermediate re-read then sees two active keys, B the newer
            meta_a["retired_at"], meta_a["unpublish_at"] = now, now + ttl
            self.key_directory.write_meta(meta_a)
            self.assertEqual(self.key_states(), {kid_a: "retired", kid_b: "active"})
            with load.lock:
                before_switch = [(i, kid, token) for i, kid, token in load.issued if kid == kid_a]
            self.assertIn("keys reloaded", self.sighup())
            self.poll("new tokens signed by B", lambda: kid_of(self.issue()) == kid_b)
            self.assertEqual(set(kids_of(self.jwks())), {kid_a, kid_b}, "A stays published after it retires")
            self.poll("the load thread to verify tokens signed by B", lambda: load.count(kid_b) >= 10)
        finally:
            load.stop()

        # 5. Zero failures, and the switch was clean.
        self.assertEqual(load.issue_failures, [], "token requests failed during the rotation")
        self.assertEqual(load.verify_failures, [], "verification failures during the rotation")
        self.assertEqual(lenient.unknown_kid_fetches, 0, "a verifier met a kid before the JWKS announced it")
        kids_in_order = [kid for _, kid, _ in load.issued]
        switch = kids_in_order.index(kid_b)
        self.assertEqual(set(kids_in_order[:switch]), {kid_a}, kids_in_order)
        self.assertEqual(set(kids_in_order[switch:]), {kid_b}, f"A signed again after B took over: {kids_in_order}")
        self.assertGreaterEqual(len(before_switch), 15)

        # 6. Tokens signed by A before the switch still verify after it, with every cache and with a fresh JWKS.
        fresh = self.verifier("fresh verifier", refetch_on_unknown_kid=False)
        for _, kid, token in before_switch:
            for verifier in (lenient, strict, fresh):
                claims = verifier.verify(token, backend.audiences)
                self.assertEqual(claims["client_id"], "backend")
        # Control: a cache that never refreshed (older than max-age) meets B's kid unknown, which is what
        # the strict verifier above would have met without the publish lead.
        with self.assertRaisesRegex(AssertionError, "unknown kid"):
            stale.verify(self.issue(), backend.audiences)

        # 7. Prune: nothing while A is still published; A once its unpublish_at has passed.
        result = self.keys("prune")
        self.assertRegex(result.stdout, r"\b0 key\(s\) pruned", result.stdout)
        self.assertEqual(self.kids_on_disk(), sorted([kid_a, kid_b]))
        # The token lifetime "passes": every time of A moves to before now, in order.
        now = int(time.time())
        meta_a = self.key_directory.read_meta(kid_a)
        meta_a["unpublish_at"] = now - 1
        meta_a["retired_at"] = min(meta_a["retired_at"], meta_a["unpublish_at"])
        meta_a["active_at"] = min(meta_a["active_at"], meta_a["retired_at"])
        meta_a["published_at"] = min(meta_a["published_at"], meta_a["active_at"])
        meta_a["created_at"] = min(meta_a["created_at"], meta_a["published_at"])
        self.key_directory.write_meta(meta_a)
        self.assertEqual(self.key_states(), {kid_a: "expired", kid_b: "active"})
        result = self.keys("prune")
        self.assertIn(f"pruned {kid_a}", result.stdout)
        self.assertRegex(result.stdout, r"\b1 key\(s\) pruned", result.stdout)
        self.assertEqual(self.kids_on_disk(), [kid_b])
        self.assertFalse(os.path.exists(self.key_directory.meta_path(kid_a)))
        self.assertIn("keys reloaded", self.sighup())
        self.poll("the JWKS to drop A", lambda: kids_of(self.jwks()) == [kid_b])
        token = self.issue()
        self.assertEqual(kid_of(token), kid_b)
        self.assertAccessToken(token, client=backend, user=False)


class PeriodicReloadTests(KeyDirTestCase):
    """Without any SIGHUP: the periodic re-read (--keys-reload 1) publishes a rotated key by itself."""

    serve_args = ("--keys-reload", "1", "--access-ttl", str(ACCESS_TTL))

    def test_rotation_is_published_without_sighup(self):
        (kid_a,) = self.kids_on_disk()
        self.keys("rotate")
        (kid_b,) = set(self.kids_on_disk()) - {kid_a}
        self.poll("the periodic re-read to publish B", lambda: set(kids_of(self.jwks())) == {kid_a, kid_b})
        self.assertEqual(kid_of(self.issue()), kid_a)
        self.server.wait_for_log("keys reloaded")


# ---------------------------------------------------------------------------------------------------------
# A broken key directory


class BrokenKeyFileTests(KeyDirTestCase):

    def test_group_readable_key_keeps_the_current_keys(self):
        backend = self.client["backend"]
        kid_a = kid_of(self.issue())  # the signing key (the other test may have added a next key)
        pem = os.path.join(self.keys_dir, kid_a + ".pem")
        jwks_before = self.jwks()
        os.chmod(pem, 0o640)
        try:
            line = self.sighup()
            self.assertIn("key reload failed", line)
            self.assertIn(pem, line)
            # Still serving with its current keys: tokens issued and verifiable.
            self.assertEqual(self.jwks(), jwks_before)
            for _ in range(3):
                token = self.issue()
                self.assertEqual(kid_of(token), kid_a)
                self.assertAccessToken(token, client=backend, user=False)
            # `keys list` names the file and exits 1.
            result = self.keys("list", check=False)
            self.assertEqual(result.returncode, 1, harness.describe_process(result))
            self.assertIn(pem, result.stdout + result.stderr, harness.describe_process(result))
            self.assertRegex(result.stdout + result.stderr, r"group|others|0?640", harness.describe_process(result))
        finally:
            os.chmod(pem, 0o600)
        self.assertIn("unchanged", self.sighup())
        self.assertEqual(self.keys("list").returncode, 0)
        self.assertAccessToken(self.issue(), client=backend, user=False)

    def test_corrupt_metadata_keeps_the_current_keys(self):
        backend = self.client["backend"]
        kids = self.kids_on_disk()
        jwks_before = self.jwks()
        self.keys("rotate")
        (kid_new,) = set(self.kids_on_disk()) - set(kids)
        meta_path = self.key_directory.meta_path(kid_new)
        with open(meta_path) as f:
            good = f.read()
        with open(meta_path, "w") as f:
            f.write(good[: len(good) // 2])  # truncated JSON
        try:
            line = self.sighup()
            self.assertIn("key reload failed", line)
            self.assertIn(meta_path, line)
            self.assertEqual(self.jwks(), jwks_before, "a broken directory must not change the JWKS")
            self.assertAccessToken(self.issue(), client=backend, user=False)
            result = self.keys("list", check=False)
            self.assertEqual(result.returncode, 1, harness.describe_process(result))
            self.assertIn(meta_path, result.stdout + result.stderr, harness.describe_process(result))
        finally:
            with open(meta_path, "w") as f:
                f.write(good)
        self.assertIn("keys reloaded", self.sighup())
        self.poll("the JWKS to publish the repaired key", lambda: kid_new in kids_of(self.jwks()))


# ---------------------------------------------------------------------------------------------------------
# JWKS caching headers


class JwksCachingTests(KeyDirTestCase):

    def get(self, *, etag=None, proto="h2"):
        headers = [f"If-None-Match: {etag}"] if etag is not None else []
        return self.http.get(JWKS_PATH, headers=headers, proto=proto)

    def assertNotModified(self, response, etag):
        self.assertStatus(response, 304)
        self.assertEqual(response.body, b"", f"304 with a body\n{response}")
        self.assertEqual(response.header("etag"), etag, response)
        # RFC 9110 §15.4.5: a 304 carries the Cache-Control and ETag a 200 would have had.
        self.assertEqual(max_age_of(response), JWKS_MAX_AGE, response)

    def test_cache_control_max_age(self):
        for proto in ("h2", "h1"):
            with self.subTest(proto=proto):
                response = self.get(proto=proto)
                self.assertStatus(response, 200)
                self.assertEqual(max_age_of(response), JWKS_MAX_AGE, response)
                directives = {d.strip().lower() for d in response.header("cache-control").split(",")}
                self.assertIn("public", directives, response)
                self.assertIn(f"max-age={JWKS_MAX_AGE}", directives, response)
                self.assertRegex(response.header("etag") or "", r'^"[^"]+"$', f"not a strong ETag\n{response}")

    def test_if_none_match_gives_304_without_a_body(self):
        etag = self.get().header("etag")
        for proto in ("h2", "h1"):
            with self.subTest(proto=proto):
                self.assertNotModified(self.get(etag=etag, proto=proto), etag)
                self.assertNotModified(self.get(etag=f'"other", {etag}', proto=proto), etag)
                self.assertNotModified(self.get(etag="W/" + etag, proto=proto), etag)  # weak comparison
                self.assertStatus(self.get(etag='"something-else"', proto=proto), 200)

    def test_etag_follows_the_key_set(self):
        first = self.get()
        etag = first.header("etag")
        # A re-read that changes nothing keeps the ETag.
        self.assertIn("unchanged", self.sighup())
        self.assertEqual(self.get().header("etag"), etag)
        self.assertNotModified(self.get(etag=etag), etag)
        # A rotation changes the key set, hence the ETag; the old one no longer matches.
        kids = self.kids_on_disk()
        self.keys("rotate")
        self.assertIn("keys reloaded", self.sighup())
        second = self.poll("the JWKS to change", lambda: (lambda r: r if r.header("etag") != etag else None)(self.get()))
        self.assertStatus(second, 200)
        self.assertEqual(len(kids_of(second.json())), len(kids) + 1, second)
        new_etag = second.header("etag")
        self.assertNotEqual(new_etag, etag)
        stale = self.get(etag=etag)
        self.assertStatus(stale, 200)
        self.assertEqual(stale.json(), second.json())
        self.assertNotModified(self.get(etag=new_etag), new_etag)


if __name__ == "__main__":
    harness.main()
