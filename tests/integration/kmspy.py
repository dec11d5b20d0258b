#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Test-only KMS plugin and client built on Debian's python3-grpcio, an implementation
independent of rkc's C code: the messages come from compiling src/adapters/proto/*.proto with
grpc_tools at test time, the services are registered by hand with grpc's generic handlers.

  kmspy.py plugin --socket PATH [--key-id 1] [--key-id-file F]
      A plugin like kube-apiserver's Base64Plugin mock: the ciphertext of a DEK or seed is
      base64(plaintext), Encrypt/Status report the key id (re-read from --key-id-file when
      given, so tests can "rotate"), Encrypt adds the annotation
      local-kek.kms.kubernetes.io = "encrypted-local-kek". Serves v1beta1 and v2.
      Counts calls into PATH.calls (one line per call: method name).
  kmspy.py keyids < etcdctl-get-json
      Counts stored values by prefix and, for KMS v2, the EncryptedObject keyID (field 2).
  kmspy.py writes --server HOST:PORT --ca F --cert F --key F --prefix P --count N
      Creates Secrets P-0..P-N-1 one by one, printing "NAME STATUS message" per write.
  kmspy.py client --socket PATH --api v1|v2 [--expect-key-id ID]
      Calls Version/Status, Encrypt and Decrypt on a plugin and checks the round trip and,
      for v2, that Decrypt with the stored key id works; prints the key id (v2) on stdout.
"""
import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "src", "adapters", "proto")


def load_protos():
    out = tempfile.mkdtemp(prefix="kmspy.")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + PROTO_DIR,
                    "--python_out=" + out, "kms_v1beta1.proto", "kms_v2.proto"], check=True)
    sys.path.insert(0, out)
    import kms_v1beta1_pb2  # noqa: E402
    import kms_v2_pb2  # noqa: E402
    return kms_v1beta1_pb2, kms_v2_pb2


def run_plugin(args):
    import grpc
    v1, v2 = load_protos()
    calls_path = args.socket + ".calls"

    def key_id():
        if args.key_id_file:
            with open(args.key_id_file) as f:
                return f.read().strip()
        return args.key_id

    def count(name):
        with open(calls_path, "a") as f:
            f.write(name + "\n")

    def v2_status(req, ctx):
        count("v2.Status")
        return v2.StatusResponse(version="v2", healthz="ok", key_id=key_id())

    def v2_encrypt(req, ctx):
        count("v2.Encrypt")
        return v2.EncryptResponse(ciphertext=base64.b64encode(req.plaintext), key_id=key_id(),
                                  annotations={"local-kek.kms.kubernetes.io":
                                               b"encrypted-local-kek"})

    def v2_decrypt(req, ctx):
        count("v2.Decrypt")
        if not req.uid:
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "missing uid")
        return v2.DecryptResponse(plaintext=base64.b64decode(req.ciphertext))

    def v1_version(req, ctx):
        count("v1beta1.Version")
        return v1.VersionResponse(version="v1beta1", runtime_name="kmspy",
                                  runtime_version="0.1.0")

    def v1_encrypt(req, ctx):
        count("v1beta1.Encrypt")
        if req.version != "v1beta1":
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad version " + req.version)
        return v1.EncryptResponse(cipher=base64.b64encode(req.plain))

    def v1_decrypt(req, ctx):
        count("v1beta1.Decrypt")
        return v1.DecryptResponse(plain=base64.b64decode(req.cipher))

    def unary(fn, req_cls, resp_cls):
        return grpc.unary_unary_rpc_method_handler(
            fn, request_deserializer=req_cls.FromString,
            response_serializer=resp_cls.SerializeToString)

    h2 = grpc.method_handlers_generic_handler("v2.KeyManagementService", {
        "Status": unary(v2_status, v2.StatusRequest, v2.StatusResponse),
        "Encrypt": unary(v2_encrypt, v2.EncryptRequest, v2.EncryptResponse),
        "Decrypt": unary(v2_decrypt, v2.DecryptRequest, v2.DecryptResponse),
    })
    h1 = grpc.method_handlers_generic_handler("v1beta1.KeyManagementService", {
        "Version": unary(v1_version, v1.VersionRequest, v1.VersionResponse),
        "Encrypt": unary(v1_encrypt, v1.EncryptRequest, v1.EncryptResponse),
        "Decrypt": unary(v1_decrypt, v1.DecryptRequest, v1.DecryptResponse),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((h2, h1))
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    server.add_insecure_port("unix://" + args.socket)
    server.start()
    print("kmspy plugin serving on unix://" + args.socket, file=sys.stderr, flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        pass


def run_client(args):
    import grpc
    v1, v2 = load_protos()
    ch = grpc.insecure_channel("unix://" + args.socket)

    def call(method, req, resp_cls):
        fn = ch.unary_unary(method, request_serializer=type(req).SerializeToString,
                            response_deserializer=resp_cls.FromString)
        return fn(req, timeout=5)

    secret = os.urandom(32)
    if args.api == "v2":
        st = call("/v2.KeyManagementService/Status", v2.StatusRequest(), v2.StatusResponse)
        assert st.healthz == "ok", st
        assert st.version == "v2", st
        assert st.key_id, st
        if args.expect_key_id:
            assert st.key_id == args.expect_key_id, (st.key_id, args.expect_key_id)
        enc = call("/v2.KeyManagementService/Encrypt",
                   v2.EncryptRequest(plaintext=secret, uid=str(uuid.uuid4())),
                   v2.EncryptResponse)
        assert enc.key_id == st.key_id, (enc.key_id, st.key_id)
        assert enc.ciphertext and secret not in enc.ciphertext
        dec = call("/v2.KeyManagementService/Decrypt",
                   v2.DecryptRequest(ciphertext=enc.ciphertext, uid=str(uuid.uuid4()),
                                     key_id=enc.key_id, annotations=dict(enc.annotations)),
                   v2.DecryptResponse)
        assert dec.plaintext == secret
        # a tampered ciphertext must be refused
        bad = bytearray(enc.ciphertext)
        bad[-1] ^= 1
        try:
            call("/v2.KeyManagementService/Decrypt",
                 v2.DecryptRequest(ciphertext=bytes(bad), uid="x", key_id=enc.key_id),
                 v2.DecryptResponse)
            raise AssertionError("tampered ciphertext decrypted")
        except grpc.RpcError as e:
            assert e.code() != grpc.StatusCode.OK
        print(st.key_id)
    else:
        ver = call("/v1beta1.KeyManagementService/Version", v1.VersionRequest(version="v1beta1"),
                   v1.VersionResponse)
        assert ver.version == "v1beta1", ver
        assert ver.runtime_name, ver
        enc = call("/v1beta1.KeyManagementService/Encrypt",
                   v1.EncryptRequest(version="v1beta1", plain=secret), v1.EncryptResponse)
        assert enc.cipher and secret not in enc.cipher
        dec = call("/v1beta1.KeyManagementService/Decrypt",
                   v1.DecryptRequest(version="v1beta1", cipher=enc.cipher), v1.DecryptResponse)
        assert dec.plain == secret
        print(ver.runtime_name + " " + ver.runtime_version)


def pb_fields(buf):
    """Minimal proto3 decoder: yields (field number, wire type, value)."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def run_keyids(args):
    """etcdctl get --prefix -w json on stdin: one line per distinct (provider prefix, keyID)."""
    import collections
    import json
    d = json.load(sys.stdin)
    c = collections.Counter()
    for kv in d.get("kvs", []):
        v = base64.b64decode(kv["value"])
        if v.startswith(b"k8s:enc:kms:v2:"):
            name_end = v.index(b":", 15)
            prefix = v[:name_end + 1].decode()
            kid = [f[2] for f in pb_fields(v[name_end + 1:]) if f[0] == 2]
            c[prefix + " keyID=" + (kid[0].decode() if kid else "?")] += 1
        elif v.startswith(b"k8s:enc:"):
            c[b":".join(v.split(b":", 5)[:5]).decode() + ":"] += 1
        else:
            c["plaintext"] += 1
    for k, n in sorted(c.items()):
        print(k, n)


def run_writes(args):
    """POSTs --count Secrets named PREFIX-i, one every --interval s; one line per write:
    "NAME STATUS message"."""
    import http.client
    import json
    import ssl
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.load_cert_chain(args.cert, args.key)
    host, port = args.server.rsplit(":", 1)
    for i in range(args.count):
        name = "%s-%d" % (args.prefix, i)
        body = json.dumps({"apiVersion": "v1", "kind": "Secret",
                           "metadata": {"name": name, "namespace": "default"},
                           "data": {"v": base64.b64encode(name.encode()).decode()}})
        conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
        try:
            conn.request("POST", "/api/v1/namespaces/default/secrets", body,
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read().decode()
            msg = ""
            if r.status >= 300:
                try:
                    msg = json.loads(data).get("message", data)
                except ValueError:
                    msg = data
            print(name, r.status, msg, flush=True)
        except OSError as e:
            print(name, 0, "connection error: %s" % e, flush=True)
        finally:
            conn.close()
        time.sleep(args.interval)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plugin")
    p.add_argument("--socket", required=True)
    p.add_argument("--key-id", default="1")
    p.add_argument("--key-id-file")
    c = sub.add_parser("client")
    c.add_argument("--socket", required=True)
    c.add_argument("--api", choices=["v1", "v2"], required=True)
    c.add_argument("--expect-key-id")
    sub.add_parser("keyids")
    w = sub.add_parser("writes")
    w.add_argument("--server", required=True)  # host:port
    w.add_argument("--ca", required=True)
    w.add_argument("--cert", required=True)
    w.add_argument("--key", required=True)
    w.add_argument("--prefix", required=True)
    w.add_argument("--count", type=int, required=True)
    w.add_argument("--interval", type=float, default=0.05)
    args = ap.parse_args()
    if args.cmd == "plugin":
        run_plugin(args)
    elif args.cmd == "client":
        run_client(args)
    elif args.cmd == "keyids":
        run_keyids(args)
    else:
        run_writes(args)


if __name__ == "__main__":
    main()
