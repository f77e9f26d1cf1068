"""End-to-end groups for the detector catalog: for each detector its seed
trace, variants that change network, ports, order, timing and rate, and the
ordinary traffic it must stay quiet on; then the real-tool captures, the
benign mix and the worker-count check over all of them.

Each group takes the runner `h` (h.pcap(pkts) -> path, h.alerts(files,
*args) -> EVE alerts) and the shared check/by helpers.
"""
import os
import random
import re
import subprocess

import catalog as cat
import scenarios as sc

T0 = 1700000000.0
HOME = "172.16.14.0/24"  # the default home net of the seed's sensor


def ev(a):
    return a["harrier"]["evidence"]


def group_netbios(h, check, by):
    hosts = [f"172.16.14.{i}" for i in range(20, 31)]
    seed = cat.nbns_sweep("24.3.42.176", hosts, T0, 4.5)
    a = by(h.detector_view(h.pcap(seed)), "netbios-sweep")
    check("netbios-sweep: seed trace (11 hosts, ascending, 3 queries each)",
          len(a) >= 1 and ev(a[0])["order"] == "ascending" and ev(a[0])["queries_by_target"][:4] == [3, 3, 3, 3] and
          ev(a[0])["hosts"] == 5, str(a[:1]))
    check("netbios-sweep: updates carry the growing host count", len(a) >= 2 and ev(a[-1])["hosts"] == 10,
          str([ev(x)["hosts"] for x in a]))
    # Variant: other networks, random order, one query each, node-status questions, a minute apart.
    rng = random.Random(4)
    targets = [f"10.50.{i}.{rng.randint(1, 254)}" for i in range(7)]
    rng.shuffle(targets)
    v = []
    for i, t in enumerate(targets):
        v += cat.nbns_node_status("198.51.100.40", t, T0 + 60 * i, sport=40000 + i, answer=(i % 2 == 0))
    al = h.alerts(h.pcap(v), "--home-net", "10.50.0.0/16")
    a = by(h.folded, "netbios-sweep")
    # Node-status queries ask for the wildcard name: netbios-wildcard, the
    # more specific account, names the incident and the sweep is its evidence.
    check("netbios-sweep: node-status sweep, random order, a minute apart: evidence on the wildcard incident",
          len(a) >= 1 and ev(a[-1])["question"] == "NBSTAT" and ev(a[-1])["answered"] >= 2 and len(al) >= 1 and
          all(x["detector"] == "netbios-wildcard" for x in al) and
          al[-1]["harrier"]["incident"]["detectors"] == ["netbios-wildcard", "netbios-sweep"], str(al)[:600])
    # Variant: interleaved with a second, slower sweeper and web traffic.
    mix = sc.interleave(cat.nbns_sweep("203.0.113.7", [f"172.16.14.{i}" for i in range(60, 54, -1)], T0, 1.0, retries=2),
                        cat.nbns_sweep("203.0.113.8", [f"172.16.14.{i}" for i in range(100, 106)], T0, 500.0, retries=1),
                        *[sc.http_session("198.51.100.2", "172.16.14.99", 41000 + i, T0 + i) for i in range(5)])
    a = by(h.alerts(h.pcap(mix)), "netbios-sweep")
    check("netbios-sweep: two sweepers interleaved, each its own incident",
          sorted(x["src_ip"] for x in a if x["harrier"]["update"] == 0) == ["203.0.113.7", "203.0.113.8"] and
          [ev(x)["order"] for x in a if x["src_ip"] == "203.0.113.7"][0] == "descending", str(a))
    # Negatives: a client resolving names against its WINS server; four hosts only; slower than 1 h.
    wins = []
    for i, name in enumerate(["FILESRV", "PRINTSRV", "MAIL", "WEB01", "WEB02", "DC01", "LAPTOP7", "HR01"]):
        wins += cat.nbns_name_query("172.16.14.50", "172.16.14.2", T0 + 2 * i, name=name, broadcast=False,
                                    txid=100 + i, sport=137, inbound=False)
        wins += cat.nbns_name_response("172.16.14.2", "172.16.14.50", T0 + 2 * i + 0.001, name, "172.16.14.9",
                                       txid=100 + i)
    check("netbios-sweep: a client asking its WINS server is quiet", by(h.alerts(h.pcap(wins)), "netbios-sweep") == [])
    # Six home clients asking the home WINS server, 137 <-> 137: its answers go
    # to six hosts, but answers are not queries.
    many = []
    for i in range(6):
        client = f"172.16.14.{70 + i}"
        many += cat.nbns_name_query(client, "172.16.14.2", T0 + i, name="FILESRV", broadcast=False, txid=200 + i)
        many += cat.nbns_name_response("172.16.14.2", client, T0 + i + 0.001, "FILESRV", "172.16.14.9", txid=200 + i)
    check("netbios-sweep: a home WINS server answering six clients is not a sweep",
          by(h.alerts(h.pcap(many)), "netbios-sweep") == [])
    internal = cat.nbns_sweep("172.16.14.77", [f"172.16.14.{i}" for i in range(100, 106)], T0, 1.0, retries=1)
    a = by(h.alerts(h.pcap(internal)), "netbios-sweep")
    check("netbios-sweep: an internal sweep from port 137 is seen, with the right source",
          len(a) == 1 and a[0]["src_ip"] == "172.16.14.77", str(a))
    four = cat.nbns_sweep("24.3.42.176", hosts[:4], T0, 4.5)
    check("netbios-sweep: four hosts stay below the threshold", by(h.alerts(h.pcap(four)), "netbios-sweep") == [])
    spread = cat.nbns_sweep("24.3.42.176", hosts[:6], T0, 1000.0, retries=1)
    check("netbios-sweep: six hosts over 83 minutes (never 5 within 1 h) is quiet",
          by(h.alerts(h.pcap(spread)), "netbios-sweep") == [])


def group_netbios_wildcard(h, check, by):
    seed = cat.nbns_node_status("192.0.2.99", "172.16.14.5", T0)
    a = by(h.alerts(h.pcap(seed)), "netbios-wildcard")
    check("netbios-wildcard: seed trace, answered", len(a) == 1 and ev(a[0])["exposed"] is True and
          ev(a[0])["names_disclosed"] == 3, str(a))
    silent = cat.nbns_node_status("198.51.100.3", "10.7.0.9", T0, sport=51234, answer=False)
    a = by(h.alerts(h.pcap(silent), "--home-net", "10.7.0.0/16"), "netbios-wildcard")
    check("netbios-wildcard: unanswered, other network and port: alert says no answer",
          len(a) == 1 and ev(a[0])["exposed"] is False, str(a))
    # Variant: an nbtscan-style sweep of the wildcard, late answer within the grace.
    sweep = []
    for i in range(8):
        sweep += cat.nbns_node_status("203.0.113.50", f"172.16.14.{40 + i}", T0 + 0.01 * i, answer=(i == 3), delay=1.5)
    a = by(h.alerts(h.pcap(sc.interleave(sweep))), "netbios-wildcard")
    check("netbios-wildcard: sweep is one incident with updates, the answer counted",
          len(a) >= 1 and all(x["src_ip"] == "203.0.113.50" for x in a) and a[0]["harrier"]["update"] == 0 and
          max(ev(x)["answered"] for x in a) == 1 and max(ev(x)["hosts"] for x in a) == 8, str([ev(x) for x in a]))
    inside = cat.nbns_node_status("172.16.14.70", "172.16.14.5", T0, sport=137)
    a = by(h.alerts(h.pcap(inside)), "netbios-wildcard")
    check("netbios-wildcard: home to home, 137 <-> 137: the asker is the source, the answer counted",
          len(a) == 1 and a[0]["src_ip"] == "172.16.14.70" and ev(a[0])["exposed"] is True, str(a))
    # A name query for '*' (nmblookup '*') is the seed rule's match too: answered
    # (the host confirmed, no name table) and unanswered, other networks and ports.
    q = cat.nbns_name_query("198.51.100.40", "10.9.3.7", T0, name="*", sport=40137, broadcast=False)
    ans = cat.nbns_name_response("10.9.3.7", "198.51.100.40", T0 + 0.002, "*", "10.9.3.7", dport=40137,
                                 inbound=False)
    a = by(h.alerts(h.pcap(q + ans), "--home-net", "10.9.0.0/16"), "netbios-wildcard")
    check("netbios-wildcard: a name query for '*' is one, answered: the host confirmed, no name table",
          len(a) == 1 and ev(a[0])["question"] == "name" and ev(a[0])["answered"] == 1
          and ev(a[0])["exposed"] is False and "nmblookup" in a[0]["alert"]["signature"], str(a))
    wild = []
    for i in range(6):
        wild += cat.nbns_name_query("203.0.113.77", f"172.16.20.{10 + 3 * i}", T0 + 0.5 * i, name="*",
                                    sport=137, broadcast=False)
    a = by(h.alerts(h.pcap(wild)), "netbios-wildcard")
    check("netbios-wildcard: a silent wildcard name-query sweep is one incident, none answered",
          len(a) >= 1 and len({x["src_ip"] for x in a}) == 1 and a[0]["harrier"]["update"] == 0
          and max(ev(x)["hosts"] for x in a) == 6 and all(ev(x)["answered"] == 0 for x in a), str(a)[:400])
    # Negatives: a name query for a real name, a home host asking outside.
    names = cat.nbns_sweep("192.0.2.99", ["172.16.14.5"], T0, 1.0)
    check("netbios-wildcard: a name query for a real name is not a wildcard query",
          by(h.alerts(h.pcap(names)), "netbios-wildcard") == [])
    out = cat.nbns_node_status("172.16.14.5", "192.0.2.99", T0, inbound=False)
    check("netbios-wildcard: a home host asking outside is not a probe of home",
          by(h.alerts(h.pcap(out)), "netbios-wildcard") == [])


def group_trojan(h, check, by):
    seed = cat.trojan_probe("148.64.147.168", "172.16.14.1", 3272, 12345, T0, payload=cat.DETECT3_PAYLOAD)
    a = by(h.alerts(h.pcap(seed)), "trojan-port-probe")
    check("trojan: seed's false Netbus (udp/12345) names the protocol mismatch",
          len(a) == 1 and "NetBus" in a[0]["alert"]["signature"] and "not udp" in a[0]["alert"]["signature"], str(a))
    v = sc.interleave(cat.trojan_probe("203.0.113.66", "10.1.2.3", 40000, 27374, T0, proto="tcp"),
                      cat.trojan_probe("203.0.113.67", "10.1.2.4", 40001, 31337, T0 + 5, proto="udp"),
                      cat.trojan_probe("203.0.113.67", "10.1.2.5", 40002, 1243, T0 + 9, proto="tcp"))
    al = h.alerts(h.pcap(v), "--home-net", "10.1.0.0/16")
    a = by(al, "trojan-port-probe") + by(h.folded, "trojan-port-probe")
    # Two sources, two incidents: .67's two ports are one probe set.
    check("trojan: SubSeven, Back Orifice and 1243 on other networks, one incident per source",
          sorted(x["dest_port"] for x in a) == [1243, 27374, 31337] and
          sorted(x["src_ip"] for x in al if x["harrier"]["update"] == 0) == ["203.0.113.66", "203.0.113.67"], str(al))
    again = sc.interleave(*[cat.trojan_probe("203.0.113.66", "10.1.2.3", 40000 + i, 12345, T0 + i, proto="tcp")
                            for i in range(6)])
    a = by(h.alerts(h.pcap(again), "--home-net", "10.1.0.0/16"), "trojan-port-probe")
    check("trojan: repeated probes are one incident", len(a) >= 1 and a[0]["harrier"]["update"] == 0 and
          all(x["harrier"]["update"] > 0 for x in a[1:]), str(a))
    # The list is configuration: a site's own backdoor ports replace the built-in ones.
    conf = os.path.join(h.tmp, "trojans.yaml")
    open(conf, "w").write('detectors:\n  trojan-port-probe:\n    ports: ["4444/tcp Metasploit handler", "5555/udp Test RAT"]\n')
    mix = sc.interleave(cat.trojan_probe("203.0.113.70", "172.16.14.8", 40000, 4444, T0, proto="udp"),
                        cat.trojan_probe("203.0.113.70", "172.16.14.8", 40001, 12345, T0 + 1, proto="tcp"))
    a = by(h.alerts(h.pcap(mix), "--config", conf), "trojan-port-probe")
    check("trojan: a configured list replaces the built-in one and names its mismatches",
          len(a) == 1 and a[0]["dest_port"] == 4444 and ev(a[0])["trojan"] == "Metasploit handler" and
          "uses tcp, not udp" in a[0]["alert"]["signature"], str(a))
    # Negatives: the port as the home client's ephemeral port; an open service per inventory.
    eph = cat.home_client_on_port("172.16.14.9", "198.51.100.80", 12345, 80, T0)
    check("trojan: 12345 as a home client's ephemeral port is quiet", by(h.alerts(h.pcap(eph)), "trojan-port-probe") == [])
    inv = os.path.join(h.tmp, "inv-trojan.yaml")
    open(inv, "w").write("hosts:\n  - {address: 172.16.14.1, services: [tcp/12345]}\n")
    served = cat.trojan_probe("203.0.113.66", "172.16.14.1", 40000, 12345, T0, proto="tcp")
    check("trojan: a port the inventory says is served is quiet",
          by(h.alerts(h.pcap(served), "--inventory", inv), "trojan-port-probe") == [])


def group_rst_backscatter(h, check, by):
    day = 86400.0
    seed = cat.rst_backscatter(["209.67.29.11", "208.185.54.14", "64.124.157.2"], "172.16.14.3", 20766,
                               [1107, 2308, 3418], [T0, T0 + day, T0 + day + 3600])
    a = by(h.alerts(h.pcap(seed)), "rst-backscatter")
    check("rst-backscatter: seed trace, same source port from several hosts over days",
          len(a) >= 1 and ev(a[0]).get("source_port") == 20766 and "same_port" in ev(a[0])["rule"], str(a[:1]))
    flood = cat.rst_flood("10.3.3.3", 40, T0, 5.0, seed=9)
    a = by(h.alerts(h.pcap(flood), "--home-net", "10.3.0.0/16"), "rst-backscatter")
    check("rst-backscatter: DoS backscatter flood, 40 RSTs at 5/s", len(a) >= 1 and "flood" in ev(a[0])["rule"], str(a[:1]))
    slowflood = cat.rst_flood("10.3.3.4", 25, T0, 0.01, seed=10)
    a = by(h.alerts(h.pcap(slowflood), "--home-net", "10.3.0.0/16"), "rst-backscatter")
    check("rst-backscatter: 25 RSTs over 40 minutes still a flood within 1 h", len(a) >= 1, str(a[:1]))
    # Negatives: resets closing the home host's own connections; a single stray reset.
    own = sc.interleave(*[cat.closed_by_rst("172.16.14.9", f"198.51.100.{i}", 40000 + 2 * i, 443, T0 + i) for i in range(30)])
    check("rst-backscatter: resets of connections the home host opened are quiet",
          by(h.alerts(h.pcap(own)), "rst-backscatter") == [])
    one = cat.rst_backscatter(["209.67.29.11"], "172.16.14.3", 20766, [1107], [T0])
    check("rst-backscatter: one stray reset is quiet", by(h.alerts(h.pcap(one)), "rst-backscatter") == [])
    # The spread rule: resets from several web and mail servers (service
    # ports, which the same-port rule leaves out) within minutes, well below
    # the flood count, ten minutes into the capture. Other network, RST and
    # RST|ACK, random order of ports.
    rng = random.Random(66)
    servers = [f"198.51.100.{rng.randint(1, 254)}" for _ in range(5)]
    web = [sc.http_session("10.4.0.20", "192.0.2.80", 41000 + i, T0 + 60 * i) for i in range(11)]
    spread = [cat.rst_backscatter([srv], "10.4.0.9", port, [rng.randint(1024, 65000)], [T0 + 600 + 37 * i],
                                  flags=("RA", "R")[i % 2], seed=i)
              for i, (srv, port) in enumerate(zip(servers, (80, 443, 25, 443, 80)))]
    a = by(h.alerts(h.pcap(sc.interleave(*web, *spread)), "--home-net", "10.4.0.0/16"), "rst-backscatter")
    check("rst-backscatter: resets from 5 servers' service ports within minutes are backscatter (spread rule)",
          len(a) >= 1 and "spread" in ev(a[0])["rule"] and a[0]["dest_ip"] == "10.4.0.9" and
          ev(a[-1])["sources_in_spread_window"] >= 4 and set(ev(a[-1])["source_ports"]) == {25, 80, 443}, str(a[:1]))
    # A sensor started mid-conversation: closing resets of three connections
    # idle at the start, in its first seconds, and one stray 3 minutes later:
    # four sources within the spread window, but three of them at the start.
    start = [sc.http_session("10.4.0.21", "192.0.2.80", 42000, T0)]
    mid = [cat.rst_backscatter([srv], "10.4.0.9", port, [50000 + i], [T0 + 2 + 5 * i], seed=i)
           for i, (srv, port) in enumerate(zip(servers[:3], (443, 80, 443)))]
    late = cat.rst_backscatter([servers[3]], "10.4.0.9", 25, [51000], [T0 + 200])
    a = by(h.alerts(h.pcap(sc.interleave(*start, *mid, late)), "--home-net", "10.4.0.0/16"), "rst-backscatter")
    check("rst-backscatter: a mid-stream sensor start (3 closing resets in its first seconds, 1 later) is quiet",
          a == [], str(a[:1]))
    # Three sources are fewer than the spread rule's four.
    three = [cat.rst_backscatter([srv], "10.4.0.9", 443, [50000 + i], [T0 + 600 + 20 * i], seed=i)
             for i, srv in enumerate(servers[:3])]
    a = by(h.alerts(h.pcap(sc.interleave(*web, *three)), "--home-net", "10.4.0.0/16"), "rst-backscatter")
    check("rst-backscatter: three servers' resets within minutes stay below the spread rule", a == [], str(a[:1]))


def group_icmp_backscatter(h, check, by):
    seed9 = cat.icmp_unreach_backscatter("203.7.204.1", "172.16.14.7", "207.46.130.14", T0)
    a = by(h.alerts(h.pcap(seed9)), "icmp-unreach-backscatter")
    check("icmp-unreach: seed trace", len(a) == 1 and a[0]["dest_ip"] == "172.16.14.7", str(a))
    seed10 = cat.icmp_ttl_backscatter("134.55.23.1", "172.16.14.8", "198.51.100.14", T0)
    a = by(h.alerts(h.pcap(seed10)), "icmp-ttl-backscatter")
    check("icmp-ttl: seed trace with the inner TTL", len(a) == 1 and ev(a[0])["quoted"].get("ttl") == 1, str(a))
    # Variants: UDP and ICMP quotes, several routers, other network; counted as one incident.
    v = sc.interleave(*[cat.icmp_unreach_backscatter(f"192.0.2.{i + 1}", "10.8.0.2", f"198.51.100.{i + 20}", T0 + 3 * i,
                                                     code=(1, 3, 13)[i % 3], quoted_proto=("udp", "tcp", "icmp")[i % 3],
                                                     sport=30000 + i, dport=53)
                        for i in range(6)])
    a = by(h.alerts(h.pcap(v), "--home-net", "10.8.0.0/16"), "icmp-unreach-backscatter")
    check("icmp-unreach: mixed quotes, six routers, one victim: one incident",
          len(a) >= 1 and all(x["dest_ip"] == "10.8.0.2" for x in a) and a[0]["harrier"]["update"] == 0, str(a))
    v = sc.interleave(*[cat.icmp_ttl_backscatter("192.0.2.1", "10.8.0.3", "198.51.100.9", T0 + i, inner_ttl=1 + i % 2,
                                                 quoted_proto="udp", sport=50000 + i, dport=33434 + i) for i in range(4)])
    a = by(h.alerts(h.pcap(v), "--home-net", "10.8.0.0/16"), "icmp-ttl-backscatter")
    check("icmp-ttl: udp quotes, other network", len(a) >= 1 and a[0]["dest_ip"] == "10.8.0.3", str(a))
    # Negatives: errors answering the home host's own traffic; its own traceroute.
    own = cat.unreach_for_own_traffic("172.16.14.9", "198.51.100.53", "192.0.2.1", T0)
    check("icmp-unreach: unreachable for the home host's own datagram is quiet",
          by(h.alerts(h.pcap(own)), "icmp-unreach-backscatter") == [])
    # The home host's own pings: a dead remote host's router answers unreachable,
    # and a traceroute -I's probes run out of TTL; both quote the host's echo.
    from scapy.layers.inet import ICMP, IP
    from scapy.packet import Raw
    pings = []
    for i, (dst, router, typ) in enumerate((("198.51.100.66", "192.0.2.1", 3), ("198.51.100.67", "192.0.2.2", 11))):
        echo = sc._at(sc._eth(False) / IP(src="172.16.14.9", dst=dst, ttl=1 + i) / ICMP(type=8, id=0x4a00 + i, seq=1) /
                      Raw(bytes(56)), T0 + i)
        pings.append(echo)
        pings += cat._icmp_error(router, "172.16.14.9", T0 + i + 0.01, typ, 1 if typ == 3 else 0,
                                 bytes(echo[IP])[:28])
    al = h.alerts(h.pcap(pings))
    check("icmp backscatter: errors quoting the home host's own pings (ping, traceroute -I) are quiet",
          by(al, "icmp-ttl-backscatter") == [] and by(al, "icmp-unreach-backscatter") == [], str(al))
    tr = cat.traceroute("172.16.14.9", "198.51.100.80", ["192.0.2.1", "192.0.2.2", "192.0.2.3"], T0)
    al = h.alerts(h.pcap(tr))
    check("icmp-ttl: the home host's own traceroute is quiet",
          by(al, "icmp-ttl-backscatter") == [] and by(al, "icmp-unreach-backscatter") == [], str(al))


def group_vertical(h, check, by):
    rng = random.Random(1141)
    ports = rng.sample(range(1, 65536), 1141)
    seed = cat.vertical_scan("192.0.2.200", "172.16.14.1", ports, T0, 5.0, open_ports=(22, 80))
    a = by(h.detector_view(h.pcap(seed)), "vertical-scan")
    check("vertical: seed shape (1,141 random ports in 5 s, SYN)", len(a) >= 1 and ev(a[0])["order"] == "random" and
          ev(a[0])["probe_type"] == "SYN" and ev(a[0])["threshold"] == "fast", str(a[:1]))
    check("vertical: updates as the port count doubles, bounded", 2 <= len(a) <= 5 and
          ev(a[-1])["ports"] >= 4 * ev(a[0])["ports"], str([ev(x)["ports"] for x in a]))
    for flags, name in (("", "NULL"), ("F", "FIN"), ("FPU", "XMAS")):
        s = cat.vertical_scan("198.51.100.9", "10.4.4.4", list(range(1, 101)), T0, 2.0, flags=flags)
        al = h.alerts(h.pcap(s), "--home-net", "10.4.0.0/16")
        a = by(h.folded, "vertical-scan")
        # Illegal flags: flag-anomaly names the incident, the scan's shape is its evidence.
        check(f"vertical: sequential {name} scan on another network, folded into flag-anomaly's incident",
              len(a) >= 1 and ev(a[0])["probe_type"] == name and ev(a[0])["order"] == "sequential" and
              [x["detector"] for x in al] == ["flag-anomaly"] and
              any("Vertical scan: 100 tcp ports" in t for t in ev(al[0]).get("also", [])), str(al[:1]))
    udp = cat.vertical_scan("198.51.100.10", "10.4.4.5", rng.sample(range(1, 1024), 150), T0, 50.0, proto="udp")
    a = by(h.detector_view(h.pcap(udp), "--home-net", "10.4.0.0/16"), "vertical-scan")
    check("vertical: UDP scan at 3/s trips the 60 s threshold", len(a) >= 1 and ev(a[0])["probe_type"] == "UDP" and
          ev(a[0])["threshold"] == "slow", str(a[:1]))
    # A table too small for the traffic says so, naming the parameter to raise.
    conf = os.path.join(h.tmp, "small-vscan.yaml")
    open(conf, "w").write("detectors:\n  vertical-scan: {table_size: 1024}\n")
    crowd = sc.interleave(*[cat.vertical_scan(f"198.51.{i // 250}.{i % 250 + 1}", "172.16.14.5", [80 + i % 3],
                                              T0 + i * 0.01, 0.001) for i in range(1500)])
    p, _ = h.run(h.pcap(crowd), "--config", conf, "--workers", "1")
    check("vertical: a full table is reported with the parameter to raise",
          p.returncode == 0 and "vertical-scan: its tables were full" in p.stderr and
          "raise detectors.vertical-scan.table_size" in p.stderr, p.stderr[-400:])
    # A flood of pipelined SMTP commands in the same batches as a scan: the
    # commands are capped per packet, so the scan's events still get through.
    flood = list(cat.tcp_packet("203.0.113.25", "172.16.14.25", 45000, 25, T0, "S", seq=100))
    line = b"RCPT TO:<user@example.org>\r\n"
    per = 1400 // len(line)
    for k in range(40):
        flood += cat.tcp_packet("203.0.113.25", "172.16.14.25", 45000, 25, T0 + 0.001 + k * 1e-5, "PA",
                                seq=101 + k * per * len(line), ack=1, payload=line * per)
    scan = cat.vertical_scan("203.0.113.26", "172.16.14.26", list(range(1000, 1030)), T0 + 0.0005, 0.0004)
    path = h.pcap(sc.interleave(flood, scan))
    p, alerts = h.run(path, "--workers", "1")
    stats = subprocess.run([h.binary, "read", path, "--workers", "1"], capture_output=True, text=True).stderr
    check("vertical: a scan is seen through a flood of pipelined SMTP commands, the cap reported",
          len(by(alerts, "vertical-scan")) >= 1 and "detector events capped" in stats and
          "host events dropped" not in stats, stats[-500:])
    def outcomes_of(path):  # the summary's count of connection outcomes (not printed with --quiet)
        err = subprocess.run([h.binary, "read", path, "--eve", os.devnull], capture_output=True, text=True).stderr
        return re.findall(r"(\d+) connection outcomes", err)

    # A scan's open ports (SYN-ACK, then the scanner's RST) are listed as
    # open, not counted; every attempt became exactly one outcome.
    opened = h.pcap(cat.vertical_scan("192.0.2.201", "172.16.14.2", list(range(1, 101)), T0, 2.0,
                                      open_ports=(22, 80)))
    a = by(h.alerts(opened), "vertical-scan")
    check("vertical: open ports found by the scan are evidence (2 open of 100), one outcome per attempt",
          a and ev(a[-1])["open"] == 2 and ev(a[-1])["closed"] == 98 and outcomes_of(opened) == ["100"],
          f"{outcomes_of(opened)} {[ev(x) for x in a[-1:]]}")
    # Negatives: many connections to one port; passive FTP; 19 ports. The
    # answered conversations cost the host stage nothing: no outcome at all.
    many = h.pcap(cat.many_connections_one_port("198.51.100.20", "172.16.14.80", 80, 300, T0, 0.01))
    ftp = h.pcap(cat.passive_ftp("198.51.100.21", "172.16.14.21", 40, T0, gap=0.1))
    for name, path in (("300 connections to one port", many), ("passive FTP data ports", ftp)):
        check(f"vertical: {name} (answered conversations) is quiet, with no connection outcome",
              by(h.alerts(path), "vertical-scan") == [] and outcomes_of(path) == ["0"], str(outcomes_of(path)))
    few = cat.vertical_scan("192.0.2.200", "172.16.14.1", list(range(1000, 1019)), T0, 1.0)
    check("vertical: 19 ports stay below the threshold", by(h.alerts(h.pcap(few)), "vertical-scan") == [])


def group_slow(h, check, by):
    rng = random.Random(31)
    ports = rng.sample(range(1024, 65536), 80)
    seed = cat.slow_scan_udp("192.0.2.53", "172.16.14.3", ports, T0)
    a = by(h.alerts(h.pcap(seed)), "slow-scan")
    check("slow-scan: seed's UDP from port 53 in bunches, 5 minutes apart", len(a) >= 1 and
          ev(a[0])["leg"] == "ports_of_host" and ev(a[0])["looks_like_replies"] is True, str(a[:1]))
    hosts = [f"10.6.{i // 250}.{i % 250 + 1}" for i in range(35)]
    sweep = cat.slow_sweep("203.0.113.61", hosts, 1433, T0, 1200.0)
    a = by(h.alerts(h.pcap(sweep), "--home-net", "10.6.0.0/16"), "slow-scan")
    check("slow-scan: 30 hosts on tcp/1433, one every 20 minutes", len(a) == 1 and ev(a[0])["leg"] == "hosts_on_port" and
          ev(a[0])["hosts"] == 30 and ev(a[0])["looks_like_replies"] is False, str(a))
    # Variant: TCP SYN ports one per 40 s, shuffled order, interleaved with web sessions.
    tcp = sc.interleave(cat.vertical_scan("198.51.100.99", "172.16.14.30", rng.sample(range(1, 10000), 60), T0, 2400.0),
                        *[sc.http_session("198.51.100.2", "172.16.14.80", 42000 + i, T0 + 30 * i) for i in range(40)])
    a = by(h.alerts(h.pcap(tcp)), "slow-scan")
    check("slow-scan: TCP ports one every 40 s", len(a) >= 1 and a[0]["src_ip"] == "198.51.100.99", str(a[:1]))
    # Negatives: DNS answers to a home client's own queries; a fast scan (vertical's).
    dns = cat.dns_replies_to_home("172.16.14.9", "192.0.2.53", 300, T0, 20.0, seed=5)
    check("slow-scan: answers to the home host's own DNS queries are quiet",
          by(h.alerts(h.pcap(dns)), "slow-scan") == [])
    ftp = cat.passive_ftp("198.51.100.21", "172.16.14.21", 70, T0, gap=120.0)
    check("slow-scan: 70 passive FTP transfers over 2 h (70 answered data ports) are quiet",
          by(h.alerts(h.pcap(ftp)), "slow-scan") == [])
    fast = cat.vertical_scan("192.0.2.200", "172.16.14.1", list(range(1, 400)), T0, 3.0)
    al = h.alerts(h.pcap(fast))
    check("slow-scan: a fast scan belongs to vertical-scan only", by(al, "slow-scan") == [] and by(al, "vertical-scan"))


def group_flags(h, check, by):
    probes = [
        ("null", 0x000, 0), ("xmas", "FPU", 0), ("syn_fin", "SF", 0), ("syn_rst", "SR", 0),
        ("fin_no_ack", "F", 0), ("reserved_bits", "S", 2), ("ecn_half_on_syn", "SE", 0),
    ]
    for i, (kind, flags, reserved) in enumerate(probes):
        p = cat.tcp_packet("192.0.2.14", "172.16.14.1", 40000 + i, 80, T0 + i, flags, reserved=reserved)
        a = by(h.alerts(h.pcap(p)), "flag-anomaly")
        check(f"flag-anomaly: {kind}", len(a) == 1 and ev(a[0])["anomaly"] == kind, str(a))
    # Variant: a NULL scan of 300 ports on another network is one incident with bounded updates.
    s = cat.vertical_scan("203.0.113.14", "10.2.0.9", list(range(1, 301)), T0, 3.0, flags="")
    a = by(h.alerts(h.pcap(s), "--home-net", "10.2.0.0/16"), "flag-anomaly")
    check("flag-anomaly: a NULL scan is one incident, updates bounded", 1 <= len(a) <= 5 and
          a[0]["harrier"]["update"] == 0 and all(ev(x)["anomaly"] == "null" for x in a), str(len(a)))
    # One source trying several kinds in a row (hping3 with one flag set
    # after another) is one incident listing them, other network.
    tries = []
    for i, (kind, flags, reserved) in enumerate(probes):
        tries += cat.tcp_packet("198.51.100.90", "10.2.0.10", 41000 + i, 22, T0 + 0.3 * i, flags, reserved=reserved)
    a = h.alerts(h.pcap(tries), "--home-net", "10.2.0.0/16")
    check("flag-anomaly: seven kinds from one source are one incident naming all seven",
          len({x["harrier"]["incident"]["id"] for x in a}) == 1 and by(a, "flag-anomaly") and
          sorted(ev(a[-1])["anomalies"]) == sorted(k for k, _, _ in probes), str(a[-1:])[:300])
    # Negatives: ECN setup SYNs and ECN-marked data; an ordinary session.
    ecn = cat.ecn_client("198.51.100.5", "172.16.14.80", 45000, 80, T0)
    web = sc.http_session("198.51.100.6", "172.16.14.80", 45001, T0)
    check("flag-anomaly: ECN setup and ECN-marked data are quiet", by(h.alerts(h.pcap(sc.interleave(ecn, web))), "flag-anomaly") == [])


def group_snmp(h, check, by):
    seed = cat.snmp_request("192.0.2.161", "172.16.14.254", 1035, T0, answer=True)
    a = by(h.alerts(h.pcap(seed)), "snmp-public")
    check("snmp-public: seed trace, v1 public GetRequest", len(a) == 1 and ev(a[0])["community"] == "public" and
          ev(a[0])["version"] == "v1" and ev(a[0])["pdu_types"] == ["GetRequest"], str(a))
    setp = sc.interleave(cat.snmp_request("203.0.113.16", "10.5.5.5", 40000, T0, community="private", version=1, pdu="get"),
                         cat.snmp_request("203.0.113.16", "10.5.5.5", 40001, T0 + 1, community="private", version=1, pdu="set"))
    a = by(h.detector_view(h.pcap(setp), "--home-net", "10.5.0.0/16"), "snmp-public")
    check("snmp-public: v2c private with a Set scores higher", len(a) == 2 and
          a[1]["harrier"]["score"]["lethality"] == a[0]["harrier"]["score"]["lethality"] + 1, str(a))
    trap = cat.snmp_request("203.0.113.17", "10.5.5.6", 40002, T0, pdu="trap")
    a = by(h.alerts(h.pcap(trap), "--home-net", "10.5.0.0/16"), "snmp-public")
    check("snmp-public: a trap to 162 with public", len(a) == 1 and a[0]["dest_port"] == 162, str(a))
    # Negatives: SNMPv3; a non-default community; a home manager polling outside.
    v3 = cat.snmpv3_request("192.0.2.161", "172.16.14.254", 1036, T0, answer=True)
    other = cat.snmp_request("192.0.2.161", "172.16.14.254", 1037, T0, community="s3cr3t-Comm", answer=True)
    out = cat.snmp_request("172.16.14.5", "192.0.2.161", 1038, T0, inbound=False, answer=True)
    check("snmp-public: SNMPv3, other communities and outbound polls are quiet",
          by(h.alerts(h.pcap(sc.interleave(v3, other, out))), "snmp-public") == [])


def group_ping_then_connect(h, check, by):
    targets = [f"172.16.14.{i}" for i in range(1, 21)]
    seed = cat.ping_then_connect("61.132.88.90", targets, ["172.16.14.4", "172.16.14.11"])
    a = by(h.alerts(h.pcap(seed)), "ping-then-connect")
    check("ping-then-connect: seed trace (80 and 1080 on the hosts that answered)", len(a) >= 1 and
          ev(a[0])["pinged"] == 20 and ev(a[0])["answered"] == 2 and
          set(ev(a[-1])["ports"]) == {80, 1080}, str(a[:1]))
    # Variant: other network, shuffled order, ports 22/3389, connect 40 s after the reply.
    rng = random.Random(8)
    t2 = [f"10.9.{i}.{rng.randint(1, 254)}" for i in range(12)]
    rng.shuffle(t2)
    v = cat.ping_then_connect("203.0.113.88", t2, t2[2:5], ports=(22, 3389), connect_delay=40.0, ping_gap=0.5)
    a = by(h.alerts(h.pcap(v), "--home-net", "10.9.0.0/16"), "ping-then-connect")
    check("ping-then-connect: other network, ports 22/3389, 40 s later", len(a) >= 1 and ev(a[0])["answered"] == 3, str(a[:1]))
    # Negatives: a monitor; a connect 2 minutes after the reply; a scanner that also hits silent hosts.
    mon = sc.interleave(cat.monitoring_check("198.51.100.30", "172.16.14.80", 80, T0),
                        cat.monitoring_check("198.51.100.30", "172.16.14.81", 443, T0 + 5))
    check("ping-then-connect: a monitor checking services it knows is quiet",
          by(h.alerts(h.pcap(mon)), "ping-then-connect") == [])
    late = cat.ping_then_connect("203.0.113.89", targets, ["172.16.14.4"], connect_delay=120.0)
    check("ping-then-connect: connecting 2 minutes after the reply is quiet",
          by(h.alerts(h.pcap(late)), "ping-then-connect") == [])
    both = sc.interleave(cat.ping_then_connect("203.0.113.90", targets[:5], targets[:2], start=T0),
                         cat.vertical_scan("203.0.113.90", targets[4], [80], T0 + 3.0, 0.1))
    check("ping-then-connect: also probing a silent host is not ping-then-connect",
          by(h.alerts(h.pcap(both)), "ping-then-connect") == [])


# What each real-tool capture must and must not raise (tests/pcaps/tools/README.md).
# Each real tool's run is one activity: exactly one incident, named by the
# detector listed first, with the others' findings folded into it.
TOOL_EXPECT = {
    "nmap_sS": (["vertical-scan", "portmap-probe"], set()),  # the SYN scan touched 111
    "nmap_sU": (["vertical-scan"], set()),
    "nmap_sN": (["flag-anomaly", "vertical-scan"], set()),  # illegal flags: the scan's shape is evidence
    "nmap_sX": (["flag-anomaly", "vertical-scan"], set()),
    "nmap_sF": (["flag-anomaly", "vertical-scan"], set()),
    "nmap_O": (["os-fingerprint", "flag-anomaly"], set()),
    "nmap_sn_connect": (["ping-then-connect", "horizontal-scan"], {"vertical-scan"}),
    "hping3_trojan": (["trojan-port-probe"], set()),
    "hping3_portmap": (["portmap-probe"], set()),
    "hping3_flags": (["flag-anomaly"], set()),
    "hping3_slow_ports": (["slow-scan"], {"vertical-scan"}),
    "hping3_backscatter": (["rst-backscatter", "icmp-unreach-backscatter", "icmp-ttl-backscatter"], set()),
    "snmp": (["snmp-public"], set()),
    "snmp_negative": ([], {"snmp-public"}),
    "nmblookup": (["netbios-wildcard", "netbios-sweep"], set()),
    "nmblookup_negative": ([], {"netbios-sweep", "netbios-wildcard"}),
    "swaks_relay": (["smtp-relay-probe"], set()),
    "swaks_negative": ([], {"smtp-relay-probe"}),
}


def group_tools(h, check, by):
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pcaps", "tools")
    for name, (incident, must_not) in sorted(TOOL_EXPECT.items()):
        a = h.alerts(os.path.join(d, name + ".pcap"), "--home-net", "198.19.0.0/24")
        seen = {x["detector"] for x in a} | {x["detector"] for x in h.folded}
        if not incident:
            check(f"tools: {name} raises nothing it must not", not (must_not & seen), f"got {sorted(seen)}")
            continue
        ids = {x["harrier"]["incident"]["id"] for x in a}
        firsts = [x for x in a if x["harrier"]["update"] == 0]
        last = a[-1]["harrier"]["incident"] if a else {}
        check(f"tools: {name} is one incident, named by {incident[0]}, with {sorted(incident[1:]) or 'nothing'} folded in",
              len(ids) == 1 and len(firsts) == 1 and firsts[0]["detector"] == incident[0] and
              sorted(last.get("detectors", [])) == sorted(incident) and not (must_not & seen),
              f"{len(ids)} incidents, firsts {[x['detector'] for x in firsts]}, detectors {last.get('detectors')}, "
              f"seen {sorted(seen)}")
    a = h.alerts(os.path.join(d, "nmap_sS.pcap"), "--home-net", "198.19.0.0/24")
    check("tools: nmap -sS's incident says it touched the portmapper",
          a and "111/tcp portmapper" in ev(a[-1]).get("touched", []), str(a[-1:])[:400])


def group_benign(h, check, by):
    for seed in (1, 2):
        mix = cat.benign_mix(start=T0 + seed * 1000, seed=seed)
        for w in ("1", "4"):
            a = h.alerts(h.pcap(mix), "--home-net", "10.20.30.0/24", "--workers", w)
            check(f"benign: mix {seed} ({len(mix)} packets) raises nothing with {w} workers", a == [],
                  str([(x["detector"], x["alert"]["signature"]) for x in a]))
