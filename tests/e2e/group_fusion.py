"""One activity, one incident (issue 13): each shape that used to raise
several detectors, or one alert per target, now gives exactly one incident,
named by the most specific detector, with the others' findings as evidence.
Captures of each shape on other networks, ports, orders and rates; the same
probes from a source that is not scanning still alert on their own; a
sweep's alert count does not grow with its targets; 1, 2 and 4 workers agree.
"""
import json
import os
import random

import scenarios as sc

T0 = 1700000000.0


def ev(a):
    return a["harrier"]["evidence"]


def incidents(alerts):
    """{incident id: [its alerts]} in order."""
    out = {}
    for a in alerts:
        out.setdefault(a["harrier"]["incident"]["id"], []).append(a)
    return out


def one_incident(alerts, lead):
    """The alerts are one incident, its first alert named by `lead`."""
    inc = incidents(alerts)
    firsts = [a for a in alerts if a["harrier"]["update"] == 0]
    return len(inc) == 1 and len(firsts) == 1 and firsts[0]["detector"] == lead and \
        all(a["detector"] == lead for a in alerts)


def summary(alerts, folded):
    return (f"alerts {[(a['detector'], a['harrier']['update'], a['alert']['signature'][:70]) for a in alerts]} "
            f"folded {sorted({f['detector'] for f in folded})}")


def run(h, check, by, cat):
    # 1. A SYN scan of ports 1-1000 of one host touches the portmapper:
    # one vertical-scan incident that says so, no portmap-probe alert.
    # Ascending on one network, random on another.
    for name, src, dst, net, ports in (
            ("ascending", "203.0.113.40", "10.60.1.5", "10.60.0.0/16", list(range(1, 1001))),
            ("random", "198.51.100.41", "192.168.7.9", "192.168.0.0/16",
             random.Random(5).sample(range(1, 1001), 1000))):
        a = h.alerts(h.pcap(cat.vertical_scan(src, dst, ports, T0, 2.0, open_ports=(22,))), "--home-net", net)
        check(f"fusion: a SYN scan of ports 1-1000 ({name}) is one vertical-scan incident that touched 111/tcp",
              one_incident(a, "vertical-scan") and "111/tcp portmapper" in ev(a[-1]).get("touched", []) and
              "portmap-probe" in a[-1]["harrier"]["incident"]["detectors"] and not by(a, "portmap-probe"),
              summary(a, h.folded))
    # 2. A fast scan of 1,141 ports that touches 12345: NetBus is evidence.
    ports = random.Random(1141).sample(range(1, 65536), 1140) + [12345]
    random.Random(3).shuffle(ports)
    a = h.alerts(h.pcap(cat.vertical_scan("192.0.2.200", "172.16.14.1", ports, T0, 5.0)))
    check("fusion: a 1,141-port scan touching 12345 is one vertical-scan incident; NetBus is evidence",
          one_incident(a, "vertical-scan") and "12345/tcp NetBus" in ev(a[-1]).get("touched", []) and
          not by(a, "trojan-port-probe"), summary(a, h.folded))
    # The same bare probes from sources that are not scanning alert on their own,
    # while a scanner works on the same host.
    mix = sc.interleave(cat.vertical_scan("203.0.113.40", "10.60.1.5", list(range(40000, 41000)), T0, 2.0),
                        sc.portmap_probe("198.51.100.77", "10.60.1.5", 900, T0 + 0.5, [], proto="tcp"),
                        cat.trojan_probe("198.51.100.78", "10.60.1.6", 4000, 12345, T0 + 0.7, proto="tcp"))
    a = h.alerts(h.pcap(mix), "--home-net", "10.60.0.0/16")
    firsts = sorted((x["detector"], x["src_ip"]) for x in a if x["harrier"]["update"] == 0)
    check("fusion: the same bare probes from sources that are not scanning are incidents of their own",
          firsts == [("portmap-probe", "198.51.100.77"), ("trojan-port-probe", "198.51.100.78"),
                     ("vertical-scan", "203.0.113.40")] and
          not ev(by(a, "vertical-scan")[-1]).get("touched"), summary(a, h.folded))

    # 3. A slow sweep of one port across a /24 over hours: horizontal-scan,
    # with slow-scan's view as evidence (it used to raise several slow-scan
    # alerts beside the horizontal one).
    targets = [f"10.61.2.{i}" for i in range(1, 255)]
    a = h.alerts(h.pcap(cat.slow_sweep("203.0.113.61", targets, 1433, T0, 60.0)), "--home-net", "10.61.0.0/16")
    check("fusion: a slow sweep of 1433/tcp over a /24 in 4 h is one horizontal-scan incident, slow-scan folded",
          one_incident(a, "horizontal-scan") and by(h.folded, "slow-scan") and
          "slow-scan" in a[-1]["harrier"]["incident"]["detectors"] and ev(a[-1])["hosts"] >= 250 and
          len(a) <= 1 + 4 + 1, summary(a, h.folded))  # first, max_updates, one for slow-scan's news
    # Descending, UDP 161, other network, 3 minutes apart.
    targets = [f"172.16.30.{i}" for i in range(120, 60, -1)]
    a = h.alerts(h.pcap(cat.slow_sweep("198.51.100.62", targets, 161, T0, 180.0, proto="udp")))
    check("fusion: a slow UDP sweep (descending, 3 min apart) is one horizontal-scan incident",
          one_incident(a, "horizontal-scan") and not by(a, "slow-scan") and ev(a[-1])["order"] == "descending",
          summary(a, h.folded))

    # 4. A NetBIOS name-query sweep whose targets stay silent: netbios-sweep,
    # the one-port sweep folded in; random order, one query each, fast.
    hosts = sc.shuffled([f"10.62.0.{i}" for i in range(10, 40)], 9)
    a = h.alerts(h.pcap(cat.nbns_sweep("203.0.113.63", hosts, T0, 0.05, retries=1)), "--home-net", "10.62.0.0/16")
    check("fusion: a silent NBNS sweep of 30 hosts is one netbios-sweep incident, horizontal-scan folded",
          one_incident(a, "netbios-sweep") and by(h.folded, "horizontal-scan") and not by(a, "horizontal-scan") and
          any("Horizontal scan" in t for t in ev(a[-1]).get("also", [])), summary(a, h.folded))

    # 5. A SYN|FIN scan of 139 and 445 over four hosts: flag-anomaly names it,
    # the sweep's shape is its evidence.
    pk = []
    for i, host in enumerate(["10.63.0.4", "10.63.0.9", "10.63.0.2", "10.63.0.7"]):
        for j, port in enumerate((139, 445)):
            pk += cat.tcp_packet("203.0.113.64", host, 31337, port, T0 + 0.05 * (2 * i + j), "SF", seq=77 + i)
    a = h.alerts(h.pcap(pk), "--home-net", "10.63.0.0/16")
    check("fusion: a SYN|FIN scan of 139/445 over four hosts is one flag-anomaly incident, horizontal-scan folded",
          one_incident(a, "flag-anomaly") and by(h.folded, "horizontal-scan") and not by(a, "horizontal-scan") and
          "horizontal-scan" in a[-1]["harrier"]["incident"]["detectors"], summary(a, h.folded))

    # 6. Sweep-shaped detectors are per activity: an SNMP public sweep of 30
    # agents, a portmapper sweep of 254 hosts.
    agents = [f"10.64.{i // 10}.{i % 10 + 1}" for i in range(30)]
    pk = []
    for i, ag in enumerate(agents):
        pk += cat.snmp_request("198.51.100.65", ag, 40000 + i, T0 + 0.1 * i, answer=(i % 3 == 0))
    a = h.alerts(h.pcap(sc.interleave(pk)), "--home-net", "10.64.0.0/16")
    check("fusion: an SNMP public sweep of 30 agents is one snmp-public incident listing them",
          one_incident(a, "snmp-public") and ev(a[-1])["agents_total"] == 30 and ev(a[-1])["agents_answered"] == 10
          and not by(a, "horizontal-scan"), summary(a, h.folded))
    pk = []
    for i in range(254):
        pk += sc.portmap_probe("203.0.113.66", f"10.65.0.{i + 1}", 700, T0 + 0.01 * i, [])
    a = h.alerts(h.pcap(pk), "--home-net", "10.65.0.0/16")
    check("fusion: a portmapper sweep of 254 hosts is one portmap-probe incident",
          one_incident(a, "portmap-probe") and ev(a[-1])["hosts"] == 254 and
          ev(a[-1])["rpc"]["procedure"] == "GETPORT", summary(a, h.folded))

    # 7. The alert count of a sweep does not grow with its targets: 10, 100
    # and 1,000 targets, each sweep done in 2 s as a tool sends it.
    def sweep(kind, n):
        src = "203.0.113.70"
        hosts = [f"10.70.{i // 250}.{i % 250 + 1}" for i in range(n)]
        gap = 2.0 / n
        pk = []
        for i, host in enumerate(hosts):
            t = T0 + i * gap
            if kind == "snmp-public":
                pk += cat.snmp_request(src, host, 41000 + i % 20000, t)
            elif kind == "portmap-probe":
                pk += sc.portmap_probe(src, host, 800, t, [])
            elif kind == "trojan-port-probe":
                pk += cat.trojan_probe(src, host, 42000 + i % 20000, 12345, t, proto="tcp")
            elif kind == "netbios-wildcard":
                pk += cat.nbns_node_status(src, host, t, sport=40137, answer=(i % 4 == 0))
            else:
                pk += cat.slow_sweep(src, [host], 8080, t, 1.0)
        return sc.interleave(pk)

    for kind in ("snmp-public", "portmap-probe", "trojan-port-probe", "netbios-wildcard", "horizontal-scan"):
        counts = {}
        for n in (10, 100, 1000):
            a = h.alerts(h.pcap(sweep(kind, n)), "--home-net", "10.70.0.0/16")
            counts[n] = (len(a), len(incidents(a)), a[0]["detector"] if a else None)
        check(f"fusion: a {kind} sweep of 10, 100 and 1,000 targets gives the same alerts: one incident, "
              f"{counts[10][0]} alert(s)",
              counts[10] == counts[100] == counts[1000] and counts[10][1] == 1 and counts[10][2] == kind,
              str(counts))

    # 8. Paced over 20 minutes, a 1,000-host sweep still has a bounded number
    # of alerts: a first one and at most max_updates (4) updates.
    pk = cat.slow_sweep("203.0.113.71", [f"10.71.{i // 250}.{i % 250 + 1}" for i in range(1000)], 3389, T0, 1.2)
    a = h.alerts(h.pcap(pk), "--home-net", "10.71.0.0/16")
    check("fusion: a 1,000-host sweep over 20 minutes is one incident of at most 1 + 4 (+1 for slow-scan's "
          "news) alerts, the last counting all 1,000",
          one_incident(a, "horizontal-scan") and len(a) <= 6 and ev(a[-1])["hosts"] >= 999,
          summary(a, h.folded))

    # 9. All of it interleaved: the same incidents for 1, 2 and 4 workers.
    mix = sc.interleave(
        cat.vertical_scan("203.0.113.40", "10.60.1.5", list(range(1, 1001)), T0, 2.0),
        cat.nbns_sweep("203.0.113.63", hosts, T0 + 0.3, 0.05, retries=1),
        sc.portmap_probe("198.51.100.77", "10.60.1.5", 900, T0 + 0.5, [], proto="tcp"),
        *[cat.snmp_request("198.51.100.65", ag, 40000 + i, T0 + 0.1 * i) for i, ag in enumerate(agents)])
    path = h.pcap(mix)
    runs = {}
    for w in ("1", "2", "4"):
        p, alerts = h.run(path, "--home-net", "10.0.0.0/8", "--workers", w)
        runs[w] = [json.dumps(x, sort_keys=True) for x in alerts + h.folded]
    firsts = sorted(json.loads(x)["detector"] for x in runs["1"]
                    if json.loads(x)["event_type"] == "alert" and json.loads(x)["harrier"]["update"] == 0)
    check("fusion: interleaved activities give the same incidents and evidence for 1, 2 and 4 workers",
          runs["1"] == runs["2"] == runs["4"] and
          firsts == ["netbios-sweep", "portmap-probe", "snmp-public", "vertical-scan"],
          f"{firsts} {len(runs['1'])} {len(runs['2'])} {len(runs['4'])}")

    # 10. Off, every detector speaks for itself again (incidents.fusion: false).
    conf = os.path.join(h.tmp, "nofusion.yaml")
    open(conf, "w").write("incidents:\n  fusion: false\n")
    a = h.alerts(h.pcap(cat.vertical_scan("203.0.113.40", "10.60.1.5", list(range(1, 1001)), T0, 2.0)),
                 "--home-net", "10.60.0.0/16", "--config", conf)
    check("fusion: with incidents.fusion off, the portmap probe inside the scan alerts on its own again",
          by(a, "portmap-probe") and by(a, "vertical-scan") and not h.folded, summary(a, h.folded))
