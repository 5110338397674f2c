"""A local stand-in for a brand's SMS/WeCom gateway: verifies the signature, sends each idempotency key once
(a repeat is acknowledged, not sent again), and can misbehave on request: be slow, fail with 5xx, refuse."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from apps.engagement.delivery import sign


class Gateway:
    def __init__(self, secret: str):
        self.secret = secret
        self.requests: list[dict] = []  # every request received, in order
        self.sent: dict[str, dict] = {}  # key -> payload: what reached customers (once per key)
        self.bad_signatures = 0
        self.slow_first: set[str] = set()  # keys whose first request answers after `delay` seconds
        self.fail_first: set[str] = set()  # keys whose first request gets a 503
        self.refuse: set[str] = set()  # keys answered 400
        self.delay = 1.0
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                timestamp = self.headers.get("X-CLV-Timestamp", "")
                signature = self.headers.get("X-CLV-Signature", "").removeprefix("sha256=")
                if signature != sign(gateway.secret, timestamp, body):
                    gateway.bad_signatures += 1
                    return self._answer(401, {"error": "bad signature"})
                payload = json.loads(body)
                key = self.headers["Idempotency-Key"]
                with gateway.lock:
                    first = not any(r["key"] == key for r in gateway.requests)
                    gateway.requests.append({"key": key, "payload": payload})
                if key in gateway.refuse:
                    return self._answer(400, {"error": "unknown recipient"})
                if first and key in gateway.fail_first:
                    return self._answer(503, {"error": "busy"})
                with gateway.lock:
                    gateway.sent.setdefault(key, payload)  # the gateway sends a key once
                if first and key in gateway.slow_first:
                    time.sleep(gateway.delay)  # sent, but the answer comes too late for the client
                return self._answer(200, {"status": "accepted"})

            def _answer(self, status, data):
                raw = json.dumps(data).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
