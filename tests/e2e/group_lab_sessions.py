"""Twenty memif lab sessions in a row, none ending in a crash (issue
"Hardened": the DPDK 22.11 memif session-end race); see group_lab.sessions.
And the session start in either order: see group_lab.start_order."""
from group_lab import sessions, start_order


def run(h, check, by, cat):
    start_order(h, check, by, cat)
    sessions(h, check, by, cat, n=20)
