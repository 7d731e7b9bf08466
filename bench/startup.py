"""How fast the command line answers before any work: help pages and refused flags or config keys.

    python bench/startup.py            # 3 runs per command; writes bench/results/startup.json

Each command runs in a fresh process (as a user types it); the figure is the median wall time. A help page
or a usage error should answer within a second: none of them needs torch, the data or the runner.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "startup.json"
COMMANDS = {
    "genclf --help": ["--help"],
    "genclf run --help": ["run", "--help"],
    "genclf train --help": ["train", "--help"],
    "genclf train-generator --help": ["train-generator", "--help"],
    "genclf run --epoch 2 (misspelt flag)": ["run", "--epoch", "2"],
    "genclf run --set train.epochz=2 (unknown key)": ["run", "--set", "train.epochz=2", "--dry-run"],
    "genclf train --set data.spek=digits (unknown key)": ["train", "--set", "data.spek=digits"],
}


def timed(argv: list[str]) -> tuple[float, int, str]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "genclf", *argv], capture_output=True, text=True)
    last = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
    return time.perf_counter() - began, done.returncode, last[0][:100]


def main(repeats: int = 3) -> None:
    rows = []
    for name, argv in COMMANDS.items():
        runs = [timed(argv) for _ in range(repeats)]
        seconds = statistics.median(r[0] for r in runs)
        rows.append({"command": name, "median_seconds": round(seconds, 3), "exit_code": runs[0][1], "says": runs[0][2]})
        print(f"{name:<52} {seconds:6.2f} s  exit {runs[0][1]}  {runs[0][2]}", flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"repeats": repeats, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
