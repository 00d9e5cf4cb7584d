"""Write the README's performance table from the newest full benchmark run: ``python -m benchmarks.readme_table``.

The table goes between the ``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers of
``README.md`` (nothing outside them changes) and states the date, machine and commit of the run.
The newest full accuracy report (``python -m benchmarks.accuracy``, ``accuracy-*.json``) goes
between ``<!-- accuracy:start -->`` and ``<!-- accuracy:end -->`` the same way.
Quick runs (``…-quick.json``) are never quoted. ``--check`` only reports whether the README is
up to date (exit 1 if not).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
ACCURACY_MARKERS = ("<!-- accuracy:start -->", "<!-- accuracy:end -->")
RESULTS = ROOT / "benchmarks" / "results"


def newest(folder: Path = RESULTS, *, accuracy: bool = False) -> Path | None:
    """The newest full (not ``--quick``) result file, by the run date it records.

    ``accuracy=True``: the newest ``accuracy-*.json`` (None when there is none); otherwise the newest
    benchmark run (the accuracy reports have no machine block and are never quoted as one).
    """
    runs = [(json.loads(p.read_text(encoding="utf-8")), p) for p in folder.glob("*.json")
            if p.name.startswith("accuracy-") == accuracy]
    full = [(report["date"], path) for report, path in runs if not report.get("quick") and not report.get("partial")]
    if not full and not accuracy:
        raise SystemExit(f"no full benchmark result in {folder}; run `python -m benchmarks` first")
    return max(full)[1] if full else None


def render(report: dict[str, Any], *, source: str) -> str:
    """The Markdown block: a line naming run, machine and commit, then one table row per result row."""
    m, git = report["machine"], report.get("git") or {}
    commit = (git.get("commit") or "unknown")[:10] + (" (uncommitted changes)" if git.get("dirty") else "")
    lines = [
        f"Measured {report['date'][:16].replace('T', ' ')} UTC on `{m['host']}`: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, torch threads: {m['torch_threads']}, load average {m['load_average_1m']} at the "
        f"start and {m.get('load_average_1m_end', '?')} at the end; commit {commit}. Source: `{source}` "
        "(written by `python -m benchmarks.readme_table`; ratio = times better than the reference measured in "
        "the same run).",
        "",
        "| benchmark | result | reference (same run) | ratio | target | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    info = []  # rows without a target: one sentence under the table (the JSON keeps them in full)
    for r in report["rows"]:
        if r["verdict"] == "skipped":
            lines.append(f"| {r['name']} | — | — | — | {r['target'] or '—'} | skipped: {r.get('why', '')} |")
            continue
        value = "—" if r["value"] is None else f"{_num(r['value'])} {r['unit']}" + _extrapolated(r, "measured")
        if r["verdict"] == "info":
            info.append(f"{r['name']} {value}" + (f" ({r['reference']}: {_num(r['reference_value'])} {r['unit']})"
                                                  if r["reference"] else ""))
            continue
        ref = "—" if r["reference"] is None else (f"{r['reference']}: {_num(r['reference_value'])} {r['unit']}"
                                                  + _extrapolated(r, "reference_measured"))
        ratio = "—" if r["ratio"] is None else f"{_num(r['ratio'])}×"
        lines.append(f"| {r['name']} | {value} | {ref} | {ratio} | {r['target'] or '—'} | {r['verdict']} |")
    if info:
        lines += ["", "Measured without a target: " + "; ".join(info) + "."]
    return "\n".join(lines)


def render_accuracy(report: dict[str, Any], *, source: str) -> str:
    """The accuracy block: when and how it was produced, then one row per head, paired test and hybrid."""
    lines = [
        f"Measured {report['date'][:16].replace('T', ' ')} UTC in {report['seconds'] / 60:.0f} min by "
        f"`{report['command']}`; source: `{source}` (written by `python -m benchmarks.readme_table`).",
        "",
        "| result | value | 95% interval | trainable parameters | target | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["rows"]:
        if r["verdict"] == "skipped":
            lines.append(f"| {r['name']} | — | — | — | — | skipped: {r.get('why', '')} |")
            continue
        ci = r.get("ua_ci95") or r.get("ci95")
        interval = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "—"
        params = r.get("params") or (f"{r['hybrid_params']:,} vs {r['frozen_params']:,}" if "hybrid_params" in r else "—")
        value = "—" if r["value"] is None else f"{r['value']:+.3f}" if "points" in r["unit"] else f"{r['value']:.3f}"
        note = _paired_note(r)
        lines.append(f"| {r['name']}{note} | {value} | {interval} | {params} | {r['target'] or '—'} | {r['verdict']} |")
    return "\n".join(lines)


def _paired_note(r: dict[str, Any]) -> str:
    """McNemar's p-value on the first seed's clips, where the row has one."""
    p = (r.get("mcnemar") or {}).get("p_value")
    return "" if p is None else f" (McNemar p = {p:.3g})"


def update(readme: Path, block: str, markers: tuple[str, str] = (START, END), *, text: str | None = None) -> str:
    """README text (``text``, else the file's) with ``block`` between the markers (both there, in order)."""
    text = readme.read_text(encoding="utf-8") if text is None else text
    (first, last) = markers
    start, end = text.find(first), text.find(last)
    if start < 0 or end < start:
        raise SystemExit(f"{readme} lacks the markers {first} … {last} (in this order); add them where the table goes")
    return text[: start + len(first)] + "\n" + block + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readme_table", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="result file to quote (default: the newest full run)")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README's table is not up to date")
    args = parser.parse_args(argv)
    path = args.results or newest()
    report = json.loads(path.read_text(encoding="utf-8"))
    if report.get("quick"):
        raise SystemExit(f"{path} is a --quick run (fractions of each row, extrapolated); quote a full run")
    text = update(args.readme, render(report, source=_relative(path)))
    accuracy = newest(path.parent, accuracy=True)
    if accuracy is not None:
        block = render_accuracy(json.loads(accuracy.read_text(encoding="utf-8")), source=_relative(accuracy))
        text = update(args.readme, block, ACCURACY_MARKERS, text=text)
    if args.check:
        current = args.readme.read_text(encoding="utf-8") == text
        print(f"{args.readme}: {'up to date' if current else 'out of date'} with {path.name}")
        return 0 if current else 1
    args.readme.write_text(text, encoding="utf-8")
    print(f"{args.readme}: table from {path.name}")
    return 0


def _extrapolated(r: dict[str, Any], key: str) -> str:
    """`` (extrapolated)`` when the row's ``key`` details (or, for the value, the row itself) say so."""
    details = r.get(key)
    flagged = details.get("extrapolated") if isinstance(details, dict) else key == "measured" and r.get("extrapolated")
    return " (extrapolated)" if flagged else ""


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
