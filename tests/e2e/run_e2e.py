#!/usr/bin/python3
"""End-to-end tests: build captures with the project's generator, run the real
`harrier read` binary over them (DPDK net_pcap ports), and check its alerts.

    run_e2e.py --harrier PATH --alloc-lib PATH GROUP

Each group prints one line per check and closes with 'N passed, N failed'.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "pcapgen"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, HERE)

from scapy.utils import wrpcap  # noqa: E402
import scenarios as sc  # noqa: E402
import catalog as cat  # noqa: E402
import catalog_groups  # noqa: E402

T0 = 1700000000.0
RESULTS = {"passed": 0, "failed": 0}


def check(name, cond, detail=""):
    if cond:
        RESULTS["passed"] += 1
        print(f"ok   {name}")
    else:
        RESULTS["failed"] += 1
        print(f"FAIL {name} {detail}")


class Harrier:
    def __init__(self, binary, tmp):
        self.binary, self.tmp, self.n = binary, tmp, 0

    def pcap(self, pkts, name=None):
        self.n += 1
        path = os.path.join(self.tmp, name or f"cap{self.n}.pcap")
        wrpcap(path, pkts)
        return path

    def run(self, files, *args, env=None):
        if isinstance(files, str):
            files = [files]
        self.n += 1
        eve = os.path.join(self.tmp, f"out{self.n}.eve")
        cmd = [self.binary, "read", *files, "--eve", eve, "--quiet", *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
        records = []
        if os.path.exists(eve):
            with open(eve) as f:
                records = [json.loads(line) for line in f if line.strip()]
        # Alerts are the incidents' records; what fusion folded into them is
        # kept beside (event_type "folded") for checks on a detector's own view.
        self.folded = [r for r in records if r["event_type"] == "folded"]
        return p, [r for r in records if r["event_type"] == "alert"]

    def alerts(self, files, *args):
        p, alerts = self.run(files, *args)
        if p.returncode != 0:
            print(p.stderr)
        return alerts

    def detector_view(self, files, *args):
        """Alerts as the detectors raise them: incidents still fuse, but a
        first alert goes out at once instead of waiting for a more specific
        detector (incidents.lookahead: 0), so thresholds and updates show."""
        args = list(args)
        self.n += 1
        conf = os.path.join(self.tmp, f"view{self.n}.yaml")
        text = "incidents:\n  lookahead: 0\n"
        if "--config" in args:
            i = args.index("--config") + 1
            text = open(args[i]).read() + "\n" + text
            args[i] = conf
        else:
            args += ["--config", conf]
        open(conf, "w").write(text)
        return self.alerts(files, *args)


def by(alerts, detector):
    return [a for a in alerts if a["detector"] == detector]


# ---------------------------------------------------------------- groups

def group_sample(h):
    sample = os.path.join(ROOT, "tests", "pcaps", "sample.pcap")
    p, alerts = h.run(sample)
    check("sample: exit 0", p.returncode == 0, p.stderr)
    counts = {}
    for a in alerts:
        counts[a["detector"]] = counts.get(a["detector"], 0) + 1
    catalog = ["netbios-sweep", "portmap-probe", "trojan-port-probe", "syn-retry-anomaly", "smtp-relay-probe",
               "rst-backscatter", "horizontal-scan", "ping-then-connect", "icmp-unreach-backscatter",
               "icmp-ttl-backscatter", "os-fingerprint", "vertical-scan", "slow-scan", "flag-anomaly", "snmp-public",
               "netbios-wildcard"]
    folded = h.folded
    check("sample: every catalog detector fires (named an incident or folded into one)",
          set(counts) | {f["detector"] for f in folded} == set(catalog), str(counts))
    # One alert per incident: the seed's detects are of separate sources,
    # except the OS fingerprint's odd flag combinations (flag-anomaly), which
    # are evidence on the os-fingerprint incident, and the two days of
    # portmapper probes, more than the fusion window apart.
    firsts = {}
    for a in alerts:
        if a["harrier"]["update"] == 0:
            firsts.setdefault(a["detector"], []).append(a)
    check("sample: one incident per detector, flag-anomaly folded into os-fingerprint's",
          all(len(v) == 1 for k, v in firsts.items() if k != "portmap-probe") and
          len(firsts.get("portmap-probe", [])) == 2 and "flag-anomaly" not in firsts and
          len({a["harrier"]["incident"]["id"] for a in alerts}) == len(alerts),
          str({k: len(v) for k, v in firsts.items()}))
    osf = by(alerts, "os-fingerprint")
    check("sample: the os-fingerprint incident lists the flag anomalies it folded",
          len(osf) == 1 and osf[0]["harrier"]["incident"]["detectors"] == ["os-fingerprint", "flag-anomaly"] and
          len(osf[0]["harrier"]["evidence"].get("also", [])) == 1 and
          all(k in osf[0]["harrier"]["evidence"]["also"][0] for k in ("SYN+FIN", "NULL", "ECE or CWR")) and
          all(f["harrier"]["incident"]["id"] == osf[0]["harrier"]["incident"]["id"] for f in folded),
          str(osf[:1]))
    pm = by(alerts, "portmap-probe")
    check("sample: the second day's portmap probe notes the first day's, same source port",
          len(pm) == 2 and "earlier_probe" not in pm[0]["harrier"]["evidence"] and
          pm[1]["harrier"]["evidence"].get("earlier_probe", {}).get("same_source_port") is True, str(pm))
    check("sample: the benign office traffic stays quiet",
          not [a for a in alerts if a["src_ip"].startswith("10.20.30.") or a["dest_ip"].startswith("10.20.30.")])
    for a in alerts:
        s = a["harrier"]["score"]
        check(f"sample: {a['detector']} carries score terms and evidence",
              a["event_type"] == "alert" and "detector" in a and a["harrier"]["evidence"] and
              s["value"] == s["criticality"] + s["lethality"] - s["network_cm"] - s["system_cm"])
    hs = by(alerts, "horizontal-scan")
    if hs:
        ev = hs[0]["harrier"]["evidence"]
        check("sample: horizontal scan evidence", ev["hosts"] == 3 and ev["order"] == "ascending" and
              ev["targets"] == ["172.16.14.10", "172.16.14.11", "172.16.14.12"] and hs[0]["dest_port"] == 32773, str(ev))
    sr = by(alerts, "syn-retry-anomaly")
    if sr:
        ev = sr[0]["harrier"]["evidence"]
        check("sample: syn retry shape is doubling", ev["isn"] == 784278959 and ev["shape"].startswith("doubling"), str(ev))
    # Fast output and the readable summary.
    fast = os.path.join(h.tmp, "sample.fast")
    p = subprocess.run([h.binary, "read", sample, "--fast", fast], capture_output=True, text=True)
    lines = open(fast).read().splitlines() if os.path.exists(fast) else []
    check("sample: fast lines", len(lines) == len(alerts) and all("[**] [1:1000" in l for l in lines), f"{len(lines)} lines, {len(alerts)} alerts")
    check("sample: readable summary on stdout", "Horizontal scan: 3 hosts on tcp/32773" in p.stdout and
          f"{len(alerts)} alerts" in p.stdout, p.stdout)
    # Explanations: the read flag and the explain command over the EVE file.
    p = subprocess.run([h.binary, "read", sample, "--explain"], capture_output=True, text=True)
    check("sample: read --explain writes the detect sections", p.returncode == 0 and
          p.stdout.count("Probability the source address was spoofed") == len(alerts), p.stderr[-300:])
    eve = os.path.join(h.tmp, "sample-explain.eve")
    h_p, _ = h.run(sample)
    subprocess.run([h.binary, "read", sample, "--eve", eve, "--quiet"], check=True)
    p = subprocess.run([h.binary, "explain", eve], capture_output=True, text=True)
    incidents = len({(a["detector"], a["src_ip"], a["harrier"]["evidence"].get("first_seen", a["timestamp"])) for a in alerts})
    check("sample: harrier explain writes one detect per incident", p.returncode == 0 and
          p.stdout.count("\nDetect was generated by") == incidents and "Evidence of active targeting" in p.stdout,
          f"{p.stdout.count(chr(10) + 'Detect was generated by')} vs {incidents}: {p.stderr[-300:]}")
    bad = os.path.join(h.tmp, "bad.eve")
    first_alert = next(l for l in open(eve) if '"event_type":"alert"' in l)
    open(bad, "w").write(first_alert + "{not json\n")
    p = subprocess.run([h.binary, "explain", bad], capture_output=True, text=True)
    check("sample: explain names a bad line with file and line number, still explains the rest",
          p.returncode == 1 and f"{bad}:2: not JSON" in p.stderr and "Detect:" in p.stdout, p.stderr)
    p = subprocess.run([h.binary, "explain", "/nonexistent.eve"], capture_output=True, text=True)
    check("sample: explain on a missing file says so", p.returncode == 2 and "/nonexistent.eve: cannot open" in p.stderr, p.stderr)
    # The generator reproduces the bundled capture byte for byte.
    regen = os.path.join(h.tmp, "regen.pcap")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "gen_sample.py"), regen], check=True, capture_output=True)
    check("sample: generator reproduces tests/pcaps/sample.pcap", open(regen, "rb").read() == open(sample, "rb").read())


def group_portmap(h):
    seed = sc.portmap_probe("207.8.127.251", "172.16.14.1", 1023, T0, [0.25, 0.5, 1, 1, 2, 4])
    a = by(h.alerts(h.pcap(seed)), "portmap-probe")
    check("portmap: seed trace, one alert per probing flow", len(a) == 1 and a[0]["src_port"] == 1023, str(a))
    check("portmap: GETPORT decoded", a and a[0]["harrier"]["evidence"].get("rpc", {}).get("procedure") == "GETPORT")
    # Variant: TCP, other networks, other home net, several sources interleaved.
    v = sc.interleave(
        sc.portmap_probe("203.0.113.5", "10.20.30.40", 40001, T0, [3, 6], proto="tcp"),
        sc.portmap_probe("198.51.100.77", "10.20.30.41", 611, T0 + 1, [1]),
    )
    a = by(h.alerts(h.pcap(v), "--home-net", "10.20.0.0/16"), "portmap-probe")
    check("portmap: tcp and udp, other networks", sorted((x["proto"], x["dest_ip"]) for x in a) ==
          [("TCP", "10.20.30.40"), ("UDP", "10.20.30.41")], str(a))
    # Negative: an internal client to a host that serves RPC per the inventory.
    inv = os.path.join(h.tmp, "inv.yaml")
    open(inv, "w").write("hosts:\n  - {address: 172.16.14.1, services: [udp/111, tcp/111]}\n")
    internal = sc.portmap_probe("172.16.14.77", "172.16.14.1", 800, T0, [1])
    check("portmap: internal RPC allowed by inventory is quiet", by(h.alerts(h.pcap(internal), "--inventory", inv), "portmap-probe") == [])
    check("portmap: without that inventory entry it alerts", len(by(h.alerts(h.pcap(internal)), "portmap-probe")) == 1)
    # Evidence: the same /24 on another day, from the same source port; not on the same day.
    days = sc.interleave(sc.portmap_probe("198.51.100.7", "10.20.30.40", 808, T0, []),
                         sc.portmap_probe("198.51.100.7", "10.20.30.41", 809, T0 + 600, []),
                         sc.portmap_probe("198.51.100.99", "10.20.30.42", 808, T0 + 2 * 86400, []),
                         sc.portmap_probe("198.51.101.7", "10.20.30.43", 808, T0 + 2 * 86400 + 5, []))
    a = by(h.alerts(h.pcap(days), "--home-net", "10.20.0.0/16"), "portmap-probe")
    rep = [x["harrier"]["evidence"].get("earlier_probe") for x in a]
    check("portmap: a repeat from the same /24 on another day is noted, with the same source port",
          len(a) == 4 and rep[0] is None and rep[1] is None and rep[2] is not None and
          rep[2]["same_source_port"] is True and rep[2]["src_ip"] == "198.51.100.7" and rep[3] is None, str(rep))
    # Negative: the home host's own RPC call outward gets a reply from port 111.
    out = sc.portmap_probe("172.16.14.9", "192.0.2.10", 700, T0, [])
    check("portmap: outbound call is not a probe", by(h.alerts(h.pcap(out)), "portmap-probe") == [])


def group_syn_retry(h):
    seed_gaps = [2.971145, 6.001214, 12.001701, 24.003131, 48.002033, 95.999483, 120.004112, 120.009759]
    a = by(h.alerts(h.pcap(sc.syn_retries("131.215.103.94", "172.16.14.1", 1189, 79, T0, seed_gaps))), "syn-retry-anomaly")
    check("syn-retry: seed trace", len(a) == 1 and a[0]["dest_port"] == 79, str(a))
    # Variant: constant 5 s retries, 10 SYNs, other port and networks: the count rule.
    v1 = sc.syn_retries("203.0.113.50", "10.1.2.3", 33000, 22, T0, [5] * 9, isn=42)
    a = by(h.alerts(h.pcap(v1), "--home-net", "10.0.0.0/8"), "syn-retry-anomaly")
    check("syn-retry: 10 SYNs every 5 s alerts at the 8th", len(a) == 1 and a[0]["harrier"]["evidence"]["syns"] == 8 and
          a[0]["harrier"]["evidence"]["shape"] == "constant", str(a))
    # Variant: 4 SYNs spread over 200 s: the span rule.
    v2 = sc.syn_retries("198.51.100.3", "172.16.14.9", 2000, 25, T0, [60, 70, 70], isn=7)
    a = by(h.alerts(h.pcap(v2)), "syn-retry-anomaly")
    check("syn-retry: 4 SYNs over 200 s alerts", len(a) == 1 and a[0]["harrier"]["evidence"]["syns"] == 4, str(a))
    # Negatives: the stacks' own retries, an answered connect, new ISNs each time.
    linux = sc.syn_retries("198.51.100.9", "172.16.14.30", 51000, 443, T0, [1, 2, 4, 8, 16, 32])
    windows = sc.syn_retries("198.51.100.10", "172.16.14.31", 51001, 445, T0, [3, 6])
    check("syn-retry: Linux retries are quiet", by(h.alerts(h.pcap(linux)), "syn-retry-anomaly") == [])
    check("syn-retry: Windows retries are quiet", by(h.alerts(h.pcap(windows)), "syn-retry-anomaly") == [])
    answered = sc.syn_retries("198.51.100.11", "172.16.14.32", 51002, 80, T0, [1, 1, 1, 1, 1, 1, 1, 1, 1])
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    synack = Ether() / IP(src="172.16.14.32", dst="198.51.100.11") / TCP(sport=80, dport=51002, flags="SA", seq=1, ack=784278960)
    synack.time = T0 + 2.5
    check("syn-retry: answered connection is quiet", by(h.alerts(h.pcap(sc.interleave(answered, [synack]))), "syn-retry-anomaly") == [])
    fresh = []
    for i in range(10):
        fresh += sc.syn_retries("198.51.100.12", "172.16.14.33", 51003, 80, T0 + 5 * i, [], isn=1000 + i)
    check("syn-retry: a new ISN each time is a new attempt", by(h.alerts(h.pcap(fresh)), "syn-retry-anomaly") == [])


def group_horizontal(h):
    seed = sc.horizontal_scan("61.138.15.98", ["172.16.14.10", "172.16.14.11", "172.16.14.12"], 32773, T0, 0.04)
    a = by(h.alerts(h.pcap(seed)), "horizontal-scan")
    check("horizontal: seed trace", len(a) == 1 and a[0]["harrier"]["evidence"]["hosts"] == 3, str(a))
    # Variant: descending, other networks, port 6000, 0.5 s apart, mixed with benign traffic.
    targets = [f"10.9.8.{i}" for i in (50, 40, 30, 20)]
    v = sc.interleave(sc.horizontal_scan("203.0.113.200", targets, 6000, T0, 0.5, sport_base=50000),
                      *[sc.http_session("198.51.100.2", "10.9.8.99", 41000 + i, T0 + i) for i in range(3)])
    a = by(h.alerts(h.pcap(v), "--home-net", "10.9.0.0/16"), "horizontal-scan")
    check("horizontal: descending variant", len(a) == 1 and a[0]["harrier"]["evidence"]["order"] == "descending", str(a))
    # Variant: UDP refused by ICMP port unreachable (failed attempts count at once).
    udp = []
    for i, t in enumerate(sc.shuffled([f"172.16.14.{n}" for n in range(60, 66)], 7)):
        udp += sc.udp_unreachable_probe("192.0.2.66", t, 5353, 161, T0 + 0.2 * i)
    a = by(h.alerts(h.pcap(udp)), "horizontal-scan")
    check("horizontal: UDP refused by ICMP unreachable, random order", len(a) >= 1 and a[0]["proto"] == "UDP" and
          a[0]["harrier"]["evidence"]["refused"] >= 3 and a[0]["harrier"]["evidence"]["order"] == "random", str(a))
    # Variant: slow sweep, 25 hosts one every 10 minutes: the 24 h rule.
    slow = sc.horizontal_scan("198.51.100.250", [f"172.16.15.{i}" for i in range(1, 26)], 1433, T0, 600.0)
    a = by(h.alerts(h.pcap(slow)), "horizontal-scan")
    check("horizontal: slow sweep hits the 24 h threshold", len(a) >= 1 and a[0]["harrier"]["evidence"]["threshold"] == "slow" and
          a[0]["harrier"]["evidence"]["hosts"] == 20, str(a[:1]))
    # Variant: a fast sweep of 600 hosts of a /16 (200 a second, other port):
    # one incident, bounded updates, and the last alert gives the whole sweep.
    big = sc.horizontal_scan("203.0.113.9", [f"10.20.{i // 250}.{1 + i % 250}" for i in range(600)], 5900, T0, 0.005)
    a = by(h.alerts(h.pcap(big), "--home-net", "10.20.0.0/16"), "horizontal-scan")
    check("horizontal: a 600-host sweep is one incident whose last alert counts all 600",
          1 <= len(a) <= 5 and a[0]["harrier"]["update"] == 0 and all(x["harrier"]["update"] > 0 for x in a[1:])
          and a[-1]["harrier"]["evidence"]["hosts"] == 600, str([x["harrier"]["evidence"]["hosts"] for x in a]))
    # Negatives.
    web = sc.horizontal_scan("198.51.100.7", ["172.16.14.20", "172.16.14.21", "172.16.14.22", "172.16.14.23"], 80, T0, 0.05,
                             answers={t: "synack" for t in ["172.16.14.20", "172.16.14.21", "172.16.14.22", "172.16.14.23"]})
    check("horizontal: client using servers that answer is quiet", by(h.alerts(h.pcap(web)), "horizontal-scan") == [])
    two = sc.horizontal_scan("61.138.15.98", ["172.16.14.10", "172.16.14.11"], 32773, T0, 0.04)
    check("horizontal: two hosts stay below the threshold", by(h.alerts(h.pcap(two)), "horizontal-scan") == [])
    inv = os.path.join(h.tmp, "inv-web.yaml")
    open(inv, "w").write("hosts:\n  - {address: 172.16.14.0/24, services: [tcp/443]}\n")
    served = sc.horizontal_scan("198.51.100.8", ["172.16.14.40", "172.16.14.41", "172.16.14.42"], 443, T0, 0.05)
    check("horizontal: unanswered but served per inventory is quiet", by(h.alerts(h.pcap(served), "--inventory", inv), "horizontal-scan") == [])
    outbound = sc.horizontal_scan("172.16.14.5", ["198.51.100.1", "198.51.100.2", "198.51.100.3"], 25, T0, 0.05)
    check("horizontal: outbound connections are not probes of home hosts", by(h.alerts(h.pcap(outbound)), "horizontal-scan") == [])


def mixed_capture():
    streams = [
        sc.horizontal_scan("61.138.15.98", [f"172.16.14.{i}" for i in range(10, 30)], 32773, T0, 0.01),
        sc.horizontal_scan("203.0.113.9", [f"172.16.14.{i}" for i in range(100, 104)], 22, T0 + 0.5, 0.3),
        sc.syn_retries("131.215.103.94", "172.16.14.1", 1189, 79, T0, [3, 6, 12, 24, 48, 96, 120, 120]),
        sc.portmap_probe("207.8.127.251", "172.16.14.1", 1023, T0 + 1, [0.25, 0.5]),
        sc.portmap_probe("207.8.127.252", "172.16.14.2", 1023, T0 + 1.1, [0.25, 0.5]),
    ]
    for i in range(60):
        streams.append(sc.http_session(f"198.51.100.{i % 50 + 1}", f"172.16.14.{200 + i % 5}", 30000 + i, T0 + 0.05 * i))
        streams.append(sc.dns_query(f"172.16.14.{i % 7 + 1}", "192.0.2.53", 20000 + i, T0 + 0.07 * i))
    return sc.interleave(*streams)


def group_workers(h):
    cap = h.pcap(mixed_capture())
    sample = os.path.join(ROOT, "tests", "pcaps", "sample.pcap")
    for name, f in (("mixed", cap), ("sample", sample)):
        runs = {}
        for w in (1, 2, 4):
            p, alerts = h.run(f, "--workers", str(w))
            check(f"workers: {name} with {w} workers exits 0", p.returncode == 0, p.stderr)
            runs[w] = [json.dumps(a, sort_keys=True) for a in alerts]
        check(f"workers: {name} alert set identical for 1, 2, 4 workers", runs[1] == runs[2] == runs[4] and len(runs[1]) > 0,
              f"{len(runs[1])} {len(runs[2])} {len(runs[4])}")
    # Both directions of every connection meet on one worker, or the sessions
    # above would have looked unanswered and the web clients would alert.
    p, alerts = h.run(cap, "--workers", "4")
    check("workers: benign sessions quiet with 4 workers", all(a["src_ip"] not in [f"198.51.100.{i}" for i in range(1, 51)] for a in alerts))


def write_raw_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, data in frames:
            f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(data), len(data)))
            f.write(data)


def group_errors(h):
    p, _ = h.run("/nonexistent/x.pcap")
    check("errors: missing file names it, exit 1", p.returncode == 1 and "/nonexistent/x.pcap" in p.stderr and "No such file" in p.stderr, p.stderr)
    p, _ = h.run(h.tmp)
    check("errors: directory", p.returncode == 1 and "directory" in p.stderr, p.stderr)
    txt = os.path.join(h.tmp, "notes.txt")
    open(txt, "w").write("this is not a capture\n" * 10)
    p, _ = h.run(txt)
    check("errors: not a pcap", p.returncode == 1 and "not a pcap" in p.stderr, p.stderr)
    # Truncated: the seed scan plus a cut-off record at the end.
    good = h.pcap(sc.horizontal_scan("61.138.15.98", ["172.16.14.10", "172.16.14.11", "172.16.14.12"], 32773, T0, 0.04))
    data = open(good, "rb").read()
    trunc = os.path.join(h.tmp, "trunc.pcap")
    open(trunc, "wb").write(data + struct.pack("<IIII", int(T0 + 1), 0, 400, 400) + b"\x00" * 20)
    p, alerts = h.run(trunc)
    check("errors: truncated file warns and keeps what it has", p.returncode == 0 and "truncated" in p.stderr and
          len(by(alerts, "horizontal-scan")) == 1, p.stderr)
    # Malformed packets: counted, never a crash.
    frames = [(T0 + i * 0.001, bytes([(i * 37 + k * 11) & 0xFF for k in range(i % 80)])) for i in range(400)]
    eth_ip = bytes.fromhex("00005e00530200005e0053010800")
    frames += [(T0 + 1 + i * 0.001, eth_ip + bytes([0x45 + (i % 11), 0, 0, (40 + i) & 0xFF, 0, 0, 0x20 * (i % 3), 0, 64, [6, 17, 1][i % 3], 0, 0, 1, 2, 3, 4, 172, 16, 14, 1]) +
                bytes([(i * 13 + k) & 0xFF for k in range(i % 30)])) for i in range(400)]
    bad = os.path.join(h.tmp, "malformed.pcap")
    write_raw_pcap(bad, frames)
    p = subprocess.run([h.binary, "read", bad], capture_output=True, text=True, timeout=120)
    check("errors: malformed packets are counted, not fatal", p.returncode == 0 and "undecodable" in p.stderr, p.stderr[-500:])
    # Config errors name the file, line, key, value and range.
    cfgs = {
        "unknown key": ("dataplane:\n  workerz: 2\n", ":2: dataplane.workerz: unknown key"),
        "out of range": ("detectors:\n  horizontal-scan:\n    fast_hosts: 0\n", ":3: detectors.horizontal-scan.fast_hosts: value 0 out of range 2..65535"),
        "unknown detector": ("detectors:\n  nope: {}\n", "detectors.nope: unknown detector"),
        "bad service": ("inventory:\n  hosts:\n    - {address: 10.0.0.1, services: [tcp/99999]}\n", "port '99999'"),
        "bad cidr": ("home_networks: [10.0.0.0/33]\n", "home_networks[0]: '10.0.0.0/33': prefix length must be 0..32"),
        "yaml syntax": ("dataplane: [\n", "YAML syntax error"),
    }
    for name, (text, want) in cfgs.items():
        path = os.path.join(h.tmp, name.replace(" ", "_") + ".yaml")
        open(path, "w").write(text)
        p, _ = h.run(good, "--config", path)
        check(f"errors: config {name}", p.returncode == 2 and want in p.stderr and path in p.stderr, p.stderr)
    p, _ = h.run(good, "--home-net", "10.0.0.0/8,banana")
    check("errors: bad --home-net", p.returncode == 2 and "banana" in p.stderr, p.stderr)
    p = subprocess.run([h.binary, "read"], capture_output=True, text=True)
    check("errors: usage", p.returncode == 2, p.stderr)


def benign_frames(n, t0):
    """n packets of ordinary, answered UDP request/response traffic over many
    flows, written without scapy so large captures are quick to make."""
    frames = []
    for i in range(n // 2):
        client = bytes([198, 51, 100, 1 + (i % 200)])
        server = bytes([172, 16, 14, 1 + (i % 20)])
        sport = 1024 + (i % 5000)

        def udp(src, dst, sp, dp, payload):
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), i & 0xFFFF, 0, 64, 17, 0, src, dst)
            return bytes.fromhex("00005e00530200005e0053010800") + ip + struct.pack("!HHHH", sp, dp, 8 + len(payload), 0) + payload
        frames.append((t0 + i * 0.0001, udp(client, server, sport, 53, b"q" * 20)))
        frames.append((t0 + i * 0.0001 + 0.00005, udp(server, client, 53, sport, b"a" * 40)))
    return frames


def group_alloc(h, alloc_lib):
    counts = {}
    for n in (20000, 200000):
        path = os.path.join(h.tmp, f"benign{n}.pcap")
        write_raw_pcap(path, benign_frames(n, T0))
        out = os.path.join(h.tmp, f"alloc{n}.txt")
        env = dict(os.environ, LD_PRELOAD=alloc_lib, HARRIER_ALLOC_OUT=out)
        p, alerts = h.run(path, "--workers", "2", env=env)
        check(f"alloc: {n} benign packets run cleanly and stay quiet", p.returncode == 0 and alerts == [], p.stderr[-300:])
        counts[n] = int(open(out).read()) if os.path.exists(out) else -1
    extra = counts[200000] - counts[20000]
    print(f"     heap allocations: {counts[20000]} for 20k packets, {counts[200000]} for 200k packets")
    # 180,000 more packets: one allocation per thousand packets would be 180.
    check("alloc: no heap allocation per packet after warm-up", counts[20000] > 0 and extra < 100, f"extra={extra}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--harrier", required=True)
    ap.add_argument("--alloc-lib", default="")
    ap.add_argument("group")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="harrier-e2e-") as tmp:
        h = Harrier(args.harrier, tmp)
        if args.group == "alloc":
            group_alloc(h, args.alloc_lib)
        elif hasattr(catalog_groups, "group_" + args.group):
            getattr(catalog_groups, "group_" + args.group)(h, check, by)
        elif os.path.exists(os.path.join(HERE, f"group_{args.group}.py")):
            # A detector's own group file: run(h, check, by, cat).
            __import__(f"group_{args.group}").run(h, check, by, cat)
        else:
            globals()["group_" + args.group](h)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
