#!/usr/bin/python3
"""test/integration/world/probe — one escape attempt from inside a sandbox, one line of result.

Runs as the contained (unprivileged) user. Prints exactly one line; the test decides what it
means together with what reached the far side (recorder.py, resolver logs, nft counters).

  tcp ADDR PORT [PATH]      connect (v4 or v6); with PATH send `GET PATH` and print the status line
  udp ADDR PORT             send a datagram, wait 1.5 s for the echo: reply | noreply | error ...
  icmp ADDR                 echo request (ping socket, else raw socket): reply | noreply | error ...
  http TARGET HOST          raw `GET TARGET` with `Host: HOST` to $HTTP_PROXY: its status line
  connect AUTHORITY [SNI]   raw CONNECT to $HTTP_PROXY; on 200 and with SNI, a TLS handshake
                            naming SNI: "<status> | tls ok|tls error ..."
  (HOSTADDR as an address means the host-side address of the sandbox, taken from $HTTP_PROXY)
  socks HOST PORT [PATH]    SOCKS5 CONNECT through $ALL_PROXY (HOST given as a name, ATYP 3,
                            unless it is an IPv4 literal); prints "rep N" and, on 0 with PATH, the
                            HTTP status line
"""
import os
import socket
import ssl
import struct
import sys
import time
from urllib.parse import urlparse

T = 4


def proxy(var):
    u = urlparse(os.environ[var])
    return u.hostname, u.port


def status_line(s):
    data = b""
    s.settimeout(T)
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        return "error %s" % (e.__class__.__name__)
    return data.split(b"\r\n", 1)[0].decode("latin-1") or "closed"


def err(e):
    code = getattr(e, "errno", None)
    import errno as E
    name = E.errorcode.get(code, "") if code else ""
    return "error %s %s" % (name or e.__class__.__name__, str(e)[:80])


def tcp(addr, port, path=None):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(T)
    try:
        s.connect((addr, int(port)))
    except OSError as e:
        return err(e)
    if path is None:
        return "connected"
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, addr)).encode())
    return "connected " + status_line(s)


def udp(addr, port):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(1.5)
    try:
        # a QUIC-looking first byte (long header, Initial) followed by filler
        s.sendto(b"\xc3\x00\x00\x00\x01" + b"probe" * 40, (addr, int(port)))
        s.recvfrom(4096)
        return "reply"
    except socket.timeout:
        return "noreply"
    except OSError as e:
        return err(e)


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def icmp(addr):
    pkt = struct.pack("!BBHHH", 8, 0, 0, os.getpid() & 0xFFFF, 1) + b"clawfence-probe"
    pkt = pkt[:2] + struct.pack("!H", checksum(pkt)) + pkt[4:]
    errors = []
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            s = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)
        except OSError as e:
            errors.append(err(e))
            continue
        s.settimeout(1.5)
        try:
            s.sendto(pkt, (addr, 0))
            end = time.time() + 1.5
            while time.time() < end:
                data = s.recv(4096)
                if kind == socket.SOCK_RAW:
                    data = data[(data[0] & 0x0F) * 4:]
                if data and data[0] == 0:
                    return "reply (%s)" % ("ping socket" if kind == socket.SOCK_DGRAM else "raw socket")
                if data and data[0] == 3:
                    return "unreachable"
            return "noreply"
        except socket.timeout:
            return "noreply"
        except OSError as e:
            return err(e)
    return " / ".join(errors)


def http(target, host):
    s = socket.create_connection(proxy("HTTP_PROXY"), timeout=T)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (target, host)).encode())
    return status_line(s)


def connect(authority, sni=None):
    s = socket.create_connection(proxy("HTTP_PROXY"), timeout=T)
    s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority)).encode())
    data = b""
    s.settimeout(T)
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        return err(e)
    line = data.split(b"\r\n", 1)[0].decode("latin-1") or "closed"
    if sni is None or " 200" not in line:
        return line
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        t = ctx.wrap_socket(s, server_hostname=sni)
        t.sendall(b"GET /p-sni HTTP/1.1\r\nHost: %s\r\n\r\n" % sni.encode())
        return "%s | tls ok %s" % (line, status_line(t))
    except (OSError, ssl.SSLError) as e:
        return "%s | tls %s" % (line, err(e))


def socks(host, port, path=None):
    s = socket.create_connection(proxy("ALL_PROXY"), timeout=T)
    s.sendall(b"\x05\x01\x00")
    if s.recv(2) != b"\x05\x00":
        return "no-auth refused"
    try:
        addr = b"\x01" + socket.inet_aton(host) if host.count(".") == 3 and all(p.isdigit() for p in host.split(".")) else None
    except OSError:
        addr = None
    if addr is None:
        addr = b"\x03" + bytes([len(host)]) + host.encode()
    s.sendall(b"\x05\x01\x00" + addr + struct.pack("!H", int(port)))
    try:
        rep = s.recv(262)
    except OSError as e:
        return err(e)
    if len(rep) < 2:
        return "closed"
    out = "rep %d" % rep[1]
    if rep[1] == 0 and path:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
        out += " " + status_line(s)
    return out


def main():
    cmd, *rest = sys.argv[1:]
    # HOSTADDR: the sandbox's host-side address (where the proxy listens)
    rest = [proxy("HTTP_PROXY")[0] if a == "HOSTADDR" else a for a in rest]
    fn = {"tcp": tcp, "udp": udp, "icmp": icmp, "http": http, "connect": connect, "socks": socks}[cmd]
    try:
        print(fn(*rest))
    except OSError as e:
        print(err(e))


main()
