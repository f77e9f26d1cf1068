"""Recording (issue 4, first part): `harrier read IN --write OUT.pcapng
--filter EXPR` writes, packet for packet and with the same times, what
`tcpdump -r IN -w OUT EXPR` writes; bad filters and paths are refused."""
import glob
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


def tshark_reads(path):
    """tshark (Wireshark's reader) reads the whole file without complaint."""
    r = subprocess.run(["tshark", "-r", path, "-q"], capture_output=True, text=True)
    return r.returncode == 0 and "cut short" not in r.stderr and "damaged" not in r.stderr


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
            check(f"capture: {os.path.basename(src)} '{expr}' = tcpdump's {len(want)} packets, same bytes and times; tshark reads it",
                  p.returncode == 0 and got == want and tshark_reads(got_path),
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
    check("capture: --filter without --write or --print is refused", p.returncode == 2 and "give one" in p.stderr, p.stderr)
    # Alerts are the same with recording on.
    p1, a1 = h.run(src)
    p2, a2 = h.run(src, "--write", os.path.join(h.tmp, "y.pcapng"), "--filter", "icmp")
    check("capture: recording does not change the alerts", a1 == a2 and len(a1) > 0)

    rotation(h, check, src)
    full_disk(h, check, src)
    truncated_input(h, check, src)
    jumbo(h, check)


def jumbo(h, check):
    """Frames larger than one mbuf arrive as segment chains and are copied
    as chains: recorded whole, byte for byte, and tshark reads them."""
    from scapy.all import Ether, IP, UDP, Raw, wrpcap
    pk = [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1", dst="10.0.0.2") /
          UDP(sport=1, dport=2) / Raw(b"J" * n) for n in (100, 3000, 8900, 200)]
    for i, p in enumerate(pk):
        p.time = 1700000000 + i
    src = os.path.join(h.tmp, "jumbo.pcap")
    wrpcap(src, pk)
    out = os.path.join(h.tmp, "jumbo.pcapng")
    p = subprocess.run([h.binary, "read", src, "--write", out, "--quiet"], capture_output=True, text=True)
    got = packets_pcapng(out) if p.returncode == 0 else []
    check("capture: jumbo frames (3,042 and 8,942 bytes, multi-segment) are recorded whole; tshark reads them",
          got == packets_pcap(src) and tshark_reads(out), f"{p.stderr[-300:]} {[len(f) for _, f in got]}")


def truncated_input(h, check, src):
    """An input cut mid-packet: harrier says so, records every whole packet
    before the cut (as tcpdump reads them), and the output is valid."""
    data = open(src, "rb").read()
    cut = os.path.join(h.tmp, "cut.pcap")
    with open(cut, "wb") as f:
        f.write(data[:len(data) * 2 // 3 + 7])
    want_path = os.path.join(h.tmp, "cut_want.pcap")
    subprocess.run(["tcpdump", "-r", cut, "-w", want_path], capture_output=True)
    out = os.path.join(h.tmp, "cut.pcapng")
    p = subprocess.run([h.binary, "read", cut, "--write", out], capture_output=True, text=True)
    want = packets_pcap(want_path)
    got = packets_pcapng(out) if p.returncode == 0 else []
    r = subprocess.run(["tcpdump", "-r", out, "-w", "/dev/null"], capture_output=True, text=True)
    check(f"capture: an input cut mid-packet is named, and its {len(want)} whole packets are recorded validly",
          p.returncode == 0 and "is truncated" in p.stderr and got == want and len(want) > 100
          and r.returncode == 0, f"{p.stderr[-300:]} got={len(got)} want={len(want)}")


def rotated(d, stem="cap"):
    return sorted(glob.glob(os.path.join(d, stem + "-*.pcapng")),
                  key=lambda f: int(f.rsplit("-", 1)[1].split(".")[0]))


def rotation(h, check, src):
    """Rotated files together hold every packet once, in order; each is a
    valid pcapng on its own; the retention budget holds across runs."""
    want = packets_pcap(src)
    for label, args, limit in [("size", ["-C", "16K"], lambda f: os.path.getsize(f) <= 16384),
                               ("time", ["-G", "3600"], None)]:
        d = os.path.join(h.tmp, "rot-" + label)
        os.makedirs(d, exist_ok=True)
        p = subprocess.run([h.binary, "read", src, "--write", os.path.join(d, "cap.pcapng"), "--quiet"] + args,
                           capture_output=True, text=True)
        files = rotated(d)
        got = []
        ok = p.returncode == 0 and len(files) > 2
        for f in files:
            r = subprocess.run(["tcpdump", "-r", f, "-w", "/dev/null"], capture_output=True, text=True)
            ok = ok and r.returncode == 0 and "truncated" not in r.stderr and tshark_reads(f) and (limit is None or limit(f))
            pk = packets_pcapng(f)
            if label == "time":  # every packet of a file within an hour of its first
                ok = ok and max(t for t, _ in pk) - pk[0][0] < 3600 * 10**6
            got += pk
        check(f"capture: rotating by {label}: {len(files)} files tcpdump and tshark read whole, holding the {len(want)} packets once, in order",
              ok and got == want, f"rc={p.returncode} {p.stderr[-300:]} files={len(files)} got={len(got)}")
    # Retention: at most 3 files, and a second run counts the first's files.
    d = os.path.join(h.tmp, "keep")
    os.makedirs(d)
    args = [h.binary, "read", src, "--write", os.path.join(d, "cap.pcapng"), "-C", "16K", "-W", "3"]
    p1 = subprocess.run(args, capture_output=True, text=True)
    first = rotated(d)
    p2 = subprocess.run(args, capture_output=True, text=True)
    second = rotated(d)
    seqs = [int(f.rsplit("-", 1)[1].split(".")[0]) for f in second]
    check("capture: -W 3 keeps the 3 newest files, across runs, numbering on",
          p1.returncode == 0 and p2.returncode == 0 and len(first) == 3 and len(second) == 3
          and seqs == list(range(seqs[0], seqs[0] + 3)) and seqs[0] > 3
          and not set(first) & set(second), f"{first} {second} {p2.stderr[-300:]}")
    d = os.path.join(h.tmp, "keepsize")
    os.makedirs(d)
    p = subprocess.run([h.binary, "read", src, "--write", os.path.join(d, "cap.pcapng"), "-C", "16K",
                        "--keep-size", "40K", "--quiet"], capture_output=True, text=True)
    total = sum(os.path.getsize(f) for f in rotated(d))
    check("capture: --keep-size 40K keeps the set within 40 KiB",
          p.returncode == 0 and 0 < total <= 40 * 1024 and len(rotated(d)) == 2, f"{total} {p.stderr[-300:]}")
    for args, msg in [(["-W", "3"], "rotation and retention apply to --write"),
                      (["--write", os.path.join(d, "c.pcapng"), "-W", "3"], "a retention budget needs rotation"),
                      (["--write", os.path.join(d, "c.pcapng"), "-C", "1M", "--keep-size", "64K"],
                       "smaller than one file"),
                      (["--write", os.path.join(d, "c.pcapng"), "-C", "12Q"], "--rotate-size 12Q: not a size"),
                      (["--write", "/nonexistent/c.pcapng", "-C", "1M"], "/nonexistent: the capture directory does not exist")]:
        p = subprocess.run([h.binary, "read", src] + args, capture_output=True, text=True)
        check(f"capture: {' '.join(args[-2:])} refused: {msg}", p.returncode in (1, 2) and msg in p.stderr, p.stderr)


def full_disk(h, check, src):
    """A capture directory that fills up: the file keeps every whole packet
    before that and stays valid, the loss is counted; rotating, the oldest
    files make room and recording goes on."""
    if os.geteuid() != 0:
        print("SKIP capture: full disk (needs root to mount a small tmpfs)")
        return
    d = os.path.join(h.tmp, "small")
    os.makedirs(d)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", d], check=True)
    try:
        want = packets_pcap(src)
        p = subprocess.run([h.binary, "read", src, "--write", os.path.join(d, "c.pcapng")],
                           capture_output=True, text=True)
        r = subprocess.run(["tcpdump", "-r", os.path.join(d, "c.pcapng"), "-w", "/dev/null"], capture_output=True, text=True)
        got = packets_pcapng(os.path.join(d, "c.pcapng"))
        # Writes resume if a later, smaller burst fits: what is in the file
        # is whole, in input order, and recorded + lost = all.
        it = iter(want)
        in_order = all(any(g == w for w in it) for g in got)
        check("capture: a full disk leaves a valid file of whole packets (tcpdump, tshark), the rest counted as lost",
              p.returncode == 0 and r.returncode == 0 and tshark_reads(os.path.join(d, "c.pcapng"))
              and 0 < len(got) < len(want) and in_order
              and f"{len(want) - len(got)} packets not recorded because the disk refused them" in p.stderr
              and "No space left on device" in p.stderr, p.stderr[-600:])
        os.unlink(os.path.join(d, "c.pcapng"))
        p = subprocess.run([h.binary, "read", src, "--write", os.path.join(d, "c.pcapng"), "-C", "16K"],
                           capture_output=True, text=True)
        files = rotated(d, "c")
        ok = all(subprocess.run(["tcpdump", "-r", f, "-w", "/dev/null"], capture_output=True).returncode == 0
                 and tshark_reads(f) for f in files)
        last = packets_pcapng(files[-1]) if files else []
        check("capture: rotating onto a full disk deletes the oldest files and records to the end",
              p.returncode == 0 and ok and last and last[-1] == want[-1] and "refused" not in p.stderr,
              p.stderr[-600:])
        p = subprocess.run([h.binary, "read", src, "--write", "/dev/full"], capture_output=True, text=True)
        check("capture: --write /dev/full is refused, naming the device and the reason",
              p.returncode == 1 and "/dev/full: cannot create the capture file: No space left on device" in p.stderr
              and os.path.exists("/dev/full"), p.stderr)
    finally:
        subprocess.run(["umount", d])
