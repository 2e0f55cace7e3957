#!/usr/bin/python3
"""A webhook receiver for the quickstart: checks keyfleet's HMAC-SHA256 signature and prints one
line per delivered event. Usage: webhook-receiver.py PORT SECRET_FILE (listens on 127.0.0.1)."""
import hashlib
import hmac
import http.server
import json
import sys

PORT = int(sys.argv[1])
with open(sys.argv[2], "rb") as f:
    SECRET = f.read().rstrip(b"\n")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        stamp = self.headers.get("X-Keyfleet-Timestamp", "")
        expected = "sha256=" + hmac.new(SECRET, stamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, self.headers.get("X-Keyfleet-Signature", ""))
        event = json.loads(body) if valid else {}
        key = event.get("data", {}).get("key", {})
        print("webhook received: %s (delivery %s%s), signature %s" % (
            event.get("event", "?"), event.get("id", "?"),
            ", key " + key["fingerprint"] if "fingerprint" in key else "",
            "valid" if valid else "INVALID"), flush=True)
        self.send_response(200 if valid else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
