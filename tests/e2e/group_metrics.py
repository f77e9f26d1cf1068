"""Metrics for the ecosystem (issue 5): the Prometheus endpoint
(control.metrics) and DPDK telemetry (dpdk-telemetry.py) show the counters
harrierctl stats shows, on a live harrier driven over net_memif."""
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

from group_lab import Live

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
                    r'[-+]?([0-9.]+([eE][-+]?[0-9]+)?|NaN|[-+]?Inf)$')


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, method="GET"):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, "", ""


def parse(text):
    """Exposition text -> {(name, labels): value}, and whether every line is
    well formed with its HELP and TYPE before its samples."""
    values, typed, ok = {}, set(), True
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
        elif line.startswith("#") or not line:
            continue
        else:
            ok = ok and bool(SAMPLE.match(line)) and line.split("{")[0].split(" ")[0] in typed
            name_labels, value = line.rsplit(" ", 1)
            values[name_labels] = float(value)
    return values, ok


def run(h, check, by, cat):
    pkts = cat.lab_mix(start=1700000000.0)
    pcap = h.pcap(pkts, "lab.pcap")
    port = free_port()
    live = Live(h, "metrics", extra=f"  metrics: 127.0.0.1:{port}\n", telemetry=True)
    try:
        live.replay(pcap, "--lossless")
        stats = live.settle(len(pkts))
        sent = {"sent": len(pkts)}  # the replay reports once harrier stops: checked below
        # An idle client must not hold the endpoint up. Alerts decided by a
        # deadline may land between two readings: read stats on both sides
        # of the scrape until they agree.
        idle = socket.create_connection(("127.0.0.1", port))
        for _ in range(10):
            before = live.ask("stats")
            status, ctype, body = get(f"http://127.0.0.1:{port}/metrics")
            stats = live.ask("stats")
            if before.get("alerts") == stats.get("alerts"):
                break
            time.sleep(0.5)
        idle.close()
        values, well_formed = parse(body)
        check("metrics: GET /metrics answers 200 in the Prometheus text format",
              status == 200 and ctype.startswith("text/plain; version=0.0.4") and well_formed and values,
              f"{status} {ctype} {body[:300]}")
        analysed = values.get("harrier_analysed_packets_total")
        by_det = {k.split('"')[1]: v for k, v in values.items() if k.startswith("harrier_alerts_total{")}
        check("metrics: the same counters as harrierctl stats (packets, alerts per detector)",
              analysed == stats["analysed"]["packets"] == sent["sent"]
              and by_det == {k: float(v) for k, v in stats["alerts"]["by_detector"].items()},
              f"{analysed} {by_det} {stats.get('alerts')}")
        # Each detector's counter table: the same rows in stats and Prometheus.
        det_stats = stats.get("detectors", {})
        hscan = det_stats.get("horizontal-scan", {})
        prom = {k.split('"')[1]: v for k, v in values.items()
                if k.startswith('harrier_detector_table_entries{detector="')}
        check("metrics: detectors' own counters (table fill, evictions, settle overflow) in stats and Prometheus alike",
              hscan.get("table_entries", 0) > 0 and hscan.get("table_capacity", 0) >= hscan["table_entries"]
              and "settle_overflow" in hscan
              and "hyperscan_errors" in det_stats.get("smtp-relay-probe", {})
              and prom == {d: float(c["table_entries"]) for d, c in det_stats.items() if "table_entries" in c}
              and values.get('harrier_detector_table_evictions_total{detector="horizontal-scan"}') == hscan["table_evictions"],
              f"{json.dumps(det_stats)[:600]} {prom}")
        check("metrics: received per port and queue, NIC drops by cause",
              any(k.startswith("harrier_received_packets_total{") and 'queue="0"' in k for k in values)
              and sum(v for k, v in values.items() if k.startswith("harrier_received_packets_total")) == sent["sent"]
              and any('cause="imissed"' in k for k in values), str(list(values)[:8]))
        codes = (get(f"http://127.0.0.1:{port}/")[0], get(f"http://127.0.0.1:{port}/metrics", "POST")[0])
        raw = socket.create_connection(("127.0.0.1", port))
        raw.sendall(b"garbage\r\n\r\n")
        bad = raw.recv(200).decode(errors="replace")
        raw.close()
        check("metrics: other paths 404, other methods 405, garbage 400",
              codes == (404, 405) and bad.startswith("HTTP/1.1 400"), f"{codes} {bad!r}")

        for _ in range(10):
            before = live.ask("stats")
            tel = subprocess.run(["dpdk-telemetry.py", "-f", live.prefix], input="/harrier/stats\n/harrier/alerts\n"
                                 "/harrier/workers,1\n/harrier/ports,0\n", capture_output=True, text=True, timeout=30)
            stats = live.ask("stats")
            if before.get("alerts") == stats.get("alerts"):
                break
            time.sleep(0.5)
        replies = {}
        for line in tel.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                replies.update(json.loads(line))
        st, al = replies.get("/harrier/stats") or {}, replies.get("/harrier/alerts") or {}
        check("telemetry: dpdk-telemetry.py shows harrier's counters",
              st.get("analysed_packets") == sent["sent"] and st.get("received_packets") == sent["sent"]
              and al.get("horizontal_scan") == stats["alerts"]["by_detector"]["horizontal-scan"]
              and (replies.get("/harrier/workers") or {}).get("worker") == 1
              and (replies.get("/harrier/ports") or {}).get("packets") == sent["sent"],
              f"{tel.returncode} {tel.stdout[-600:]} {tel.stderr[-300:]}")
    finally:
        rc, final, err = live.stop()
    report = live.reports()[0]
    check("metrics: harrier stops cleanly with the endpoint and telemetry on; the replay sent it all",
          rc == 0 and report.get("sent") == len(pkts), f"{report} {err[-300:]}")

    # Configuration mistakes, named before anything starts.
    bad_cfg = os.path.join(h.tmp, "badmetrics.yaml")
    with open(bad_cfg, "w") as f:
        f.write("control:\n  metrics: localhost\n")
    r = subprocess.run([h.binary, "read", pcap, "--config", bad_cfg, "--quiet"], capture_output=True, text=True)
    check("metrics: a malformed control.metrics is refused with file, key and reason (exit 2)",
          r.returncode == 2 and "control.metrics" in r.stderr and "ADDRESS:PORT" in r.stderr, r.stderr)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    taken = blocker.getsockname()[1]
    live = Live(h, "metrics2", extra=f"  metrics: 127.0.0.1:{taken}\n")
    try:
        _, err = live.proc.communicate(timeout=60)
        rc = live.proc.returncode
    except subprocess.TimeoutExpired:
        rc, _, err = live.stop()
    blocker.close()
    check("metrics: a port in use is named, and harrier does not start (exit 1)",
          rc == 1 and f"127.0.0.1:{taken}" in err and "cannot listen" in err, f"rc={rc} {err[-300:]}")
