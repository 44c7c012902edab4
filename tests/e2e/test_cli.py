"""The admin subcommands as an operator uses them: help, exit statuses, messages."""

import hashlib
import os
import re
import subprocess

import harness

SUBCOMMANDS = (["serve"], ["migrate"], ["user", "add"], ["user", "passwd"], ["user", "list"], ["user", "remove"],
               ["client", "add"], ["client", "list"], ["client", "show"], ["client", "remove"],
               ["client", "rotate-secret"], ["keys", "generate"])


class CliTests(harness.ServiceTestCase):
    start_server = False

    def authsvc(self, *args, input=None):
        """The binary with exactly these arguments (no --db), whatever its exit status."""
        return self.cli.run(*args, input=input, check=False, db=False)

    def assertSucceeds(self, result):
        if result.returncode != 0:
            self.fail("expected exit status 0\n" + harness.describe_process(result))

    def assertFailsWithMessage(self, result):
        if result.returncode == 0 or not result.stderr.strip():
            self.fail("expected a non-zero exit and a message on stderr\n" + harness.describe_process(result))

    def test_help(self):
        for subcommand in SUBCOMMANDS:
            with self.subTest(subcommand=subcommand):
                result = self.authsvc(*subcommand, "--help")
                self.assertSucceeds(result)
                self.assertIn("usage", result.stdout.lower(), harness.describe_process(result))

    def test_unknown_option(self):
        for subcommand in SUBCOMMANDS:
            with self.subTest(subcommand=subcommand):
                self.assertFailsWithMessage(self.authsvc(*subcommand, "--no-such-option"))

    def test_unknown_subcommand(self):
        self.assertFailsWithMessage(self.authsvc("no-such-command"))
        self.assertFailsWithMessage(self.authsvc("user", "no-such-command"))

    def test_missing_arguments(self):
        for args in (["user", "add"], ["user", "passwd"], ["client", "add"], ["serve", "--listen"]):
            with self.subTest(args=args):
                self.assertFailsWithMessage(self.cli.run(*args, check=False) if args[0] != "serve"
                                            else self.authsvc(*args))

    def test_option_errors_name_the_option_and_its_bounds(self):
        """Every command reads its options through one parser: a bad number names the option and its range."""
        cases = [(["client", "add", "svc", "--access-ttl", "0"], "--access-ttl: invalid number (1 to 86400): 0"),
                 (["client", "add", "svc", "--refresh-idle-ttl", "x"], "--refresh-idle-ttl: invalid number"),
                 (["user", "add", "kim", "--password-min-length", "300"],
                  "--password-min-length: invalid number (1 to 256): 300"),
                 (["keys", "rotate", "--publish-lead", "-5"], "--publish-lead: invalid number (0 to 2592000): -5"),
                 (["keys", "generate", "--alg", "HS256"], "unsupported algorithm: HS256"),
                 (["client", "list", "--grant", "password"], "client list takes no option but --db"),
                 (["client", "remove", "x", "--public"], "client remove takes no option but --db"),
                 (["client", "rotate-secret"], "expected: client rotate-secret CLIENT_ID"),
                 (["user", "list", "extra"], "expected: user list"),
                 (["migrate", "extra"], "unexpected argument: extra")]
        for args, message in cases:
            with self.subTest(args=args):
                result = self.authsvc(*args)
                self.assertEqual(result.returncode, 2, harness.describe_process(result))
                self.assertIn(message, result.stderr)
                self.assertIn("usage", result.stderr)

    def test_migrate_twice(self):
        self.assertSucceeds(self.cli.run("migrate", check=False))
        self.assertSucceeds(self.cli.run("migrate", check=False))

    def test_add_existing_user(self):
        self.assertSucceeds(self.cli.run("user", "add", "frank", input="frank-pw-1\n", check=False))
        self.assertFailsWithMessage(self.cli.run("user", "add", "frank", input="frank-pw-2\n", check=False))

    def test_passwd_unknown_user(self):
        self.assertFailsWithMessage(self.cli.run("user", "passwd", "nobody", input="nobody-pw\n", check=False))

    def assertRefused(self, result, rule):
        self.assertFailsWithMessage(result)
        self.assertIn(rule, result.stderr, harness.describe_process(result))

    def test_weak_passwords_are_refused(self):
        """NIST SP 800-63B: 8 characters at least, not a common password (NFKC, any case), valid UTF-8; the
        reason is told and the password never echoed."""
        cases = [("short12", "at least 8 characters"),
                 ("password1", "commonly used"),
                 ("PassWord1", "commonly used"),
                 ("\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44", "commonly used"),  # fullwidth "password"
                 ("x" * 1025, "longer than 1024 bytes")]
        self.assertSucceeds(self.cli.run("user", "add", "holly", input="holly-first-pw\n", check=False))
        for action in ("add", "passwd"):
            for password, rule in cases:
                with self.subTest(action=action, password=password[:12]):
                    result = self.cli.run("user", action, "iris" if action == "add" else "holly",
                                          input=password + "\n", check=False)
                    self.assertRefused(result, rule)
                    self.assertNotIn(password, result.stderr + result.stdout)
        self.assertEqual(self.db.query("SELECT count(*) FROM users WHERE username = 'iris'"), "0")
        # invalid UTF-8 goes through standard input as bytes
        result = subprocess.run([self.cli.bin, "user", "add", "iris", "--db", self.db.conninfo], input=b"abcdefgh\xff\n",
                                capture_output=True, timeout=60)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(b"not valid UTF-8", result.stderr)

    def test_password_min_length_is_configurable(self):
        self.assertRefused(self.cli.run("user", "add", "jack", "--password-min-length", "16",
                                        input="jack-pass-15chr\n", check=False), "at least 16 characters")
        self.assertSucceeds(self.cli.run("user", "add", "jack", "--password-min-length", "16",
                                         input="jack-pass-16chars\n", check=False))
        self.assertFailsWithMessage(self.cli.run("user", "add", "jack2", "--password-min-length", "0",
                                                 input="jack-pass-16chars\n", check=False))

    def test_add_existing_client(self):
        self.assertSucceeds(self.cli.run("client", "add", "dup", "--grant", "client_credentials", check=False))
        self.assertFailsWithMessage(self.cli.run("client", "add", "dup", "--grant", "client_credentials",
                                                 check=False))

    def test_client_add_rejects_bad_grants(self):
        self.assertFailsWithMessage(self.cli.run("client", "add", "bad-grant", "--grant", "implicit", check=False))
        # A public client has no secret to prove client_credentials with.
        self.assertFailsWithMessage(self.cli.run("client", "add", "public-cc", "--public", "--grant",
                                                 "client_credentials", check=False))

    def test_confidential_clients_get_distinct_secrets(self):
        first = self.cli.add_client("secret-1", grants=["client_credentials"])
        second = self.cli.add_client("secret-2", grants=["client_credentials"])
        self.assertNotEqual(first, second)
        self.assertGreaterEqual(len(first), 32, "a client secret needs real entropy")

    def test_client_add_output_is_unchanged_for_the_existing_options(self):
        result = self.cli.run("client", "add", "plain-svc", "--grant", "client_credentials", "--audience", "api",
                              "--scope", "read write")
        self.assertRegex(result.stdout, r"\Aclient plain-svc added \(confidential; grants \{client_credentials\}; "
                                        r"audiences \{api\}; scopes \{read,write\}\)\n"
                                        r"client secret \(shown only once\):\n[A-Za-z0-9_-]{43}\n\Z")
        result = self.cli.run("client", "add", "plain-app", "--public", "--grant", "password")
        self.assertEqual(result.stdout, "client plain-app added (public; grants {password}; audiences {}; scopes {})\n")

    def test_authorization_code_needs_a_redirect_uri(self):
        result = self.cli.run("client", "add", "no-redirect", "--grant", "authorization_code", check=False)
        self.assertFailsWithMessage(result)
        self.assertEqual(result.returncode, 2, harness.describe_process(result))
        self.assertIn("--redirect-uri", result.stderr)
        # the schema's own refusal would print the failing row, the secret's hash with it
        self.assertNotIn("DETAIL", result.stderr)
        self.assertNotIn("\\x", result.stderr)
        self.assertFailsWithMessage(self.cli.run("client", "show", "no-redirect", check=False))

    def test_redirect_uris_that_cannot_be_registered(self):
        for uri in ("/callback", "app.example/cb", "https://app.example/cb#top", "https://*.app.example/cb",
                    "https://app.example/*", "http://app.example/cb", "http://localhost:8080/cb",
                    "https://user@app.example/cb", "javascript:alert(1)", "myapp:/cb", "https://app.example/a b",
                    "https://app.example/" + "a" * 2100):
            for option in ("--redirect-uri", "--post-logout-redirect-uri"):
                with self.subTest(uri=uri[:60], option=option):
                    args = ["client", "add", "bad-uri", "--public", "--grant", "authorization_code"]
                    args += [option, uri] if option == "--redirect-uri" else ["--redirect-uri",
                                                                             "https://app.example/cb", option, uri]
                    result = self.cli.run(*args, check=False)
                    self.assertFailsWithMessage(result)
                    self.assertEqual(result.returncode, 2, harness.describe_process(result))
        # redirect URIs belong to clients that sign users in
        self.assertFailsWithMessage(self.cli.run("client", "add", "bad-uri", "--grant", "client_credentials",
                                                 "--redirect-uri", "https://app.example/cb", check=False))
        self.assertFailsWithMessage(self.cli.run("client", "add", "bad-uri", "--public", "--grant", "password",
                                                 "--consent", check=False))
        self.assertFailsWithMessage(self.cli.run("client", "show", "bad-uri", check=False))

    def test_browser_client_list_and_show(self):
        add = self.cli.run("client", "add", "web-app", "--public", "--grant", "authorization_code", "--grant",
                           "refresh_token", "--redirect-uri", "https://app.example/cb", "--redirect-uri",
                           "http://127.0.0.1/cb", "--redirect-uri", "com.example.app:/oauth2redirect",
                           "--post-logout-redirect-uri", "https://app.example/bye", "--scope", "openid profile",
                           "--audience", "https://api.example", "--name", "Wéb App", "--keep-refresh-on-logout")
        self.assertTrue(add.stdout.startswith("client web-app added (public; grants "
                                              "{authorization_code,refresh_token}; audiences {https://api.example}; "
                                              "scopes {openid,profile})\n"), add.stdout)
        third = self.cli.run("client", "add", "partner", "--grant", "authorization_code", "--redirect-uri",
                             "https://partner.example/cb", "--consent", "--name", "Partner")
        secret = third.stdout.strip().splitlines()[-1]
        self.cli.run("client", "add", "svc-listed", "--grant", "client_credentials")

        listing = self.cli.run("client", "list").stdout
        lines = {line.split()[0]: line for line in listing.splitlines()}
        self.assertRegex(lines["web-app"], r"^web-app +public +authorization_code,refresh_token +Wéb App$")
        self.assertRegex(lines["partner"], r"^partner +confidential +authorization_code +Partner$")
        self.assertRegex(lines["svc-listed"], r"^svc-listed +confidential +client_credentials$")

        show = self.cli.run("client", "show", "web-app").stdout
        fields = dict(re.match(r"(\S+) +(.*)", line).groups() for line in show.splitlines() if not line.startswith(" "))
        self.assertEqual(fields["client_id"], "web-app")
        self.assertTrue(fields["type"].startswith("public"), show)
        self.assertEqual(fields["client_name"], "Wéb App")
        self.assertEqual(fields["grant_types"], "authorization_code refresh_token")
        self.assertEqual(fields["scope"], "openid profile")
        self.assertEqual(fields["audiences"], "https://api.example")
        self.assertEqual(fields["post_logout_redirect_uris"], "https://app.example/bye")
        self.assertTrue(fields["logout_revokes_refresh"].startswith("no"), show)
        for uri in ("https://app.example/cb", "http://127.0.0.1/cb", "com.example.app:/oauth2redirect"):
            self.assertIn(uri, show)

        show = self.cli.run("client", "show", "partner").stdout
        self.assertIn("confidential", show)
        self.assertRegex(show, r"(?m)^consent +required")
        # never the secret, nor the hash the database keeps of it
        for text in (listing, show):
            self.assertNotIn(secret, text)
            self.assertNotIn(hashlib.sha256(secret.encode()).hexdigest(), text)
        self.assertFailsWithMessage(self.cli.run("client", "show", "nobody", check=False))
        self.assertFailsWithMessage(self.cli.run("client", "list", "extra", check=False))

    def test_keys_generate_each_algorithm(self):
        for alg in ("ES256", "EdDSA", "RS256"):
            with self.subTest(alg=alg):
                keys_dir = os.path.join(self.workdir, "keys-" + alg)
                os.mkdir(keys_dir, 0o700)
                self.assertSucceeds(self.cli.run("keys", "generate", "--alg", alg, "--keys", keys_dir, db=False,
                                                 check=False))
                self.assertTrue(os.listdir(keys_dir), "keys generate wrote nothing")
                for name in os.listdir(keys_dir):
                    path = os.path.join(keys_dir, name)
                    with open(path, "rb") as f:
                        private = b"PRIVATE KEY" in f.read()
                    if private:
                        self.assertEqual(os.stat(path).st_mode & 0o077, 0, f"{path} is readable by others")
        self.assertFailsWithMessage(self.authsvc("keys", "generate", "--alg", "HS256", "--keys", self.workdir))


if __name__ == "__main__":
    harness.main()
