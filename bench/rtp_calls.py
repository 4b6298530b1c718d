#!/usr/bin/env python3
"""Concurrent anchored calls with RTP flowing: N calls set up through a Tandem site whose
media is anchored at rtpengine, then every call carries 20 ms PCMU packets both ways for
S seconds (50 packets/s per direction per call), then all hang up. Prints one line: calls
set up, RTP packets sent and received, loss, and the CPU Tandem and rtpengine used per
second of streaming (percent of one core), read from /proc.

Usage: bench/rtp_calls.py SITE CALLS SECONDS TANDEM_PID RTPENGINE_PID
  SITE: the site's SIP address (host:port); DNs 1000.. are registered to a phone here.
Standard library only. bench/rtp-calls.sh starts Tandem and rtpengine and runs this.
"""
import os, random, select, socket, sys, time

HZ = os.sysconf("SC_CLK_TCK")

def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])

def header(msg, name):
    for line in msg.split("\r\n"):
        if ":" in line and line.split(":", 1)[0].strip().lower() == name.lower():
            return line.split(":", 1)[1].strip()
    return ""

def media_port(msg):
    for line in msg.split("\r\n"):
        if line.startswith("m=audio "):
            return int(line.split()[1])
    return None

def sdp(port, user):
    return (f"v=0\r\no={user} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")

def udp(timeout=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s

def drain(sockets):
    """Reads what waits on `sockets` (non-blocking); returns how many packets."""
    got = 0
    for s in sockets:
        try:
            while True:
                s.recv(2048)
                got += 1
        except BlockingIOError:
            pass
    return got

def main():
    site_s, calls, seconds, tandem, rtpengine = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    host, port = site_s.split(":"); site = (host, int(port))
    gw_sip, phone_sip = udp(), udp()
    gw, ph = "127.0.0.1:%d" % gw_sip.getsockname()[1], "127.0.0.1:%d" % phone_sip.getsockname()[1]
    dns = [str(1000 + i) for i in range(calls)]
    for dn in dns:  # register every DN to the phone
        phone_sip.sendto((f"REGISTER sip:{site_s} SIP/2.0\r\nVia: SIP/2.0/UDP {ph};branch=z9hG4bKr{dn}\r\n"
                          f"From: <sip:{dn}@{site_s}>;tag=r{dn}\r\nTo: <sip:{dn}@{site_s}>\r\nCall-ID: reg{dn}\r\n"
                          f"CSeq: 1 REGISTER\r\nContact: <sip:{dn}@{ph}>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n").encode(), site)
    registered = set()
    deadline = time.time() + 10
    while len(registered) < calls and time.time() < deadline:
        select.select([phone_sip], [], [], 0.1)
        try:
            while True:
                m = phone_sip.recv(65535).decode(errors="replace")
                if m.startswith("SIP/2.0 200"):
                    registered.add(header(m, "Call-ID"))
        except BlockingIOError:
            pass
    gw_rtp, ph_rtp = [udp() for _ in dns], [udp() for _ in dns]
    by_call = {}
    for i, dn in enumerate(dns):
        cid, body = f"rtp{i}-{random.randrange(1 << 30)}", sdp(gw_rtp[i].getsockname()[1], "gw")
        by_call[cid] = i
        gw_sip.sendto((f"INVITE sip:{dn}@{site_s} SIP/2.0\r\nVia: SIP/2.0/UDP {gw};branch=z9hG4bKi{i}\r\n"
                       f"From: <sip:gw@{gw}>;tag=g{i}\r\nTo: <sip:{dn}@{site_s}>\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\n"
                       f"Contact: <sip:gw@{gw}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n{body}").encode(), site)
    to_phone, to_gw, oks = [None] * calls, [None] * calls, {}
    deadline = time.time() + 20
    while len(oks) < calls and time.time() < deadline:
        select.select([gw_sip, phone_sip], [], [], 0.1)
        try:
            while True:  # the phone answers every INVITE with its call's media port
                m = phone_sip.recv(65535).decode(errors="replace")
                if not m.startswith("INVITE "):
                    continue
                i = dns.index(m.split(" ", 2)[1][4:].split("@")[0])  # Request-URI sip:<dn>@phone
                to_gw[i] = media_port(m)
                vias = "\r\n".join(l for l in m.split("\r\n") if l.lower().startswith("via:"))
                body = sdp(ph_rtp[i].getsockname()[1], "ph")
                phone_sip.sendto((f"SIP/2.0 200 OK\r\n{vias}\r\nFrom: {header(m, 'From')}\r\nTo: {header(m, 'To')};tag=p{i}\r\n"
                                  f"Call-ID: {header(m, 'Call-ID')}\r\nCSeq: {header(m, 'CSeq')}\r\nContact: <sip:{dns[i]}@{ph}>\r\n"
                                  f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode(), site)
        except BlockingIOError:
            pass
        try:
            while True:  # the gateway ACKs each 200
                m = gw_sip.recv(65535).decode(errors="replace")
                cid = header(m, "Call-ID")
                if not m.startswith("SIP/2.0 200") or cid not in by_call or cid in oks:
                    continue
                i = by_call[cid]
                to_phone[i], oks[cid] = media_port(m), m
                gw_sip.sendto((f"ACK sip:{dns[i]}@{site_s} SIP/2.0\r\nVia: SIP/2.0/UDP {gw};branch=z9hG4bKa{i}\r\n"
                               f"From: {header(m, 'From')}\r\nTo: {header(m, 'To')}\r\nCall-ID: {cid}\r\nCSeq: 1 ACK\r\n"
                               f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(), site)
        except BlockingIOError:
            pass
    up = [i for i in range(calls) if to_phone[i] and to_gw[i]]
    payload = bytes([0xff]) * 160
    sent = received = 0
    t0, r0, start = ticks(tandem), ticks(rtpengine), time.time()
    tick = 0
    while time.time() - start < seconds:
        for i in up:
            head = bytes([0x80, 0]) + (tick & 0xffff).to_bytes(2, "big") + (tick * 160 & 0xffffffff).to_bytes(4, "big")
            gw_rtp[i].sendto(head + (0x1000 + i).to_bytes(4, "big") + payload, ("127.0.0.1", to_phone[i]))
            ph_rtp[i].sendto(head + (0x2000 + i).to_bytes(4, "big") + payload, ("127.0.0.1", to_gw[i]))
            sent += 2
        tick += 1
        while True:
            now = time.time()
            next_tick = start + tick * 0.02
            received += drain(gw_rtp + ph_rtp)
            if now >= next_tick:
                break
            time.sleep(min(0.002, next_tick - now))
    elapsed = time.time() - start
    time.sleep(0.2)
    received += drain(gw_rtp + ph_rtp)
    cpu_t = (ticks(tandem) - t0) / HZ / elapsed * 100
    cpu_r = (ticks(rtpengine) - r0) / HZ / elapsed * 100
    for cid, m in oks.items():
        i = by_call[cid]
        gw_sip.sendto((f"BYE sip:{dns[i]}@{site_s} SIP/2.0\r\nVia: SIP/2.0/UDP {gw};branch=z9hG4bKb{i}\r\n"
                       f"From: {header(m, 'From')}\r\nTo: {header(m, 'To')}\r\nCall-ID: {cid}\r\nCSeq: 2 BYE\r\n"
                       f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(), site)
    loss = 100.0 * (sent - received) / sent if sent else 100.0
    print(f"calls={calls} up={len(up)} seconds={elapsed:.1f} rtp_sent={sent} rtp_received={received} "
          f"loss%={loss:.2f} pps={sent / elapsed:.0f} tandem_cpu%={cpu_t:.1f} rtpengine_cpu%={cpu_r:.1f}")
    return 0 if len(up) == calls and loss < 1.0 else 1

if __name__ == "__main__":
    sys.exit(main())
