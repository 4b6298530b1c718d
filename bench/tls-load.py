#!/usr/bin/env python3
"""REGISTER over TLS beside TCP through the real binary: one site with `sip_tcp` and
`sip_tls` (a self-signed certificate made with openssl), CONNS client connections each
sending REQUESTS REGISTERs one after another (answer awaited), first over TCP then over
TLS, alternating ROUNDS times. Prints per round and transport: requests/s and tandem CPU
microseconds per REGISTER (from /proc). Every process it starts is stopped by PID.

Usage: bench/tls-load.py [CONNS] [REQUESTS] [ROUNDS]   (defaults 4 5000 2)
"""
import os, re, socket, ssl, subprocess, sys, tempfile, threading, time

conns, requests, rounds = (int(a) for a in (sys.argv[1:] + ["4", "5000", "2"][len(sys.argv) - 1:])[:3])
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
work = tempfile.mkdtemp()
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{work}/key.pem", "-out", f"{work}/cert.pem", "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
with open(f"{work}/site.toml", "w") as f:
    f.write(f'[[site]]\nname = "b"\nsip_tcp = "127.0.0.1:0"\nsip_tls = "127.0.0.1:0"\ndns = ["1000-1999"]\n'
            f'[site.registrar]\nmax_contacts = 10\n[site.limits]\ntcp_per_address = 100\n'
            f'[site.tls]\ncert = "{work}/cert.pem"\nkey = "{work}/key.pem"\n')
subprocess.run(["cargo", "build", "--release", "-q", "--bin", "tandem"], cwd=root, check=True)
tandem = subprocess.Popen([f"{root}/target/release/tandem", "peer", "--config", f"{work}/site.toml", "--site", "b"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
addrs = {}
while len(addrs) < 2:
    m = re.match(r"endpoint b (sip-tcp|sip-tls) 127.0.0.1:(\d+)", tandem.stdout.readline())
    if m:
        addrs[m.group(1)] = int(m.group(2))
hz = os.sysconf("SC_CLK_TCK")


def ticks():
    with open(f"/proc/{tandem.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def client(kind, n, dn):
    sock = socket.create_connection(("127.0.0.1", addrs[kind]))
    if kind == "sip-tls":
        ctx = ssl.create_default_context(cafile=f"{work}/cert.pem")
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
    local = "%s:%d" % sock.getsockname()
    for i in range(n):
        msg = (f"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK{dn}x{i}\r\nMax-Forwards: 70\r\n"
               f"From: <sip:{dn}@127.0.0.1>;tag=t{dn}\r\nTo: <sip:{dn}@127.0.0.1>\r\nCall-ID: tls-{dn}-{kind}\r\n"
               f"CSeq: {i + 1} REGISTER\r\nContact: <sip:{dn}@{local}>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n")
        sock.sendall(msg.encode())
        got = b""
        while b"\r\n\r\n" not in got:
            got += sock.recv(65536)
    sock.close()


try:
    print("round transport requests per_s tandem_cpu_us_per_register")
    for r in range(rounds):
        for kind in ("sip-tcp", "sip-tls"):
            t0, w0 = ticks(), time.time()
            threads = [threading.Thread(target=client, args=(kind, requests, 1000 + c)) for c in range(conns)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            t1, w1 = ticks(), time.time()
            total = conns * requests
            print(r + 1, kind, total, round(total / (w1 - w0)), round((t1 - t0) / hz / total * 1e6, 1))
finally:
    tandem.kill()
    tandem.wait()
