"""Twenty memif lab sessions in a row, none ending in a crash (issue
"Hardened": the DPDK 22.11 memif session-end race); see group_lab.sessions."""
from group_lab import sessions


def run(h, check, by, cat):
    sessions(h, check, by, cat, n=20)
