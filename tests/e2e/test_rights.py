"""Introspection (RFC 7662) and the revocation feed only for clients granted them (`client add --allow
introspection --allow revocation-feed`).

- A client authenticates first (a wrong secret is 401 invalid_client, as before); an authenticated client without
  the right gets 403 unauthorized_client, no-store, and learns nothing about the token. With the right it works.
- A public client may be granted introspection (of the tokens issued to it only), never the feed.
- `client show` and `client list` print the rights; an unknown right is refused.
- Upgrading: clients registered before migration 0005 keep what they could do (confidential: both rights,
  public: introspection), and new clients get none."""

import os
import shutil
import tempfile

import harness
from harness import API, FEED_PATH, INTROSPECT_PATH, Client
from test_openapi import DocumentAssertions

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "migrations")


class RightsTests(DocumentAssertions, harness.ServiceTestCase):
    users = {"alice": "alice-password"}
    clients = [
        Client("plain", grants=["password", "client_credentials"], audiences=[API], scope="read"),
        Client("rs-introspect", grants=["client_credentials"], audiences=[API], scope="read",
               options=["--allow", "introspection"]),
        Client("rs-feed", grants=["client_credentials"], audiences=[API], scope="read",
               options=["--allow", "revocation-feed"]),
        Client("app", grants=["password"], audiences=[API], scope="read", public=True),
        Client("app-introspect", grants=["password"], audiences=[API], scope="read", public=True,
               options=["--allow", "introspection"]),
    ]

    def introspect(self, client, token):
        return self.http.post_form_as(INTROSPECT_PATH, client, {"token": token})[0]

    def feed(self, client):
        return self.http.get(FEED_PATH, basic=client.basic)

    def assertNotAllowed(self, response):
        self.assertComponentResponse("ClientNotAllowed", response, 403)
        body = self.assertOAuthError(response, 403, "unauthorized_client")
        self.assertNotIn("active", body)
        self.assertNotIn("cursor", body)
        self.assertNotIn("sub", body)
        return body

    def test_introspection_needs_the_right(self):
        token = self.password_login("plain", "alice")["access_token"]
        self.assertNotAllowed(self.introspect(self.client["plain"], token))
        self.assertNotAllowed(self.introspect(self.client["rs-feed"], token))
        body = self.assertJson(self.introspect(self.client["rs-introspect"], token))
        self.assertIs(body.get("active"), True, body)
        # authentication comes first: a wrong secret is still 401, whatever the client's rights
        self.assertInvalidClient(self.http.post_form(INTROSPECT_PATH, {"token": token}, basic=("plain", "wrong")))
        self.assertInvalidClient(self.http.post_form(INTROSPECT_PATH, {"token": token},
                                                     basic=("rs-introspect", "wrong")))

    def test_a_public_client_with_the_right_introspects_its_own_tokens_only(self):
        own = self.password_login("app-introspect", "alice")["access_token"]
        foreign = self.password_login("plain", "alice")["access_token"]
        self.assertIs(self.assertJson(self.introspect(self.client["app-introspect"], own)).get("active"), True)
        self.assertIs(self.assertJson(self.introspect(self.client["app-introspect"], foreign)).get("active"), False)
        self.assertNotAllowed(self.introspect(self.client["app"], self.password_login("app", "alice")["access_token"]))

    def test_the_feed_needs_the_right(self):
        for name in ("plain", "rs-introspect"):
            with self.subTest(client=name):
                self.assertNotAllowed(self.feed(self.client[name]))
        body = self.assertJson(self.feed(self.client["rs-feed"]))
        self.assertIn("cursor", body)
        self.assertInvalidClient(self.http.get(FEED_PATH, basic=("rs-feed", "wrong")))

    def test_show_and_list_print_the_rights(self):
        show = self.cli.run("client", "show", "rs-feed").stdout
        self.assertRegex(show, r"(?m)^rights +revocation-feed$")
        self.assertRegex(self.cli.run("client", "show", "plain").stdout, r"(?m)^rights +\(none")
        lines = {line.split()[0]: line for line in self.cli.run("client", "list").stdout.splitlines()}
        self.assertRegex(lines["rs-introspect"], r"^rs-introspect +confidential +client_credentials +allow:introspection$")
        self.assertRegex(lines["plain"], r"^plain +confidential +password,client_credentials$")
        both = self.cli.run("client", "add", "rs-both", "--allow", "introspection", "--allow", "revocation-feed",
                            "--allow", "introspection").stdout
        self.assertIn("allowed: introspection revocation-feed", both)
        self.assertRegex(self.cli.run("client", "show", "rs-both").stdout, r"(?m)^rights +introspection revocation-feed$")

    def test_rights_the_cli_refuses(self):
        for args, message in ((["--allow", "everything"], "unknown --allow everything"),
                              (["--public", "--grant", "password", "--allow", "revocation-feed"],
                               "a public client cannot read the revocation feed")):
            with self.subTest(args=args):
                result = self.cli.run("client", "add", "refused", *args, check=False)
                self.assertNotEqual(result.returncode, 0)
                self.assertIn(message, result.stderr)
        self.assertEqual(self.db.query("SELECT count(*) FROM clients WHERE client_id = 'refused'").strip(), "0")
        # and the schema itself, for rows written by other means
        with self.assertRaises(harness.HarnessError) as refused:
            self.db.query("UPDATE clients SET rights = '{revocation-feed}' WHERE client_id = 'app'")
        self.assertIn("clients_feed_needs_secret", str(refused.exception))


class UpgradeTests(harness.ServiceTestCase):
    """Clients registered before migration 0005 keep what they could do; clients added after get nothing unasked."""

    start_server = False

    def test_clients_from_before_keep_their_rights(self):
        db = harness.Database()
        db.create()
        self.addCleanup(db.drop)
        old = tempfile.mkdtemp(prefix="migrations-0004-", dir=self.workdir)
        for name in sorted(os.listdir(MIGRATIONS)):
            if name.endswith(".sql") and name < "0005":
                shutil.copy(os.path.join(MIGRATIONS, name), old)
        cli = harness.Cli(db)
        cli.run("migrate", "--migrations", old)
        db.query("INSERT INTO clients (client_id, secret_hash, public, grant_types)"
                 " VALUES ('old-rs', sha256('x'), false, '{client_credentials}'),"
                 " ('old-app', NULL, true, '{password}')")
        cli.run("migrate", "--migrations", MIGRATIONS)
        rights = dict(line.split("|") for line in
                      db.query("SELECT client_id, array_to_string(rights, ' ') FROM clients ORDER BY 1").splitlines())
        self.assertEqual(rights, {"old-app": "introspection", "old-rs": "introspection revocation-feed"})
        cli.add_client("new-rs", grants=["client_credentials"])
        self.assertEqual(db.query("SELECT cardinality(rights) FROM clients WHERE client_id = 'new-rs'").strip(), "0")


if __name__ == "__main__":
    harness.main()
