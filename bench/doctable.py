"""The docs' table of a peers results file: `python -m bench.doctable bench/results/DATE-peers.md`
prints one markdown row per workload (native, qemu-user, gVisor, pyquark per platform, and
pyquark on pvm against gVisor), the medians as the results file has them. README.md and
docs/performance.md carry its output for the run they quote; rerun it when the bench reruns."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROW = re.compile(r"^\| (?P<work>.+?) — pyquark on (?P<plat>[\w, ]+) \| (?P<peer>[^|]+) \| (?P<pf>[^|]+) \| "
                 r"(?P<ours>[^|]+) \| (?P<ratio>[^|]+) \|$")


def median(cell: str) -> str:
    cell = cell.strip()
    if cell.startswith("n/a"):
        return "n/a"
    return re.sub(r" \(.*\)$", "", cell)


def table(text: str) -> str:
    rows: dict[str, dict[str, str]] = {}
    order: list[str] = []
    for line in text.splitlines():
        m = ROW.match(line)
        if not m:
            continue
        work = m["work"].replace("\\|", "|")
        if work not in rows:
            rows[work] = {}
            order.append(work)
        r = rows[work]
        peer = m["peer"].split(",")[0].strip()
        key = {"native": "native", "qemu-user": "qemu", "gVisor (runsc": "runsc"}.get(peer, peer)
        if peer.startswith("gVisor"):
            key = "runsc"
        r[key] = median(m["pf"])
        for plat in m["plat"].split(","):
            r[plat.strip()] = median(m["ours"])
        if key == "runsc" and "pvm" in m["plat"]:
            r["vs_runsc"] = m["ratio"].strip()
    out = ["| workload | native | qemu-user | gVisor (runsc, ptrace) | pyquark pvm | pyquark emu | pvm / gVisor |",
           "|---|---|---|---|---|---|---|"]
    for w in order:
        r = rows[w]
        ratio = r.get("vs_runsc", "—")
        out.append(f"| {w.replace('|', chr(92) + '|')} | {r.get('native', '')} | {r.get('qemu', '')} | "
                   f"{r.get('runsc', '')} | {r.get('pvm', '')} | {r.get('emu', '')} | {ratio} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(table(Path(sys.argv[1]).read_text()))
