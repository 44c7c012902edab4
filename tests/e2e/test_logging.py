"""Logging never holds up the event loop.

The server logs (standard error) and writes its access log (--access-log -: standard output) into pipes nobody
reads, shrunk to one page so that they fill after a dozen lines, as a stalled log collector's would. The server
must keep answering every request (before the log was queued, the event thread blocked in write(2) on the full
pipe and every request after the first few hung); the lines that did not fit are dropped and counted, and once
the reader resumes, every line that got through is whole and the server reports "N log lines dropped", with
nothing lost uncounted. At SIGTERM the queue is written out before the process exits."""

import fcntl
import json
import re
import signal
import subprocess
import threading

import harness
from harness import JWKS_PATH

REQUESTS = 3000
DROPPED = re.compile(r"warn: (\d+) log lines dropped")


class Drain(threading.Thread):
    """Reads a pipe to its end into `data` (started only when the test lets the reader resume)."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.data, self.lock = pipe, b"", threading.Lock()

    def run(self):
        for chunk in iter(lambda: self.pipe.read1(65536), b""):
            with self.lock:
                self.data += chunk

    def text(self):
        with self.lock:
            return self.data.decode("utf-8", "replace")


class StalledLogReaderTests(harness.ServiceTestCase):
    start_server = False

    def test_a_stalled_log_reader_holds_up_no_request(self):
        args = [harness.authsvc_bin(), "serve", "--listen", "127.0.0.1:0", "--keys", self.keys_dir, "--issuer",
                harness.ISSUER, "--db", self.db.conninfo, "--access-log", "-"]
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        startup = b""
        port = None
        while port is None:
            line = proc.stdout.readline()
            if not line:
                self.fail(f"the server exited before listening: {proc.wait()}\n{proc.stderr.read1(65536)}")
            startup += line
            match = harness._LISTENING.search(line.decode("utf-8", "replace"))
            port = int(match.group(1)) if match else None
        for pipe in (proc.stdout, proc.stderr):
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, 4096)

        # nobody reads either pipe now: every request must still be answered
        try:
            load = subprocess.run(["h2load", "-n", str(REQUESTS), "-c", "4", "-m", "10",
                                   f"http://127.0.0.1:{port}{JWKS_PATH}"], capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            self.fail("the server stopped answering while its log's reader was stalled")
        self.assertRegex(load.stdout, rf"status codes: {REQUESTS} 2xx", load.stdout)

        # the reader resumes: what got through is whole, and the drops are reported
        out, err = Drain(proc.stdout), Drain(proc.stderr)
        out.start()
        err.start()
        harness.wait_for("the report of the dropped lines", lambda: DROPPED.search(err.text()), context=err.text)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(60), 0, err.text())
        out.join(10)
        err.join(10)
        lines = [line for line in out.text().splitlines() if line.startswith("{")]
        for line in lines:
            self.assertEqual(json.loads(line)["path"], JWKS_PATH, line)  # whole lines, never interleaved
        dropped = sum(int(n) for n in DROPPED.findall(err.text()))
        self.assertGreater(dropped, 0, "the pipes were never full?")
        # every access line was either written or counted (the count also holds any stderr line that was dropped)
        self.assertGreaterEqual(len(lines) + dropped, REQUESTS, f"{len(lines)} written, {dropped} counted")
        for line in err.text().splitlines():
            self.assertRegex(line, r"^\d{4}-\d\d-\d\dT[\d:.]+Z authsvc\[\d+\] \w+: ", line)
        # the queue was written out at exit: the last thing the main thread logged is there
        self.assertIn("shutting down", err.text())


if __name__ == "__main__":
    harness.main()
