"""What every benchmark shares: percentiles, timing, process memory and result files."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from index.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "bench" / "results"
DATA = PROJECT_ROOT / "bench" / ".data"
SHARED = PROJECT_ROOT.parent / "shared"
T = TypeVar("T")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p50 of 1..10 is 5, p95 is 10)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of durations, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
        "n": len(ms),
    }


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """The call's result and how long it took, in seconds."""
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def rss_mb(pid: int | None = None) -> dict[str, float]:
    """Resident memory of a process now and at its peak (Linux /proc), in MiB."""
    fields = {}
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": fields.get("VmRSS", 0.0), "peak_rss_mb": fields.get("VmHWM", 0.0)}


def cpu_seconds(pid: int) -> float:
    """CPU time a process (all its threads) has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, quiet: float = 1.0, timeout: float = 300) -> float:
    """Wait until a process has used under 5 % of a core for `quiet` seconds (a server's
    start-up warm-up thread done); returns the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        before = cpu_seconds(pid)
        time.sleep(quiet)
        if cpu_seconds(pid) - before < 0.05 * quiet:
            break
    return round(time.perf_counter() - started, 1)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import platform

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def save(name: str, result: dict[str, Any]) -> Path:
    """Write a benchmark's result to bench/results/<name>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    stamped = {"benchmark": name, "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **result}
    stamped["machine"] = machine()
    path.write_text(json.dumps(stamped, indent=2) + "\n")
    return path


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table, first column left-aligned, the rest right-aligned."""
    cells = [[str(c) for c in header], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        first, rest = (
            row[0].ljust(widths[0]),
            [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)],
        )
        lines.append("  ".join([first, *rest]))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return str(value)
