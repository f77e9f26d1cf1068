#!/usr/bin/python3
"""Builds harrier's bundled sample capture: the seed's detects replayed on a
real-looking network (home 172.16.14.0/24) with ordinary traffic around them.

    scripts/gen_sample.py tests/pcaps/sample.pcap

Deterministic: the same script gives the same bytes (checked by a test).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "pcapgen"))
from scapy.utils import wrpcap  # noqa: E402
import scenarios as sc  # noqa: E402

DAY1 = 964109965.0  # 2000-07-20 16:19:25 UTC, the seed's summer
DAY = 86400.0


def build():
    home_srv, home_web = "172.16.14.1", ["172.16.14.20", "172.16.14.21", "172.16.14.22"]
    streams = [
        # Seed detect 2: portmapper GETPORT probes on two days, same source port 1023.
        sc.portmap_probe("207.8.127.251", home_srv, 1023, DAY1, [0.248564, 0.511997, 0.997102, 1.001406, 1.998677, 3.991277]),
        sc.portmap_probe("207.8.127.169", home_srv, 1023, DAY1 + DAY + 4772.0,
                         [0.247787, 0.499958, 1.020454, 0.979089, 2.001639, 4.018818, 3.990255, 7.990788, 16.040802, 16.001105]),
        # Seed detect 4: finger SYN resent with one ISN, doubling from 3 s then held at 120 s.
        sc.syn_retries("131.215.103.94", home_srv, 1189, 79, DAY1 + 600.0,
                       [2.971145, 6.001214, 12.001701, 24.003131, 48.002033, 95.999483, 120.004112, 120.009759]),
        # Seed detect 7: SYNs to 32773 on three hosts in 82 ms, nobody answers.
        sc.horizontal_scan("61.138.15.98", ["172.16.14.10", "172.16.14.11", "172.16.14.12"], 32773,
                           DAY1 + 3000.0, 0.04),
        # Ordinary traffic that must stay quiet: a client using three web
        # servers that answer, DNS, and a Linux-style unanswered connect (7 SYNs).
        [p for i, srv in enumerate(home_web) for p in sc.http_session("198.51.100.7", srv, 40000 + i, DAY1 + 100.0 + 0.3 * i)],
        sc.dns_query("172.16.14.5", "192.0.2.53", 53000, DAY1 + 50.0),
        sc.syn_retries("198.51.100.9", "172.16.14.30", 51000, 443, DAY1 + 900.0, [1, 2, 4, 8, 16, 32], isn=123456789),
    ]
    return sc.interleave(*streams)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/pcaps/sample.pcap"
    wrpcap(out, build())
    print(f"wrote {out}")
