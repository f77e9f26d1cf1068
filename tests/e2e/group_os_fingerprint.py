"""End-to-end group for os-fingerprint: nmap's OS probe sets of both
generations (the seed's 'Evaluate an Attack' trace and today's nmap -O),
variants on other networks, ports, orders and timings, a probe set that is
not nmap's, and the ordinary traffic it must stay quiet on.

    run(h, check, by, cat)   (see run_e2e.py: h.pcap, h.alerts, check, by)
"""
import scenarios as sc

T0 = 1700000000.0
HOME = "198.19.0.0/24"


def _ev(a):
    return a["harrier"]["evidence"]


def _sig(a):
    return a["alert"]["signature"]


def _closed_reply(cat, probe, t):
    return cat._linux_answer(probe[0], False, t, True, 0x1234)


def _other_prober(cat, src, dst, start, gap):
    """A fingerprinter that is not nmap: ICMP echo with code 3, FIN|PSH|URG
    with options to a closed port, a lone ACK with mss/wscale to an open one,
    UDP with 128 zero bytes to a closed port; `gap` seconds apart, in that
    order (unlike nmap's), no nmap markers (no ts 0xFFFFFFFF, no 'C' fill)."""
    opts = [("MSS", 1460), ("NOP", None), ("WScale", 2), ("SAckOK", b"")]
    pkts = cat._echo(src, dst, start, 0x77, 1, b"\x00" * 56, True, code=3, ttl=52)
    p = cat.tcp_packet(src, dst, 51001, 8080, start + gap, "FPU", 77, 0, window=2048, options=opts, ttl=52)
    pkts += p + _closed_reply(cat, p, start + gap + 0.0005)
    p = cat.tcp_packet(src, dst, 51002, 443, start + 2 * gap, "A", 78, 99, window=2048, options=opts, ttl=52)
    pkts += p + cat._linux_answer(p[0], True, start + 2 * gap + 0.0005, True, 0x4321)
    u = cat._udp(src, dst, 51003, 33333, b"\x00" * 128, start + 3 * gap, ttl=52)
    pkts += [u, cat._port_unreachable(u, start + 3 * gap + 0.0005, True)]
    return cat.interleave(pkts)


def _spread_probes(cat, src, dst, start, gap):
    """One probe of each kind nmap -O uses, `gap` (> window) seconds apart, so
    no two kinds fall within 10 s: an odd SYN to a closed port (RST|ACK, no
    ISN sample), flagless, SYN|FIN|PSH|URG, lone ACK, FIN|PSH|URG, U1, IE."""
    o = cat.NMAP2_T_OPTS
    pkts = []
    t = start
    p = cat.tcp_packet(src, dst, 40001, 81, t, "S", 5, 0, window=31337, options=o)
    pkts += p + _closed_reply(cat, p, t + 0.0004)
    for k, (flags, port) in enumerate([(0, 22), ("SFPU", 22), ("A", 22), ("FPU", 81)]):
        t += gap
        p = cat.tcp_packet(src, dst, 40002 + k, port, t, flags, 5, 9, window=256, options=o)
        pkts += p + (_closed_reply(cat, p, t + 0.0004) if port == 81 or flags == "A" else [])
    t += gap
    u = cat._udp(src, dst, 40010, 36000, b"C" * 300, t, id=0x1042)
    pkts += [u, cat._port_unreachable(u, t + 0.0004, True)]
    t += gap
    pkts += cat._echo(src, dst, t, 9, 295, bytes(120), True, code=9)
    return cat.interleave(pkts)


def _normal_syns(cat, clients, server, start):
    """Ordinary clients' SYNs with their stacks' real option sets (Linux,
    Windows, macOS, FreeBSD), each completing a connection and closing it."""
    sets = [
        [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (123456, 0)), ("NOP", None), ("WScale", 7)],
        [("MSS", 1460), ("NOP", None), ("WScale", 8), ("NOP", None), ("NOP", None), ("SAckOK", b"")],
        [("MSS", 1460), ("NOP", None), ("WScale", 6), ("NOP", None), ("NOP", None), ("Timestamp", (9, 0)),
         ("SAckOK", b""), ("EOL", None)],
        [("MSS", 1460), ("NOP", None), ("WScale", 6), ("SAckOK", b""), ("Timestamp", (77, 0))],
    ]
    pkts = []
    for i, c in enumerate(clients):
        for k in range(6):
            t = start + i * 0.3 + k * 0.05
            sport = 50000 + 10 * i + k
            isn, sisn = 1000 * i + k, 900000 + k
            pkts += cat.tcp_packet(c, server, sport, 443, t, "S", isn, 0, window=64240, options=sets[i % 4])
            pkts += cat.tcp_packet(server, c, 443, sport, t + 0.001, "SA", sisn, isn + 1, window=65160,
                                   options=[("MSS", 1460)], inbound=False)
            pkts += cat.tcp_packet(c, server, sport, 443, t + 0.002, "A", isn + 1, sisn + 1, window=502)
            pkts += cat.tcp_packet(c, server, sport, 443, t + 0.010, "RA", isn + 1, sisn + 1, window=0)
    return cat.interleave(pkts)


def run(h, check, by, cat):
    # 1. The seed's trace ('Evaluate an Attack'), first-generation nmap.
    seed = cat.nmap_gen1_os("203.0.113.50", "198.19.0.1", start=T0)
    a = by(h.alerts(h.pcap(seed), "--home-net", HOME), "os-fingerprint")
    check("os-fingerprint: seed gen-1 trace alerts", len(a) >= 1, str(a))
    if a:
        ev = _ev(a[-1])
        check("os-fingerprint: seed named first-generation nmap",
              "1st generation" in _sig(a[0]) and ev["generation"] == "nmap-1st", _sig(a[0]))
        check("os-fingerprint: seed probe types",
              {"ecn", "flagless_options", "syn_fin_psh_urg", "lone_ack", "isn_sampling"} <= set(ev["probe_types"]),
              str(ev["probe_types"]))
        check("os-fingerprint: seed options reported",
              ev.get("first_options", {}).get("options") == "wscale 10,nop,mss 265,timestamp,eol", str(ev))
        check("os-fingerprint: seed ISN samples", ev["isn_samples"] >= 6, str(ev))
        check("os-fingerprint: one incident (first alert + at most one update)",
              len(a) <= 2 and a[0]["harrier"]["update"] == 0, str([_sig(x) for x in a]))

    # 2. Second-generation nmap -O.
    g2 = cat.nmap_gen2_os("203.0.113.77", "198.19.0.2", 22, 81, start=T0, seed=2)
    a = by(h.alerts(h.pcap(g2), "--home-net", HOME), "os-fingerprint")
    check("os-fingerprint: gen-2 nmap -O alerts", len(a) >= 1, str(a))
    if a:
        ev = _ev(a[-1])
        check("os-fingerprint: gen-2 named", "nmap -O, 2nd generation" in _sig(a[-1]), _sig(a[-1]))
        check("os-fingerprint: gen-2 full probe set in the last alert", len(ev["probe_types"]) == 9, str(ev))
        check("os-fingerprint: gen-2 ports open/closed",
              {(p["port"], p["state"]) for p in ev["ports"]} >= {(22, "open"), (81, "closed")}, str(ev["ports"]))
        check("os-fingerprint: gen-2 windows", {1, 63, 4, 16, 512} <= set(ev["windows"]), str(ev["windows"]))
        check("os-fingerprint: gen-2 U1 fill and IE code", ev.get("udp_fill") == "0x43" and ev.get("echo_code") == 9,
              str(ev))
        check("os-fingerprint: gen-2 alert is on the pair", a[0]["src_ip"] == "203.0.113.77" and
              a[0]["dest_ip"] == "198.19.0.2", str(a[0]))

    # 3. Variant: other networks and ports, TTL fixed, two targets in parallel.
    v = cat.interleave(
        cat.nmap_gen2_os("192.0.2.33", "10.20.30.40", 443, 8443, start=T0 + 5, closed_udp_port=41000, seed=7, ttl=50),
        cat.nmap_gen1_os("192.0.2.34", "10.20.30.41", open_port=25, closed_port=110, start=T0, probe_delay=4.0,
                         series_gap=0.05, probe_sport=20100, ttl=60),
    )
    a = by(h.alerts(h.pcap(v), "--home-net", "10.20.0.0/16"), "os-fingerprint")
    pairs = {(x["src_ip"], x["dest_ip"]) for x in a}
    check("os-fingerprint: variant, both probers on other networks and ports",
          pairs == {("192.0.2.33", "10.20.30.40"), ("192.0.2.34", "10.20.30.41")}, str(pairs))
    gens = {x["dest_ip"]: _ev(x)["generation"] for x in a}
    check("os-fingerprint: variant generations", gens.get("10.20.30.40") == "nmap-2nd" and
          gens.get("10.20.30.41") == "nmap-1st", str(gens))

    # 4. Variant: not nmap, other order, slower (2.5 s apart, within 10 s).
    o = _other_prober(cat, "198.51.100.9", "198.19.0.3", T0, 2.5)
    a = by(h.alerts(h.pcap(o), "--home-net", HOME), "os-fingerprint")
    check("os-fingerprint: a non-nmap probe set in another order alerts", len(a) >= 1, str(a))
    if a:
        ev = _ev(a[-1])
        check("os-fingerprint: non-nmap set named generically", _sig(a[0]).startswith("OS fingerprint probe set") and
              ev["generation"] == "unknown", _sig(a[0]))
        check("os-fingerprint: non-nmap order kept", ev["probe_types"][:2] == ["echo_code", "fin_psh_urg"],
              str(ev["probe_types"]))

    # 5. Negatives.
    ecn = cat.interleave(*[cat.ecn_client(f"203.0.113.{10 + i}", "198.19.0.1", 41000 + i, 80, T0 + i * 0.2)
                           for i in range(30)])
    a = by(h.alerts(h.pcap(ecn), "--home-net", HOME), "os-fingerprint")
    check("os-fingerprint: ECN-capable clients stay quiet", a == [], str(a))

    busy = cat.interleave(
        *[sc.http_session(f"203.0.113.{100 + i % 40}", "198.19.0.1", 30000 + i, T0 + i * 0.01) for i in range(400)],
        cat.many_connections_one_port("192.0.2.200", "198.19.0.1", 443, 200, T0, 0.02),
        _normal_syns(cat, [f"198.51.100.{i}" for i in range(1, 13)], "198.19.0.2", T0),
    )
    a = by(h.alerts(h.pcap(busy), "--home-net", HOME), "os-fingerprint")
    check("os-fingerprint: many ordinary clients stay quiet", a == [], str(a))

    spread = _spread_probes(cat, "203.0.113.99", "198.19.0.1", T0, 12.0)
    a = by(h.alerts(h.pcap(spread), "--home-net", HOME), "os-fingerprint")
    check("os-fingerprint: one probe kind per 12 s (never two within the window) stays quiet", a == [], str(a))

    scan = cat.vertical_scan("203.0.113.5", "198.19.0.1", list(range(1, 1025)), T0, 5.0, open_ports=(22, 80, 443),
                             sport_per_probe=True)
    a = by(h.alerts(h.pcap(scan), "--home-net", HOME), "os-fingerprint")
    check("os-fingerprint: a plain SYN scan (one reset per open port) stays quiet", a == [], str(a))
