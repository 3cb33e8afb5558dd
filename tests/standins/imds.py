#!/usr/bin/env python3
"""Stand-in for the EC2 instance metadata service (IMDSv2) and the runner's metrics endpoint.

Usage: imds.py ROOT. Serves on 127.0.0.1, prints the port on its first line of output.
PUT /latest/api/token needs the TTL header and returns a session token; GET /latest/meta-data/PATH
needs that token in X-aws-ec2-metadata-token and returns ROOT/latest/meta-data/PATH, 404 when the
file does not exist (as for spot/instance-action before a notice). Other GETs serve ROOT/PATH.
Every request is appended to ROOT/requests.log.
"""
import http.server
import os
import sys

ROOT = sys.argv[1]
TOKEN = "standin-imds-session"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def record(self):
        with open(os.path.join(ROOT, "requests.log"), "a") as f:
            f.write(f"{self.command} {self.path}\n")

    def reply(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        self.record()
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self.reply(200, TOKEN.encode())
        else:
            self.reply(400)

    def do_GET(self):
        self.record()
        path = self.path.lstrip("/")
        if path.startswith("latest/meta-data/") and self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            self.reply(401)
            return
        file = os.path.join(ROOT, path)
        if ".." in path or not os.path.isfile(file):
            self.reply(404)
            return
        with open(file, "rb") as f:
            self.reply(200, f.read())


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
