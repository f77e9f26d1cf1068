"""Recording (issue 4, first part): `harrier read IN --write OUT.pcapng
--filter EXPR` writes, packet for packet and with the same times, what
`tcpdump -r IN -w OUT EXPR` writes; bad filters and paths are refused."""
import os
import subprocess

from scapy.utils import PcapNgReader, RawPcapReader

EXPRS = [
    "",
    "tcp port 111 or icmp",
    "udp and dst port 137",
    "tcp[tcpflags] & tcp-rst != 0",
    "icmp[icmptype] == icmp-unreach or icmp[icmptype] == icmp-timxceed",
    "net 172.16.14.0/24 and not tcp",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "greater 200",
]


def packets_pcap(path):
    out = []
    for data, meta in RawPcapReader(path):
        out.append((meta.sec * 1000000 + meta.usec, bytes(data)))
    return out


def packets_pcapng(path):
    out = []
    with PcapNgReader(path) as r:
        for p in r:
            out.append((int(round(float(p.time) * 1e6)), bytes(p)))
    return out


def run(h, check, by, cat):
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    inputs = [os.path.join(root, "tests", "pcaps", "sample.pcap"),
              os.path.join(root, "tests", "pcaps", "tools", "nmap_O.pcap")]
    for src in inputs:
        for expr in EXPRS:
            want_path = os.path.join(h.tmp, "want.pcap")
            got_path = os.path.join(h.tmp, "got.pcapng")
            subprocess.run(["tcpdump", "-r", src, "-w", want_path] + ([expr] if expr else []),
                           check=True, capture_output=True)
            args = [h.binary, "read", src, "--write", got_path, "--quiet"] + (["--filter", expr] if expr else [])
            p = subprocess.run(args, capture_output=True, text=True)
            want = packets_pcap(want_path)
            got = packets_pcapng(got_path) if p.returncode == 0 else None
            check(f"capture: {os.path.basename(src)} '{expr}' = tcpdump's {len(want)} packets, same bytes and times",
                  p.returncode == 0 and got == want,
                  f"rc={p.returncode} {p.stderr[-300:]} got {len(got or [])} want {len(want)}")
    # More packets than the writer's pool holds: every one is recorded (read
    # waits for the writer; the copies go back to the pool once written).
    import run_e2e
    big = os.path.join(h.tmp, "big.pcap")
    run_e2e.write_raw_pcap(big, run_e2e.benign_frames(30000, 1700000000.0))
    out = os.path.join(h.tmp, "big.pcapng")
    p = subprocess.run([h.binary, "read", big, "--write", out, "--quiet"], capture_output=True, text=True)
    n = sum(1 for _ in RawPcapReader(big))
    got = packets_pcapng(out) if p.returncode == 0 else []
    check(f"capture: all {n} packets of a capture larger than the writer's pool are recorded",
          p.returncode == 0 and len(got) == n and "not recorded" not in p.stderr, f"{len(got)} of {n}: {p.stderr[-300:]}")
    src = inputs[0]
    p = subprocess.run([h.binary, "read", src, "--write", os.path.join(h.tmp, "x.pcapng"), "--filter", "tcp port 99999"],
                       capture_output=True, text=True)
    check("capture: a bad filter is refused with libpcap's message", p.returncode == 2 and
          "capture filter 'tcp port 99999': illegal port number 99999 > 65535" in p.stderr, p.stderr)
    p = subprocess.run([h.binary, "read", src, "--write", "/nonexistent/dir/x.pcapng"], capture_output=True, text=True)
    check("capture: an unwritable path is named", p.returncode == 1 and
          "/nonexistent/dir/x.pcapng: cannot create the capture file" in p.stderr, p.stderr)
    p = subprocess.run([h.binary, "read", src, "--filter", "icmp"], capture_output=True, text=True)
    check("capture: --filter without --write is refused", p.returncode == 2 and "give --write too" in p.stderr, p.stderr)
    # Alerts are the same with recording on.
    p1, a1 = h.run(src)
    p2, a2 = h.run(src, "--write", os.path.join(h.tmp, "y.pcapng"), "--filter", "icmp")
    check("capture: recording does not change the alerts", a1 == a2 and len(a1) > 0)
