"""Refresh-token security as a client and an attacker see it (RFC 9700 §4.14, DESIGN "Refresh tokens").

- Concurrent refreshes with one token: inside the grace window every winner gets the SAME successor and
  exactly one live successor exists; with `--refresh-grace 0` exactly one request wins. Never two
  branches, never a 5xx. Raced both from 50 curl processes (many connections, every event thread) and
  from one curl multiplexing 50 streams on one HTTP/2 connection.
- A client retrying with the token it just rotated, inside the grace window, gets the same successor back,
  and the retry does not count as reuse.
- A consumed token presented outside the grace window is reuse: invalid_grant, the whole family dies,
  and an audit event records it.
- Idle and absolute lifetimes; rotation never extends the family's absolute expiry.
- A refresh token is bound to its client, and another client's attempt does not consume it.

The server issues format 2 by default (the family's row holds its current token); the lifetime and grace
tests run once more on a server that issues format 1 (a refresh_tokens row per token), which rolling
upgrades keep alive. The database view of either format comes from the harness.

Time never passes by sleeping: the tests move timestamps in the class's database instead.
"""

import harness
from harness import API, Client, RefreshToken, sql_refresh_expires

IDLE_TTL = 600
MAX_TTL = 3600
RACE = 50


class RefreshCase(harness.ServiceTestCase):
    """Shared helpers: a login, database views of a token, and the two kinds of race."""

    token_format = 2  # what the class's server issues

    def login(self, user=None, client="web"):
        """The refresh token of a fresh login (user: default the class's first)."""
        token = self.password_login(client, user or next(iter(self.users)))["refresh_token"]
        self.assertRefreshToken(token, format=self.token_format)
        return token

    def family_of(self, refresh_token):
        return self.refresh_family(refresh_token)

    def family_tokens(self, family):
        """[(hash hex, parent hash hex or '', used)] of every refresh_tokens row of a family (format 1; none for
        format 2)."""
        rows = self.db.query(f"SELECT encode(hash, 'hex'), coalesce(encode(parent_hash, 'hex'), ''), used_at IS NOT NULL "
                             f"FROM refresh_tokens WHERE family_id = '{family}' ORDER BY created_at")
        return [tuple(line.split("|")) for line in rows.splitlines()]

    def assertOneSuccessor(self, refresh_token, successor):
        """The family of a token rotated once (by any number of racing or retried requests): the token is consumed
        and has exactly one successor, `successor`, which is unused."""
        presented, child = RefreshToken(refresh_token), RefreshToken(successor)
        self.assertEqual(child.format, presented.format, "a successor must keep its family's format")
        family = self.family_of(refresh_token)
        tokens = self.family_tokens(family)
        if presented.format == 1:
            children = [t for t in tokens if t[1] == presented.hash]
            self.assertEqual([c[0] for c in children], [child.hash], f"family after the rotation: {tokens}")
            self.assertEqual(len(tokens), 2, f"family after the rotation: {tokens}")
            self.assertEqual(children[0][2], "f", "the successor must still be unused")
            return
        # format 2: the family's row holds one current token; one rotation moved it one generation on
        self.assertEqual(tokens, [], "a format-2 family has no refresh_tokens rows")
        self.assertEqual((child.family, child.gen), (presented.family, presented.gen + 1),
                         f"the successor of {presented!r} is {child!r}")
        self.assertTrue(self.refresh_is_current(successor),
                        "the successor must be the family's current, unused token: " +
                        self.db.query(f"SELECT gen, encode(cur_hash, 'hex') FROM refresh_families WHERE id = '{family}'"))
        self.assertFalse(self.refresh_is_current(refresh_token), "the presented token must be consumed")

    def family_expires(self, family):
        return self.db.query(f"SELECT expires_at FROM refresh_families WHERE id = '{family}'")

    # -- races ------------------------------------------------------------------------------------------

    def race_threads(self, client, refresh_token, n=RACE):
        """n curl processes released together: many connections, spread over the event threads."""
        return harness.race(n, lambda: self.refresh(client, refresh_token))

    def race_multiplexed(self, client, refresh_token, n=RACE):
        """One curl, n refreshes multiplexed as concurrent streams on one HTTP/2 connection."""
        fields, basic = harness.client_auth(client, {"grant_type": "refresh_token", "refresh_token": refresh_token})
        responses, connects = self.http.multiplexed(harness.TOKEN_PATH, n, body=harness.form(fields), basic=basic)
        self.assertEqual({r.http_version for r in responses}, {"2"},
                         "the race must run over HTTP/2\n" + "\n\n".join(map(str, responses)))
        self.assertEqual(connects, 1, "the transfers must share one connection (concurrent streams)")
        return responses

    def assertRaceOutcome(self, responses, refresh_token, *, grace):
        """Checks the answers of a race on one token and the family it left behind. Returns the winners."""
        everything = "\n\n".join(map(str, responses))
        for r in responses:
            self.assertNotEqual(r.status, 0, f"a racing request got no answer\n{r}")
            self.assertLess(r.status, 500, f"a racing refresh got a server error\n{r}")
            self.assertIn(r.status, (200, 400), r)
            if r.status == 400:
                self.assertInvalidGrant(r)
        winners = [self.assertTokenSuccess(r, refresh=True) for r in responses if r.status == 200]
        successors = {w["refresh_token"] for w in winners}
        if grace:
            self.assertEqual(len(winners), len(responses),
                             "inside the grace window every racing request must get the successor\n" + everything)
        else:
            self.assertEqual(len(winners), 1, "with --refresh-grace 0 exactly one request may win\n" + everything)
        self.assertEqual(len(successors), 1, f"two different successors were issued: {sorted(successors)}")
        successor = successors.pop()
        self.assertNotEqual(successor, refresh_token)

        # In the database: the presented token is consumed and has exactly one child, the one handed out.
        self.assertOneSuccessor(refresh_token, successor)
        return winners


class DefaultGraceWindowTests(RefreshCase):
    """The default grace window (60 s), with short idle and absolute lifetimes to check against."""

    serve_args = ["--refresh-idle-ttl", str(IDLE_TTL), "--refresh-max-ttl", str(MAX_TTL)]
    users = {"alice": "alice-password", "bob": "bob-password"}
    clients = [
        Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read write"),
        Client("partner", grants=["password", "refresh_token"], audiences=[API], scope="read write"),
        Client("mobile", grants=["password", "refresh_token"], audiences=[API], scope="read", public=True),
    ]

    # -- the grace window and reuse ----------------------------------------------------------------------

    def test_retry_inside_the_default_window_then_reuse_after_it(self):
        web = self.client["web"]
        first = self.login()
        second = self.assertTokenSuccess(self.refresh(web, first), refresh=True)["refresh_token"]

        # 55 s after the rotation is inside the default 60 s window: the same successor again.
        self.move_rotation_back(first, 55, from_now=True)
        retry = self.assertTokenSuccess(self.refresh(web, first), refresh=True)
        self.assertEqual(retry["refresh_token"], second, "a retry inside the window must get the same successor")

        # 65 s after it is outside: reuse.
        self.move_rotation_back(first, 65, from_now=True)
        self.assertInvalidGrant(self.refresh(web, first))
        self.assertInvalidGrant(self.refresh(web, second))

    def test_reuse_outside_the_window_revokes_the_family_and_is_audited(self):
        web = self.client["web"]
        first = self.login()
        family = self.family_of(first)
        second = self.assertTokenSuccess(self.refresh(web, first), refresh=True)["refresh_token"]
        other_login = self.login()  # another session of the same user must survive
        audits_before = int(self.db.query("SELECT count(*) FROM audit_events WHERE kind = 'refresh_token_reuse'"))

        self.move_rotation_back(first, 65)
        self.assertInvalidGrant(self.refresh(web, first))
        # The newest token of the family, never used, is dead too ...
        self.assertInvalidGrant(self.refresh(web, second))
        # ... because the family is revoked (committed although the request failed), with an audit event.
        self.assertEqual(self.db.query(f"SELECT revoked_at IS NOT NULL, revoked_reason FROM refresh_families "
                                       f"WHERE id = '{family}'"), "t|reuse")
        audits = self.db.query(f"SELECT user_id, client_id FROM audit_events WHERE kind = 'refresh_token_reuse' "
                               f"AND detail->>'family_id' = '{family}'")
        self.assertEqual(audits, f"{self.user_id('alice')}|web", "one refresh_token_reuse audit event for the family")
        self.assertEqual(int(self.db.query("SELECT count(*) FROM audit_events WHERE kind = 'refresh_token_reuse'")),
                         audits_before + 1)
        # Another login of the same user is a different family and keeps working.
        self.assertTokenSuccess(self.refresh(web, other_login), refresh=True)

    def test_replaying_a_token_whose_successor_was_used_is_reuse_even_inside_the_window(self):
        web = self.client["web"]
        first = self.login()
        second = self.assertTokenSuccess(self.refresh(web, first), refresh=True)["refresh_token"]
        third = self.assertTokenSuccess(self.refresh(web, second), refresh=True)["refresh_token"]
        # `first` was rotated moments ago, but its successor is spent: this is not a retry, it is a replay.
        self.assertInvalidGrant(self.refresh(web, first))
        self.assertInvalidGrant(self.refresh(web, third))

    # -- lifetimes --------------------------------------------------------------------------------------

    def test_lifetimes_are_the_configured_ones(self):
        token = self.login()
        family = self.family_of(token)
        idle = self.refresh_idle_lifetime(token)
        absolute = float(self.db.query(f"SELECT extract(epoch FROM expires_at - created_at) FROM refresh_families "
                                       f"WHERE id = '{family}'"))
        self.assertAlmostEqual(idle, IDLE_TTL, delta=2)
        self.assertAlmostEqual(absolute, MAX_TTL, delta=2)

    def test_idle_expiry(self):
        web = self.client["web"]
        token = self.login()
        self.expire_refresh_token(token)
        self.assertInvalidGrant(self.refresh(web, token))

    def test_idle_expiry_of_a_rotated_token(self):
        web = self.client["web"]
        second = self.assertTokenSuccess(self.refresh(web, self.login()), refresh=True)["refresh_token"]
        self.expire_refresh_token(second)
        self.assertInvalidGrant(self.refresh(web, second))

    def test_absolute_expiry(self):
        web = self.client["web"]
        first = self.login()
        second = self.assertTokenSuccess(self.refresh(web, first), refresh=True)["refresh_token"]
        # The token itself is fresh (idle lifetime ahead of it); only the login's lifetime is over.
        self.db.query(f"UPDATE refresh_families SET expires_at = now() - interval '1 second' "
                      f"WHERE id = '{self.family_of(second)}'")
        self.assertEqual(self.db.query(f"SELECT {sql_refresh_expires(second)} > now()"), "t")
        self.assertInvalidGrant(self.refresh(web, second))

    def test_rotation_never_extends_the_absolute_lifetime(self):
        web = self.client["web"]
        token = self.login()
        family = self.family_of(token)
        expires = self.family_expires(family)
        for _ in range(3):
            token = self.assertTokenSuccess(self.refresh(web, token), refresh=True)["refresh_token"]
            self.assertEqual(self.family_expires(family), expires, "rotation changed the family's expires_at")
            # Each rotation restarts the idle lifetime of the new token ...
            left = float(self.db.query(f"SELECT extract(epoch FROM {sql_refresh_expires(token)} - now())"))
            self.assertAlmostEqual(left, IDLE_TTL, delta=5)

        # ... but never past the family's end: with 100 s of the login left, the successor gets 100 s, not 600.
        self.db.query(f"UPDATE refresh_families SET expires_at = now() + interval '100 seconds' WHERE id = '{family}'")
        expires = self.family_expires(family)
        token = self.assertTokenSuccess(self.refresh(web, token), refresh=True)["refresh_token"]
        self.assertEqual(self.family_expires(family), expires, "rotation changed the family's expires_at")
        self.assertEqual(self.db.query(f"SELECT {sql_refresh_expires(token)} <= expires_at FROM refresh_families "
                                       f"WHERE id = '{family}'"),
                         "t", "a rotated token outlives its family")

    # -- client binding ---------------------------------------------------------------------------------

    def test_another_client_cannot_use_the_token_and_does_not_consume_it(self):
        web, partner, mobile = self.client["web"], self.client["partner"], self.client["mobile"]
        token = self.login("bob", "web")
        self.assertInvalidGrant(self.refresh(partner, token))
        self.assertInvalidGrant(self.refresh(mobile, token))
        self.assertTrue(self.refresh_is_current(token), "another client's attempt consumed the token")
        self.assertTokenSuccess(self.refresh(web, token), refresh=True)

    def test_another_client_cannot_use_a_just_rotated_token_inside_the_window(self):
        web, partner = self.client["web"], self.client["partner"]
        first = self.login("bob", "web")
        second = self.assertTokenSuccess(self.refresh(web, first), refresh=True)["refresh_token"]
        # The grace window answers only the token's own client.
        self.assertInvalidGrant(self.refresh(partner, first))
        self.assertTokenSuccess(self.refresh(web, second), refresh=True)


class Format1DefaultGraceWindowTests(DefaultGraceWindowTests):
    """The same, on a server that issues format 1 (`--refresh-token-format 1`, for rolling upgrades)."""

    serve_args = DefaultGraceWindowTests.serve_args + ["--refresh-token-format", "1"]
    token_format = 1


class PerClientLifetimeTests(RefreshCase):
    """A client's own lifetimes (`client add --access-ttl/--refresh-idle-ttl/--refresh-max-ttl`) win over the server's."""

    serve_args = ["--refresh-idle-ttl", str(IDLE_TTL), "--refresh-max-ttl", str(MAX_TTL), "--access-ttl", "300"]
    users = {"alice": "alice-password"}
    clients = [Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read"),
               Client("short", grants=["password", "refresh_token"], audiences=[API], scope="read",
                      options=["--access-ttl", "60", "--refresh-idle-ttl", "120", "--refresh-max-ttl", "600"])]

    def lifetimes(self, client):
        response = self.password_login(client, "alice")
        token = response["refresh_token"]
        idle = self.refresh_idle_lifetime(token)
        absolute = float(self.db.query(f"SELECT extract(epoch FROM expires_at - created_at) FROM refresh_families "
                                       f"WHERE id = '{self.family_of(token)}'"))
        return response["expires_in"], idle, absolute

    def test_a_clients_own_lifetimes_win(self):
        access, idle, absolute = self.lifetimes("short")
        self.assertEqual(access, 60)
        self.assertAlmostEqual(idle, 120, delta=2)
        self.assertAlmostEqual(absolute, 600, delta=2)

    def test_other_clients_keep_the_servers(self):
        access, idle, absolute = self.lifetimes("web")
        self.assertEqual(access, 300)
        self.assertAlmostEqual(idle, IDLE_TTL, delta=2)
        self.assertAlmostEqual(absolute, MAX_TTL, delta=2)


class WideGraceWindowTests(RefreshCase):
    """Retries and races inside a grace window. The window is wide here so that a slow machine (sanitizers,
    a loaded CI runner) cannot push a retry or a straggler out of it: the point is that nobody gets a second
    branch, and that a retry does not count as reuse."""

    serve_args = ["--refresh-grace", "60"]
    users = {"alice": "alice-password", "bob": "bob-password"}
    clients = [
        Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read write"),
        Client("mobile", grants=["password", "refresh_token"], audiences=[API], scope="read", public=True),
    ]

    def test_a_retry_gets_the_same_successor_and_is_not_reuse(self):
        web = self.client["web"]
        token = self.login()
        first = self.assertTokenSuccess(self.refresh(web, token), refresh=True)
        retry = self.assertTokenSuccess(self.refresh(web, token), refresh=True)
        self.assertEqual(retry["refresh_token"], first["refresh_token"], "a retry must get the same successor")
        self.assertOneSuccessor(token, first["refresh_token"])  # the retry made no second branch
        # The successor still works, and so does its own successor: the retry did not revoke the family.
        second = self.assertTokenSuccess(self.refresh(web, first["refresh_token"]), refresh=True)
        self.assertTokenSuccess(self.refresh(web, second["refresh_token"]), refresh=True)

    def test_race_from_50_connections_gives_everyone_the_same_successor(self):
        web = self.client["web"]
        token = self.login()
        self.assertRaceOutcome(self.race_threads(web, token), token, grace=True)

    def test_race_on_one_http2_connection_gives_everyone_the_same_successor(self):
        web = self.client["web"]
        token = self.login()
        winners = self.assertRaceOutcome(self.race_multiplexed(web, token), token, grace=True)
        # The successor is a working token, and the race did not count as reuse.
        self.assertTokenSuccess(self.refresh(web, winners[0]["refresh_token"]), refresh=True)

    def test_race_of_a_public_client_gives_everyone_the_same_successor(self):
        mobile = self.client["mobile"]
        token = self.login("bob", "mobile")
        winners = self.assertRaceOutcome(self.race_threads(mobile, token), token, grace=True)
        self.assertTokenSuccess(self.refresh(mobile, winners[0]["refresh_token"]), refresh=True)


class NoGraceWindowTests(RefreshCase):
    """`--refresh-grace 0`: strict single use."""

    serve_args = ["--refresh-grace", "0"]
    users = {"carol": "carol-password"}
    clients = [Client("web", grants=["password", "refresh_token"], audiences=[API], scope="read")]

    def test_race_from_50_connections_has_exactly_one_winner(self):
        token = self.login()
        self.assertRaceOutcome(self.race_threads(self.client["web"], token), token, grace=False)

    def test_race_on_one_http2_connection_has_exactly_one_winner(self):
        token = self.login()
        self.assertRaceOutcome(self.race_multiplexed(self.client["web"], token), token, grace=False)

    def test_immediate_retry_is_reuse(self):
        web = self.client["web"]
        first = self.login()
        second = self.assertTokenSuccess(self.refresh(web, first), refresh=True)["refresh_token"]
        self.assertInvalidGrant(self.refresh(web, first))
        self.assertInvalidGrant(self.refresh(web, second))
        self.assertEqual(self.db.query(f"SELECT revoked_reason FROM refresh_families "
                                       f"WHERE id = '{self.family_of(first)}'"), "reuse")


if __name__ == "__main__":
    harness.main()
