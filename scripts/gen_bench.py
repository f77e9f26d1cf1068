#!/usr/bin/python3
"""Writes a large synthetic capture for scripts/bench: small packets (64-128 B),
many flows (TCP handshakes and data, UDP request/response), a sprinkle of
scans. Raw pcap writing, no scapy: a million packets in seconds.

    scripts/gen_bench.py OUT.pcap [PACKETS] [FLOWS] [--churn | --storm]

The steady mix (default) repeats FLOWS conversations. --churn makes every
conversation new (a fresh client port each round: about PACKETS/4 flows)
and adds one scanner sweeping 254 hosts x 1,024 ports as 5% of the packets:
the load of a busy link under a scan storm. --storm is the host stage's
worst case: every packet an unanswered SYN from one of FLOWS scanners to a
random home host and port, so every packet becomes a host event (the load
scripts/bench-correlate puts on Redis and a correlator).
"""
import random
import struct
import sys

ETH = bytes.fromhex("00005e00530200005e0053010800")


def ip4(a):
    return bytes(a)


def frame(src, dst, proto, l4, ident):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident & 0xFFFF, 0x4000, 64, proto, 0, src, dst)
    return ETH + ip + l4


def tcp(sp, dp, seq, ack, flags, payload=b""):
    return struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 0x50, flags, 65535, 0, 0) + payload


def udp(sp, dp, payload):
    return struct.pack("!HHHH", sp, dp, 8 + len(payload), 0) + payload


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    churn = "--churn" in sys.argv
    storm = "--storm" in sys.argv
    out = args[0]
    n = int(args[1]) if len(args) > 1 else 1_000_000
    flows = int(args[2]) if len(args) > 2 else 100_000
    r = random.Random(1)
    t = 1700000000.0
    scanner = bytes([203, 0, 113, 66])
    scan_i = 0
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        written = 0
        rounds = 0
        while storm and written < n:
            i = r.randrange(flows)
            src = bytes([198, 18 + (i >> 16 & 1), i >> 8 & 0xFF, i & 0xFF])
            dst = bytes([172, 16, r.randrange(256), r.randrange(1, 255)])
            p = frame(src, dst, 6, tcp(1024 + written % 60000, r.randrange(1, 65535), written, 0, 0x02), written)
            t += 0.000001
            f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(p), len(p)))
            f.write(p)
            written += 1
        while written < n:
            i = r.randrange(flows)
            rounds += 1
            client = bytes([198, 18 + (i >> 16 & 1), i >> 8 & 0xFF, i & 0xFF])
            server = bytes([172, 16, i % 16, 1 + i % 200])
            # Churn: a new source port every round, so every conversation is a new flow.
            sp = 1024 + (rounds * 7919 + i) % 64000 if churn else 1024 + i % 60000
            kind = i % 10
            if churn and r.random() < 0.1:  # about 5% of the packets
                # The scanner: 254 hosts x 1,024 ports, one SYN each, a RST back from most.
                host, port = scan_i % 254 + 1, scan_i // 254 % 1024 + 1
                scan_i += 1
                target = bytes([172, 16, 200, host])
                pkts = [frame(scanner, target, 6, tcp(40000 + scan_i % 20000, port, 7, 0, 0x02), scan_i)]
                if scan_i % 4:
                    pkts.append(frame(target, scanner, 6, tcp(port, 40000 + scan_i % 20000, 0, 8, 0x14), scan_i))
            elif kind < 6:
                pkts = [frame(client, server, 6, tcp(sp, 443, 1, 0, 0x02), i),
                        frame(server, client, 6, tcp(443, sp, 9, 2, 0x12), i),
                        frame(client, server, 6, tcp(sp, 443, 2, 10, 0x10), i),
                        frame(client, server, 6, tcp(sp, 443, 2, 10, 0x18, b"x" * 40), i),
                        frame(server, client, 6, tcp(443, sp, 10, 42, 0x18, b"y" * 60), i)]
            elif kind < 9:
                pkts = [frame(client, server, 17, udp(sp, 53, b"q" * 30), i),
                        frame(server, client, 17, udp(53, sp, b"a" * 50), i)]
            else:
                pkts = [frame(client, bytes([172, 16, 99, r.randrange(1, 255)]), 6, tcp(sp, r.randrange(1, 65535), 5, 0, 0x02), i)]
            for p in pkts:
                t += 0.000001
                f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(p), len(p)))
                f.write(p)
                written += 1
    kind = "storm" if storm else "churn" if churn else f"{flows} repeating flows"
    print(f"wrote {written} packets ({kind}) to {out}")


if __name__ == "__main__":
    main()
