"""A newcomer's first hour, tried as they would: the help, a password typed on a terminal, the commands an
operator reaches for (user list|remove, client remove|rotate-secret), keys from another directory, a server
started on port 0 or on every address, and deploy/run's help, env and lock."""

import errno
import fcntl
import os
import pty
import re
import select
import shutil
import socket
import subprocess
import tempfile
import termios
import time
import unittest

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI_DIR = os.path.join(ROOT, "authsvc", "cli")
TTY_TIMEOUT = 60  # seconds for the CLI to print its next prompt on the pseudo-terminal


def read_source(name):
    with open(os.path.join(CLI_DIR, name), encoding="utf-8") as f:
        return f.read()


def dispatcher_words():
    """What the dispatcher accepts: main.c's command table, and the action words each command compares."""
    commands = re.findall(r'\{"([a-z-]+)", as_cli_\w+\}', read_source("main.c"))
    actions = {}
    for command, source in (("user", "user.c"), ("client", "client.c"), ("keys", "keys.c")):
        actions[command] = set(re.findall(r'strcmp\((?:r->action|r\.action|action|argv\[first\]), "([a-z-]+)"\)',
                                         read_source(source)))
    return commands, actions


class Terminal:
    """The CLI on a pseudo-terminal of its own (its controlling terminal), as someone typing would run it."""

    def __init__(self, args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execv(args[0], args)
            finally:
                os._exit(127)
        self.output = b""

    def read_until(self, text):
        deadline = time.monotonic() + TTY_TIMEOUT
        while text.encode() not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} on the terminal; it shows {self.output!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = self._read()
                if not chunk:
                    raise AssertionError(f"the terminal closed before {text!r}; it shows {self.output!r}")
                self.output += chunk

    def _read(self):
        try:
            return os.read(self.fd, 4096)
        except OSError as e:  # EIO: the child closed its side
            if e.errno == errno.EIO:
                return b""
            raise

    def echo_is_on(self):
        return bool(termios.tcgetattr(self.fd)[3] & termios.ECHO)

    def type(self, line):
        os.write(self.fd, line.encode() + b"\n")

    def finish(self):
        """Reads the rest; returns the exit status."""
        while True:
            ready, _, _ = select.select([self.fd], [], [], TTY_TIMEOUT)
            if not ready:
                os.kill(self.pid, 9)
                raise AssertionError(f"the command did not end; the terminal shows {self.output!r}")
            chunk = self._read()
            if not chunk:
                break
            self.output += chunk
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


class HelpTests(unittest.TestCase):
    def authsvc(self, *args):
        return harness.run([harness.authsvc_bin(), *args], check=False)

    def test_help_lists_every_command_the_dispatcher_accepts(self):
        result = self.authsvc("--help")
        self.assertEqual(result.returncode, 0, harness.describe_process(result))
        lines = result.stdout.splitlines()
        commands, actions = dispatcher_words()
        self.assertGreaterEqual(len(commands), 7, "the command table was not found in main.c")
        for command in commands:
            with self.subTest(command=command):
                self.assertTrue(any(re.match(rf"\s+{command}\b", line) for line in lines),
                                f"`authsvc --help` does not list {command}")
        for command, words in actions.items():
            self.assertGreaterEqual(len(words), 3, f"no actions found for {command}")
            listed = " ".join(line for line in lines if re.match(rf"\s+{command}\b", line))
            for word in words:
                with self.subTest(command=command, action=word):
                    self.assertRegex(listed, rf"(?<![\w-]){re.escape(word)}(?![\w-])",
                                     f"`authsvc --help` does not list `{command} {word}`")
        self.assertIn("--version", result.stdout)

    def test_version(self):
        result = self.authsvc("--version")
        self.assertEqual(result.returncode, 0)
        self.assertRegex(result.stdout, r"^authsvc \d+\.\d+")

    def test_every_listed_command_takes_help(self):
        for line in self.authsvc("--help").stdout.splitlines():
            match = re.match(r"  ([a-z]+) ", line)
            if match:
                with self.subTest(command=match.group(1)):
                    result = self.authsvc(match.group(1), "--help")
                    self.assertEqual(result.returncode, 0, harness.describe_process(result))


class KeysDirectoryTests(unittest.TestCase):
    def test_keys_from_another_directory_say_where_they_looked(self):
        elsewhere = tempfile.mkdtemp(prefix="authsvc-elsewhere-")
        self.addCleanup(shutil.rmtree, elsewhere, ignore_errors=True)
        for args in (["list"], ["rotate"], ["prune"], ["retire", "x" * 43]):
            with self.subTest(args=args):
                result = subprocess.run([harness.authsvc_bin(), "keys", *args], cwd=elsewhere, capture_output=True,
                                        text=True, timeout=60)
                self.assertEqual(result.returncode, 1, harness.describe_process(result))
                self.assertIn(os.path.join(os.path.realpath(elsewhere), "keys"), result.stderr)
                self.assertIn("--keys DIR", result.stderr)


class TerminalPasswordTests(harness.ServiceTestCase):
    start_server = False

    def terminal(self, *args):
        return Terminal([harness.authsvc_bin(), "user", *args, "--db", self.db.conninfo])

    def test_add_asks_twice_without_echo(self):
        term = self.terminal("add", "tina")
        term.read_until("Password: ")
        self.assertFalse(term.echo_is_on(), "the password would be shown")
        term.type("tina-typed-pw-1")
        term.read_until("Again: ")
        self.assertFalse(term.echo_is_on())
        term.type("tina-typed-pw-1")
        status = term.finish()
        self.assertEqual(status, 0, term.output)
        self.assertNotIn(b"tina-typed-pw-1", term.output)
        self.assertIn(b"user tina added", term.output)
        self.assertEqual(self.db.query("SELECT count(*) FROM users WHERE username = 'tina'"), "1")

    def test_a_mismatch_is_refused(self):
        term = self.terminal("add", "uma")
        term.read_until("Password: ")
        term.type("uma-typed-pw-1")
        term.read_until("Again: ")
        term.type("uma-typed-pw-2")
        status = term.finish()
        self.assertNotEqual(status, 0)
        self.assertIn(b"do not match", term.output)
        self.assertNotIn(b"uma-typed-pw", term.output)
        self.assertEqual(self.db.query("SELECT count(*) FROM users WHERE username = 'uma'"), "0")

    def test_passwd_on_a_terminal(self):
        self.cli.add_user("vera", "vera-first-pw")
        before = self.db.query("SELECT password_hash FROM users WHERE username = 'vera'")
        term = self.terminal("passwd", "vera")
        term.read_until("Password: ")
        self.assertFalse(term.echo_is_on())
        term.type("vera-second-pw")
        term.read_until("Again: ")
        term.type("vera-second-pw")
        self.assertEqual(term.finish(), 0, term.output)
        self.assertNotEqual(self.db.query("SELECT password_hash FROM users WHERE username = 'vera'"), before)

    def test_not_a_terminal_reads_one_line(self):
        result = self.cli.run("user", "add", "walt", input="walt-piped-pw\n")
        self.assertNotIn("Password", result.stdout + result.stderr)


class AdminCommandTests(harness.ServiceTestCase):
    # the client cache would let a removed client or an old secret work for its TTL: the test wants "at once"
    serve_args = ("--client-cache-ttl", "0")
    users = {"ann": "ann-first-pw-1", "bob": "bob-first-pw-1"}
    clients = [harness.Client("app", grants=["password", "refresh_token"], audiences=[harness.API], scope="read",
                              public=True),
               harness.Client("svc", grants=["client_credentials"], audiences=[harness.API], scope="read"),
               harness.Client("doomed", grants=["password", "refresh_token"], audiences=[harness.API], scope="read",
                              public=True)]

    def service_token(self, secret):
        return self.http.token({"grant_type": "client_credentials"}, basic=("svc", secret))

    def test_user_list_never_shows_the_hash(self):
        listing = self.cli.run("user", "list").stdout
        lines = listing.splitlines()
        self.assertRegex(lines[0], r"^USERNAME +ID +DISABLED +CREATED$")
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        self.assertEqual(rows["ann"][1], self.db.user_id("ann"))
        self.assertEqual(rows["ann"][2], "no")
        self.assertRegex(rows["ann"][3], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertNotIn("$argon2", listing)
        self.cli.run("user", "disable", "bob")
        rows = {line.split()[0]: line.split() for line in self.cli.run("user", "list").stdout.splitlines()[1:]}
        self.assertEqual(rows["bob"][2], "yes")

    def test_user_remove_revokes_and_deletes(self):
        self.cli.add_user("carl", "carl-first-pw-1")
        user_id = self.db.user_id("carl")
        tokens = self.password_login(self.client["app"], "carl", "carl-first-pw-1")
        result = self.cli.run("user", "remove", "carl")
        self.assertIn(user_id, result.stdout)
        self.assertEqual(self.db.query("SELECT count(*) FROM users WHERE username = 'carl'"), "0")
        self.assertEqual(self.refresh(self.client["app"], tokens["refresh_token"]).status, 400)
        # offline verifiers learn it from the feed; the audit trail keeps who it was
        self.assertEqual(self.db.query(f"SELECT count(*) FROM revocation_events WHERE subject = '{user_id}'"), "1")
        self.assertEqual(self.db.query("SELECT detail->>'username', detail->>'families_revoked' FROM audit_events"
                                       f" WHERE kind = 'user_remove' AND user_id = '{user_id}'"), "carl|1")
        self.assertNotIn("carl", self.cli.run("user", "list").stdout)
        # the name is free again, for a new user with another id
        self.cli.add_user("carl", "carl-other-pw-2")
        self.assertNotEqual(self.db.user_id("carl"), user_id)
        missing = self.cli.run("user", "remove", "nobody", check=False)
        self.assertEqual(missing.returncode, 1)
        self.assertIn("no user named nobody", missing.stderr)

    def test_client_remove_revokes_its_tokens(self):
        tokens = self.password_login(self.client["doomed"], "ann", "ann-first-pw-1")
        result = self.cli.run("client", "remove", "doomed")
        self.assertIn("1 refresh token families", result.stdout)
        self.assertEqual(self.db.query("SELECT count(*) FROM refresh_families WHERE client_id = 'doomed'"), "0")
        self.assertEqual(self.db.query("SELECT detail->>'families_revoked' FROM audit_events"
                                       " WHERE kind = 'client_remove' AND client_id = 'doomed'"), "1")
        answer = self.refresh(self.client["doomed"], tokens["refresh_token"])
        self.assertIn(answer.status, (400, 401), answer)
        self.assertNotIn("doomed", self.cli.run("client", "list").stdout)
        missing = self.cli.run("client", "remove", "doomed", check=False)
        self.assertEqual(missing.returncode, 1)
        self.assertIn("no client doomed", missing.stderr)

    def test_rotate_secret(self):
        old = self.client["svc"].secret
        self.assertEqual(self.service_token(old).status, 200)
        result = self.cli.run("client", "rotate-secret", "svc")
        new = result.stdout.strip().splitlines()[-1]
        self.assertRegex(new, r"^[A-Za-z0-9_-]{43}$")
        self.assertNotEqual(new, old)
        self.assertEqual(self.service_token(new).status, 200)
        self.assertEqual(self.service_token(old).status, 401)
        self.client["svc"].secret = new
        self.assertEqual(self.db.query("SELECT count(*) FROM audit_events WHERE kind = 'client_rotate_secret'"
                                       " AND client_id = 'svc'"), "1")
        public = self.cli.run("client", "rotate-secret", "app", check=False)
        self.assertEqual(public.returncode, 1)
        self.assertIn("public", public.stderr)
        self.assertEqual(self.cli.run("client", "rotate-secret", "nobody", check=False).returncode, 1)


class DefaultIssuerTests(harness.ServiceTestCase):
    start_server = False

    def serve_without_issuer(self, listen):
        log_dir = tempfile.mkdtemp(prefix="serve-", dir=self.workdir)
        server = harness.Server(self.db, self.keys_dir, log_dir)
        i = server.args.index("--issuer")
        del server.args[i:i + 2]
        server.args[server.args.index("--listen") + 1] = listen
        return server

    def test_port_zero_gives_the_port_bound(self):
        server = self.serve_without_issuer("127.0.0.1:0")
        server.start()
        self.addCleanup(server.stop_cleanly)
        expected = f"http://127.0.0.1:{server.port}"
        http = harness.Http(server, self.workdir)
        for path in harness.METADATA_PATHS:
            doc = http.get(path).json()
            self.assertEqual(doc["issuer"], expected)
            self.assertEqual(doc["token_endpoint"], expected + harness.TOKEN_PATH)
        with open(server.stdout_path, encoding="utf-8") as f:
            self.assertIn(f"issuer {expected}\n", f.read())

    def test_a_wildcard_address_needs_an_issuer(self):
        for listen in ("0.0.0.0:0", "[::]:0"):
            with self.subTest(listen=listen):
                server = self.serve_without_issuer(listen)
                result = harness.run(server.args, check=False)
                self.assertEqual(result.returncode, 2, harness.describe_process(result))
                self.assertIn("--listen on a wildcard address needs --issuer (the URL clients use)", result.stderr)


class DeployRunTests(unittest.TestCase):
    """deploy/run's arguments, on a copy of the scripts (their checkout is the copy: its own .local/)."""

    def setUp(self):
        self.checkout = tempfile.mkdtemp(prefix="authsvc-checkout-")
        self.addCleanup(shutil.rmtree, self.checkout, ignore_errors=True)
        os.chmod(self.checkout, 0o755)  # as root, the postgres user must be able to enter it, as in a real checkout
        os.mkdir(os.path.join(self.checkout, "deploy"))
        for name in ("run", "pgcluster"):
            shutil.copy2(os.path.join(ROOT, "deploy", name), os.path.join(self.checkout, "deploy", name))
        self.script = os.path.join(self.checkout, "deploy", "run")
        self.state = os.path.join(self.checkout, ".local")

    def run_script(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return subprocess.run([self.script, *args], capture_output=True, text=True, timeout=60, env=env,
                              cwd=self.checkout)

    def assertStartsNothing(self):
        self.assertFalse(os.path.exists(os.path.join(self.checkout, "build")), "it started building")
        self.assertFalse(os.path.exists(os.path.join(self.state, "pg")), "it created a cluster")

    def test_help(self):
        for arg in ("--help", "-h"):
            result = self.run_script(arg)
            self.assertEqual(result.returncode, 0, harness.describe_process(result))
            self.assertIn("usage: deploy/run", result.stdout)
            self.assertIn("deploy/run env", result.stdout)
        self.assertStartsNothing()

    def test_unknown_argument(self):
        result = self.run_script("--bogus")
        self.assertEqual(result.returncode, 2)
        self.assertIn("unknown argument: --bogus", result.stderr)
        self.assertIn("usage: deploy/run", result.stderr)
        self.assertStartsNothing()

    def test_env_without_a_database(self):
        result = self.run_script("env")
        self.assertEqual(result.returncode, 1)
        self.assertIn("run deploy/run first", result.stderr)
        self.assertEqual(result.stdout, "")

    def test_env_of_a_stopped_database(self):
        """A cluster that exists but does not run: absolute exports, and a word that it is not running."""
        os.makedirs(os.path.join(self.state, "pg", "data"))
        with open(os.path.join(self.state, "pg", "data", "PG_VERSION"), "w") as f:
            f.write("15\n")
        result = self.run_script("env")
        self.assertIn("not running", result.stderr)
        self.assertNotEqual(result.returncode, 0)
        env = dict(re.findall(r"(PG\w+)='([^']*)'", result.stdout))
        self.assertEqual(env["PGHOST"], os.path.join(self.state, "pg"))
        self.assertTrue(os.path.isabs(env["PGHOST"]))
        self.assertEqual(env["PGDATABASE"], "authsvc")
        self.assertRegex(env["PGPORT"], r"^\d+$")
        self.assertTrue(env["PGUSER"])
        # the lines are shell: eval sets them
        shell = subprocess.run(["bash", "-c", f'eval "$({self.script} env 2>/dev/null)"; echo "$PGHOST $PGDATABASE"'],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(shell.stdout.strip(), f"{env['PGHOST']} authsvc")
        self.assertFalse(os.path.exists(os.path.join(self.checkout, "build")), "it started building")

    def test_a_second_run_refuses_at_once(self):
        """While one deploy/run holds the checkout's lock, another refuses before starting or stopping anything."""
        os.makedirs(self.state)
        with open(os.path.join(self.state, "run.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with open(os.path.join(self.state, "run.pid"), "w") as f:
                f.write("4242\n")
            result = self.run_script()
        self.assertEqual(result.returncode, 1, harness.describe_process(result))
        self.assertIn("another deploy/run is already running from this checkout (pid 4242)", result.stderr)
        self.assertStartsNothing()


if __name__ == "__main__":
    harness.main()
