"""`harrier read` on a terminal shows its progress on stderr (issue "Beyond
one box", part 4): packets and bytes of the total, rate, time left, alerts
so far, redrawn in place; the alert lines never share its line. Nothing
when stderr is not a terminal, or with --quiet."""
import os
import pty
import re
import select
import subprocess

PROGRESS = re.compile(r"harrier: ([\d,]+) of ([\d,]+) packets \((\d+)%\), [\d,]+ of [\d,]+ MB, "
                      r"[\d.]+ M packets/s, (\d+:\d\d|-) left, [\d,]+ alerts?")


def on_terminal(cmd, timeout=120):
    """Runs cmd with stdout and stderr on one pseudo-terminal: its output."""
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], timeout)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout=timeout)
    os.close(master)
    return p.returncode, out.decode(errors="replace")


def run(h, check, by, cat):
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    cap = os.path.join(h.tmp, "progress.pcap")
    # Long enough to be drawn a few times (a redraw every 250 ms), with
    # alerts on the way (the mix's trojan and portmap probes).
    made = subprocess.run(["/usr/bin/python3", os.path.join(root, "scripts", "gen_bench.py"), cap, "1500000",
                           "100000"], check=True, capture_output=True, text=True)
    total = int(re.search(r"wrote (\d+) packets", made.stdout).group(1))
    rc, out = on_terminal([h.binary, "read", cap, "--workers", "1", "--eve", os.devnull])
    draws = [m for m in PROGRESS.finditer(out)]
    lines = out.replace("\r\n", "\n").split("\n")
    alert_lines = [l for l in lines if re.search(r"\d\d:\d\d:\d\d\.\d{6}  (high|medium|low)  ", l)]
    check("progress: on a terminal, read redraws its progress: packets of the total, rate, time left, alerts",
          rc == 0 and len(draws) >= 2 and all(d.group(2) == f"{total:,}" for d in draws)
          and int(draws[-1].group(3)) >= int(draws[0].group(3)), f"rc={rc} {len(draws)} {out[-400:]!r}")
    check("progress: alert lines start on a line of their own, the status line erased first",
          alert_lines and all(PROGRESS.search(l.split("\r")[-1]) is None and
                              re.match(r"^(\x1b\[K)?\d{4}-", l.split("\r")[-1]) for l in alert_lines),
          str(alert_lines[:3]))
    check("progress: the summary after the run is not on the status line",
          re.search(r"(^|\n|\x1b\[K)harrier: %d packets in \d+ batches" % total, out) is not None, out[-300:])
    rc, quiet = on_terminal([h.binary, "read", cap, "--workers", "1", "--eve", os.devnull, "--quiet"])
    check("progress: --quiet on a terminal draws nothing", rc == 0 and not PROGRESS.search(quiet), quiet[-200:])
    p = subprocess.run([h.binary, "read", cap, "--workers", "1", "--eve", os.devnull], capture_output=True,
                       text=True, timeout=120)
    check("progress: stderr that is not a terminal gets no progress",
          p.returncode == 0 and not PROGRESS.search(p.stderr) and "\x1b[K" not in p.stderr, p.stderr[-200:])
