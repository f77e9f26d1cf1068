#!/usr/bin/python3
"""Builds harrier's bundled sample capture: the seed's detects replayed on a
real-looking network (home 172.16.14.0/24) with ordinary traffic around them,
so every detector of the catalog fires on it.

    scripts/gen_sample.py tests/pcaps/sample.pcap

Deterministic: the same script gives the same bytes (checked by a test).
"""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "pcapgen"))
from scapy.utils import wrpcap  # noqa: E402
import scenarios as sc  # noqa: E402
import catalog as cat  # noqa: E402

DAY1 = 964109965.0  # 2000-07-20 16:19:25 UTC, the seed's summer
DAY = 86400.0


def build():
    home_srv, home_web = "172.16.14.1", ["172.16.14.20", "172.16.14.21", "172.16.14.22"]
    rng = random.Random(2000)
    streams = [
        # Seed detect 1: NetBIOS name queries to six hosts in ascending order, three each.
        cat.nbns_sweep("24.3.42.176", [f"172.16.14.{i}" for i in range(40, 46)], DAY1 + 200.0, 4.5),
        # Seed detect 2: portmapper GETPORT probes on two days, same source port 1023.
        sc.portmap_probe("207.8.127.251", home_srv, 1023, DAY1, [0.248564, 0.511997, 0.997102, 1.001406, 1.998677, 3.991277]),
        sc.portmap_probe("207.8.127.169", home_srv, 1023, DAY1 + DAY + 4772.0,
                         [0.247787, 0.499958, 1.020454, 0.979089, 2.001639, 4.018818, 3.990255, 7.990788, 16.040802, 16.001105]),
        # Seed detect 3: the "false Netbus", 19 bytes of UDP to 12345.
        cat.trojan_probe("148.64.147.168", "172.16.14.6", 3272, 12345, DAY1 + 400.0, payload=cat.DETECT3_PAYLOAD),
        # Seed detect 4: finger SYN resent with one ISN, doubling from 3 s then held at 120 s.
        sc.syn_retries("131.215.103.94", home_srv, 1189, 79, DAY1 + 600.0,
                       [2.971145, 6.001214, 12.001701, 24.003131, 48.002033, 95.999483, 120.004112, 120.009759]),
        # Seed detect 5: an ORBS-style relay test, one short session per trick.
        cat.orbs_relay_test("209.12.114.100", "172.16.14.25", DAY1 + 1000.0, count=6),
        # Seed detect 6: resets from source port 20766 by three hosts over two days.
        cat.rst_backscatter(["209.67.29.11", "208.185.54.14", "64.124.157.2"], "172.16.14.3", 20766,
                            [1107, 2308, 3418], [DAY1 + 1500.0, DAY1 + DAY, DAY1 + DAY + 3600.0]),
        # Seed detect 7: SYNs to 32773 on three hosts in 82 ms, nobody answers.
        sc.horizontal_scan("61.138.15.98", ["172.16.14.10", "172.16.14.11", "172.16.14.12"], 32773,
                           DAY1 + 3000.0, 0.04),
        # Seed detect 8: an echo sweep, then a connect only to the host that answered.
        cat.ping_then_connect("61.132.88.90", [f"172.16.14.{i}" for i in range(60, 70)], ["172.16.14.63"],
                              ports=(80,), start=DAY1 + 5000.0),
        # Seed detects 9 and 10: ICMP errors quoting packets the home hosts never sent.
        cat.icmp_unreach_backscatter("203.7.204.1", "172.16.14.7", "207.46.130.14", DAY1 + 6000.0),
        cat.icmp_ttl_backscatter("134.55.23.1", "172.16.14.8", "198.51.100.14", DAY1 + 6100.0),
        # Evaluate an Attack: first-generation nmap OS detection (its flagless and
        # SYN|FIN|PSH|URG probes are flag anomalies too).
        cat.nmap_gen1_os("209.67.29.200", "172.16.14.2", start=DAY1 + 7000.0),
        # Analyze This: a fast SYN scan of 25 random ports, and a slow UDP scan from port 53.
        cat.vertical_scan("192.0.2.200", "172.16.14.9", rng.sample(range(1, 65536), 25), DAY1 + 8000.0, 2.0),
        cat.slow_scan_udp("192.0.2.53", "172.16.14.4", rng.sample(range(1024, 65536), 55), DAY1 + 10000.0),
        # Analyze This: SNMP with the public community, and a wildcard NetBIOS node-status query.
        cat.snmp_request("192.0.2.161", "172.16.14.254", 1035, DAY1 + 12000.0, answer=True),
        cat.nbns_node_status("192.0.2.99", "172.16.14.5", DAY1 + 13000.0),
        # Ordinary traffic that must stay quiet: a client using three web
        # servers that answer, DNS, a Linux-style unanswered connect (7 SYNs),
        # and ten minutes of a small office network (10.20.30.0/24).
        [p for i, srv in enumerate(home_web) for p in sc.http_session("198.51.100.7", srv, 40000 + i, DAY1 + 100.0 + 0.3 * i)],
        sc.dns_query("172.16.14.5", "192.0.2.53", 53000, DAY1 + 50.0),
        sc.syn_retries("198.51.100.9", "172.16.14.30", 51000, 443, DAY1 + 900.0, [1, 2, 4, 8, 16, 32], isn=123456789),
        cat.benign_mix(start=DAY1 + 20000.0, seed=1),
    ]
    return sc.interleave(*streams)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/pcaps/sample.pcap"
    wrpcap(out, build())
    print(f"wrote {out}")
