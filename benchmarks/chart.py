"""Draws benchmarks/results/lookup_p99.png: a custom-field substring lookup's p99 against the number of visitors,
through the service (one connection, benchmarks/lookup.py) beside Rocket.Chat's `$regex` on the wire server
(benchmarks/regex_baseline.py), from the results files those wrote.

    python -m benchmarks.chart
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

RESULTS = Path(__file__).parent / "results"
SIZES = (10_000, 100_000, 1_000_000)


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def main() -> int:
    service: list[tuple[int, float]] = []
    regex: list[tuple[int, float]] = []
    for size in SIZES:
        lookup = _load(f"lookup-{size}.json")
        if lookup:
            service.append((size, lookup["kinds"]["custom_substring"]["one_connection"]["service"]["p99_ms"]))
        baseline = _load(f"regex-{size}.json")
        if baseline:
            regex.append((size, baseline["p99_ms"]))
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    if service:
        axes.plot(*zip(*service, strict=True), marker="o", label="contact-search (Elasticsearch), through the service")
    if regex:
        axes.plot(*zip(*regex, strict=True), marker="s", label="Rocket.Chat's way: $regex on livechatData (FerretDB)")
    for points in (service, regex):
        for size, p99 in points:
            axes.annotate(
                f"{p99:,.0f} ms" if p99 >= 10 else f"{p99:.1f} ms",
                (size, p99),
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=8,
            )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks(list(SIZES), ["10k", "100k", "1M"])
    axes.set_xlabel("visitors")
    axes.set_ylabel("p99 latency (ms, log scale)")
    axes.set_title("Custom-field substring lookup, one request at a time, 2-core machine")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    output = RESULTS / "lookup_p99.png"
    figure.savefig(output)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
