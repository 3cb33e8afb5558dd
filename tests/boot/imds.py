#!/usr/bin/env python3
"""The stand-in metadata service of tests/standins/imds.py, on a given address and port.

Usage: imds.py ADDRESS PORT ROOT. The boot test (tests/boot.rs) runs it in the container's network
namespace on 169.254.169.254:80, the address the helpers really call; tests/standins/imds.py
itself binds 127.0.0.1 on a free port. Everything else (IMDSv2 sessions, files under ROOT, 404 for
spot/instance-action until the host writes it, ROOT/requests.log) is that stand-in's.

One switch of its own, for the host: while a file ROOT/failing/PATH holds a number of seconds S,
GET /PATH answers 500 for S seconds from the first GET of it (whenever the boot gets there), each
such answer logged in ROOT/requests.log as "GET /PATH 500 (failing on purpose)".
"""
import http.server
import os
import runpy
import sys
import threading
import time

ADDRESS, PORT, ROOT = sys.argv[1], int(sys.argv[2]), sys.argv[3]
STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "standins", "imds.py")
FIRST_GET = {}
LOCK = threading.Lock()


def failing(path):
    """Whether GET /path is to fail now: ROOT/failing/path holds S, and the first GET of it was
    less than S seconds ago."""
    rel = path.lstrip("/")
    if ".." in rel:
        return False
    try:
        with open(os.path.join(ROOT, "failing", rel)) as f:
            seconds = float(f.read().strip() or "0")
    except (OSError, ValueError):
        return False
    with LOCK:
        first = FIRST_GET.setdefault(rel, time.time())
    return time.time() - first < seconds


class Bound(http.server.HTTPServer):
    def __init__(self, _address, handler):
        class Failing(handler):
            def do_GET(self):
                if failing(self.path):
                    with open(os.path.join(ROOT, "requests.log"), "a") as f:
                        f.write(f"{self.command} {self.path} 500 (failing on purpose)\n")
                    self.reply(500, b"stand-in: failing on purpose\n")
                    return
                super().do_GET()

        super().__init__((ADDRESS, PORT), Failing)


http.server.HTTPServer = Bound
sys.argv = [STANDIN, ROOT]
runpy.run_path(STANDIN, run_name="__main__")
