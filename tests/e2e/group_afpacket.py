"""`harrier run` on net_af_packet with two RX queues, on one end of a veth
pair in a network namespace this test makes (and removes), driven by
`harrier replay` on the other end: every packet sent is received and
analysed, spread over both queues, and the same incidents are raised as by
`harrier read`.

Two queues do not keep the order between them: packets sent within the
same microseconds (nmap's OS probes) may be seen in another order than the
file's, so an alert may list the same probe types in another order. Who
raised what against whom, and how often, must not change; the exact text is
the single-queue `lab` group's check."""
import json
import os
import signal
import subprocess
import time



def _incidents(alerts):
    return sorted((a["detector"], a["src_ip"], a["dest_ip"]) for a in alerts)


def sh(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def run(h, check, by, cat):
    if os.geteuid() != 0:
        check("afpacket: skipped: making a network namespace needs root", True)
        return
    pcap = h.pcap(cat.lab_mix(start=1700000000.0), "lab.pcap")
    n = len(cat.lab_mix(start=1700000000.0))
    expected = h.alerts([pcap], "--home-net", "10.1.0.0/24")
    ns = f"harrier-e2e-{os.getpid()}"
    ctl = os.path.join(os.path.dirname(h.binary), "harrierctl")
    sock, eve = os.path.join(h.tmp, "af.ctl"), os.path.join(h.tmp, "af.eve")
    cfg = os.path.join(h.tmp, "af.yaml")
    with open(cfg, "w") as f:
        f.write(f"""dataplane:
  eal_args: ["--no-huge", "--no-shconf", "--no-pci", "-m", "1024", "--no-telemetry",
             "--file-prefix", "harrier-af-{os.getpid()}"]
  ports:
    - device: "net_af_packet0,iface=hA,qpairs=2"
      rx_queues: 2
  workers: 2
  pdump: false
home_networks: [10.1.0.0/24]
outputs:
  summary: false
  eve: {eve}
control:
  socket: {sock}
""")
    made = sh("ip", "netns", "add", ns)
    try:
        # No IPv6 on the pair: the kernel's own router solicitations would
        # be packets nobody sent.
        setup = sh("ip", "netns", "exec", ns, "sh", "-ec",
                   "sysctl -qw net.ipv6.conf.all.disable_ipv6=1; sysctl -qw net.ipv6.conf.default.disable_ipv6=1;"
                   "ip link add hA type veth peer name hB; ip link set hA up; ip link set hB up")
        check("afpacket: a namespace with a veth pair", made.returncode == 0 and setup.returncode == 0,
              made.stderr + setup.stderr)
        proc = subprocess.Popen(["ip", "netns", "exec", ns, h.binary, "run", "--config", cfg],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 30
            while time.time() < deadline and proc.poll() is None and not os.path.exists(sock):
                time.sleep(0.2)
            r = sh("ip", "netns", "exec", ns, h.binary, "replay", pcap, "--port", "net_af_packet1,iface=hB",
                   "--lossless", "--json")
            sent = json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr}
            stats, deadline = {}, time.time() + 20
            while time.time() < deadline:
                s = sh(ctl, "--socket", sock, "--json", "stats")
                stats = json.loads(s.stdout) if s.returncode == 0 else {}
                if stats.get("analysed", {}).get("packets", 0) >= n and stats["analysed"]["in_flight"] == 0:
                    break
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
        queues = stats.get("ports", [{}])[0].get("queues", [])
        check("afpacket: every packet sent was received and analysed, over both queues",
              sent.get("sent") == n and stats.get("received", {}).get("packets") == n
              and stats["analysed"]["packets"] == n and len(queues) == 2 and all(q["packets"] > 0 for q in queues),
              f"{sent} {json.dumps(stats)[:400]}")
        with open(eve) as f:
            got = [a for a in (json.loads(l) for l in f if l.strip()) if a["event_type"] == "alert"]
        check(f"afpacket: live alerts are read's ({len(expected)}): detector, source, target, count",
              proc.returncode == 0 and _incidents(got) == _incidents(expected),
              f"rc={proc.returncode} live-only {sorted(set(_incidents(got)) - set(_incidents(expected)))[:3]} "
              f"read-only {sorted(set(_incidents(expected)) - set(_incidents(got)))[:3]} {err[-300:]}")
    finally:
        sh("ip", "netns", "del", ns)
    check("afpacket: the namespace is gone", ns not in sh("ip", "netns", "list").stdout)
