#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A strict API client for tests: creates, reads, updates and deletes its own Secrets and reads
existing ones, without retrying, until STOP_FILE exists. Every request that fails (connection
refused or reset mid-request, a 5xx, a wrong answer, data that reads back different) is
counted. Prints "churn: N requests, F failed" and exits 1 when F > 0.

Environment: API_URL, CA, CERT, KEY, STOP_FILE; READ_NS/READ_PER (bulk secrets rw-<i>/s-<j>
to read), WORKERS (default 4), CHURN_ID (name prefix, default "c").
"""
import base64
import http.client
import json
import os
import random
import ssl
import sys
import threading
import urllib.parse

URL = urllib.parse.urlparse(os.environ["API_URL"])
STOP = os.environ["STOP_FILE"]
READ_NS = int(os.environ.get("READ_NS", "0"))
READ_PER = int(os.environ.get("READ_PER", "0"))
WORKERS = int(os.environ.get("WORKERS", "4"))
ID = os.environ.get("CHURN_ID", "c")  # name prefix, so several churn processes can run at once
lock = threading.Lock()
stats = {"requests": 0, "failed": 0}
failures = []


def fail(msg):
    with lock:
        stats["failed"] += 1
        if len(failures) < 20:
            failures.append(msg)


class Conn:
    def __init__(self):
        self.ctx = ssl.create_default_context(cafile=os.environ["CA"])
        self.ctx.load_cert_chain(os.environ["CERT"], os.environ["KEY"])
        self.c = None

    def req(self, method, path, body=None):
        hdrs = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        # One transparent retry only when an idle keep-alive connection was closed by the
        # server before it read the request (what every HTTP client does); anything else fails.
        for fresh in (False, True):
            if self.c is None or fresh:
                self.c = http.client.HTTPSConnection(URL.hostname, URL.port, context=self.ctx,
                                                     timeout=30)
                reused = False
            else:
                reused = True
            try:
                self.c.request(method, path, body=data, headers=hdrs)
                r = self.c.getresponse()
                out = r.read()
                with lock:
                    stats["requests"] += 1
                return r.status, out
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self.c = None
                if reused and not fresh:
                    continue
                with lock:
                    stats["requests"] += 1
                fail("%s %s: %r" % (method, path, e))
                return None, b""
            except OSError as e:
                self.c = None
                with lock:
                    stats["requests"] += 1
                fail("%s %s: %r" % (method, path, e))
                return None, b""
        return None, b""


def secret(ns, name, value):
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "data": {"v": base64.b64encode(value.encode()).decode()}}


def expect(st, want, what):
    if st not in want:
        fail("%s: HTTP %s" % (what, st))
        return False
    return True


def worker(wid):
    c = Conn()
    ns = "churn"
    i = 0
    while not os.path.exists(STOP):
        i += 1
        name = "%s-%d-%d" % (ID, wid, i)
        base = "/api/v1/namespaces/%s/secrets" % ns
        v1 = "v1-%d" % random.getrandbits(64)
        st, _ = c.req("POST", base, secret(ns, name, v1))
        if not expect(st, (201,), "create " + name):
            continue
        st, out = c.req("GET", base + "/" + name)
        if expect(st, (200,), "get " + name):
            got = base64.b64decode(json.loads(out)["data"]["v"]).decode()
            if got != v1:
                fail("get %s: read back %r" % (name, got))
        obj = json.loads(out) if st == 200 else secret(ns, name, v1)
        v2 = "v2-%d" % random.getrandbits(64)
        obj["data"]["v"] = base64.b64encode(v2.encode()).decode()
        st, _ = c.req("PUT", base + "/" + name, obj)
        expect(st, (200,), "update " + name)
        st, out = c.req("GET", base + "/" + name)
        if expect(st, (200,), "get2 " + name):
            got = base64.b64decode(json.loads(out)["data"]["v"]).decode()
            if got != v2:
                fail("get2 %s: read back %r" % (name, got))
        if READ_NS and READ_PER:
            rn, rs = random.randrange(READ_NS), random.randrange(READ_PER)
            st, _ = c.req("GET", "/api/v1/namespaces/rw-%d/secrets/s-%d" % (rn, rs))
            expect(st, (200,), "read rw-%d/s-%d" % (rn, rs))
        st, _ = c.req("DELETE", base + "/" + name)
        expect(st, (200, 202), "delete " + name)


def main():
    c = Conn()
    st, _ = c.req("POST", "/api/v1/namespaces",
                  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "churn"}})
    if st not in (201, 409):
        print("churn: cannot create namespace: HTTP %s" % st)
        return 1
    ts = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("churn: %d requests, %d failed" % (stats["requests"], stats["failed"]))
    for f in failures:
        print("  " + f)
    return 1 if stats["failed"] else 0


sys.exit(main())
