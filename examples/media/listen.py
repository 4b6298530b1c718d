#!/usr/bin/env python3
"""A gateway that calls a DN, listens to what it hears (early media included) for a few
seconds, writes it to a WAV file, then hangs up. For `tandem up --media`:

    examples/media/listen.py 5000 tandem-data/heard.wav          # site1, 5 s
    examples/media/listen.py 5000 tandem-data/heard.wav --site 127.0.0.1:5062 --seconds 8

It sends from 127.0.0.1:5080 (the demo's gateway trunk), offers PCMU and prints every SIP
status and the RTP packet count. Standard library only.
"""
import argparse, random, socket, struct, sys, time, wave

def ulaw_to_pcm(b):
    b = ~b & 0xFF
    sign, exponent, mantissa = b & 0x80, (b >> 4) & 0x07, b & 0x0F
    sample = ((mantissa << 3) + 0x84) << exponent
    sample -= 0x84
    return -sample if sign else sample

def wait_final(sip, seconds=2.0):
    """The status of the INVITE's final response, read for up to `seconds`."""
    end = time.time() + seconds
    while time.time() < end:
        try:
            msg = sip.recv(65535).decode(errors="replace")
        except socket.timeout:
            continue
        print("SIP", msg.splitlines()[0])
        if "INVITE" in msg.split("CSeq:", 1)[-1].splitlines()[0] and msg.split(" ", 2)[1][0] in "23456":
            return msg.split(" ", 2)[1]
    return None

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dn"); p.add_argument("wav")
    p.add_argument("--site", default="127.0.0.1:5060"); p.add_argument("--seconds", type=float, default=5.0)
    a = p.parse_args()
    host, port = a.site.split(":"); site = (host, int(port))
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sip.bind(("127.0.0.1", 5080)); sip.settimeout(0.05)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rtp.bind(("127.0.0.1", 0)); rtp.settimeout(0.05)
    me, media = "127.0.0.1:5080", rtp.getsockname()[1]
    call, tag, branch = "listen-%d" % random.randrange(1 << 30), "l%d" % random.randrange(1 << 20), "z9hG4bKl%d" % random.randrange(1 << 30)
    sdp = ("v=0\r\no=listen 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n" % media)
    head = ("Via: SIP/2.0/UDP %s;branch=%s\r\nFrom: <sip:gw@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\nCall-ID: %s\r\n"
            % (me, branch, me, tag, a.dn, a.site, call))
    sip.sendto(("INVITE sip:%s@%s SIP/2.0\r\n%sCSeq: 1 INVITE\r\nContact: <sip:gw@%s>\r\nMax-Forwards: 70\r\n"
                "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s"
                % (a.dn, a.site, head, me, len(sdp), sdp)).encode(), site)
    pcm, packets, to_tag, final, end = [], 0, None, None, time.time() + a.seconds
    while time.time() < end:
        try:
            msg = sip.recv(65535).decode(errors="replace")
            status = msg.split(" ", 2)[1]
            print("SIP", msg.splitlines()[0])
            for line in msg.splitlines():
                if line.lower().startswith(("to:", "t:")) and "tag=" in line:
                    to_tag = line.split("tag=")[1].split(";")[0]
            if status.startswith(("2", "3", "4", "5", "6")):
                final = status
        except (socket.timeout, IndexError):
            pass
        try:
            while True:
                data = rtp.recv(2048)
                packets += 1
                pcm.extend(ulaw_to_pcm(x) for x in data[12:])
        except socket.timeout:
            pass
    print("RTP packets heard:", packets)
    if final is None:
        sip.sendto(("CANCEL sip:%s@%s SIP/2.0\r\n%sCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                    % (a.dn, a.site, head)).encode(), site)
        final = wait_final(sip)
    if final and not final.startswith("2"):
        # ACK the failure (RFC 3261 section 17.1.1.3): same branch, the To tag it carried.
        ack_head = head.replace("To: <sip:%s@%s>" % (a.dn, a.site), "To: <sip:%s@%s>;tag=%s" % (a.dn, a.site, to_tag))
        sip.sendto(("ACK sip:%s@%s SIP/2.0\r\n%sCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                    % (a.dn, a.site, ack_head)).encode(), site)
    elif final.startswith("2"):
        dialog = head.replace(branch, branch + "b").replace("To: <sip:%s@%s>" % (a.dn, a.site),
                                                              "To: <sip:%s@%s>;tag=%s" % (a.dn, a.site, to_tag))
        sip.sendto(("BYE sip:%s@%s SIP/2.0\r\n%sCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                    % (a.dn, a.site, dialog)).encode(), site)
    with wave.open(a.wav, "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", s) for s in pcm))
    print("wrote", a.wav, "(%.1f s)" % (len(pcm) / 8000))
    return 0 if packets else 1

if __name__ == "__main__":
    sys.exit(main())
