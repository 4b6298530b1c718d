#!/usr/bin/env python3
"""INVITE->200 latency of a sipp caller, read off a packet capture with microsecond
timestamps (sipp's own clock moves in 4 ms steps on this machine).

Usage: bench/wire_latency.py CAPTURE.pcap CALLER_PORT
Pairs, by Call-ID, the first INVITE the caller (UDP source port CALLER_PORT) sent with the
first 200 for INVITE it received, and prints: n p50 p99 p99.9 max (ms, 3 decimals).
Reads classic pcap (tcpdump -w) on Ethernet or Linux cooked links; stdlib only.
"""
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        endian, nanos = {0xA1B2C3D4: ("<", False), 0xA1B23C4D: ("<", True),
                         0xD4C3B2A1: (">", False), 0x4D3CB2A1: (">", True)}[magic]
        link = struct.unpack(endian + "I", head[20:24])[0]
        offset = {1: 14, 113: 16, 0: 4}[link]
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, _ = struct.unpack(endian + "IIII", rec)
            data = f.read(incl)
            yield sec + frac / (1e9 if nanos else 1e6), data[offset:]


def udp(ip):
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
        return None
    ihl = (ip[0] & 15) * 4
    sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
    return sport, dport, ip[ihl + 8:]


def header(payload, names):
    for line in payload.split(b"\r\n")[1:]:
        if not line:
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() in names:
            return value.strip()
    return None


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    sent, answered = {}, {}
    for at, ip in packets(path):
        got = udp(ip)
        if got is None:
            continue
        sport, dport, payload = got
        call_id = header(payload, (b"call-id", b"i"))
        if call_id is None:
            continue
        if sport == port and payload.startswith(b"INVITE "):
            sent.setdefault(call_id, at)
        elif dport == port and payload.startswith(b"SIP/2.0 200"):
            cseq = header(payload, (b"cseq",)) or b""
            if cseq.endswith(b"INVITE"):
                answered.setdefault(call_id, at)
    lat = sorted((answered[c] - t) * 1000 for c, t in sent.items() if c in answered and answered[c] >= t)
    if not lat:
        print("0 na na na na")
        return

    def q(p):
        return lat[min(len(lat) - 1, max(0, int(p * len(lat) + 0.5) - 1))]

    print(f"{len(lat)} {q(0.5):.3f} {q(0.99):.3f} {q(0.999):.3f} {lat[-1]:.3f}")


if __name__ == "__main__":
    main()
