"""Incident captures (issue 4): each incident's first alert names one pcapng
holding exactly the packets to or from its subject (the source; the victim
for backscatter) from `before` seconds ahead of the incident's first packet
to `after` seconds past the alert, and nothing else; with one worker or
several; updates name the same file; the caps hold and are reported."""
import datetime
import os
import subprocess

from scapy.all import Ether, IP, TCP, UDP, Raw
from scapy.utils import PcapNgReader, RawPcapReader

E = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def pcapng_packets(path):
    with PcapNgReader(path) as r:
        return [(int(round(float(p.time) * 1e6)), bytes(p)) for p in r]


def input_packets(path):
    return [(m.sec * 1000000 + m.usec, bytes(d)) for d, m in RawPcapReader(path)]


def involves(frame, addr):
    p = Ether(frame)
    return IP in p and addr in (p[IP].src, p[IP].dst)


def eve_us(ts):
    return int(datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1e6)


def scan_capture(h):
    """A vertical scan by 198.51.100.9 of 10.1.2.3 at T0, with the scanner's
    own earlier and later packets at known distances, the target's resets,
    and other hosts' traffic throughout."""
    T0 = 1700000000.0
    X, V = "198.51.100.9", "10.1.2.3"
    pk = []

    def at(t, p):
        p.time = t
        pk.append(p)

    at(T0 - 100, E / IP(src=X, dst="10.1.9.9") / UDP(sport=5000, dport=53) / Raw(b"x" * 20))   # too early
    at(T0 - 30, E / IP(src=X, dst="10.1.9.9") / UDP(sport=5001, dport=53) / Raw(b"y" * 20))    # in the look-back
    for i in range(40):
        at(T0 + i * 0.02, E / IP(src=X, dst=V) / TCP(sport=40000, dport=1000 + i * 7, flags="S", seq=7))
        at(T0 + i * 0.02 + 0.001, E / IP(src=V, dst=X) / TCP(sport=1000 + i * 7, dport=40000, flags="RA", ack=8))
    at(T0 + 25, E / IP(src=X, dst="10.1.9.9") / UDP(sport=5002, dport=53) / Raw(b"z" * 20))    # in the window
    at(T0 + 45, E / IP(src=X, dst="10.1.9.9") / UDP(sport=5003, dport=53) / Raw(b"w" * 20))    # past it
    for k in range(300):  # others, before, during and after
        t = T0 - 90 + k * 0.5
        at(t, E / IP(src="10.1.5.%d" % (k % 7 + 1), dst="192.0.2.%d" % (k % 5 + 1)) /
           UDP(sport=6000 + k, dport=53) / Raw(b"q" * 12))
    pk.sort(key=lambda p: p.time)
    return h.pcap(pk, "incident_scan.pcap"), X, T0


def write_config(h, name, before=60, after=30, extra=""):
    path = os.path.join(h.tmp, name)
    with open(path, "w") as f:
        f.write(f"capture:\n  incidents:\n    before: {before}\n    after: {after}\n{extra}")
    return path


def run(h, check, by, cat):
    src, X, T0 = scan_capture(h)
    want_all = input_packets(src)
    cfg = write_config(h, "inc.yaml")
    results = {}
    for workers in (1, 2):
        d = os.path.join(h.tmp, f"inc{workers}")
        os.makedirs(d)
        p, alerts = h.run(src, "--config", cfg, "--incidents", d, "--workers", str(workers))
        vs = by(alerts, "vertical-scan")
        files = sorted(os.listdir(d))
        ok = p.returncode == 0 and vs and all(a["harrier"].get("capture_file") for a in vs)
        path = vs[0]["harrier"]["capture_file"] if ok else ""
        got = pcapng_packets(path) if ok and os.path.exists(path) else []
        alert_us = eve_us(vs[0]["timestamp"]) if vs else 0
        want = [(t, f) for t, f in want_all
                if involves(f, X) and T0 * 1e6 - 60e6 <= t <= alert_us + 30e6]
        check(f"incidents: {workers} worker(s): the scan's capture holds exactly its subject's packets "
              f"from 60 s before it to 30 s after the alert ({len(want)} packets)",
              ok and sorted(got) == sorted(want) and len(want) == 82
              and not any(abs(t - (T0 + 45) * 1e6) < 1 or abs(t - (T0 - 100) * 1e6) < 1 for t, _ in got),
              f"rc={p.returncode} {p.stderr[-300:]} files={files} got={len(got)} want={len(want)}")
        check(f"incidents: {workers} worker(s): updates name their incident's file",
              ok and all(a["harrier"]["capture_file"] == path for a in vs), str([a["harrier"].get("capture_file") for a in vs]))
        check(f"incidents: {workers} worker(s): one worker writes the packets in time order",
              workers > 1 or got == sorted(got, key=lambda x: x[0]), "")
        results[workers] = [{k: v for k, v in a.items() if k != "harrier"} for a in alerts]
    p, plain = h.run(src)
    check("incidents: alerts are the same with and without incident captures, 1 or 2 workers",
          results[1] == results[2] == [{k: v for k, v in a.items() if k != "harrier"} for a in plain])

    # The bundled sample: every incident of every detector gets its capture,
    # holding only packets of its subject (victim for backscatter).
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    sample = os.path.join(root, "tests", "pcaps", "sample.pcap")
    d = os.path.join(h.tmp, "inc_sample")
    os.makedirs(d)
    p, alerts = h.run(sample, "--incidents", d)
    victim = {"rst-backscatter", "icmp-unreach-backscatter", "icmp-ttl-backscatter"}
    bad = []
    for a in alerts:
        f = a["harrier"].get("capture_file")
        subject = a["dest_ip"] if a["detector"] in victim else a["src_ip"]
        if not f or not os.path.exists(f):
            bad.append(f"{a['detector']}: no file {f}")
            continue
        r = subprocess.run(["tcpdump", "-r", f, "-w", "/dev/null"], capture_output=True, text=True)
        t = subprocess.run(["tshark", "-r", f, "-q"], capture_output=True, text=True)
        pk = pcapng_packets(f)
        if r.returncode != 0 or t.returncode != 0 or not pk or not all(involves(fr, subject) for _, fr in pk):
            bad.append(f"{a['detector']}: {len(pk)} packets, tcpdump rc {r.returncode}")
        elif a["harrier"]["update"] == 0 and not any(t == eve_us(a["timestamp"]) for t, _ in pk):
            bad.append(f"{a['detector']}: the alert's own packet is missing")
    check(f"incidents: sample: all {len(alerts)} alerts name a capture tcpdump and tshark read, of their subject's packets, "
          f"the alert's packet included", p.returncode == 0 and len(alerts) == 16 and not bad, "\n".join(bad))
    check("incidents: one file per incident", len(os.listdir(d)) == len({a["harrier"]["capture_file"] for a in alerts}))

    # Caps: max_files, reported; an unwritable directory is named.
    d = os.path.join(h.tmp, "inc_cap")
    os.makedirs(d)
    cfg = write_config(h, "cap.yaml", extra="    max_files: 3\n")
    p, alerts = h.run(sample, "--config", cfg, "--incidents", d)
    named = [a for a in alerts if a["harrier"].get("capture_file")]
    check("incidents: max_files 3 gives 3 files; the rest are counted and reported",
          p.returncode == 0 and len(os.listdir(d)) == 3 and len({a["harrier"]["capture_file"] for a in named}) == 3
          and "capture.incidents.max_files (3) reached" in p.stderr, p.stderr[-400:])
    cfg = write_config(h, "cap2.yaml", extra="    max_packets: 5\n")
    d = os.path.join(h.tmp, "inc_cap2")
    os.makedirs(d)
    p, alerts = h.run(src, "--config", cfg, "--incidents", d)
    f = by(alerts, "vertical-scan")[0]["harrier"]["capture_file"] if by(alerts, "vertical-scan") else None
    check("incidents: max_packets 5 keeps 5 packets, a valid file, and says how many were left out",
          f and len(pcapng_packets(f)) == 5 and "incident packets left out by capture.incidents.max_packets (5)" in p.stderr,
          p.stderr[-400:])
    p = subprocess.run([h.binary, "read", src, "--incidents", "/nonexistent/inc"], capture_output=True, text=True)
    check("incidents: a directory that cannot be written is named", p.returncode == 1 and
          "/nonexistent/inc: cannot write incident captures there" in p.stderr, p.stderr)
    cfgbad = os.path.join(h.tmp, "bad.yaml")
    with open(cfgbad, "w") as fh:
        fh.write("capture:\n  incidents:\n    befor: 10\n")
    p = subprocess.run([h.binary, "read", src, "--config", cfgbad], capture_output=True, text=True)
    check("incidents: a misspelt key is named with its line", p.returncode == 2 and
          "bad.yaml:3: capture.incidents.befor: unknown key" in p.stderr, p.stderr)
