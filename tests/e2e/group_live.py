"""`harrier run` on a link that goes quiet (issue 4's incident windows, and
the heartbeat they need): after the last packet, empty batches move packet
time on, so alerts that wait for quiet come out and every incident capture
is completed while harrier keeps running, not only at shutdown."""
import json
import os
import signal
import subprocess
import time


def run(h, check, by, cat):
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    sample = os.path.join(root, "tests", "pcaps", "sample.pcap")
    inc = os.path.join(h.tmp, "live_inc")
    os.makedirs(inc)
    eve = os.path.join(h.tmp, "live.eve")
    cfg = os.path.join(h.tmp, "live.yaml")
    with open(cfg, "w") as f:
        f.write(f"""dataplane:
  eal_args: ["--no-huge", "--no-shconf", "--no-pci", "-l", "0-1", "-m", "1024", "--no-telemetry",
             "--file-prefix", "harrier-live-{os.getpid()}"]
  ports:
    - device: net_pcap0,rx_pcap={sample}
  workers: 2
  pdump: false
outputs:
  summary: false
  eve: {eve}
control:
  socket: {os.path.join(h.tmp, "live.sock")}
capture:
  incidents: {{dir: {inc}, after: 1}}
""")
    proc = subprocess.Popen([h.binary, "run", "--config", cfg], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    alerts, sizes, last = [], {}, None
    try:
        deadline = time.time() + 30
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if not os.path.exists(eve):
                continue
            with open(eve) as fh:
                alerts = [a for a in (json.loads(l) for l in fh if l.strip()) if a["event_type"] == "alert"]
            named = {a["harrier"].get("capture_file") for a in alerts} - {None}
            now = {f: os.path.getsize(os.path.join(inc, f)) for f in os.listdir(inc)}
            # Settled: alerts came, every named file exists, nothing grew for a second.
            if alerts and named and all(os.path.basename(n) in now for n in named) and now == last:
                sizes = now
                break
            last = now
        running = proc.poll() is None
        detectors = {a["detector"] for a in alerts}
        check("live: on a quiet link, alerts that wait for quiet come out while harrier runs",
              running and {"netbios-wildcard", "ping-then-connect"} <= detectors,
              f"running={running} {sorted(detectors)}")
        check(f"live: all {len(sizes)} incident captures complete before shutdown",
              running and len(sizes) >= 15 and all(s > 0 for s in sizes.values()), str(sizes))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    after = {f: os.path.getsize(os.path.join(inc, f)) for f in os.listdir(inc)}
    check("live: shutdown changes none of them (they were closed by the heartbeat, not by SIGTERM)",
          sizes and after == sizes and proc.returncode == 0, f"rc={proc.returncode} {err[-300:]}")
