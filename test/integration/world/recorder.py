#!/usr/bin/python3
"""test/integration/world/recorder — the far side: listeners that write down what reached them.

usage: recorder.py LOG [--cert CERT --key KEY] SPEC...
SPEC: tcp:ADDR:PORT | tls:ADDR:PORT | udp:ADDR:PORT   (ADDR may be [v6] or 0.0.0.0)

One JSON line per event in LOG (flushed at once):
  {"ev":"accept","proto":"tcp|tls","local":"A:P","peer":"A:P"}   a TCP connection was accepted
  {"ev":"hello","local":..,"sni":NAME}                             a TLS ClientHello arrived
  {"ev":"data","proto":..,"local":..,"first":LINE,"bytes":N}       the first bytes (or the HTTP request line)
  {"ev":"udp","local":..,"peer":..,"bytes":N,"first":HEX}          a datagram (echoed back)
HTTP requests (plain or inside TLS) get `200 ok LOCAL PATH`. Listens with IP_FREEBIND so an
address may appear after the listener starts. Prints "ready" on stdout when every listener is up.
"""
import json
import socket
import ssl
import sys
import threading

FREEBIND = 15
lock = threading.Lock()
args = sys.argv[1:]
log = open(args.pop(0), "a", buffering=1)
cert = key = None
specs = []
while args:
    a = args.pop(0)
    if a == "--cert":
        cert = args.pop(0)
    elif a == "--key":
        key = args.pop(0)
    else:
        specs.append(a)


def write(obj):
    with lock:
        log.write(json.dumps(obj) + "\n")


def split(spec):
    proto, rest = spec.split(":", 1)
    addr, port = rest.rsplit(":", 1)
    return proto, addr.strip("[]"), int(port)


def fmt(sa):
    return ("[%s]:%d" if ":" in sa[0] else "%s:%d") % (sa[0], sa[1])


def bound(kind, addr, port):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IP, FREEBIND, 1)
    s.bind((addr, port))
    return s


def serve_conn(conn, proto, local, peer, ctx):
    conn.settimeout(3)
    try:
        if proto == "tls":
            conn = ctx.wrap_socket(conn, server_side=True)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        if data:
            first = data.split(b"\r\n", 1)[0].decode("latin-1")[:200]
            write({"ev": "data", "proto": proto, "local": local, "peer": peer, "first": first, "bytes": len(data)})
            if first.split(" ")[0] in ("GET", "POST", "HEAD", "PUT"):
                path = first.split(" ")[1] if len(first.split(" ")) > 1 else "/"
                body = ("ok %s %s\n" % (local, path)).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
    except Exception as e:  # noqa: BLE001 - a probe may hang up at any point; note it and go on
        write({"ev": "error", "proto": proto, "local": local, "peer": peer, "error": str(e)[:200]})
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass


def tcp_loop(proto, addr, port, ctx):
    s = bound(socket.SOCK_STREAM, addr, port)
    s.listen(64)
    ready.release()
    while True:
        conn, peer = s.accept()
        local = fmt(conn.getsockname())
        write({"ev": "accept", "proto": proto, "local": local, "peer": fmt(peer)})
        threading.Thread(target=serve_conn, args=(conn, proto, local, fmt(peer), ctx), daemon=True).start()


def udp_loop(addr, port):
    s = bound(socket.SOCK_DGRAM, addr, port)
    ready.release()
    while True:
        data, peer = s.recvfrom(65535)
        write({"ev": "udp", "local": "%s:%d" % (addr, port), "peer": fmt(peer), "bytes": len(data), "first": data[:32].hex()})
        try:
            s.sendto(data, peer)
        except OSError:
            pass


ctx = None
if cert:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    def on_sni(sock, name, _ctx):
        write({"ev": "hello", "local": fmt(sock.getsockname()), "sni": name})

    ctx.sni_callback = on_sni

ready = threading.Semaphore(0)
for spec in specs:
    proto, addr, port = split(spec)
    if proto == "udp":
        threading.Thread(target=udp_loop, args=(addr, port), daemon=True).start()
    else:
        threading.Thread(target=tcp_loop, args=(proto, addr, port, ctx), daemon=True).start()
for _ in specs:
    ready.acquire()
print("ready", flush=True)
threading.Event().wait()
