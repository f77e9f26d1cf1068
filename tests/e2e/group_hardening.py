"""Hostile and careless inputs to `harrier read` (issue "Hardened", part 1):
files without a packet end at once and do not block the files after them;
more files than DPDK has ports is a clear error; a stop during the file scan
says how far it got; no DPDK runtime directory is left behind; a flow table
that evicts says so; and a reported scan is not cut short by a flood that
fills its detector's table."""
import json
import os
import random
import re
import signal
import struct
import subprocess
import time

T0 = 1700000000.0
ETH = bytes.fromhex("00005e00530200005e0053010800")


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def tcp_frame(src, dst, sport, dport, flags=0x02, seq=1000):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 1024, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, ip4(src), ip4(dst))
    return ETH + ip + tcp


def write_pcap(path, frames, header=True):
    with open(path, "wb") as f:
        if header:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, data in frames:
            f.write(struct.pack("<IIII", int(t), int(round((t % 1) * 1e6)) % 1000000, len(data), len(data)))
            f.write(data)


def run(h, check, by, cat):
    good = os.path.join(h.tmp, "good.pcap")
    # A horizontal scan of 3 home hosts (the seed's first detect, other addresses).
    write_pcap(good, [(T0 + i * 0.04, tcp_frame("198.51.100.7", f"10.9.0.{10 + i}", 40000, 21))
                      for i in range(3)])
    home = ("--home-net", "10.0.0.0/8")

    # A header and nothing else; a first record whose length is absurd.
    empty = os.path.join(h.tmp, "empty.pcap")
    write_pcap(empty, [])
    damaged = os.path.join(h.tmp, "damaged.pcap")
    with open(damaged, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        f.write(struct.pack("<IIII", int(T0), 0, 300000, 300000) + b"\x00" * 64)
    for name, path, said in (("header-only", empty, "holds no packets"),
                             ("damaged first record", damaged, "no readable packet")):
        t = time.monotonic()
        p, alerts = h.run(path, *home)
        took = time.monotonic() - t
        check(f"hardening: a {name} file ends at once, named", p.returncode == 0 and said in p.stderr
              and path in p.stderr and took < 30 and alerts == [], f"rc={p.returncode} {took:.1f}s {p.stderr[-300:]}")
        p, alerts = h.run([path, good], *home)
        check(f"hardening: a {name} file does not block the files after it",
              p.returncode == 0 and len(by(alerts, "horizontal-scan")) == 1, p.stderr[-300:])

    # More files than DPDK has ports.
    many = []
    for i in range(33):
        f = os.path.join(h.tmp, f"part{i}.pcap")
        write_pcap(f, [(T0 + i, tcp_frame("198.51.100.8", "10.9.1.1", 40000 + i, 80))])
        many.append(f)
    p, _ = h.run(many)
    check("hardening: 33 files is a clear limit, before DPDK starts", p.returncode == 2 and
          "at most 32" in p.stderr and "RTE_MAX_ETHPORTS" in p.stderr and "EAL" not in p.stderr, p.stderr[-300:])
    p, alerts = h.run(many[:32], *home)
    check("hardening: 32 files are read", p.returncode == 0, p.stderr[-300:])

    # No DPDK runtime directory left behind by a read.
    eve = os.path.join(h.tmp, "rt.eve")
    proc = subprocess.Popen([h.binary, "read", good, "--eve", eve, "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.communicate(timeout=120)
    rt = f"/var/run/dpdk/harrier-read-{proc.pid}"
    check("hardening: a read removes its DPDK runtime directory", proc.returncode == 0 and not os.path.exists(rt), rt)

    # SIGTERM while the file scan waits on a capture still being written (a FIFO).
    fifo = os.path.join(h.tmp, "slow.pcap")
    os.mkfifo(fifo)
    proc = subprocess.Popen([h.binary, "read", fifo, "--eve", os.path.join(h.tmp, "fifo.eve")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    w = open(fifo, "wb")
    w.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    frame = tcp_frame("198.51.100.9", "10.9.2.2", 40000, 80)
    for i in range(10000):
        w.write(struct.pack("<IIII", int(T0), i, len(frame), len(frame)) + frame)
    w.flush()
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    w.close()
    check("hardening: SIGTERM during the file scan ends it with a word on how far it got",
          proc.returncode == 0 and "stopped by a signal while scanning" in err and "10000 packets" in err,
          f"rc={proc.returncode} {err[-300:]}")

    # A flow table too small for the traffic is reported with the knob to raise.
    conf = os.path.join(h.tmp, "small-flows.yaml")
    with open(conf, "w") as f:
        f.write("dataplane:\n  flow_table: {capacity: 1024}\n")
    rng = random.Random(5)
    flows = [(T0 + i * 0.0001, tcp_frame(f"203.0.{rng.randrange(256)}.{rng.randrange(1, 255)}", "10.9.3.3",
                                         rng.randrange(1024, 65535), 80)) for i in range(5000)]
    path = os.path.join(h.tmp, "flows.pcap")
    write_pcap(path, flows)
    p, _ = h.run(path, "--config", conf, "--workers", "1", *home)
    check("hardening: flow-table evictions are warned with the parameter to raise",
          p.returncode == 0 and "flow table full" in p.stderr and "dataplane.flow_table.capacity" in p.stderr,
          p.stderr[-400:])

    # A 1,000-port scan cut in two by a SYN flood from random sources that
    # fills vertical-scan's table: one incident, reported whole.
    conf = os.path.join(h.tmp, "small-vscan.yaml")
    with open(conf, "w") as f:
        f.write("detectors:\n  vertical-scan: {table_size: 1024}\n")
    scanner, victim = "198.51.100.66", "10.9.4.4"
    frames = [(T0 + i * 0.004, tcp_frame(scanner, victim, 50000, 1 + i)) for i in range(500)]
    t = T0 + 2.5
    for i in range(4000):
        src = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        frames.append((t + i * 0.0002, tcp_frame(src, f"10.9.4.{rng.randrange(1, 255)}", rng.randrange(1024, 65535),
                                                  rng.randrange(1000, 60000))))
    frames += [(T0 + 4.0 + i * 0.004, tcp_frame(scanner, victim, 50000, 501 + i)) for i in range(500)]
    path = os.path.join(h.tmp, "scan-in-flood.pcap")
    write_pcap(path, frames)
    for workers in ("1", "2"):
        p, alerts = h.run(path, "--config", conf, "--workers", workers, *home)
        mine = [a for a in by(alerts, "vertical-scan") if a["src_ip"] == scanner]
        ports = [a["harrier"]["evidence"]["ports"] for a in mine]
        firsts = [a for a in mine if a["harrier"]["update"] == 0]
        check(f"hardening: a 1,000-port scan inside a table-filling flood is one incident, reported whole ({workers} workers)",
              p.returncode == 0 and len(firsts) == 1 and ports and max(ports) == 1000,
              f"ports={ports} {p.stderr[-300:]}")

    # One batch that raises more alerts than a batch has slots for (32 per
    # shard): 60 sources, one SYN|FIN each. Offline nothing is dropped.
    frames = [(T0 + i * 0.0001, tcp_frame(f"198.51.{100 + i // 200}.{1 + i % 200}", "10.9.5.5", 40000 + i, 139, flags=0x03))
              for i in range(60)]
    path = os.path.join(h.tmp, "many-alerts.pcap")
    write_pcap(path, frames)
    for workers in ("1", "2"):
        p, alerts = h.run(path, "--workers", workers, *home)
        srcs = {a["src_ip"] for a in by(alerts, "flag-anomaly")}
        check(f"hardening: a batch raising 60 alerts on one shard loses none ({workers} workers)",
              p.returncode == 0 and len(srcs) == 60 and "dropped" not in p.stderr, f"{len(srcs)} {p.stderr[-300:]}")

    # Unanswered single probes from thousands of sources keep horizontal-
    # scan waiting on thousands of targets at once, while one client opens
    # answered connections to ten servers: nothing may name the client (its
    # targets answered; a full pending list once counted them unanswered).
    frames = []
    for i in range(6000):
        src = f"198.18.{i // 250}.{1 + i % 250}"
        frames.append((T0 + i * 0.0001, tcp_frame(src, f"10.9.6.{1 + i % 250}", 30000 + i % 1000, 8443)))
    client = "203.0.113.50"
    for k in range(10):
        t = T0 + 0.7 + k * 0.01
        server = f"10.9.8.{1 + k}"
        frames.append((t, tcp_frame(client, server, 50000 + k, 443, flags=0x02)))
        frames.append((t + 0.001, tcp_frame(server, client, 443, 50000 + k, flags=0x12)))
        frames.append((t + 0.002, tcp_frame(client, server, 50000 + k, 443, flags=0x10)))
    frames.sort(key=lambda f: f[0])
    path = os.path.join(h.tmp, "pending-flood.pcap")
    write_pcap(path, frames)
    for workers in ("1", "2"):
        p, alerts = h.run(path, "--workers", workers, *home)
        wrong = [a for a in by(alerts, "horizontal-scan") if a["src_ip"] == client]
        check(f"hardening: answered connections are never a scan while thousands of probes await answers ({workers} workers)",
              p.returncode == 0 and not wrong, str([a["alert"]["signature"] for a in wrong][:2]) + p.stderr[-200:])

    # The churn mix (a new connection every round, a scan storm as 5% of the
    # packets) with every table small enough to overflow: the alert set is
    # the same for 1, 2 and 4 workers (budgets and their overflow must not
    # change what is found).
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    churn = os.path.join(h.tmp, "churn.pcap")
    subprocess.run(["/usr/bin/python3", os.path.join(root, "scripts", "gen_bench.py"), churn, "120000", "1000000",
                    "--churn"], check=True, capture_output=True)
    # The flow table is full too (about 30,000 conversations through 16,384
    # slots), but holds every attempt still waiting for its answer: it must
    # hold answer_grace x the rate of attempts (this capture is 0.11 s of
    # packet time, so all ~7,000 of them), or outcomes are lost (below).
    conf = os.path.join(h.tmp, "small-all.yaml")
    with open(conf, "w") as f:
        f.write("dataplane:\n  flow_table: {capacity: 16384}\ndetectors:\n" + "".join(
            f"  {d}: {{table_size: 1024}}\n" for d in ("horizontal-scan", "vertical-scan", "slow-scan",
                                                       "rst-backscatter", "trojan-port-probe")))
    sets = {}
    for workers in ("1", "2", "4"):
        p, alerts = h.run(churn, "--config", conf, "--workers", workers, "--home-net", "172.16.0.0/12")
        # Alerts and what fusion folded into them: every detector's findings.
        sets[workers] = sorted((a["event_type"], a["detector"], a["src_ip"], a["dest_ip"], a["alert"]["signature"])
                               for a in alerts + h.folded)
        if p.returncode != 0:
            print(p.stderr[-300:])
    check("hardening: the churn mix with full tables gives one alert set for 1, 2 and 4 workers",
          len(sets["1"]) > 10 and sets["1"] == sets["2"] == sets["4"],
          f"{len(sets['1'])} {len(sets['2'])} {len(sets['4'])} "
          f"{sorted(set(sets['1']) ^ set(sets['4']))[:3]}")
    # A flow table that turns over within the answer grace loses attempts'
    # outcomes: counted, warned with what to raise, never turned into alerts.
    tiny = os.path.join(h.tmp, "tiny-flows.yaml")
    with open(tiny, "w") as f:
        f.write("dataplane:\n  flow_table: {capacity: 1024}\n")
    p, _ = h.run(churn, "--config", tiny, "--workers", "1", "--home-net", "172.16.0.0/12")
    check("hardening: attempts evicted before their answer grace are counted and warned, naming the capacity",
          p.returncode == 0 and "left the flow table before their answer grace ran out" in p.stderr and
          "raise dataplane.flow_table.capacity" in p.stderr, p.stderr[-400:])

    # Time that steps back across files: a read of a capture made a day
    # later, then an earlier one holding a sweep of 5,000 home hosts at
    # 1,000/s. The flow table holds the sweep's attempts within one grace
    # (3,000) but not all 5,000: the earlier file's attempts must come due
    # on its own time, not wait for the first file's last deadline.
    t0 = 1700000000.0
    sweep = [(t0 + i * 0.001, tcp_frame("198.51.100.7", f"10.{1 + i // 65025}.{i // 255 % 255}.{1 + i % 255}",
                                        40000 + i % 20000, 445)) for i in range(5000)]
    later = [(t0 + 86400, tcp_frame("198.51.100.9", "10.200.0.6", 41000, 22))]
    sweep_pcap, later_pcap = os.path.join(h.tmp, "sweep.pcap"), os.path.join(h.tmp, "later.pcap")
    write_pcap(sweep_pcap, sweep)
    write_pcap(later_pcap, later)
    conf = os.path.join(h.tmp, "sweep-flows.yaml")
    with open(conf, "w") as f:
        f.write("home_networks: [10.0.0.0/8]\ndataplane:\n  flow_table: {capacity: 4096}\n")
    outcomes = {}
    for order in ((sweep_pcap,), (later_pcap, sweep_pcap)):
        p = subprocess.run([h.binary, "read", *order, "--config", conf, "--eve", os.devnull, "--workers", "1"],
                           capture_output=True, text=True, timeout=120)
        m = re.search(r"(\d+) connection outcomes", p.stderr)
        outcomes[len(order)] = (int(m.group(1)) if m else -1, "left the flow table" in p.stderr)
    check("hardening: a file earlier in time than the one read before it loses no attempt's outcome",
          outcomes[1] == (5000, False) and outcomes[2] == (5001, False), str(outcomes))

    # Packet time that keeps jumping between two far-apart time bases (a
    # crafted file: 1 s and 4e9 s alternating): the answer clock's offset
    # stops at its bound instead of wrapping, says so, and every attempt
    # still gets its outcome.
    jumpy = [((4_000_000_000.0 if i % 2 else 1.0) + i * 0.001,
              tcp_frame("198.51.100.8", f"10.3.0.{1 + i}", 40000 + i, 22)) for i in range(20)]
    jumpy_pcap = os.path.join(h.tmp, "jumpy.pcap")
    write_pcap(jumpy_pcap, jumpy)
    p = subprocess.run([h.binary, "read", jumpy_pcap, "--home-net", "10.0.0.0/8", "--eve", os.devnull],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"(\d+) connection outcomes", p.stderr)
    check("hardening: packet time jumping between far time bases: no wrap, said so, every outcome out",
          p.returncode == 0 and m and int(m.group(1)) == 20 and "clock offset reached its bound" in p.stderr,
          p.stderr[-400:])
