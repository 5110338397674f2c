"""A minimal gateway for bench/followup.py: answers every POST with 200 {"status": "accepted"} and counts
distinct idempotency keys. Run as `python bench/_gateway_stub.py PORT`; prints "ready" when listening and,
on SIGTERM, the number of requests and distinct keys."""

import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

requests, keys = [0], set()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed-ACK stall)
    wbufsize = 64 * 1024  # one write per response; flushed after each request

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            requests[0] += 1
            keys.add(self.headers.get("Idempotency-Key"))
        body = b'{"status":"accepted"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True

    def stop(*_):
        print(f"{requests[0]} {len(keys)}", flush=True)
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
