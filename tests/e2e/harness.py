"""Shared machinery for the end-to-end tests.

Each test class that derives from ServiceTestCase gets its own world: a fresh PostgreSQL database
(migrated with `authsvc migrate`), a fresh signing-key directory (`authsvc keys generate`), the users and
clients it declares (created with the CLI), and one running `authsvc serve` on an ephemeral port.
Everything is torn down at the end of the class; the server must then exit 0 on SIGTERM.

Requests go through clients nobody here wrote: curl (HTTP/2 prior knowledge, HTTP/1.1, h2c Upgrade),
nghttp, h2load; tokens are checked with PyJWT against the JWKS the server publishes.

Environment: AUTHSVC_BIN (the binary), PGHOST/PGPORT/PGUSER (a throwaway cluster, PGUSER a superuser),
AUTHSVC_PG_CTL (a `stop`/`start` script for that cluster; only the outage test uses it).
"""

import base64
import http.client
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import jwt

ISSUER = "http://127.0.0.1"
TOKEN_PATH = "/oauth2/token"
JWKS_PATH = "/.well-known/jwks.json"
FORM_TYPE = "application/x-www-form-urlencoded"

STARTUP_TIMEOUT = 30  # seconds for `serve` to print its port
SHUTDOWN_TIMEOUT = 10  # seconds for `serve` to exit after SIGTERM
REQUEST_TIMEOUT = 15  # curl --max-time: every request must be answered well within this

_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


class HarnessError(Exception):
    """The test environment itself is broken (missing binary, database unreachable, ...)."""


def _require_env(name):
    value = os.environ.get(name)
    if not value:
        raise HarnessError(f"environment variable {name} is not set (run the e2e tests through ctest, "
                           f"or set AUTHSVC_BIN and PGHOST/PGPORT/PGUSER yourself)")
    return value


def authsvc_bin():
    path = _require_env("AUTHSVC_BIN")
    if not os.access(path, os.X_OK):
        raise HarnessError(f"AUTHSVC_BIN={path} is not an executable file")
    return path


def _tool(name):
    path = shutil.which(name)
    if path is None:
        raise HarnessError(f"{name} is not installed")
    return path


def _tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


def describe_process(result):
    """A failure message for a finished subprocess.CompletedProcess."""
    return (f"command: {' '.join(result.args)}\nexit status: {result.returncode}\n"
            f"--- stdout ---\n{_tail(result.stdout)}\n--- stderr ---\n{_tail(result.stderr)}")


def run(args, *, input=None, timeout=60, check=True):
    """Runs a command to completion (text mode) and returns the CompletedProcess.

    With check=True a non-zero exit raises HarnessError carrying the whole story."""
    try:
        result = subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise HarnessError(f"command timed out after {timeout}s: {' '.join(args)}\n"
                           f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}") from None
    if check and result.returncode != 0:
        raise HarnessError("command failed\n" + describe_process(result))
    return result


# ---------------------------------------------------------------------------------------------------------
# PostgreSQL


class Database:
    """A throwaway database in the cluster named by the PG* environment."""

    def __init__(self):
        self.name = "authsvc_e2e_" + secrets.token_hex(6)
        self.conninfo = f"dbname={self.name}"

    def _psql(self, dbname, sql):
        return run([_tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-c", sql])

    def create(self):
        self._psql("postgres", f'CREATE DATABASE "{self.name}"')

    def drop(self):
        # FORCE: a server that died badly may have left connections behind.
        self._psql("postgres", f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def query(self, sql):
        """Runs SQL in this database and returns psql's unaligned, tuples-only output."""
        return self._psql(self.conninfo, sql).stdout.strip()


# ---------------------------------------------------------------------------------------------------------
# The CLI


class Cli:
    """Runs `authsvc` subcommands against one database."""

    def __init__(self, database):
        self.bin = authsvc_bin()
        self.database = database

    def run(self, *args, input=None, check=True, db=True):
        argv = [self.bin, *args]
        if db:
            argv += ["--db", self.database.conninfo]
        return run(argv, input=input, check=check)

    def migrate(self):
        return self.run("migrate")

    def add_user(self, username, password):
        # The CLI strips one trailing newline: send one, as a person typing would.
        return self.run("user", "add", username, input=password + "\n")

    def set_password(self, username, password):
        return self.run("user", "passwd", username, input=password + "\n")

    def add_client(self, client_id, *, grants=(), audiences=(), scope=None, public=False):
        """Creates a client; returns its secret (last line of stdout), or None for a public client."""
        args = ["client", "add", client_id]
        for grant in grants:
            args += ["--grant", grant]
        for audience in audiences:
            args += ["--audience", audience]
        if scope is not None:
            args += ["--scope", scope]
        if public:
            args.append("--public")
        result = self.run(*args)
        if public:
            return None
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if not lines:
            raise HarnessError("client add printed no secret\n" + describe_process(result))
        return lines[-1]

    def generate_keys(self, keys_dir, alg=None):
        args = ["keys", "generate", "--keys", keys_dir]
        if alg is not None:
            args += ["--alg", alg]
        return self.run(*args, db=False)


_serve_help = None


def serve_supports(option):
    """Whether `authsvc serve --help` documents an option (for options the spec leaves optional)."""
    global _serve_help
    if _serve_help is None:
        result = run([authsvc_bin(), "serve", "--help"], check=False)
        _serve_help = result.stdout + result.stderr
    return re.search(re.escape(option) + r"\b", _serve_help) is not None


# ---------------------------------------------------------------------------------------------------------
# The server process


class Server:
    """One `authsvc serve` subprocess. Its stdout and stderr go to files in log_dir."""

    def __init__(self, database, keys_dir, log_dir, extra_args=()):
        self.args = [authsvc_bin(), "serve", "--listen", "127.0.0.1:0", "--keys", keys_dir, "--issuer", ISSUER,
                     "--db", database.conninfo, *extra_args]
        self.stdout_path = os.path.join(log_dir, "serve.stdout")
        self.stderr_path = os.path.join(log_dir, "serve.stderr")
        self.proc = None
        self.port = None
        self._port_found = threading.Event()
        self._reader = None

    def start(self):
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._port_found.wait(0.05):
            if self.proc.poll() is not None:
                self._reader.join(5)
                raise HarnessError(f"authsvc serve exited with status {self.proc.returncode} before listening\n"
                                   f"{self.describe()}")
            if time.monotonic() > deadline:
                self.kill()
                raise HarnessError(f"authsvc serve printed no 'listening on http://127.0.0.1:PORT' line within "
                                   f"{STARTUP_TIMEOUT}s\n{self.describe()}")

    def _read_stdout(self):
        # Keep draining stdout for the life of the process so that it never blocks on a full pipe.
        with open(self.stdout_path, "wb") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                if self.port is None:
                    match = _LISTENING.search(line.decode("utf-8", "replace"))
                    if match:
                        self.port = int(match.group(1))
                        self._port_found.set()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        parts = []
        for label, path in (("stdout", self.stdout_path), ("stderr", self.stderr_path)):
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                text = ""
            parts.append(f"--- serve {label} (tail) ---\n{_tail(text)}")
        return "\n".join(parts)

    def describe(self):
        return f"command: {' '.join(self.args)}\n{self.log()}"

    def stop(self):
        """SIGTERM, then wait; returns the exit status, or None if it had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        self._finish()
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._finish()

    def _finish(self):
        if self._reader is not None:
            self._reader.join(5)
        self.proc.stdout.close()
        self._stderr.close()


# ---------------------------------------------------------------------------------------------------------
# HTTP


def form(fields):
    """application/x-www-form-urlencoded body from a dict or a list of (name, value) pairs."""
    if isinstance(fields, dict):
        fields = list(fields.items())
    return urllib.parse.urlencode(fields).encode()


def basic_auth(client_id, secret):
    """client_secret_basic per RFC 6749 §2.3.1: form-urlencode id and secret, then base64 'id:secret'."""
    pair = urllib.parse.quote_plus(client_id) + ":" + urllib.parse.quote_plus(secret)
    return "Basic " + base64.b64encode(pair.encode()).decode()


class Response:
    """What a client saw: status (0 if none), HTTP version, headers (names lowercased), body."""

    def __init__(self, status, http_version, headers, body, *, request="", client_error=""):
        self.status = status
        self.http_version = http_version
        self.headers = headers  # list of (lowercase name, value)
        self.body = body
        self.request = request
        self.client_error = client_error  # e.g. curl's exit status and message

    def header(self, name):
        """The value of a header (several fields joined with ', '), or None."""
        values = self.header_values(name)
        return ", ".join(values) if values else None

    def header_values(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(f"response body is not JSON ({e})\n{self}") from None

    def __str__(self):
        body = self.body.decode("utf-8", "replace")
        if len(body) > 2000:
            body = body[:2000] + f"... ({len(self.body)} bytes)"
        headers = "\n".join(f"  {n}: {v}" for n, v in self.headers)
        text = f"request: {self.request}\nstatus: {self.status} (HTTP/{self.http_version})\nheaders:\n{headers}\nbody: {body}"
        if self.client_error:
            text += f"\nclient error: {self.client_error}"
        return text


def _parse_header_blocks(raw):
    """curl -D output may hold several blocks (101 Switching Protocols, 100 Continue); keep the last."""
    blocks = [b for b in re.split(r"\r?\n\r?\n", raw.decode("iso-8859-1")) if b.strip()]
    if not blocks:
        return []
    headers = []
    for line in blocks[-1].splitlines()[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip().lower(), value.strip()))
    return headers


PROTOCOL_FLAGS = {
    "h2": ["--http2-prior-knowledge"],  # h2c with prior knowledge
    "h2-upgrade": ["--http2"],  # HTTP/1.1 request with Upgrade: h2c
    "h1": ["--http1.1"],
}


class Http:
    """curl-based client for one server."""

    def __init__(self, server, workdir):
        self.server = server
        self.workdir = workdir
        self.curl = _tool("curl")

    def request(self, method, path, *, body=None, headers=(), proto="h2", timeout=REQUEST_TIMEOUT, extra_args=()):
        fd, scratch = tempfile.mkstemp(dir=self.workdir)
        os.close(fd)
        header_file, body_file, data_file = scratch + ".h", scratch + ".b", scratch + ".d"
        argv = [self.curl, "-sS", "--max-time", str(timeout), *PROTOCOL_FLAGS[proto],
                "-D", header_file, "-o", body_file, "-w", "%{http_code} %{http_version}"]
        headers = list(headers)
        if body is not None:
            with open(data_file, "wb") as f:
                f.write(body)
            argv += ["--data-binary", "@" + data_file]
            if proto != "h2":
                headers.append("Expect:")  # no 100-continue round trip
        if method != ("POST" if body is not None else "GET"):
            argv += ["-X", method]
        for h in headers:
            argv += ["-H", h]
        url = self.server.url(path)
        argv.append(url)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10)
        status_text, _, version = result.stdout.strip().partition(" ")
        try:
            with open(header_file, "rb") as f:
                raw_headers = f.read()
        except OSError:
            raw_headers = b""
        try:
            with open(body_file, "rb") as f:
                response_body = f.read()
        except OSError:
            response_body = b""
        for p in (scratch, header_file, body_file, data_file):
            if os.path.exists(p):
                os.unlink(p)
        shown = [h for h in headers if not h.lower().startswith("authorization")]
        description = f"{method} {url} via curl {proto}" + (f" headers {shown}" if shown else "")
        if body is not None:
            description += f" body {body[:200]!r}" + ("..." if len(body) > 200 else "")
        client_error = f"curl exit {result.returncode}: {result.stderr.strip()}" if result.returncode else ""
        return Response(int(status_text or 0), version, _parse_header_blocks(raw_headers), response_body,
                        request=description, client_error=client_error)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post_form(self, path, fields, *, basic=None, headers=(), **kwargs):
        headers = list(headers)
        if basic is not None:
            headers.append("Authorization: " + basic_auth(*basic))
        body = fields if isinstance(fields, bytes) else form(fields)
        return self.request("POST", path, body=body, headers=headers, **kwargs)

    def token(self, fields, *, basic=None, **kwargs):
        """POST to the token endpoint; basic=(client_id, secret) for client_secret_basic."""
        return self.post_form(TOKEN_PATH, fields, basic=basic, **kwargs)


def raw_http1(port, request_head, body=b"", timeout=REQUEST_TIMEOUT):
    """Sends one HTTP/1.1 request on a plain socket and parses the answer.

    For bodies the server may refuse before reading them (413): the send may then fail with EPIPE or
    ECONNRESET, but whatever the server answered is still in our receive queue, so read it anyway."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        send_error = ""
        try:
            sock.sendall(request_head + body)
        except (BrokenPipeError, ConnectionResetError) as e:
            send_error = f"send: {e}"
        received = bytearray()
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
                if _complete_http1_response(bytes(received)):
                    break
        except (ConnectionResetError, socket.timeout) as e:
            send_error += f" recv: {e}"
    description = f"raw HTTP/1.1 {request_head.splitlines()[0].decode()} with {len(body)}-byte body"
    if not received:
        return Response(0, "1.1", [], b"", request=description, client_error=send_error or "no response")
    parsed = http.client.HTTPResponse(_FakeSocket(bytes(received)))
    parsed.begin()
    try:
        response_body = parsed.read()
    except http.client.IncompleteRead as e:
        response_body = e.partial
    headers = [(n.lower(), v) for n, v in parsed.getheaders()]
    return Response(parsed.status, "1.1", headers, response_body, request=description, client_error=send_error)


def _complete_http1_response(data):
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return match is not None and len(rest) >= int(match.group(1))


class _FakeSocket:
    def __init__(self, data):
        self._file = io.BytesIO(data)

    def makefile(self, *args, **kwargs):
        return self._file


# ---------------------------------------------------------------------------------------------------------
# Access tokens


def verify_access_token(token, jwks, *, audience):
    """Verifies an RFC 9068 access token with PyJWT against a JWKS document.

    Returns (header, claims). Raises AssertionError with the token's header and claims on failure."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        raise AssertionError(f"access token is not a JWS ({e}): {token!r}") from None
    unverified = jwt.decode(token, options={"verify_signature": False})
    context = f"\nheader: {header}\nclaims: {unverified}\njwks: {jwks}"
    keys = {k.get("kid"): k for k in jwks.get("keys", [])}
    if header.get("kid") not in keys:
        raise AssertionError(f"token kid {header.get('kid')!r} is not in the JWKS{context}")
    jwk = keys[header["kid"]]
    try:
        key = jwt.PyJWK(jwk, algorithm=jwk.get("alg")).key
        claims = jwt.decode(token, key, algorithms=[jwk.get("alg", header.get("alg"))], audience=audience,
                            issuer=ISSUER,
                            options={"require": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"]})
    except jwt.PyJWTError as e:
        raise AssertionError(f"PyJWT rejects the access token: {type(e).__name__}: {e}{context}") from None
    return header, claims


def audiences(claims):
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else list(aud or [])


# ---------------------------------------------------------------------------------------------------------
# The test-case base class


class Client:
    """A client the test class wants; secret is filled in once it exists."""

    def __init__(self, client_id, *, grants=(), audiences=(), scope=None, public=False):
        self.client_id = client_id
        self.grants = list(grants)
        self.audiences = list(audiences)
        self.scope = scope
        self.public = public
        self.secret = None

    @property
    def basic(self):
        return (self.client_id, self.secret)

    @property
    def scopes(self):
        return set((self.scope or "").split())


class ServiceTestCase(unittest.TestCase):
    """Base class: one database, key directory and running server per test class.

    Subclasses set:
      serve_args  extra `authsvc serve` options
      key_alg     `keys generate --alg` (None: the default)
      users       {username: password}
      clients     [Client(...)]
      start_server  False for tests of the CLI alone
    """

    serve_args = ()
    key_alg = None
    users = {}
    clients = []
    start_server = True

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.workdir = tempfile.mkdtemp(prefix="authsvc-e2e-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, ignore_errors=True)
        cls.db = Database()
        cls.db.create()
        cls.addClassCleanup(cls.db.drop)
        cls.cli = Cli(cls.db)
        cls.cli.migrate()
        cls.keys_dir = os.path.join(cls.workdir, "keys")
        os.mkdir(cls.keys_dir, 0o700)
        cls.cli.generate_keys(cls.keys_dir, cls.key_alg)
        for username, password in cls.users.items():
            cls.cli.add_user(username, password)
        cls.client = {}
        for spec in cls.clients:
            spec.secret = cls.cli.add_client(spec.client_id, grants=spec.grants, audiences=spec.audiences,
                                             scope=spec.scope, public=spec.public)
            cls.client[spec.client_id] = spec
        if cls.start_server:
            cls.addClassCleanup(cls._stop_server)
            cls._start_server()

    @classmethod
    def _start_server(cls):
        log_dir = tempfile.mkdtemp(prefix="serve-", dir=cls.workdir)
        cls.server = Server(cls.db, cls.keys_dir, log_dir, cls.serve_args)
        cls.server.start()
        cls.http = Http(cls.server, cls.workdir)

    @classmethod
    def _stop_server(cls):
        was_alive = cls.server.alive()
        status = cls.server.stop()
        if not was_alive:
            raise AssertionError(f"authsvc serve died during the tests (status {status})\n{cls.server.describe()}")
        if status is None:
            raise AssertionError(f"authsvc serve did not exit within {SHUTDOWN_TIMEOUT}s of SIGTERM "
                                 f"(killed)\n{cls.server.describe()}")
        if status != 0:
            raise AssertionError(f"authsvc serve exited with status {status} after SIGTERM\n{cls.server.describe()}")

    def tearDown(self):
        # A crash shows up at the test that caused it, not at the end of the class; a fresh server
        # (same database and keys) keeps the crash from failing every later test as well.
        if self.start_server and not self.server.alive():
            dead = self.server
            dead.kill()
            type(self)._start_server()
            self.fail(f"authsvc serve died during this test (status {dead.proc.returncode})\n{dead.describe()}")

    # -- requests ---------------------------------------------------------------------------------------

    def jwks(self):
        response = self.http.get(JWKS_PATH)
        self.assertStatus(response, 200)
        return response.json()

    def password_login(self, client, username, password, **fields):
        """A password grant that must succeed; returns the token response JSON."""
        response = self.http.token(self._client_fields(client, {"grant_type": "password", "username": username,
                                                                 "password": password, **fields}),
                                   basic=None if client.public else client.basic)
        return self.assertTokenSuccess(response)

    def refresh(self, client, refresh_token, **fields):
        """A refresh_token grant (raw response)."""
        return self.http.token(self._client_fields(client, {"grant_type": "refresh_token",
                                                             "refresh_token": refresh_token, **fields}),
                               basic=None if client.public else client.basic)

    @staticmethod
    def _client_fields(client, fields):
        if client.public:
            return {**fields, "client_id": client.client_id}
        return fields

    # -- assertions -------------------------------------------------------------------------------------

    def assertStatus(self, response, status):
        if response.status != status:
            raise self.failureException(f"expected status {status}, got {response.status}\n{response}")

    def assertJson(self, response):
        content_type = response.header("content-type") or ""
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise self.failureException(f"expected Content-Type application/json, got {content_type!r}\n{response}")
        return response.json()

    def assertNoStore(self, response):
        """RFC 6749 §5.1: every token response, errors included, is not to be cached."""
        cache_control = [d.strip().lower() for d in (response.header("cache-control") or "").split(",")]
        if "no-store" not in cache_control:
            raise self.failureException(f"token response lacks Cache-Control: no-store\n{response}")
        if (response.header("pragma") or "").strip().lower() != "no-cache":
            raise self.failureException(f"token response lacks Pragma: no-cache\n{response}")

    def assertOAuthError(self, response, status, error):
        """An RFC 6749 §5.2 error from the token endpoint. Returns the parsed body."""
        self.assertStatus(response, status)
        body = self.assertJson(response)
        self.assertNoStore(response)
        if not isinstance(body, dict) or body.get("error") != error:
            raise self.failureException(f"expected error {error!r}, got {body!r}\n{response}")
        if "error_description" in body and not isinstance(body["error_description"], str):
            raise self.failureException(f"error_description is not a string\n{response}")
        return body

    def assertTokenSuccess(self, response, *, refresh=None):
        """A 200 token response; refresh=True/False asserts whether a refresh_token is present."""
        self.assertStatus(response, 200)
        body = self.assertJson(response)
        self.assertNoStore(response)
        context = f"\n{response}"
        self.assertIsInstance(body.get("access_token"), str, "access_token missing" + context)
        self.assertEqual(body.get("token_type"), "Bearer", context)
        self.assertIsInstance(body.get("expires_in"), int, "expires_in is not an integer" + context)
        self.assertIsInstance(body.get("scope"), str, "scope missing" + context)
        if refresh is True:
            self.assertIsInstance(body.get("refresh_token"), str, "refresh_token missing" + context)
            # DESIGN: at least 256 bits of randomness; base64url of 32 bytes is 43 characters.
            self.assertGreaterEqual(len(body["refresh_token"]), 43, "refresh_token too short" + context)
        elif refresh is False:
            self.assertNotIn("refresh_token", body, context)
        return body

    def assertAccessToken(self, token, *, client, sub=None, scopes=None, ttl=None, user=True):
        """Verifies the JWT against the served JWKS and checks the RFC 9068 claims. Returns the claims.

        user=False for client_credentials tokens: they have no user, so no user token version (`ver`)
        is required; if present it must still be a positive integer."""
        jwks = self.jwks()
        header, claims = verify_access_token(token, jwks, audience=client.audiences)
        context = f"\nheader: {header}\nclaims: {claims}"
        self.assertEqual(header.get("typ"), "at+jwt", context)
        self.assertEqual(claims["iss"], ISSUER, context)
        self.assertEqual(sorted(audiences(claims)), sorted(client.audiences), context)
        self.assertEqual(claims.get("client_id"), client.client_id, context)
        if sub is not None:
            self.assertEqual(claims["sub"], sub, context)
        self.assertIsInstance(claims["sub"], str, context)
        self.assertTrue(claims["sub"], "empty sub" + context)
        self.assertIsInstance(claims.get("scope"), str, "scope claim missing" + context)
        if scopes is not None:
            self.assertEqual(set(claims["scope"].split()), set(scopes), context)
        for name in ("exp", "iat", "nbf"):
            self.assertIsInstance(claims[name], int, f"{name} is not an integer" + context)
        self.assertLessEqual(claims["nbf"], claims["iat"] + 1, context)
        self.assertLess(abs(claims["iat"] - time.time()), 60, "iat is not now" + context)
        if ttl is not None:
            self.assertEqual(claims["exp"] - claims["iat"], ttl, "exp - iat" + context)
        self.assertIsInstance(claims["jti"], str, context)
        self.assertTrue(claims["jti"], "empty jti" + context)
        if user or "ver" in claims:
            ver = claims.get("ver")
            self.assertTrue(isinstance(ver, int) and not isinstance(ver, bool) and ver >= 1,
                            "ver must be a positive integer" + context)
        return claims


def main():
    """Entry point for each test file: verbose unittest run, non-zero exit on failure."""
    try:
        authsvc_bin()
    except HarnessError as e:
        print(f"e2e: {e}", file=sys.stderr)
        sys.exit(2)
    unittest.main(verbosity=2)
