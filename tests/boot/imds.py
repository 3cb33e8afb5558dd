#!/usr/bin/env python3
"""The stand-in metadata service of tests/standins/imds.py, on a given address and port.

Usage: imds.py ADDRESS PORT ROOT. The boot test (tests/boot.rs) runs it in the container's network
namespace on 169.254.169.254:80, the address the helpers really call; tests/standins/imds.py
itself binds 127.0.0.1 on a free port. Everything else (IMDSv2 sessions, files under ROOT, 404 for
spot/instance-action until the host writes it, ROOT/requests.log) is that stand-in's.
"""
import http.server
import os
import runpy
import sys

ADDRESS, PORT, ROOT = sys.argv[1], int(sys.argv[2]), sys.argv[3]
STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "standins", "imds.py")


class Bound(http.server.HTTPServer):
    def __init__(self, _address, handler):
        super().__init__((ADDRESS, PORT), handler)


http.server.HTTPServer = Bound
sys.argv = [STANDIN, ROOT]
runpy.run_path(STANDIN, run_name="__main__")
