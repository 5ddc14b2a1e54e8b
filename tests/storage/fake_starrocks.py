#!/usr/bin/env python3
"""A StarRocks Stream Load stand-in for contract tests of the starrocks:// sink.

It follows the documented protocol, not StarRocks' code:
  FE  PUT /api/{db}/{table}/_stream_load  -> needs Basic auth and
      "Expect: 100-continue" (else a FAILED answer), then 307 to the BE.
  BE  same path -> needs Basic auth again (curl drops it on redirect unless
      told otherwise) and a label; loads a JSON array (strip_outer_array)
      into a Primary Key table (same key -> row replaced) and answers JSON
      with Status, NumberLoadedRows, NumberFilteredRows, Message, ErrorURL.
      A reused label answers "Label Already Exists" + ExistingJobStatus.
Test hooks on the FE port:
  POST /control {"fail_5xx": N, "drop_after_commit": N, "running": N,
                 "transient_fail": N, "reject_entity": "x"}
  POST /reset   forget everything
  GET  /state   {"tables": {...}, "labels": {...}, "counters": {...}}
Prints "FE_PORT BE_PORT" on stdout once both listen (127.0.0.1 only).
"""
import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Primary keys of the schema at its current version (storage/schema/starrocks,
# v5: digest keys; v7: actions).  A load whose row key encodes to more than
# PRIMARY_KEY_LIMIT bytes fails whole, as StarRocks' primary_key_limit_size
# (default 128) makes it; a key column missing from a row fails it too.
KEYS = {
    "rule_results": ("event_day", "row_key"),
    "decisions": ("event_day", "row_key"),
    "actions": ("event_day", "row_key"),
    "rule_runs": ("run_id",),
    "rule_versions": ("row_key",),
}
PRIMARY_KEY_LIMIT = 128


def key_size(table, row):
    """Encoded primary key bytes: DATE 4, INT 4, strings their UTF-8 length."""
    n = 0
    for col in KEYS.get(table, ()):
        v = row.get(col)
        if col == "event_day":
            n += 4
        elif isinstance(v, int):
            n += 4
        elif isinstance(v, str):
            n += len(v.encode())
    return n

lock = threading.Lock()
state = {}


def reset():
    state.clear()
    state.update(tables={}, labels={}, pending={}, counters=dict(
        fe_requests=0, be_requests=0, fe_no_expect=0, auth_failures=0, loads=0,
        answered_5xx=0, dropped=0, label_exists=0, rejected=0, transient=0),
        control=dict(fail_5xx=0, drop_after_commit=0, running=0, transient_fail=0,
                     reject_entity=None))


reset()
USER, PASSWORD = "root", ""
BE_PORT = 0


def auth_ok(handler):
    want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return handler.headers.get("Authorization") == want


def commit(table, rows):
    t = state["tables"].setdefault(table, {})
    key = KEYS.get(table)
    for r in rows:
        k = json.dumps([r.get(c) for c in key]) if key else json.dumps(r, sort_keys=True)
        t[k] = r
    state["counters"]["loads"] += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    role = "fe"

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, obj=None, close=False, extra=None):
        body = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # --- FE: answers the Expect itself, with a redirect or an error -------
    def handle_expect_100(self):
        if self.role == "be":
            return super().handle_expect_100()
        with lock:
            state["counters"]["fe_requests"] += 1
            if not auth_ok(self):
                state["counters"]["auth_failures"] += 1
                self.answer(401, {"Status": "FAILED", "Msg": "Access denied"}, close=True)
                return False
        loc = f"http://127.0.0.1:{BE_PORT}{self.path}"
        self.answer(307, None, close=True, extra={"Location": loc})
        return False

    def do_PUT(self):
        if self.role == "fe":
            # Reached only without "Expect: 100-continue".
            self.read_body()
            with lock:
                state["counters"]["fe_requests"] += 1
                state["counters"]["fe_no_expect"] += 1
            self.answer(200, {"Status": "FAILED", "Msg": "There is no 100-continue header"})
            return
        self.be_put()

    def be_put(self):
        body = self.read_body()
        parts = self.path.split("/")
        table = parts[3] if len(parts) > 4 else ""
        label = self.headers.get("label", "")
        with lock:
            c, ctl = state["counters"], state["control"]
            c["be_requests"] += 1
            if not auth_ok(self):
                c["auth_failures"] += 1
                self.answer(401, {"Status": "FAILED", "Msg": "Access denied"})
                return
            if not label or self.headers.get("format") != "json" or \
                    self.headers.get("strip_outer_array") != "true":
                self.answer(200, {"Status": "Fail", "Message": "missing label/format/strip_outer_array"})
                return
            if ctl["fail_5xx"] > 0:
                ctl["fail_5xx"] -= 1
                c["answered_5xx"] += 1
                self.answer(503, {"Status": "FAILED", "Msg": "BE is restarting"})
                return
            if label in state["labels"]:
                c["label_exists"] += 1
                st = state["labels"][label]
                if st == "RUNNING":
                    p = state["pending"][label]
                    if p["checks"] > 0:
                        p["checks"] -= 1
                    else:
                        commit(p["table"], p["rows"])
                        state["labels"][label] = st = "FINISHED"
                self.answer(200, {"Status": "Label Already Exists", "ExistingJobStatus": st,
                                  "Label": label, "Message": f"Label [{label}] has already been used."})
                return
            try:
                rows = json.loads(body)
                assert isinstance(rows, list)
            except Exception as e:  # noqa: BLE001
                self.answer(200, {"Status": "Fail", "Message": f"bad json: {e}", "NumberFilteredRows": 0})
                return
            if ctl["transient_fail"] > 0:
                ctl["transient_fail"] -= 1
                c["transient"] += 1
                self.answer(200, {"Status": "Fail", "Label": label, "NumberLoadedRows": 0,
                                  "NumberFilteredRows": 0,
                                  "Message": "Too many versions. tablet_id: 10086, version_count: 1001"})
                return
            key = KEYS.get(table, ())
            missing = [r for r in rows if any(r.get(k) is None for k in key)]
            big = [r for r in rows if key_size(table, r) > PRIMARY_KEY_LIMIT]
            if missing or big:
                c["rejected"] += 1
                why = ("primary key column is null" if missing else
                       f"primary key size exceed the limit: {key_size(table, big[0])} > "
                       f"{PRIMARY_KEY_LIMIT}")
                self.answer(200, {"Status": "Fail", "Label": label, "NumberTotalRows": len(rows),
                                  "NumberLoadedRows": 0, "NumberFilteredRows": 0,
                                  "Message": f"cancelled: {why}"})
                return
            bad = [r for r in rows if ctl["reject_entity"] is not None
                   and r.get("entity") == ctl["reject_entity"]]
            if bad:
                c["rejected"] += 1
                self.answer(200, {"Status": "Fail", "Label": label, "NumberTotalRows": len(rows),
                                  "NumberLoadedRows": len(rows) - len(bad),
                                  "NumberFilteredRows": len(bad),
                                  "Message": "too many filtered rows",
                                  "ErrorURL": f"http://127.0.0.1:{BE_PORT}/api/_load_error_log?file=x"})
                return
            if ctl["running"] > 0:
                checks = ctl["running"]
                ctl["running"] = 0
                state["labels"][label] = "RUNNING"
                state["pending"][label] = {"table": table, "rows": rows, "checks": checks}
                c["dropped"] += 1
                self.close_connection = True
                return  # no answer: the client times out / sees the close
            commit(table, rows)
            state["labels"][label] = "FINISHED"
            if ctl["drop_after_commit"] > 0:
                ctl["drop_after_commit"] -= 1
                c["dropped"] += 1
                self.close_connection = True
                return
            self.answer(200, {"TxnId": c["loads"], "Label": label, "Status": "Success",
                              "Message": "OK", "NumberTotalRows": len(rows),
                              "NumberLoadedRows": len(rows), "NumberFilteredRows": 0,
                              "NumberUnselectedRows": 0, "LoadBytes": len(body)})

    # --- test hooks ------------------------------------------------------
    def do_GET(self):
        if self.path == "/state":
            with lock:
                out = {"tables": {t: list(v.values()) for t, v in state["tables"].items()},
                       "labels": state["labels"], "counters": state["counters"]}
            self.answer(200, out)
        else:
            self.answer(404, {"Msg": "not found"})

    def do_POST(self):
        body = self.read_body()
        with lock:
            if self.path == "/reset":
                reset()
            elif self.path == "/control":
                state["control"].update(json.loads(body or b"{}"))
            else:
                self.answer(404, {"Msg": "not found"})
                return
        self.answer(200, {"ok": True})


class BEHandler(Handler):
    role = "be"


def main():
    global USER, PASSWORD, BE_PORT
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--user":
            USER = args.pop(0)
        elif a == "--password":
            PASSWORD = args.pop(0)
    fe = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    be = ThreadingHTTPServer(("127.0.0.1", 0), BEHandler)
    fe.daemon_threads = be.daemon_threads = True
    BE_PORT = be.server_address[1]
    threading.Thread(target=be.serve_forever, daemon=True).start()
    print(f"{fe.server_address[1]} {BE_PORT}", flush=True)
    try:
        fe.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
