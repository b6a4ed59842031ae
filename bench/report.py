"""The printed table."""

from __future__ import annotations

import math
from typing import Any

# Targets from the issue.
THROUGHPUT_RATIO_MIN = 0.5
LATENCY_RATIO_MAX = 3.0
STATEMENTS_MAX = 10.0
COMMITS_MAX = 3.0


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _f(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def _ratio(a: float, b: float) -> float:
    # A denominator that small (CPU ms per hop, say) is noise, not a measurement.
    return a / b if b > 0.05 and not math.isnan(a) and not math.isnan(b) else math.nan


def throughput_ratio(raw_tp: Any, baton_tp: Any) -> float:
    """Baton's task transitions per second over raw Celery's hops per second."""
    raw_steps = raw_tp.hops / raw_tp.seconds if raw_tp.seconds > 0 else math.nan
    baton_steps = baton_tp.transitions / baton_tp.seconds if baton_tp.seconds > 0 else math.nan
    return _ratio(baton_steps, raw_steps)


def _median(values: list[float]) -> float:
    clean = sorted(v for v in values if not math.isnan(v))
    if not clean:
        return math.nan
    mid = len(clean) // 2
    return clean[mid] if len(clean) % 2 else (clean[mid - 1] + clean[mid]) / 2


def _verdict(ok: bool, value: float) -> str:
    return "n/a" if math.isnan(value) else ("PASS" if ok else "MISS")


def render(
    *, header: str, raw_tp: Any, raw_cpu: Any, baton_tp: Any, baton_cpu: Any, raw_ll: Any, baton_ll: Any, stmt: Any,
    inproc: Any, probe: Any, db_cpu_measured: bool, round_ratios: list[float],
) -> str:
    lines: list[str] = []
    w = 48

    def row(label: str, raw: str, baton: str, ratio: str = "") -> None:
        lines.append(f"  {label:<{w}} {raw:>13} {baton:>13} {ratio:>10}")

    def section(title: str) -> None:
        lines.append("")
        lines.append(title)

    rule = "=" * (w + 42)
    lines += [rule, "Baton vs raw Celery: 3-step flows (3 no-op hops / 3 SIMPLE tasks)", header, rule]
    row("", "raw Celery", "Baton", "Baton/raw")

    # --- throughput -----------------------------------------------------------------------------------
    section(
        f"Throughput: {raw_tp.chains} chains / {baton_tp.workflows} workflows, published/started back to back, "
        f"in {len(round_ratios)} alternating rounds"
    )
    raw_flows = raw_tp.chains / raw_tp.seconds if raw_tp.seconds > 0 else math.nan
    baton_flows = baton_tp.workflows / baton_tp.seconds if baton_tp.seconds > 0 else math.nan
    raw_steps = raw_tp.hops / raw_tp.seconds if raw_tp.seconds > 0 else math.nan
    baton_steps = baton_tp.transitions / baton_tp.seconds if baton_tp.seconds > 0 else math.nan
    tp_ratio = _median(round_ratios)
    row("chains/s | workflows/s", _f(raw_flows), _f(baton_flows), _f(_ratio(baton_flows, raw_flows), 2))
    row("hops/s | task transitions/s", _f(raw_steps), _f(baton_steps), _f(_ratio(baton_steps, raw_steps), 2))
    row("ratio per round (" + " ".join(_f(r, 2) for r in round_ratios) + "), median", "", "", _f(tp_ratio, 2))
    row("elapsed s (first publish/start -> last step)", _f(raw_tp.seconds, 2), _f(baton_tp.seconds, 2))
    row("  of which the bench publishing/starting, s", _f(raw_tp.publish_seconds, 2), _f(baton_tp.start_seconds, 2))
    row("step latency under load p50 ms", _f(pct(raw_tp.step_ms, 50)), _f(pct(baton_tp.step_ms, 50)),
        _f(_ratio(pct(baton_tp.step_ms, 50), pct(raw_tp.step_ms, 50)), 2))  # fmt: skip
    row("step latency under load p99 ms", _f(pct(raw_tp.step_ms, 99)), _f(pct(baton_tp.step_ms, 99)))

    section("CPU per hop | per transition, ms (throughput run, /proc utime+stime deltas)")
    n_raw, n_baton = max(1, raw_tp.hops), max(1, baton_tp.transitions)
    for label, attr in (
        ("worker processes (main + pool)", "worker"),
        ("bench process (publishes chains | starts workflows)", "bench"),
        ("broker (redis INFO used_cpu)", "broker"),
        ("database server (postgres, our DB's backends)" if db_cpu_measured else "database server (in-process SQLite)", "db"),
    ):
        # max(0, ...): a process that exits between the two readings takes its CPU time with it.
        r = max(0.0, getattr(raw_cpu, attr)) * 1000 / n_raw
        b = max(0.0, getattr(baton_cpu, attr)) * 1000 / n_baton
        if attr == "db" and not db_cpu_measured:
            row(label, "-", "-")
            continue
        row(label, _f(r, 3), _f(b, 3), _f(_ratio(b, r), 1))
    r_tot, b_tot = max(0.0, raw_cpu.total) * 1000 / n_raw, max(0.0, baton_cpu.total) * 1000 / n_baton
    row("total", _f(r_tot, 3), _f(b_tot, 3), _f(_ratio(b_tot, r_tot), 1))
    row("other processes on the machine, avg cores busy", _f(raw_cpu.others_cores, 2), _f(baton_cpu.others_cores, 2))
    if max(raw_cpu.others_cores, baton_cpu.others_cores) > 0.2:
        lines.append("    WARNING: something else used the CPU during the runs: throughput and latency are understated")

    # --- low load -------------------------------------------------------------------------------------
    section(f"Low load: {raw_ll.chains} chains / {baton_ll.workflows} workflows, one at a time (alternating), each waited for")
    ll_ratio = _ratio(pct(baton_ll.step_ms, 50), pct(raw_ll.step_ms, 50))
    row("step latency p50 ms", _f(pct(raw_ll.step_ms, 50), 2), _f(pct(baton_ll.step_ms, 50), 2), _f(ll_ratio, 2))
    row("step latency p99 ms", _f(pct(raw_ll.step_ms, 99), 2), _f(pct(baton_ll.step_ms, 99), 2),
        _f(_ratio(pct(baton_ll.step_ms, 99), pct(raw_ll.step_ms, 99)), 2))  # fmt: skip
    row("publish->start p50 ms | scheduled->end p50 ms", _f(pct(raw_ll.queue_ms, 50), 2), _f(pct(baton_ll.sched_ms, 50), 2))
    row("publish->start p99 ms | scheduled->end p99 ms", _f(pct(raw_ll.queue_ms, 99), 2), _f(pct(baton_ll.sched_ms, 99), 2))
    row("Baton scheduled->claimed (start_time) p50 ms", "", _f(pct(baton_ll.queue_ms, 50), 2))

    # --- in-process -----------------------------------------------------------------------------------
    section(f"In process, broker stubbed ({stmt.workflows} workflows counted, {inproc.workflows} timed)")
    row("SQL statements per transition", "", _f(stmt.statements, 2))
    phases = ", ".join(f"{k} {v:.2f}" for k, v in stmt.by_phase.items())
    lines.append(f"    by phase: {phases}")
    verbs = ", ".join(f"{k} {v:.2f}" for k, v in stmt.by_verb.items())
    lines.append(f"    by kind:  {verbs}" + (f"; plus BEGIN {stmt.begins:.2f} (SQLite)" if stmt.begins else ""))
    row("commits per transition", "", _f(stmt.commits, 2))
    row("wall ms per transition (one process, no broker)", "", _f(inproc.wall_ms, 2))
    row("CPU ms per transition (this process only)", "", _f(inproc.cpu_ms, 2))
    row("for scale: SELECT 1 round trip p50 ms", "", _f(probe.select_ms, 3))
    row("for scale: one-row UPDATE + COMMIT p50 ms", "", _f(probe.commit_ms, 3))

    # --- targets --------------------------------------------------------------------------------------
    section("Targets")
    checks = [
        ("throughput: median round ratio, Baton / raw", f">= {THROUGHPUT_RATIO_MIN}", tp_ratio, tp_ratio >= THROUGHPUT_RATIO_MIN),
        ("latency: step p50 at low load, Baton / raw", f"<= {LATENCY_RATIO_MAX:g}", ll_ratio, ll_ratio <= LATENCY_RATIO_MAX),
        ("SQL statements per transition", f"<= {STATEMENTS_MAX:g}", stmt.statements, stmt.statements <= STATEMENTS_MAX),
        ("commits per transition", f"<= {COMMITS_MAX:g}", stmt.commits, stmt.commits <= COMMITS_MAX),
    ]
    for label, target, value, ok in checks:
        lines.append(f"  {label:<{w}} {target:>8} {_f(value, 2):>10}   {_verdict(ok, value)}")

    problems = []
    if raw_tp.missing or raw_ll.missing:
        problems.append(f"raw chains not finished: {raw_tp.missing + raw_ll.missing}")
    for name, res in (("throughput", baton_tp), ("low load", baton_ll)):
        if res.not_completed:
            problems.append(f"Baton {name} workflows not COMPLETED: {res.not_completed}")
    if problems:
        section("PROBLEMS (figures above leave these out)")
        lines.extend(f"  {p}" for p in problems)

    section("How to read it")
    lines += [
        "  step (raw): previous hop's start -> this hop's start; hop 1 from its publish by the bench. Each hop",
        "    stamps its publish time (message header) and start time into a Redis list; the last one pushes",
        "    the chain id to a done list. No result backend.",
        "  step (Baton): previous task's end_time -> this task's end_time; task 1 from the workflow's",
        "    create_time. Covers decide + commit + publish + queue + claim + run + update (DB timestamps, ms).",
        "  transition: one task run to completion and the workflow moved on (3 per workflow); hop: one chain",
        "    link (3 per chain). Throughput = count / (last step's time - first publish/start), summed over",
        "    the rounds; the target uses the median of the per-round ratios (each round: raw, then Baton).",
        "  statements/commits: start + 3 x execute() per workflow, / 3; a query carrying several statements (one",
        "    round trip on PostgreSQL) counts each of them; BEGIN/COMMIT themselves not counted as",
        "    statements; commits = transaction COMMITs + writes run in autocommit. SAVEPOINTs are counted.",
        "  CPU: deltas of utime+stime over the run. postgres = postmaster + background processes + live backends",
        "    of this database + every backend that exited (reaped by the postmaster; other databases' too, so it",
        "    is only clean on a quiet machine). Worker processes keep their DB connections across tasks.",
    ]
    lines.append(rule)
    return "\n".join(lines)
