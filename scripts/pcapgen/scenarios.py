"""Scenario builders for harrier's test captures.

Each function returns a list of scapy packets with .time set (packet time is
what harrier's windows run on). Every scenario takes its addresses, ports and
timings as parameters: the seed's traces are one setting of them, the tests
use others. Deterministic: no randomness unless a seed is passed in.
"""
import random
import struct

from scapy.layers.inet import IP, TCP, UDP, ICMP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

MAC_OUT = "00:00:5e:00:53:01"  # the router side
MAC_IN = "00:00:5e:00:53:02"   # the home side


def _eth(inbound=True):
    return Ether(src=MAC_OUT, dst=MAC_IN) if inbound else Ether(src=MAC_IN, dst=MAC_OUT)


def _at(pkt, t):
    pkt.time = t
    return pkt


def rpc_getport_call(xid, prog=100003, vers=2, proto=17):
    """An ONC RPC portmapper GETPORT call (RFC 1833), 56 bytes; padded to 84
    with an AUTH_UNIX credential as the seed's 'udp 84' probes were."""
    machine = b"scan"
    cred_body = struct.pack("!I", 0) + struct.pack("!I", len(machine)) + machine + struct.pack("!III", 0, 0, 0)
    cred = struct.pack("!II", 1, len(cred_body)) + cred_body  # AUTH_UNIX
    verf = struct.pack("!II", 0, 0)
    hdr = struct.pack("!IIIIII", xid, 0, 2, 100000, 2, 3)
    args = struct.pack("!IIII", prog, vers, proto, 0)
    return hdr + cred + verf + args


def portmap_probe(src, dst, sport, start, gaps, proto="udp", ttl=48, xid=0x3a2b1c00):
    """Repeated portmapper GETPORT probes (seed detect 2)."""
    pkts, t = [], start
    for i, g in enumerate([0.0] + list(gaps)):
        t += g
        if proto == "udp":
            p = _eth() / IP(src=src, dst=dst, ttl=ttl, id=1000 + i) / UDP(sport=sport, dport=111) / Raw(rpc_getport_call(xid + i))
        else:
            p = _eth() / IP(src=src, dst=dst, ttl=ttl, id=1000 + i) / TCP(sport=sport, dport=111, flags="S", seq=1000 + i)
        pkts.append(_at(p, t))
    return pkts


def syn_retries(src, dst, sport, dport, start, gaps, isn=784278959, ttl=50,
                options=(("MSS", 1460), ("SAckOK", b""), ("Timestamp", (418650, 0)))):
    """One connection attempt resent with the same ISN at the given gaps (detect 4)."""
    pkts, t = [], start
    for i, g in enumerate([0.0] + list(gaps)):
        t += g
        opts = [(k, v) if k != "Timestamp" else (k, (v[0] + int(t - start) * 100, 0)) for k, v in options]
        p = _eth() / IP(src=src, dst=dst, ttl=ttl, id=4000 + i, flags="DF") / TCP(
            sport=sport, dport=dport, flags="S", seq=isn, window=32120, options=opts)
        pkts.append(_at(p, t))
    return pkts


def syn_probe(src, dst, sport, dport, t, isn, ttl=50, flags="S"):
    return _at(_eth() / IP(src=src, dst=dst, ttl=ttl, flags="DF") / TCP(
        sport=sport, dport=dport, flags=flags, seq=isn, window=32120,
        options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (45939120, 0))]), t)


def horizontal_scan(src, targets, dport, start, spacing, sport_base=1877, isn_base=3332313668, answers=None):
    """SYNs from one source to `dport` on each target (detect 7). `answers`
    maps a target to 'synack' or 'rst' for targets that reply."""
    pkts = []
    answers = answers or {}
    for i, dst in enumerate(targets):
        t = start + i * spacing
        sport = sport_base + 32 * i
        isn = (isn_base + 7919 * i) & 0xFFFFFFFF
        pkts.append(syn_probe(src, dst, sport, dport, t, isn))
        a = answers.get(dst)
        if a == "synack":
            pkts.append(_at(_eth(False) / IP(src=dst, dst=src, ttl=64) / TCP(sport=dport, dport=sport, flags="SA", seq=777 + i, ack=isn + 1), t + 0.0004))
            pkts.append(_at(_eth() / IP(src=src, dst=dst, ttl=50) / TCP(sport=sport, dport=dport, flags="A", seq=isn + 1, ack=778 + i), t + 0.0008))
        elif a == "rst":
            pkts.append(_at(_eth(False) / IP(src=dst, dst=src, ttl=64) / TCP(sport=dport, dport=sport, flags="RA", seq=0, ack=isn + 1), t + 0.0004))
    return pkts


def http_session(client, server, sport, t, dport=80, rtt=0.002, body=b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"):
    """A complete, ordinary TCP conversation."""
    c, s = (client, sport), (server, dport)
    isn_c, isn_s = 1000 + sport, 5000 + sport
    out = []

    def seg(frm, to, flags, seq, ack, data=b"", dt=0.0, inbound=True):
        p = _eth(inbound) / IP(src=frm[0], dst=to[0], ttl=60) / TCP(sport=frm[1], dport=to[1], flags=flags, seq=seq, ack=ack, window=65535)
        if data:
            p = p / Raw(data)
        out.append(_at(p, t + dt))

    seg(c, s, "S", isn_c, 0)
    seg(s, c, "SA", isn_s, isn_c + 1, dt=rtt / 2, inbound=False)
    seg(c, s, "A", isn_c + 1, isn_s + 1, dt=rtt)
    seg(c, s, "PA", isn_c + 1, isn_s + 1, body, dt=rtt)
    seg(s, c, "PA", isn_s + 1, isn_c + 1 + len(body), b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", dt=1.5 * rtt, inbound=False)
    seg(c, s, "FA", isn_c + 1 + len(body), isn_s + 41, dt=2 * rtt)
    seg(s, c, "FA", isn_s + 41, isn_c + 2 + len(body), dt=2.5 * rtt, inbound=False)
    seg(c, s, "A", isn_c + 2 + len(body), isn_s + 42, dt=3 * rtt)
    return out


def dns_query(client, server, sport, t, qid=0x1234):
    q = b"\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
    a = q[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + q[12:] + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\xc0\x00\x02\x01"
    return [
        _at(_eth(False) / IP(src=client, dst=server) / UDP(sport=sport, dport=53) / Raw(struct.pack("!H", qid) + q[2:]), t),
        _at(_eth() / IP(src=server, dst=client) / UDP(sport=53, dport=sport) / Raw(struct.pack("!H", qid) + a[2:]), t + 0.01),
    ]


def udp_unreachable_probe(src, dst, sport, dport, t, unreach_from=None):
    """A UDP probe answered by ICMP port unreachable (the target refuses)."""
    probe = _eth() / IP(src=src, dst=dst, ttl=50) / UDP(sport=sport, dport=dport) / Raw(b"\x00" * 8)
    err = _eth(False) / IP(src=unreach_from or dst, dst=src, ttl=64) / ICMP(type=3, code=3) / bytes(probe[IP])[:28]
    return [_at(probe, t), _at(err, t + 0.0005)]


def interleave(*streams):
    """Merge scenario packet lists into one capture in time order (stable)."""
    allp = [p for s in streams for p in s]
    allp.sort(key=lambda p: float(p.time))
    return allp


def shuffled(seq, seed):
    r = random.Random(seed)
    s = list(seq)
    r.shuffle(s)
    return s
