"""A webhook receiver for the integration tests, run with the venv's python:

    /var/lib/onramp-webhooks/bin/python3 tests/servers/webhooks/receiver.py --port 0

Binds 127.0.0.1 only, prints exactly `listening <port>` as its first stdout line
(nothing else goes to stdout), serves until killed, and exits by itself once its
parent process dies. Request logs and tracebacks go to stderr only with --verbose
(a test that pipes stderr and never reads it must not block the server).

Deliveries
  POST /hook/<name>        a delivery for endpoint <name>. The body (at most 1 MiB,
                           413 beyond; Content-Length or chunked) is recorded, its
                           Standard Webhooks signature checked against each of the
                           endpoint's secrets (standardwebhooks.Webhook.verify), its
                           CloudEvent parsed with the cloudevents SDK (structured or
                           binary mode), then answered per the endpoint's behaviour
                           (default 204, no body).
Control
  PUT /_secrets/<name>     {"secrets": ["whsec_...", ...]}            -> 204
  PUT /_behaviour/<name>   {} (default 204) | {"status": 500}
                           | {"status": 302, "location": "http://127.0.0.1:P/hook/x"}
                           | {"hang": true} (record, then never answer: hold the
                             connection up to 300 s, or "seconds": N <= 300, then
                             close it)                                  -> 204
                           applies to deliveries that arrive later.
  GET /_received/<name>    200, JSON list of records in arrival order (hanging ones
                           included, with "answered": null).
Record
  {"endpoint", "webhook_id", "webhook_timestamp", "webhook_signature", "content_type"
   (the headers' values, null when absent), "all_headers" (lower-cased names),
   "body_size", "verified_with": [indexes of the secrets that verify],
   "verify_error": text of the first failure or null,
   "event": {specversion, id, type, source, subject, time, datacontenttype, data,
   extensions} or null, "parse_error": text or null, "answered": status or null
   (hang), "received_at": unix seconds (float)}
"""

import argparse
import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import standardwebhooks

try:  # cloudevents 1.x
    from cloudevents.http import from_http as ce_from_http
except ImportError:  # cloudevents 2.x keeps the 1.x API under cloudevents.v1
    from cloudevents.v1.http import from_http as ce_from_http

MAX_BODY = 1024 * 1024  # deliveries and control bodies
DRAIN_LIMIT = 16 * 1024 * 1024  # an oversized body up to this is read and dropped before the 413
MAX_HANG = 300.0
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type")
EVENT_FIELDS = ("specversion", "id", "type", "source", "subject", "time", "datacontenttype")
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")
CORE_ATTRIBUTES = set(EVENT_FIELDS) | {"dataschema", "data", "data_base64"}

VERBOSE = False
lock = threading.Lock()
endpoints = {}  # name -> {"secrets": [...], "behaviour": {...}, "records": [...]}


def endpoint(name):
    """The state of one endpoint; call with the lock held."""
    ep = endpoints.get(name)
    if ep is None:
        ep = endpoints[name] = {"secrets": [], "behaviour": {}, "records": []}
    return ep


class BodyTooLarge(Exception):
    def __init__(self, size, drained):
        super().__init__(f"request body of {size} bytes is over the limit of {MAX_BODY} bytes")
        self.size = size
        self.drained = drained  # whether the rest of the body was read (the connection stays usable)


class BadRequest(Exception):
    pass


def jsonable(value):
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def error_text(e):
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def verify(secrets, body, headers):
    verified, first_error = [], None
    for i, secret in enumerate(secrets):
        try:
            standardwebhooks.Webhook(secret).verify(body, headers, json_parse=False)
            verified.append(i)
        except Exception as e:  # WebhookVerificationError, bad base64, bad header syntax, ...
            if first_error is None:
                plain = isinstance(e, standardwebhooks.webhooks.WebhookVerificationError)
                first_error = (str(e) or type(e).__name__) if plain else error_text(e)
    return verified, first_error


def sent_attributes(headers, body):
    """The names of the attributes the sender put in (the 1.x SDK fills in a missing id
    and time itself, which would hide a sender that left them out)."""
    if "ce-specversion" in headers:  # binary mode
        return {k[3:] for k in headers if k.startswith("ce-")} | (
            {"datacontenttype"} if "content-type" in headers else set())
    try:
        raw = json.loads(body)
    except ValueError:
        return None
    return {str(k).lower() for k in raw} if isinstance(raw, dict) else None


def parse_event(headers, body):
    try:
        ev = ce_from_http(headers, body)
    except Exception as e:
        return None, error_text(e)
    attrs = dict(ev.get_attributes())
    sent = sent_attributes(headers, body)
    if sent is not None:
        missing = [k for k in REQUIRED_ATTRIBUTES if k not in sent]
        if missing:
            return None, f"MissingRequiredFields: missing required attributes {missing}"
        attrs = {k: v for k, v in attrs.items() if k in sent}
    out = {k: jsonable(attrs.get(k)) for k in EVENT_FIELDS}
    out["data"] = jsonable(ev.get_data())
    out["extensions"] = {k: jsonable(v) for k, v in attrs.items() if k not in CORE_ATTRIBUTES}
    return out, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "onramp-webhook-receiver"
    sys_version = ""

    def log_message(self, fmt, *args):
        if VERBOSE:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    # -- plumbing ---------------------------------------------------------------------

    def read_body(self):
        """The request body, at most MAX_BODY bytes; raises BodyTooLarge or BadRequest."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            return self.read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            raise BadRequest(f"bad Content-Length {length!r}")
        if n > MAX_BODY:
            drained = n <= DRAIN_LIMIT
            if drained:
                left = n
                while left > 0:
                    got = self.rfile.read(min(left, 65536))
                    if not got:
                        break
                    left -= len(got)
            raise BodyTooLarge(n, drained)
        body = self.rfile.read(n)
        if len(body) != n:
            raise BadRequest("body shorter than its Content-Length")
        return body

    def read_chunked(self):
        parts, total, drained_all = [], 0, True
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise BadRequest("connection closed inside a chunked body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest(f"bad chunk size line {line!r}")
            if size == 0:
                break
            total += size
            if total > DRAIN_LIMIT:
                drained_all = False
                break
            data = self.rfile.read(size)
            if len(data) != size:
                raise BadRequest("connection closed inside a chunk")
            if total <= MAX_BODY:
                parts.append(data)
            self.rfile.readline(1024)  # CRLF after the chunk
        if drained_all:
            while True:  # trailers, up to the empty line
                line = self.rfile.readline(8192)
                if line in (b"\r\n", b"\n", b""):
                    break
        if total > MAX_BODY:
            raise BodyTooLarge(total, drained_all)
        return b"".join(parts)

    def answer(self, status, body=b"", content_type=None, extra=(), close=False):
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.wfile.flush()

    def answer_json(self, status, value):
        self.answer(status, json.dumps(value).encode(), "application/json")

    def answer_error(self, status, text, close=False):
        self.answer(status, json.dumps({"error": text}).encode(), "application/json", close=close)

    def route(self):
        """(kind, name) from the path: /hook/<name>, /_secrets/<name>, ..."""
        path = urlsplit(self.path).path
        parts = path.split("/")
        if len(parts) != 3 or parts[0] != "" or not parts[2]:
            return None, None
        return parts[1], unquote(parts[2])

    def read_control_json(self):
        try:
            body = self.read_body()
        except BodyTooLarge as e:
            self.answer_error(413, str(e), close=not e.drained)
            return None
        except BadRequest as e:
            self.answer_error(400, str(e), close=True)
            return None
        try:
            value = json.loads(body or b"{}")
        except ValueError as e:
            self.answer_error(400, f"body is not JSON: {e}")
            return None
        if not isinstance(value, dict):
            self.answer_error(400, "body must be a JSON object")
            return None
        return value

    # -- methods ----------------------------------------------------------------------

    def do_GET(self):
        kind, name = self.route()
        if kind != "_received":
            return self.answer_error(404, f"no such path {self.path}")
        with lock:
            records = list(endpoints[name]["records"]) if name in endpoints else []
            body = json.dumps(records).encode()
        self.answer(200, body, "application/json")

    def do_PUT(self):
        kind, name = self.route()
        if kind not in ("_secrets", "_behaviour"):
            return self.answer_error(404, f"no such path {self.path}")
        value = self.read_control_json()
        if value is None:
            return
        if kind == "_secrets":
            secrets = value.get("secrets")
            if not isinstance(secrets, list) or not all(isinstance(s, str) for s in secrets):
                return self.answer_error(400, 'want {"secrets": ["whsec_...", ...]}')
            with lock:
                endpoint(name)["secrets"] = list(secrets)
            return self.answer(204)
        behaviour = {}
        if value.get("hang"):
            seconds = value.get("seconds", MAX_HANG)
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
                return self.answer_error(400, '"seconds" must be a number >= 0')
            behaviour = {"hang": True, "seconds": min(float(seconds), MAX_HANG)}
        elif "status" in value or "location" in value:
            status = value.get("status", 302)
            if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
                return self.answer_error(400, '"status" must be an integer from 200 to 599')
            location = value.get("location")
            if location is not None and not isinstance(location, str):
                return self.answer_error(400, '"location" must be a string')
            behaviour = {"status": status, "location": location}
        with lock:
            endpoint(name)["behaviour"] = behaviour
        self.answer(204)

    def do_POST(self):
        kind, name = self.route()
        if kind != "hook":
            return self.answer_error(404, f"no such path {self.path}")
        all_headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            all_headers[k] = f"{all_headers[k]}, {v}" if k in all_headers else v
        record = {"endpoint": name}
        record.update({h.replace("-", "_"): all_headers.get(h) for h in SIGNATURE_HEADERS})
        record["all_headers"] = all_headers
        too_large = None
        try:
            body = self.read_body()
        except BadRequest as e:
            return self.answer_error(400, str(e), close=True)
        except BodyTooLarge as e:
            too_large = e
            body = b""
        with lock:
            ep = endpoint(name)
            secrets = list(ep["secrets"])
            behaviour = dict(ep["behaviour"])
        if too_large is not None:
            record.update(body_size=too_large.size, verified_with=[], verify_error=str(too_large),
                          event=None, parse_error=str(too_large), answered=413)
        else:
            verified, verify_error = verify(secrets, body, all_headers)
            event, parse_error = parse_event(all_headers, body)
            record.update(body_size=len(body), verified_with=verified, verify_error=verify_error,
                          event=event, parse_error=parse_error,
                          answered=None if behaviour.get("hang") else behaviour.get("status", 204))
        record["received_at"] = time.time()
        with lock:
            endpoint(name)["records"].append(record)

        if too_large is not None:
            return self.answer_error(413, str(too_large), close=not too_large.drained)
        if behaviour.get("hang"):
            time.sleep(behaviour["seconds"])  # holds only this connection's thread
            self.close_connection = True
            return
        status = behaviour.get("status", 204)
        extra = [("Location", behaviour["location"])] if behaviour.get("location") else []
        self.answer(status, extra=extra)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if VERBOSE:
            super().handle_error(request, client_address)


def watch_parent():
    parent = os.getppid()
    if parent == 1:
        return  # started without a parent to watch
    while True:
        time.sleep(1)
        if os.getppid() != parent:
            os._exit(0)


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description="webhook receiver for the integration tests")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    ap.add_argument("--verbose", action="store_true", help="log requests and errors to stderr")
    args = ap.parse_args()
    VERBOSE = args.verbose
    server = Server(("127.0.0.1", args.port), Handler)
    threading.Thread(target=watch_parent, daemon=True, name="parent-watch").start()
    sys.stdout.write(f"listening {server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
