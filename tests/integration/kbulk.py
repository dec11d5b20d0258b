#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Bulk helper for integration tests and bench/rewrite.sh: talks to a Kubernetes API server
with a client certificate over keep-alive HTTPS connections, one per thread.

  kbulk.py create  N_NS PER_NS SIZE   namespaces rw-0..; Secrets s-0.. with SIZE random bytes
  kbulk.py delete  EVERY              deletes every EVERY-th Secret (listed first), in a loop
  kbulk.py update  SECONDS            relabels random Secrets with PUTs until SECONDS pass

Environment: API_URL, CA, CERT, KEY; WORKERS (default 16). Exit 1 on any unexpected answer.
"""
import http.client
import json
import os
import random
import ssl
import sys
import threading
import time
import urllib.parse

URL = urllib.parse.urlparse(os.environ["API_URL"])
WORKERS = int(os.environ.get("WORKERS", "16"))


def context():
    ctx = ssl.create_default_context(cafile=os.environ["CA"])
    ctx.load_cert_chain(os.environ["CERT"], os.environ["KEY"])
    return ctx


class Client:
    def __init__(self):
        self.ctx = context()
        self.conn = None

    def req(self, method, path, body=None, ctype="application/json"):
        for attempt in range(20):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection(URL.hostname, URL.port,
                                                            context=self.ctx, timeout=30)
                hdrs = {"Accept": "application/json"}
                data = None
                if body is not None:
                    data = json.dumps(body).encode()
                    hdrs["Content-Type"] = ctype
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                out = r.read()
                if r.status in (429, 500, 502, 503, 504):
                    time.sleep(0.1 * (attempt + 1))
                    continue
                return r.status, out
            except (OSError, http.client.HTTPException):
                self.conn = None
                time.sleep(0.1 * (attempt + 1))
        raise RuntimeError("%s %s: no answer" % (method, path))


def run_parallel(jobs, fn):
    lock = threading.Lock()
    errors = []
    it = iter(jobs)

    def worker():
        c = Client()
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                return
            try:
                fn(c, job)
            except Exception as e:  # noqa: BLE001 - report and go on
                with lock:
                    errors.append(str(e))

    ts = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        sys.stderr.write("kbulk: %d errors, first: %s\n" % (len(errors), errors[0]))
        sys.exit(1)


def create(nns, per, size):
    def mkns(c, i):
        st, out = c.req("POST", "/api/v1/namespaces",
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "rw-%d" % i}})
        if st not in (201, 409):
            raise RuntimeError("namespace rw-%d: HTTP %d %s" % (i, st, out[:200]))

    run_parallel(range(nns), mkns)
    import base64

    def mk(c, job):
        ns, i = job
        val = base64.b64encode(os.urandom(size)).decode()
        body = {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "s-%d" % i, "namespace": ns, "labels": {"bulk": "yes"}},
                "type": "Opaque", "data": {"v": val, "n": base64.b64encode(b"%d" % i).decode()}}
        st, out = c.req("POST", "/api/v1/namespaces/%s/secrets" % ns, body)
        if st not in (201, 409):
            raise RuntimeError("secret %s/s-%d: HTTP %d %s" % (ns, i, st, out[:200]))

    run_parallel([("rw-%d" % n, i) for n in range(nns) for i in range(per)], mk)


def list_names(c):
    st, out = c.req("GET", "/api/v1/secrets")
    if st != 200:
        raise RuntimeError("list: HTTP %d" % st)
    return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in json.loads(out)["items"]]


def delete(every):
    names = list_names(Client())[::every]

    def rm(c, job):
        ns, name = job
        st, out = c.req("DELETE", "/api/v1/namespaces/%s/secrets/%s" % (ns, name))
        if st not in (200, 404):
            raise RuntimeError("delete %s/%s: HTTP %d" % (ns, name, st))

    run_parallel(names, rm)
    print(len(names))


def update(seconds):
    names = list_names(Client())
    end = time.time() + seconds
    count = [0]
    lock = threading.Lock()

    def upd(c, _):
        while time.time() < end:
            ns, name = random.choice(names)
            st, out = c.req("PATCH", "/api/v1/namespaces/%s/secrets/%s" % (ns, name),
                            {"metadata": {"labels": {"touched": str(random.randint(0, 1 << 30))}}},
                            "application/merge-patch+json")
            # 409: the server gave up its own retries under contention, as kube-apiserver may
            if st not in (200, 404, 409):
                raise RuntimeError("patch %s/%s: HTTP %d" % (ns, name, st))
            with lock:
                count[0] += 1

    run_parallel(range(WORKERS), upd)
    print(count[0])


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "create":
        create(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "delete":
        delete(int(sys.argv[2]))
    elif cmd == "update":
        update(float(sys.argv[2]))
    else:
        sys.exit("unknown command " + cmd)
