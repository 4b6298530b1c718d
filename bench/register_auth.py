#!/usr/bin/env python3
"""Registers DNs FIRST..LAST at a Tandem site that asks for digest auth (MD5), all with one
password: REGISTER, 401, REGISTER with credentials, 200. For benchmarks whose phones must
authenticate (sipp 3.6 takes one user name per run). Prints how many registered.

Usage: bench/register_auth.py HOST:PORT FIRST LAST PASSWORD CONTACT_HOST:PORT
Also:  bench/register_auth.py --users REALM FIRST LAST PASSWORD   (prints [[site.auth.user]] entries)
"""
import hashlib
import re
import socket
import sys


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def users(realm, first, last, password):
    for dn in range(first, last + 1):
        print(f'[[site.auth.user]]\ndn = "{dn}"\nmd5 = "{md5(f"{dn}:{realm}:{password}")}"')


def register(sock, target, dn, cseq, contact, auth=""):
    host, port = target
    local = "%s:%d" % sock.getsockname()
    msg = (
        f"REGISTER sip:{host}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{dn}x{cseq};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:{dn}@{host}>;tag=b{dn}\r\nTo: <sip:{dn}@{host}>\r\n"
        f"Call-ID: bench-{dn}@{local}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{dn}@{contact}>\r\n"
        f"{auth}Expires: 3600\r\nContent-Length: 0\r\n\r\n"
    )
    sock.sendto(msg.encode(), target)
    while True:
        reply = sock.recv(65535).decode(errors="replace")
        if f"CSeq: {cseq} REGISTER" in reply:
            return reply


def main():
    if sys.argv[1] == "--users":
        users(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    host, port = sys.argv[1].rsplit(":", 1)
    target = (host, int(port))
    first, last, password, contact = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    done = 0
    for dn in range(first, last + 1):
        challenge = register(sock, target, dn, 1, contact)
        m = {k: v for k, v in re.findall(r'(\w+)="?([^",\r\n]+)"?', challenge.split("WWW-Authenticate:", 1)[1].split("\r\n", 1)[0])}
        uri = f"sip:{host}:{port}"
        ha1 = md5(f"{dn}:{m['realm']}:{password}")
        ha2 = md5(f"REGISTER:{uri}")
        nc, cnonce = "00000001", "b%08x" % dn
        response = md5(f"{ha1}:{m['nonce']}:{nc}:{cnonce}:auth:{ha2}")
        auth = (f'Authorization: Digest username="{dn}", realm="{m["realm"]}", nonce="{m["nonce"]}", uri="{uri}", '
                f'response="{response}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"\r\n')
        if register(sock, target, dn, 2, contact, auth).startswith("SIP/2.0 200"):
            done += 1
    print(done)


if __name__ == "__main__":
    main()
