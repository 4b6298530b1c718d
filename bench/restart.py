#!/usr/bin/env python3
"""Restart with a large saved state: how long until a site is back in service.

Usage: bench/restart.py [BINDINGS] [AGENTS] [RUNS]   (defaults: 100000 10000 3)

Starts `tandem peer` once with a store (to create its tables), stops it, fills the store
with BINDINGS registrations (DNs 100000..., all pointing at one sipp phone) and AGENTS
logged-in agents, then starts the site again RUNS times (killed by PID in between) and
prints per run: seconds from process start to the `state restored` log line, to the
`endpoint` lines (sockets bound), and until a call to the last restored DN is answered by
the phone (no REGISTER sent). Loopback only; every process started is stopped by PID.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TANDEM = os.environ.get("TANDEM", os.path.join(ROOT, "target/release/tandem"))
SIPP_DIR = os.path.join(ROOT, "tests/sipp")


def config(work, port, agents):
    text = [
        "[[site]]",
        'name = "big"',
        f'sip_udp = "127.0.0.1:{port}"',
        'dns = ["100000-199999"]',
        "[site.limits]",
        "max_bindings = 200000",
        "[site.store]",
        f'path = "{work}/big.db"',
    ]
    for i in range(agents):
        text += ["[[site.agent]]", f'id = "A{100000 + i}"', f'dn = "{100000 + i}"']
    return "\n".join(text) + "\n"


def fill(db, bindings, agents, phone_port):
    now = int(time.time() * 1000)
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM bindings")
    conn.execute("DELETE FROM agents")
    conn.executemany(
        "INSERT INTO bindings VALUES ('big', ?, ?, ?, ?, 'UDP', ?, 1, 1000)",
        (
            (str(100000 + i), f"sip:{100000 + i}@127.0.0.1:{phone_port}", now + 3_000_000,
             f"127.0.0.1:{phone_port}", f"reg-{i}")
            for i in range(bindings)
        ),
    )
    conn.executemany(
        "INSERT INTO agents VALUES ('big', ?, ?, 'ready', 'ManualIn', NULL, ?, ?)",
        ((f"A{100000 + i}", str(100000 + i), now - 60_000, now - 30_000) for i in range(agents)),
    )
    conn.commit()
    conn.close()


def start(cfg):
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [TANDEM, "peer", "--config", cfg, "--site", "big"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, NO_COLOR="1"),
    )
    restored = None
    for line in proc.stderr:
        if "state restored" in line:
            restored = time.monotonic() - t0
            print("   ", line.strip().split("INFO ")[-1])
            break
    bound = None
    for line in proc.stdout:
        if "sip-udp" in line:
            bound = time.monotonic() - t0
            break
    return proc, t0, restored, bound


def call(port, dn, work):
    csv = os.path.join(work, "call.csv")
    with open(csv, "w") as f:
        f.write(f"SEQUENTIAL\n{dn};\n")
    out = subprocess.run(
        ["sipp", "-sf", os.path.join(SIPP_DIR, "gateway-call.xml"), "-inf", csv, "-m", "1",
         "-i", "127.0.0.1", "-p", "0", "-nostdin", "-timeout", "20", "-timeout_error",
         f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work,
    )
    return out.returncode == 0


def main():
    bindings = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    agents = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    work = tempfile.mkdtemp(prefix="tandem-restart-")
    port, phone_port = 25370, 25371
    cfg = os.path.join(work, "big.toml")
    with open(cfg, "w") as f:
        f.write(config(work, port, agents))
    phone = subprocess.Popen(
        ["sipp", "-sf", os.path.join(SIPP_DIR, "phone-answer.xml"), "-i", "127.0.0.1",
         "-p", str(phone_port), "-nostdin", f"127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        proc, *_ = start(cfg)  # creates the tables
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        fill(os.path.join(work, "big.db"), bindings, agents, phone_port)
        print(f"{bindings} bindings, {agents} agents saved")
        print("run restored_s bound_s call_answered_s")
        failed = 0
        for run in range(1, runs + 1):
            proc, t0, restored, bound = start(cfg)
            answered = call(port, 100000 + bindings - 1, work)
            took = time.monotonic() - t0
            print(f"{run} {restored:.3f} {bound:.3f} {took:.3f}{'' if answered else ' (call FAILED)'}")
            failed += 0 if answered else 1
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        if failed:
            sys.exit(f"{failed} of {runs} restarts did not deliver the call")
    finally:
        phone.send_signal(signal.SIGKILL)
        phone.wait()


if __name__ == "__main__":
    main()
