"""Shared machinery for the end-to-end tests.

Each test class that derives from ServiceTestCase gets its own world: a fresh PostgreSQL database
(migrated with `authsvc migrate`), a fresh signing-key directory (`authsvc keys generate`), the users and
clients it declares (created with the CLI), and one running `authsvc serve` on an ephemeral port.
Everything is torn down at the end of the class; the server must then exit 0 on SIGTERM.

Requests go through clients nobody here wrote: curl (HTTP/2 prior knowledge, HTTP/1.1, h2c Upgrade, TLS
with ALPN, many streams on one connection), nghttp, h2load; tokens are checked with PyJWT against the JWKS
the server publishes.

Every helper the test files share lives here, once: requests as a client authenticates them, races,
polling for a condition, refresh tokens of both formats and their database view, JWT and JWKS handling, the
key directory, and the assertions on RFC 6749 answers.

Environment: AUTHSVC_BIN (the binary), PGHOST/PGPORT/PGUSER (a throwaway cluster, PGUSER a superuser),
AUTHSVC_PG_CTL (a `stop`/`start` script for that cluster; the outage test fails without it).
"""

import base64
import hashlib
import hmac
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
import uuid

import jwt
from cryptography.hazmat.primitives import serialization

ISSUER = "http://127.0.0.1"
TOKEN_PATH = "/oauth2/token"
REVOKE_PATH = "/oauth2/revoke"
INTROSPECT_PATH = "/oauth2/introspect"
FEED_PATH = "/oauth2/revocations"
ACCOUNT_PASSWORD_PATH = "/account/password"
USERINFO_PATH = "/oauth2/userinfo"
LOGOUT_PATH = "/oauth2/logout"
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATHS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
HEALTH_PATH = "/healthz"
LIVE_PATH = "/livez"
READY_PATH = "/readyz"
FORM_TYPE = "application/x-www-form-urlencoded"

API = "https://api.example.test"  # the audience most test clients are given

# RFC 9068 §2.2: the claims every access token carries (what the verifiers here require)
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "nbf", "jti")

STARTUP_TIMEOUT = 30  # seconds for `serve` to print its port
SHUTDOWN_TIMEOUT = 10  # seconds for `serve` to exit after SIGTERM
REQUEST_TIMEOUT = 15  # curl --max-time: every request must be answered well within this
WAIT_TIMEOUT = 20  # seconds for a polled condition (wait_for) to come true

_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)(?:.* and https://127\.0\.0\.1:(\d+))?")


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


def wait_for(what, condition, *, timeout=WAIT_TIMEOUT, context=None):
    """Calls condition() until it returns a true value, and returns that value.

    For what the server does on its own schedule (a reconnection, a periodic re-read, a log line): the
    condition is checked again and again, and the short pause between checks only spares the CPU. After
    `timeout` seconds it raises AssertionError naming `what`, with context() (e.g. the server's log)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}" +
                                 (f"\n{context()}" if context is not None else ""))
        time.sleep(0.02)


def race(n, request):
    """Runs request() from n threads released together by a barrier; returns the n results in order.

    An exception in a thread is raised here, not lost."""
    barrier = threading.Barrier(n)
    results = [None] * n
    errors = []

    def worker(i):
        try:
            barrier.wait(30)
            results[i] = request()
        except Exception as e:  # noqa: BLE001 — re-raised below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


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

    def user_id(self, username):
        """The id of a user (the `sub` of the user's tokens)."""
        return self.query(f"SELECT id FROM users WHERE username = '{username}'")


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

    def add_client(self, client_id, *, grants=(), audiences=(), scope=None, public=False, options=()):
        """Creates a client; returns its secret (last line of stdout), or None for a public client.

        options: further `client add` options, e.g. ["--access-ttl", "60"]."""
        args = ["client", "add", client_id]
        for grant in grants:
            args += ["--grant", grant]
        for audience in audiences:
            args += ["--audience", audience]
        if scope is not None:
            args += ["--scope", scope]
        if public:
            args.append("--public")
        args += list(options)
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


# ---------------------------------------------------------------------------------------------------------
# The server process


class Server:
    """One `authsvc serve` subprocess. Its stdout and stderr go to files in log_dir.

    database: a Database, or a libpq conninfo string."""

    def __init__(self, database, keys_dir, log_dir, extra_args=()):
        conninfo = database if isinstance(database, str) else database.conninfo
        self.args = [authsvc_bin(), "serve", "--listen", "127.0.0.1:0", "--keys", keys_dir, "--issuer", ISSUER,
                     "--db", conninfo, *extra_args]
        self.stdout_path = os.path.join(log_dir, "serve.stdout")
        self.stderr_path = os.path.join(log_dir, "serve.stderr")
        self.proc = None
        self.port = None
        self.tls_port = None  # with --tls-listen
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
                        if match.group(2) is not None:
                            self.tls_port = int(match.group(2))
                        self.port = int(match.group(1))
                        self._port_found.set()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def tls_url(self, path):
        if self.tls_port is None:
            raise HarnessError(f"the server printed no https address (started without --tls-listen?)\n{self.describe()}")
        return f"https://127.0.0.1:{self.tls_port}{path}"

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

    def stderr_text(self):
        """Everything the server has logged so far."""
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_for_log(self, text):
        """Waits until the server's log has `text`: a logger thread writes the lines, so one can follow the answer
        it belongs to."""
        return wait_for(f"the server to log {text!r}", lambda: text in self.stderr_text(), context=self.log)

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

    def stop_cleanly(self, name="authsvc serve"):
        """Stops the server; raises AssertionError unless it was alive and exited 0 on SIGTERM in time."""
        was_alive = self.alive()
        status = self.stop()
        if not was_alive:
            raise AssertionError(f"{name} died during the tests (status {status})\n{self.describe()}")
        if status is None:
            raise AssertionError(f"{name} did not exit within {SHUTDOWN_TIMEOUT}s of SIGTERM (killed)\n{self.describe()}")
        if status != 0:
            raise AssertionError(f"{name} exited with status {status} after SIGTERM\n{self.describe()}")


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


def client_auth(client, fields, method=None):
    """(form fields, Basic credentials or None) for a request in which `client` authenticates.

    method: "basic" (client_secret_basic), "post" (client_secret_post) or "none" (client_id only, as a
    public client does); by default "none" for a public client and "basic" for a confidential one.
    client None: no client authentication at all."""
    fields = dict(fields) if isinstance(fields, dict) else fields
    if client is None:
        return fields, None
    if method is None:
        method = "none" if client.public else "basic"
    if method == "basic":
        return fields, client.basic
    if method == "post":
        return {**fields, "client_id": client.client_id, "client_secret": client.secret}, None
    if method == "none":
        return {**fields, "client_id": client.client_id}, None
    raise ValueError(f"unknown client authentication method {method!r}")


def _read_transfer(header_file, body_file):
    """(headers, body) a curl transfer left in its -D and -o files (empty when it wrote none)."""
    try:
        with open(header_file, "rb") as f:
            headers = _parse_header_blocks(f.read())
    except OSError:
        headers = []
    try:
        with open(body_file, "rb") as f:
            body = f.read()
    except OSError:
        body = b""
    return headers, body


PROTOCOL_FLAGS = {
    "h2": ["--http2-prior-knowledge"],  # h2c with prior knowledge
    "h2-upgrade": ["--http2"],  # HTTP/1.1 request with Upgrade: h2c
    "h1": ["--http1.1"],
}

TLS_PROTOCOL_FLAGS = {
    "h2": ["--http2"],  # HTTP/2 negotiated with ALPN
    "h1": ["--http1.1"],
}


class Http:
    """curl-based client for one server.

    tls=True: the server's --tls-listen port, trusting `cacert` (None: curl's default trust store, which
    must refuse a self-signed certificate)."""

    def __init__(self, server, workdir, *, tls=False, cacert=None):
        self.server = server
        self.workdir = workdir
        self.tls = tls
        self.cacert = cacert
        self.curl = _tool("curl")

    def url(self, path):
        return self.server.tls_url(path) if self.tls else self.server.url(path)

    def _curl_args(self, proto, timeout):
        flags = (TLS_PROTOCOL_FLAGS if self.tls else PROTOCOL_FLAGS)[proto]
        argv = [self.curl, "-sS", "--max-time", str(timeout), *flags]
        if self.cacert is not None:
            argv += ["--cacert", self.cacert]
        return argv

    def request(self, method, path, *, body=None, headers=(), basic=None, proto="h2", timeout=REQUEST_TIMEOUT,
                extra_args=()):
        """One request; basic=(client_id, secret) adds client_secret_basic. Returns a Response (status 0
        and client_error set when curl got no answer, e.g. after --max-time)."""
        fd, scratch = tempfile.mkstemp(dir=self.workdir)
        os.close(fd)
        header_file, body_file, data_file = scratch + ".h", scratch + ".b", scratch + ".d"
        argv = [*self._curl_args(proto, timeout), *extra_args,
                "-D", header_file, "-o", body_file, "-w", "%{http_code} %{http_version}"]
        headers = list(headers)
        if basic is not None:
            headers.append("Authorization: " + basic_auth(*basic))
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
        url = self.url(path)
        argv.append(url)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10)
        status_text, _, version = result.stdout.strip().partition(" ")
        response_headers, response_body = _read_transfer(header_file, body_file)
        for p in (scratch, header_file, body_file, data_file):
            if os.path.exists(p):
                os.unlink(p)
        shown = [h for h in headers if not h.lower().startswith("authorization")]
        description = f"{method} {url} via curl {proto}" + (f" headers {shown}" if shown else "")
        if basic is not None:
            description += f" as client {basic[0]!r}"
        if body is not None:
            description += f" body {body[:200]!r}" + ("..." if len(body) > 200 else "")
        client_error = f"curl exit {result.returncode}: {result.stderr.strip()}" if result.returncode else ""
        return Response(int(status_text or 0), version, response_headers, response_body,
                        request=description, client_error=client_error)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post_form(self, path, fields, *, basic=None, headers=(), **kwargs):
        body = fields if isinstance(fields, bytes) else form(fields)
        return self.request("POST", path, body=body, headers=headers, basic=basic, **kwargs)

    def token(self, fields, *, basic=None, **kwargs):
        """POST to the token endpoint; basic=(client_id, secret) for client_secret_basic."""
        return self.post_form(TOKEN_PATH, fields, basic=basic, **kwargs)

    def post_form_as(self, path, client, fields, *, method=None, **kwargs):
        """A form POST in which `client` authenticates (see client_auth). Returns (response, fields sent)."""
        fields, basic = client_auth(client, fields, method)
        return self.post_form(path, fields, basic=basic, **kwargs), fields

    def multiplexed(self, path, n, *, body, basic=None):
        """One curl, n POSTs multiplexed as concurrent streams on one HTTP/2 connection (--parallel).

        Returns (the n responses in order, the number of connections curl opened)."""
        scratch = tempfile.mkdtemp(dir=self.workdir)
        body_path = os.path.join(scratch, "request")
        with open(body_path, "wb") as f:
            f.write(body)
        url = self.url(path)
        lines = []
        for i in range(n):
            lines += [f'url = "{url}"', f'data-binary = "@{body_path}"',
                      f'output = "{scratch}/body{i}"', f'dump-header = "{scratch}/head{i}"',
                      f'write-out = "{i} %{{http_code}} %{{http_version}} %{{num_connects}}\\n"']
            if basic is not None:
                lines.append(f'header = "Authorization: {basic_auth(*basic)}"')
            lines.append("next")
        config = os.path.join(scratch, "curlrc")
        with open(config, "w") as f:
            f.write("\n".join(lines[:-1]) + "\n")
        argv = [*self._curl_args("h2", REQUEST_TIMEOUT), "--parallel", "--parallel-max", str(n), "--config", config]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=REQUEST_TIMEOUT + 30)
        statuses, connects = {}, 0
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) == 4:
                statuses[int(parts[0])] = (int(parts[1]), parts[2])
                connects += int(parts[3])
        responses = []
        for i in range(n):
            status, version = statuses.get(i, (0, ""))
            headers, response_body = _read_transfer(f"{scratch}/head{i}", f"{scratch}/body{i}")
            responses.append(Response(status, version, headers, response_body,
                                      request=f"transfer {i} of {n} multiplexed POSTs to {url} (curl --parallel)",
                                      client_error=result.stderr.strip() if status == 0 else ""))
        shutil.rmtree(scratch, ignore_errors=True)
        return responses, connects


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
# Tokens and keys


def b64url_decode(text):
    """base64url without padding (RFC 7515 §2) to bytes."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Refresh tokens (authsvc/token/refresh.h). Format 1: 43 characters, 32 bytes (the secret); one refresh_tokens
# row per token. Format 2: 91 characters, 68 bytes: family uuid (16) | generation (4, big-endian) | secret (32) |
# tag (16, HMAC-SHA256(refresh key, "authsvc-refresh2" | the 52 bytes before it), truncated); the family's row
# holds the current token (gen, cur_hash, cur_expires, rotated_at) and refresh_tokens holds nothing of it.
# Either way the database stores SHA-256 of the secret, never the token.
REFRESH_V1_LEN = 43
REFRESH_V2_LEN = 91
REFRESH_SECRET_LEN = 32
REFRESH_TAG_LEN = 16
_REFRESH_TAG_CONTEXT = b"authsvc-refresh2"
_REFRESH_NEXT_CONTEXT = b"authsvc-refresh\0"
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class RefreshToken:
    """A refresh token taken apart (nothing verified): format (1 or 2), secret; for format 2 also family (the
    uuid as text), gen, body (the 52 bytes the tag covers) and tag."""

    def __init__(self, text):
        if not isinstance(text, str) or len(text) not in (REFRESH_V1_LEN, REFRESH_V2_LEN) or not _B64URL.match(text):
            raise AssertionError(f"not a refresh token of format 1 ({REFRESH_V1_LEN} base64url characters) or 2 "
                                 f"({REFRESH_V2_LEN}): {text!r}")
        raw = b64url_decode(text)
        if b64url_encode(raw) != text:
            raise AssertionError(f"refresh token is not canonical base64url: {text!r}")
        self.text = text
        self.raw = raw
        if len(raw) == REFRESH_SECRET_LEN:
            self.format, self.secret = 1, raw
            self.family = self.gen = self.body = self.tag = None
        else:
            self.format = 2
            self.family = str(uuid.UUID(bytes=raw[0:16]))
            self.gen = int.from_bytes(raw[16:20], "big")
            self.secret = raw[20:52]
            self.body, self.tag = raw[0:52], raw[52:68]

    @property
    def hash(self):
        """What the database stores: SHA-256 of the secret, as hex."""
        return hashlib.sha256(self.secret).hexdigest()

    def __repr__(self):
        if self.format == 1:
            return f"<refresh token, format 1, {self.text[:8]}...>"
        return f"<refresh token, format 2, family {self.family}, gen {self.gen}, {self.text[:8]}...>"


def refresh_key(keys_dir):
    """The server's refresh key: <keys dir>/refresh.key, base64url of 32 bytes on one line."""
    with open(os.path.join(keys_dir, "refresh.key")) as f:
        key = b64url_decode(f.read().strip())
    assert len(key) == 32, f"{keys_dir}/refresh.key does not hold 32 bytes"
    return key


def refresh_tag(key, body):
    """The tag of a format-2 token whose first 52 bytes are `body`."""
    return hmac.new(key, _REFRESH_TAG_CONTEXT + body, hashlib.sha256).digest()[:REFRESH_TAG_LEN]


def refresh_tag_valid(refresh_token, keys_dir):
    """True if a format-2 token's tag verifies under the class's refresh key."""
    token = RefreshToken(refresh_token)
    assert token.format == 2, f"format-1 tokens have no tag: {token!r}"
    return hmac.compare_digest(token.tag, refresh_tag(refresh_key(keys_dir), token.body))


def refresh_next_secret(key, secret):
    """The secret of a token's successor: HMAC-SHA256(refresh key, "authsvc-refresh\\0" | the parent's secret)."""
    return hmac.new(key, _REFRESH_NEXT_CONTEXT + secret, hashlib.sha256).digest()


def make_refresh_token_v2(key, family, gen, secret):
    """A format-2 token with a valid tag: family (uuid text), gen, 32-byte secret."""
    body = uuid.UUID(family).bytes + gen.to_bytes(4, "big") + secret
    return b64url_encode(body + refresh_tag(key, body))


def refresh_token_hash(refresh_token):
    """What the database stores of a refresh token: SHA-256 of its 32-byte secret, as hex (format 1: the whole token
    is the secret; format 2: the secret inside it)."""
    return RefreshToken(refresh_token).hash


def sql_refresh_hash(refresh_token):
    """A SQL expression for the stored hash of a refresh token (refresh_tokens.hash, refresh_families.cur_hash)."""
    return f"decode('{refresh_token_hash(refresh_token)}', 'hex')"


def sql_refresh_family(refresh_token):
    """A SQL expression for the id of a token's family (NULL if the database does not know it)."""
    token = RefreshToken(refresh_token)
    if token.format == 1:
        return f"(SELECT family_id FROM refresh_tokens WHERE hash = {sql_refresh_hash(refresh_token)})"
    return f"(SELECT id FROM refresh_families WHERE id = '{token.family}')"


def _sql_v2_current(token, column):
    """`column` of the family row of a format-2 token while that token is the family's current one, else NULL."""
    return (f"(SELECT {column} FROM refresh_families WHERE id = '{token.family}' AND gen = {token.gen} "
            f"AND cur_hash = decode('{token.hash}', 'hex'))")


def sql_refresh_current(refresh_token):
    """A SQL boolean: the token is its family's unused, current one (format 1: its row is unused; format 2: the
    family's gen is the token's and its cur_hash is the token's). NULL if the database does not know the family
    (format 2) or the token (format 1). Says nothing of revocation or expiry."""
    token = RefreshToken(refresh_token)
    if token.format == 1:
        return f"(SELECT used_at IS NULL FROM refresh_tokens WHERE hash = {sql_refresh_hash(refresh_token)})"
    return (f"(SELECT gen = {token.gen} AND cur_hash = decode('{token.hash}', 'hex') FROM refresh_families "
            f"WHERE id = '{token.family}')")


def sql_refresh_expires(refresh_token):
    """A SQL expression for the token's idle expiry (format 2: only while it is current; NULL otherwise)."""
    token = RefreshToken(refresh_token)
    if token.format == 1:
        return f"(SELECT expires_at FROM refresh_tokens WHERE hash = {sql_refresh_hash(refresh_token)})"
    return _sql_v2_current(token, "cur_expires")


def sql_refresh_issued(refresh_token):
    """A SQL expression for when the token was issued (format 2: only while it is current; NULL otherwise)."""
    token = RefreshToken(refresh_token)
    if token.format == 1:
        return f"(SELECT created_at FROM refresh_tokens WHERE hash = {sql_refresh_hash(refresh_token)})"
    return _sql_v2_current(token, "coalesce(rotated_at, created_at)")


def sql_refresh_idle_lifetime(refresh_token):
    """A SQL expression for the token's idle lifetime in seconds (its idle expiry minus its issue)."""
    return f"extract(epoch FROM {sql_refresh_expires(refresh_token)} - {sql_refresh_issued(refresh_token)})"


def sql_expire_refresh_token(refresh_token):
    """The UPDATE that ends a token's idle lifetime a second ago (format 2: the family's current token's, which it
    must be)."""
    token = RefreshToken(refresh_token)
    if token.format == 1:
        return (f"UPDATE refresh_tokens SET expires_at = now() - interval '1 second' "
                f"WHERE hash = {sql_refresh_hash(refresh_token)} RETURNING 1")
    return (f"UPDATE refresh_families SET cur_expires = now() - interval '1 second' WHERE id = '{token.family}' "
            f"AND gen = {token.gen} AND cur_hash = decode('{token.hash}', 'hex') RETURNING 1")


def sql_rotation_back(refresh_token, seconds, *, from_now=False):
    """The UPDATE that moves the rotation that consumed `refresh_token` `seconds` into the past (from_now: to
    `seconds` before now()). Format 1: the token's used_at. Format 2: the family's rotated_at, which is the time of
    its latest rotation: the one that consumed this token while the family is at the token's next generation."""
    token = RefreshToken(refresh_token)
    if token.format == 1:
        base = "now()" if from_now else "used_at"
        return (f"UPDATE refresh_tokens SET used_at = {base} - interval '{seconds} seconds' "
                f"WHERE hash = {sql_refresh_hash(refresh_token)} AND used_at IS NOT NULL RETURNING 1")
    base = "now()" if from_now else "rotated_at"
    return (f"UPDATE refresh_families SET rotated_at = {base} - interval '{seconds} seconds' "
            f"WHERE id = '{token.family}' AND gen > {token.gen} RETURNING 1")


def unknown_refresh_token(format=1, keys_dir=None):
    """Well-formed but never issued. Format 1: base64url of 32 random bytes. Format 2 (keys_dir: the class's key
    directory): a random family that does not exist, generation 0, with a tag that verifies under the server's
    refresh key, so that only the database can tell it is unknown."""
    if format == 1:
        return b64url_encode(secrets.token_bytes(32))
    assert keys_dir is not None, "a format-2 token needs the refresh key: pass keys_dir"
    return make_refresh_token_v2(refresh_key(keys_dir), str(uuid.uuid4()), 0, secrets.token_bytes(32))


def kid_of(token):
    """The kid in a JWS's header (not verified)."""
    return jwt.get_unverified_header(token).get("kid")


def kids_of(jwks):
    return [k.get("kid") for k in jwks.get("keys", [])]


def jwk_of(token, jwks):
    """The key of a JWKS that a token's kid names; AssertionError if there is none."""
    keys = {k.get("kid"): k for k in jwks.get("keys", [])}
    kid = kid_of(token)
    if kid not in keys:
        raise AssertionError(f"token kid {kid!r} is not in the JWKS {sorted(k for k in keys if k)}")
    return keys[kid]


def decode_jwt(token, jwk, *, audience, algorithm=None, require=REQUIRED_CLAIMS):
    """PyJWT's verification of a token with one JWK: signature, algorithm (default: the JWK's alg),
    issuer, audience, exp and nbf, and the `require`d claims. Returns the claims; raises PyJWT's errors."""
    algorithm = algorithm or jwk.get("alg")
    key = jwt.PyJWK(jwk, algorithm=algorithm).key
    return jwt.decode(token, key, algorithms=[algorithm], audience=audience, issuer=ISSUER,
                      options={"require": list(require)})


def verify_access_token(token, jwks, *, audience):
    """Verifies an RFC 9068 access token with PyJWT against a JWKS document.

    Returns (header, claims). Raises AssertionError with the token's header and claims on failure."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        raise AssertionError(f"access token is not a JWS ({e}): {token!r}") from None
    unverified = jwt.decode(token, options={"verify_signature": False})
    context = f"\nheader: {header}\nclaims: {unverified}\njwks: {jwks}"
    try:
        claims = decode_jwt(token, jwk_of(token, jwks), audience=audience)
    except AssertionError as e:
        raise AssertionError(f"{e}{context}") from None
    except jwt.PyJWTError as e:
        raise AssertionError(f"PyJWT rejects the access token: {type(e).__name__}: {e}{context}") from None
    return header, claims


def audiences(claims):
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else list(aud or [])


class KeyDir:
    """A signing-key directory as `authsvc keys` writes it (keys/README.md): KID.pem and KID.json."""

    def __init__(self, path):
        self.path = path

    def kids(self):
        """The kids of the private keys in the directory, sorted."""
        return sorted(name[:-4] for name in os.listdir(self.path) if name.endswith(".pem"))

    def meta_path(self, kid):
        return os.path.join(self.path, kid + ".json")

    def read_meta(self, kid):
        with open(self.meta_path(kid)) as f:
            return json.load(f)

    def write_meta(self, meta):
        """Replaces KID.json atomically, as `authsvc keys` does: a server re-reading the directory meanwhile
        sees the old file or the new one, never half of one."""
        tmp = os.path.join(self.path, f".{meta['kid']}.json.edit")
        with open(tmp, "w") as f:
            json.dump(meta, f, indent=2)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.meta_path(meta["kid"]))

    def private_key(self, kid):
        """(algorithm, the private key as a `cryptography` object) of one key, for signing tokens here."""
        with open(os.path.join(self.path, kid + ".pem"), "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        return self.read_meta(kid)["alg"], key

    def id_token(self, *, sub, aud, sid=None, iss=ISSUER, age=0, typ="JWT", kid=None, extra=None):
        """An id_token as the token endpoint signs it (token/jwt.h: header alg, typ JWT, kid; claims iss, sub,
        aud, iat, exp five minutes later, auth_time, sid if given), signed here with key `kid` (default the
        directory's first), issued `age` seconds ago: an id_token_hint for a logout."""
        kid = kid or self.kids()[0]
        alg, key = self.private_key(kid)
        now = int(time.time()) - age
        claims = {"iss": iss, "sub": sub, "aud": aud, "iat": now, "exp": now + 300, "auth_time": now}
        if sid is not None:
            claims["sid"] = sid
        claims.update(extra or {})
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": typ})


# ---------------------------------------------------------------------------------------------------------
# The test-case base class


class Client:
    """A client the test class wants; secret is filled in once it exists.

    options: further `client add` options (its own lifetimes, for instance)."""

    def __init__(self, client_id, *, grants=(), audiences=(), scope=None, public=False, options=()):
        self.client_id = client_id
        self.grants = list(grants)
        self.audiences = list(audiences)
        self.scope = scope
        self.public = public
        self.options = list(options)
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
                                             scope=spec.scope, public=spec.public, options=spec.options)
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
        cls.server.stop_cleanly()

    @classmethod
    def start_another_server(cls, name, *, conninfo=None, extra_args=()):
        """A second server of the class: same key directory and issuer, its own database connection string
        (default: the class's database) and options. Stopped at the end of the class, where it must exit 0
        on SIGTERM like the first. Returns (server, Http client for it)."""
        log_dir = tempfile.mkdtemp(prefix=f"serve-{name}-", dir=cls.workdir)
        server = Server(conninfo or cls.db.conninfo, cls.keys_dir, log_dir, extra_args)
        server.start()
        cls.addClassCleanup(server.stop_cleanly, name)
        return server, Http(server, cls.workdir)

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

    def _client(self, client):
        return self.client[client] if isinstance(client, str) else client

    def password_login(self, client, username, password=None, **fields):
        """A password grant that must succeed; returns the token response JSON.

        client: a Client or the id of one of the class's clients; password: default the class's one."""
        if password is None:
            password = self.users[username]
        fields, basic = client_auth(self._client(client), {"grant_type": "password", "username": username,
                                                           "password": password, **fields})
        return self.assertTokenSuccess(self.http.token(fields, basic=basic))

    def refresh(self, client, refresh_token, **fields):
        """A refresh_token grant (raw response)."""
        fields, basic = client_auth(self._client(client), {"grant_type": "refresh_token",
                                                           "refresh_token": refresh_token, **fields})
        return self.http.token(fields, basic=basic)

    def user_id(self, username):
        return self.db.user_id(username)

    # -- refresh tokens in the database (either format; see RefreshToken) --------------------------------

    def refresh_family(self, refresh_token):
        """The id of the family of a token the database knows."""
        family = self.db.query(f"SELECT {sql_refresh_family(refresh_token)}")
        self.assertTrue(family, f"{RefreshToken(refresh_token)!r} is not in the database")
        return family

    def refresh_is_current(self, refresh_token):
        """True if the token is its family's unused, current one (revocation and expiry aside)."""
        value = self.db.query(f"SELECT {sql_refresh_current(refresh_token)}")
        self.assertIn(value, ("t", "f"), f"{RefreshToken(refresh_token)!r} is not in the database")
        return value == "t"

    def refresh_idle_lifetime(self, refresh_token):
        """Seconds from the token's issue to its idle expiry (format 2: of the family's current token)."""
        value = self.db.query(f"SELECT {sql_refresh_idle_lifetime(refresh_token)}")
        self.assertTrue(value, f"{RefreshToken(refresh_token)!r} is not a stored (format 2: current) token")
        return float(value)

    def expire_refresh_token(self, refresh_token):
        """Ends the token's idle lifetime a second ago (format 2: it must be its family's current token)."""
        self.assertEqual(self.db.query(sql_expire_refresh_token(refresh_token)), "1",
                         f"no stored token to expire: {RefreshToken(refresh_token)!r}")

    def move_rotation_back(self, refresh_token, seconds, *, from_now=False):
        """Moves the rotation that consumed the token `seconds` back (see sql_rotation_back)."""
        self.assertEqual(self.db.query(sql_rotation_back(refresh_token, seconds, from_now=from_now)), "1",
                         f"{RefreshToken(refresh_token)!r} has not been rotated")

    def assertRefreshToken(self, refresh_token, *, format=None):
        """A refresh token as the server issues it: 43 (format 1) or 91 (format 2) base64url characters, a format-2
        tag that verifies under the class's refresh key. format: the one required. Returns the RefreshToken."""
        try:
            token = RefreshToken(refresh_token)
        except AssertionError as e:
            raise self.failureException(str(e)) from None
        if format is not None and token.format != format:
            raise self.failureException(f"expected a format-{format} refresh token, got {token!r}")
        if token.format == 2 and os.path.exists(os.path.join(self.keys_dir, "refresh.key")):
            if not refresh_tag_valid(refresh_token, self.keys_dir):
                raise self.failureException(f"the tag of {token!r} does not verify under {self.keys_dir}/refresh.key")
        return token

    # -- the key directory ------------------------------------------------------------------------------

    @property
    def key_directory(self):
        return KeyDir(self.keys_dir)

    def keys(self, *args, check=True):
        """Runs `authsvc keys ARGS --keys <the class's key directory>`."""
        return self.cli.run("keys", *args, "--keys", self.keys_dir, db=False, check=check)

    # -- assertions -------------------------------------------------------------------------------------

    def assertStatus(self, response, status):
        if response.status != status:
            raise self.failureException(f"expected status {status}, got {response.status}\n{response}")

    def assertJson(self, response):
        content_type = response.header("content-type") or ""
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise self.failureException(f"expected Content-Type application/json, got {content_type!r}\n{response}")
        return response.json()

    def assertCacheNoStore(self, response):
        """Cache-Control: no-store (the Pragma of RFC 6749 §5.1 not required)."""
        cache_control = [d.strip().lower() for d in (response.header("cache-control") or "").split(",")]
        if "no-store" not in cache_control:
            raise self.failureException(f"response lacks Cache-Control: no-store\n{response}")

    def assertNoStore(self, response):
        """RFC 6749 §5.1: every token response, errors included, is not to be cached."""
        self.assertCacheNoStore(response)
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

    def assertInvalidGrant(self, response):
        return self.assertOAuthError(response, 400, "invalid_grant")

    def assertBasicChallenge(self, response):
        challenge = response.header("www-authenticate") or ""
        if not challenge.lower().startswith("basic"):
            raise self.failureException(f"401 invalid_client needs WWW-Authenticate: Basic ...\n{response}")

    def assertInvalidClient(self, response):
        """401 invalid_client with the Basic challenge (RFC 6749 §5.2, DESIGN)."""
        body = self.assertOAuthError(response, 401, "invalid_client")
        self.assertBasicChallenge(response)
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
            # DESIGN: at least 256 bits of randomness: a 32-byte secret in either format.
            self.assertRefreshToken(body["refresh_token"])
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
