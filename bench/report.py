#!/usr/bin/python3
"""Runs every benchmark under bench/ and writes one report.

  bench/report.py [--build build] [--label NAME] [--compare DIR]
                  [--endpoint EP [--pid PID] --pool P [--pool P2 ...]]
                  [--duration 3s] [--volumes 10000] [--only rpc,controller,node]
  bench/report.py --render DIR [--compare DIR2]

Runs bench/rpc.py, bench/controller.py and (as root, when it takes --json)
bench/node.py, each with --json into bench/results/<timestamp>/, then
writes there:

  report.json   every benchmark's raw results plus the flat list of metrics
                (value, target, ratio to target) the table is made of
  report.md     the table: every number, its target, the ratio to target
                (>= 1 meets it), and with --compare the other run beside it
  latency.png   p50/p99 per benchmark and concurrency (bars, log scale)
  growth.png    per-pair cost, latency and RSS as the volume count grows
                from 100 to 10,000 (log x)
  <bench>.txt   each benchmark's own printed table

and points bench/results/latest at it. Progress (every benchmark's stderr)
goes to stderr; the table goes to stdout too.

--endpoint EP (with --pid PID for the RSS, and --pool: the StorageClass
parameter pool=P to create with, '' for none) passes through to every
benchmark, so another CSI driver is measured the same way; benchmarks that
cannot measure another endpoint are skipped with a note. Put two runs side
by side with --compare DIR (a results directory or its report.json), e.g.
measure the other driver, then dynvol with --compare bench/results/<that>.
--render DIR re-writes the report and charts of an earlier run without
running anything. The charts need matplotlib (python3-matplotlib); without
it they are skipped with a note. Exit status 1 when a benchmark failed.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
SCHEMA = 1
T0 = time.time()

# Targets on 2 cores. "higher": the value must be at least the target;
# "lower": at most. The ratio is always oriented so that >= 1 meets it.
T_PROBE_CPS16 = 20000      # bench/rpc.py, docs/testing.md
T_PROBE_P99_16 = 2000      # us
# Probe from a grpc-go client @16 on one ClientConn: 1.5x the Go host-path
# driver's 34,300 calls/s, p99 below its ~1.5 ms (issue 11; bench/rpc.py)
T_GO_PROBE_CPS16 = 51450
T_GO_PROBE_P99_16 = 1500   # us
T_RSS_RPC = 8192           # kB: Probe load on a driver with no pools (docs/benchmarks.md)
T_RSS_DRIVER = 8192        # kB: idle with pools, and with 10,000 volumes (the issue)
T_PAIRS_IMG16 = 5000       # pairs/s, image pool, concurrency 16 (issue 11)
T_PAIRS_DIR16 = 10000      # pairs/s, dir pool, concurrency 16 (issue 11)
T_COST_RATIO = 1.2         # cost per pair at 10,000 volumes / at 100
T_LIST_P99 = 20000         # us for a page of 500


def log(msg):
    el = int(time.time() - T0)
    print(f"[report {el // 60}:{el % 60:02d}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# running the benchmarks


def help_text(script):
    r = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True,
                       check=False, timeout=120)
    return r.stdout + r.stderr


def plan(args):
    """[(name, argv or None, note)]: what to run, or why not."""
    out = []
    only = set(args.only.split(",")) if args.only else None
    common = ["--build", args.build]
    ep = ["--endpoint", args.endpoint] if args.endpoint else []
    pid = ["--pid", str(args.pid)] if args.pid else []
    dur = ["--duration", args.duration] if args.duration else []
    if not only or "rpc" in only:
        out.append(("rpc", [os.path.join(BENCH, "rpc.py"), *common, *ep, *pid, *dur], None))
    if not only or "controller" in only:
        pools = [x for p in (args.pool or []) for x in ("--pool", p)]
        vols = ["--volumes", str(args.volumes)] if args.volumes else []
        out.append(("controller", [os.path.join(BENCH, "controller.py"), *common, *ep, *pid,
                                   *pools, *dur, *vols], None))
    if not only or "node" in only:
        script = os.path.join(BENCH, "node.py")
        if not os.path.exists(script):
            out.append(("node", None, "skipped: bench/node.py does not exist"))
        elif os.geteuid() != 0:
            out.append(("node", None, "skipped: bench/node.py needs root (loop devices, mount)"))
        else:
            h = help_text(script)
            argv = [script]
            note = None
            if "--json" not in h:
                note = "skipped: bench/node.py has no --json option"
            elif args.endpoint and "--endpoint" not in h:
                note = ("skipped: bench/node.py cannot measure another endpoint "
                        "(it has no --endpoint)")
            if "--build" in h:
                argv += common
            if args.endpoint and "--endpoint" in h:
                argv += ep
                if args.pid and "--pid" in h:
                    argv += pid
            out.append(("node", None if note else argv, note))
    return out


def run_one(name, argv, outdir):
    """Runs one benchmark; its stdout into <name>.txt, its stderr forwarded
    line by line as progress. Returns (results or None, error or None)."""
    jpath = os.path.join(outdir, name + ".json")
    txt = os.path.join(outdir, name + ".txt")
    cmd = [sys.executable, *argv, "--json", jpath]
    log(f"{name}: {' '.join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a for a in cmd[1:])}")
    t = time.time()
    tail = []
    with open(txt, "w") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for line in p.stderr:
            line = line.rstrip("\n")
            tail = (tail + [line])[-20:]
            log(f"{name} | {line}")
        rc = p.wait()
    secs = time.time() - t
    if rc != 0:
        return None, secs, f"exit status {rc}: " + (" / ".join(tail[-5:]) or "no message")
    try:
        with open(jpath) as f:
            return json.load(f), secs, None
    except (OSError, ValueError) as e:
        return None, secs, f"no JSON results ({e})"


def git_info():
    def git(*a):
        r = subprocess.run(["git", "-C", ROOT, *a], capture_output=True, text=True, check=False)
        return r.stdout.strip() if r.returncode == 0 else None
    commit = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty)}


def host_info():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"hostname": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
            "cpu": cpu}


# --------------------------------------------------------------------------
# metrics: the flat rows of the table


def metric(rows, group, mid, name, value, unit, better, target=None):
    if value is None:
        return
    ratio = None
    if target is not None and value:
        ratio = value / target if better == "higher" else target / value
    rows.append({"id": mid, "group": group, "name": name, "value": value, "unit": unit,
                 "better": better, "target": target, "ratio": ratio,
                 "meets": None if ratio is None else ratio >= 1})


def metrics_of(bench, external=False):
    """external: the driver was not started by the benchmarks, so its pools
    and history are unknown."""
    rows = []
    rpc = bench.get("rpc")
    ctl = bench.get("controller")
    node = bench.get("node")
    if rpc:
        g = "RPC round trip (Probe)"
        for r in rpc.get("runs", []):
            c = r["concurrency"]
            metric(rows, g, f"rpc.c{c}.calls_per_sec", f"Probe calls/s @{c}", r["calls_per_sec"],
                   "calls/s", "higher", T_PROBE_CPS16 if c == 16 else None)
            metric(rows, g, f"rpc.c{c}.p50_us", f"Probe p50 @{c}", r["p50_us"], "us", "lower")
            metric(rows, g, f"rpc.c{c}.p99_us", f"Probe p99 @{c}", r["p99_us"], "us", "lower",
                   T_PROBE_P99_16 if c == 16 else None)
        for r in rpc.get("go_runs", []):
            c, k = r["concurrency"], r["conns"]
            one = k == 1
            mid, at = (f"rpc.go.c{c}", f"@{c}") if one else (f"rpc.go.c{c}.conns{k}", f"@{c}/{k} conns")
            metric(rows, g, f"{mid}.calls_per_sec", f"Probe calls/s from grpc-go {at}",
                   r["calls_per_sec"], "calls/s", "higher",
                   T_GO_PROBE_CPS16 if one and c == 16 else None)
            metric(rows, g, f"{mid}.p99_us", f"Probe p99 from grpc-go {at}", r["p99_us"], "us",
                   "lower", T_GO_PROBE_P99_16 if one and c == 16 else None)
    if ctl:
        g = "CreateVolume+DeleteVolume pairs"
        def pair_target(p, c):
            if c != 16:
                return None
            return {"img": T_PAIRS_IMG16, "dir": T_PAIRS_DIR16}.get(p)
        for r in ctl.get("pairs", []):
            c, p = r["concurrency"], r["pool"]
            metric(rows, g, f"ctl.{p}.c{c}.pairs_per_sec", f"{p} pool pairs/s @{c}",
                   r["calls_per_sec"], "pairs/s", "higher", pair_target(p, c))
            metric(rows, g, f"ctl.{p}.c{c}.p50_us", f"{p} pool p50 @{c}", r["p50_us"], "us",
                   "lower")
            metric(rows, g, f"ctl.{p}.c{c}.p99_us", f"{p} pool p99 @{c}", r["p99_us"], "us",
                   "lower")
        # the same pairs from grpc-go (the sidecars' client)
        for r in ctl.get("go_pairs", []):
            c, p = r["concurrency"], r["pool"]
            metric(rows, g, f"ctl.go.{p}.c{c}.pairs_per_sec",
                   f"{p} pool pairs/s @{c}, grpc-go client", r["calls_per_sec"], "pairs/s",
                   "higher", pair_target(p, c))
            metric(rows, g, f"ctl.go.{p}.c{c}.p99_us", f"{p} pool p99 @{c}, grpc-go client",
                   r["p99_us"], "us", "lower")
        curve = ctl.get("growth_curve")
        if not curve:  # a two-point result of the older controller.py
            curve = sorted(({"volumes": int(k[3:]), **v} for k, v in ctl.get("growth", {}).items()
                            if k.startswith("at_")), key=lambda r: r["volumes"])
            for r in curve:
                r.setdefault("cost_us", 1e6 / r["calls_per_sec"] if r["calls_per_sec"] else None)
        if curve:
            g = (f"Cost growth ({curve[0].get('pool', ctl.get('growth_pool', 'img'))} pool, "
                 f"concurrency {curve[0].get('concurrency', 16)})")
            base = curve[0].get("cost_us")
            for i, r in enumerate(curve):
                n = r["volumes"]
                metric(rows, g, f"ctl.growth.{n}.cost_us", f"µs per pair at {n:,} volumes",
                       r.get("cost_us"), "us", "lower",
                       base * T_COST_RATIO if base and i > 0 else None)
                metric(rows, g, f"ctl.growth.{n}.p99_us", f"p99 at {n:,} volumes", r["p99_us"],
                       "us", "lower")
            last = curve[-1]
            if base and last.get("cost_us") and len(curve) > 1:
                metric(rows, g, "ctl.growth.cost_ratio",
                       f"cost at {last['volumes']:,} / cost at {curve[0]['volumes']:,}",
                       last["cost_us"] / base, "x", "lower", T_COST_RATIO)
        lst = ctl.get("list")
        if lst:
            g = f"ListVolumes paging (pages of 500 over {lst.get('volumes', ctl.get('volumes', 10000)):,})"
            metric(rows, g, "ctl.list.pages_per_sec", "pages/s", lst["calls_per_sec"], "pages/s",
                   "higher")
            metric(rows, g, "ctl.list.p50_us", "page p50", lst["p50_us"], "us", "lower")
            metric(rows, g, "ctl.list.p99_us", "page p99", lst["p99_us"], "us", "lower",
                   T_LIST_P99)
    if node:
        g = "Node stage+publish+unpublish+unstage cycles"
        for r in node.get("cycles", []):
            lab = r.get("label", "?")
            metric(rows, g, f"node.{lab}.cycles_per_sec", f"{lab} cycles/s",
                   r.get("cycles_per_sec"), "cycles/s", "higher")
            metric(rows, g, f"node.{lab}.p50_ms", f"{lab} cycle p50", r.get("p50_ms"), "ms",
                   "lower")
            metric(rows, g, f"node.{lab}.p99_ms", f"{lab} cycle p99", r.get("p99_ms"), "ms",
                   "lower")
            metric(rows, g, f"node.{lab}.first_stage_ms", f"{lab} first stage (formats)",
                   r.get("first_stage_ms"), "ms", "lower")
        dp = node.get("datapath")
        if dp:
            g = f"Data path ({dp.get('tool', '?')}, direct I/O): volume vs. backing file system"
            vol, raw = dp.get("volume", {}), dp.get("backing", {})
            for test in vol:
                v, b = vol[test], raw.get(test, {})
                metric(rows, g, f"node.io.{test}.volume_mibs", f"{test} volume MiB/s",
                       v.get("MiB/s"), "MiB/s", "higher")
                metric(rows, g, f"node.io.{test}.backing_mibs", f"{test} backing MiB/s",
                       b.get("MiB/s"), "MiB/s", "higher")
                if v.get("MiB/s") is not None and b.get("MiB/s"):
                    metric(rows, g, f"node.io.{test}.ratio", f"{test} volume / backing",
                           v["MiB/s"] / b["MiB/s"], "x", "higher")
                vb = dp.get("volume_buffered_loop", {}).get(test, {})
                if vb.get("MiB/s") is not None and b.get("MiB/s"):
                    metric(rows, g, f"node.io.{test}.buffered_loop_ratio",
                           f"{test} volume on a buffered loop (directIO: false) / backing",
                           vb["MiB/s"] / b["MiB/s"], "x", "higher")
        known = {"cycles", "datapath"}
        extra = [k for k in node if k not in known]
        if extra:  # a newer node.py: show its numbers rather than drop them
            g = "Node (other)"
            for path, v in flatten({k: node[k] for k in extra}):
                metric(rows, g, "node." + path, path, v, "", "higher")
    g = "Driver RSS"
    if rpc:
        metric(rows, g, "rss.idle_nopools",
               "at the start of rpc.py" if external else "idle, no pools (rpc.py)",
               rpc.get("rss_kb_idle"), "kB", "lower", T_RSS_RPC)
        metric(rows, g, "rss.probe_load", "peak under Probe load @16 (rpc.py)",
               rpc.get("rss_kb_load"), "kB", "lower", T_RSS_RPC)
        metric(rows, g, "rss.probe_load_anon", "  of which anonymous (heap, stacks)",
               rpc.get("rss_anon_kb_load"), "kB", "lower")
    if ctl:
        metric(rows, g, "rss.idle_pools",
               "at the start of controller.py" if external else "idle, two pools (controller.py)",
               ctl.get("rss_kb_idle"), "kB", "lower", T_RSS_DRIVER)
        metric(rows, g, "rss.after_pairs", "after the create+delete runs @1/16/64, "
               "before the fill", ctl.get("rss_kb_after_pairs"), "kB", "lower")
        settled = f"  the same, settled ({ctl.get('settle_s', 1.5):g} s idle)"
        metric(rows, g, "rss.after_pairs_settled", settled,
               ctl.get("rss_kb_after_pairs_settled"), "kB", "lower")
        metric(rows, g, "rss.with_volumes",
               f"with {ctl.get('volumes', 10000):,} volumes (controller.py)",
               ctl.get("rss_kb_with_volumes"), "kB", "lower", T_RSS_DRIVER)
        metric(rows, g, "rss.with_volumes_settled", settled,
               ctl.get("rss_kb_with_volumes_settled"), "kB", "lower", T_RSS_DRIVER)
        metric(rows, g, "rss.with_volumes_anon", "  settled, of which anonymous",
               ctl.get("rss_anon_kb_with_volumes_settled"), "kB", "lower")
    return rows


def flatten(d, prefix=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from flatten(v, f"{prefix}{k}.")
    elif isinstance(d, list):
        for i, v in enumerate(d):
            key = v.get("label", i) if isinstance(v, dict) else i
            yield from flatten(v, f"{prefix}{key}.")
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        yield prefix.rstrip("."), d


# --------------------------------------------------------------------------
# the table


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "x":
        return f"{v:.2f}x"
    if isinstance(v, int) or abs(v) >= 100 or v == int(v) and unit in ("us", "kB"):
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


UNIT_SHOW = {"us": "µs", "x": ""}


def table_rows(rep, cmp_rep):
    """[(group, [cells])] with the header cells first."""
    prev = {m["id"]: m for m in cmp_rep["metrics"]} if cmp_rep else {}
    head = ["metric", rep.get("label", "this run"), "target", "ratio to target"]
    if cmp_rep:
        head += [cmp_rep.get("label", "compared"), "this / that"]
    out = []
    for m in rep["metrics"]:
        unit = UNIT_SHOW.get(m["unit"], m["unit"])
        val = f"{fmt(m['value'], m['unit'])} {unit}".strip()
        if m["target"] is None:
            tgt, ratio = "", ""
        else:
            tgt = ("≥ " if m["better"] == "higher" else "≤ ") + f"{fmt(m['target'], m['unit'])} {unit}".strip()
            ratio = f"{m['ratio']:.2f}x " + ("ok" if m["meets"] else "MISSED")
        cells = [m["name"], val, tgt, ratio]
        if cmp_rep:
            p = prev.get(m["id"])
            if p is None or p["value"] is None:
                cells += ["-", ""]
            else:
                cells.append(f"{fmt(p['value'], p['unit'])} {unit}".strip())
                if p["value"] and m["value"] is not None:
                    r = m["value"] / p["value"]
                    good = (r > 1) == (m["better"] == "higher")
                    word = "" if abs(r - 1) < 0.05 else (" better" if good else " worse")
                    cells.append(f"{r:.2f}x{word}")
                else:
                    cells.append("")
        out.append((m["group"], cells))
    return head, out


def markdown(rep, cmp_rep, charts_note):
    L = []
    L.append(f"# Benchmark report: {rep.get('label')}")
    L.append("")
    h, g = rep.get("host", {}), rep.get("git", {})
    L.append(f"- run: {rep.get('created')} on {h.get('hostname')} ({h.get('cpus')} CPUs, "
             f"{h.get('cpu')}, kernel {h.get('kernel')})")
    L.append(f"- dynvol: commit {g.get('commit')}{' (with uncommitted changes)' if g.get('dirty') else ''}")
    L.append(f"- driver: {rep.get('endpoint') or 'started by each benchmark (build/dynvol driver)'}")
    for name, b in rep.get("runs", {}).items():
        s = f"- {name}: "
        if b.get("error"):
            s += f"FAILED ({b['error']})"
        elif b.get("note"):
            s += b["note"]
        else:
            s += f"{b.get('seconds', 0):.0f} s, `{b.get('command')}`"
        L.append(s)
    if cmp_rep:
        L.append(f"- compared with: {cmp_rep.get('label')} ({cmp_rep.get('created')}, "
                 f"{cmp_rep.get('dir')})")
    L.append("")
    L.append("Ratio to target: the value against its target, oriented so that "
             "≥ 1.00 meets the target (for a rate: value / target; for a time, a cost or "
             "memory: target / value). Targets hold on 2 cores. "
             "docs/benchmarks.md explains every number.")
    L.append("")
    head, rows = table_rows(rep, cmp_rep)
    group = None
    for grp, cells in rows:
        if grp != group:
            group = grp
            L.append(f"## {grp}")
            L.append("")
            L.append("| " + " | ".join(head) + " |")
            L.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
        L.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    # blank line after each table
    out, prev_table = [], False
    for line in L:
        is_table = line.startswith("|")
        if prev_table and not is_table:
            out.append("")
        out.append(line)
        prev_table = is_table
    out.append("")
    missed = [m for m in rep["metrics"] if m["meets"] is False]
    out.append("## Summary")
    out.append("")
    met = [m for m in rep["metrics"] if m["meets"]]
    out.append(f"{len(met)} of {len(met) + len(missed)} targets met."
               + (" Missed: " + "; ".join(f"{m['group']}: {m['name']} "
                                          f"({fmt(m['value'], m['unit'])} "
                                          f"{UNIT_SHOW.get(m['unit'], m['unit'])}, "
                                          f"{m['ratio']:.2f}x)" for m in missed) + "."
                  if missed else ""))
    out.append("")
    out.append("## Charts")
    out.append("")
    if charts_note:
        out.append(charts_note)
    if "latency.png" in rep.get("charts", []):
        out += ["![p50 and p99 latency](latency.png)", ""]
    if "growth.png" in rep.get("charts", []):
        out += ["![cost per pair as the volume count grows](growth.png)", ""]
    out.append("")
    return "\n".join(out)


def text_table(rep, cmp_rep):
    head, rows = table_rows(rep, cmp_rep)
    allrows = [head] + [c for _, c in rows]
    w = [max(len(r[i]) for r in allrows) for i in range(len(head))]
    lines, group = [], None
    for grp, cells in rows:
        if grp != group:
            group = grp
            lines.append("")
            lines.append(grp)
            lines.append("  " + "  ".join(h.ljust(w[i]) if i == 0 else h.rjust(w[i])
                                          for i, h in enumerate(head)))
        lines.append("  " + "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i])
                                      for i, c in enumerate(cells)))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# charts


def latency_groups(bench):
    """[(title, [(label, p50_ms, p99_ms)], p99 target ms or None)]"""
    out = []
    rpc, ctl, node = bench.get("rpc"), bench.get("controller"), bench.get("node")
    if rpc and rpc.get("runs"):
        out.append(("Probe", [(f"@{r['concurrency']}", r["p50_us"] / 1000, r["p99_us"] / 1000)
                              for r in rpc["runs"]], ("@16", T_PROBE_P99_16 / 1000)))
    if rpc and rpc.get("go_runs"):
        out.append(("Probe from grpc-go",
                    [(f"@{r['concurrency']}/{r['conns']}c", r["p50_us"] / 1000, r["p99_us"] / 1000)
                     for r in rpc["go_runs"]], ("@16/1c", T_GO_PROBE_P99_16 / 1000)))
    if ctl:
        pools = []
        for r in ctl.get("pairs", []):
            if r["pool"] not in pools:
                pools.append(r["pool"])
        for p in pools:
            out.append((f"Create+Delete, {p} pool",
                        [(f"@{r['concurrency']}", r["p50_us"] / 1000, r["p99_us"] / 1000)
                         for r in ctl["pairs"] if r["pool"] == p], None))
        if ctl.get("list"):
            lst = ctl["list"]
            out.append(("ListVolumes page of 500",
                        [(f"@{lst['concurrency']}", lst["p50_us"] / 1000, lst["p99_us"] / 1000)],
                        (f"@{lst['concurrency']}", T_LIST_P99 / 1000)))
    if node and node.get("cycles"):
        out.append(("Node cycle", [(r.get("label", "?"), r.get("p50_ms", 0), r.get("p99_ms", 0))
                                   for r in node["cycles"]], None))
    return out


def growth_curve(bench):
    ctl = bench.get("controller") or {}
    curve = ctl.get("growth_curve")
    if not curve:
        curve = sorted(({"volumes": int(k[3:]), **v} for k, v in ctl.get("growth", {}).items()
                        if k.startswith("at_")), key=lambda r: r["volumes"])
    return [dict(r, cost_us=r.get("cost_us") or (1e6 / r["calls_per_sec"]
                                                 if r.get("calls_per_sec") else None))
            for r in curve]


def charts(rep, cmp_rep, outdir):
    """Writes latency.png and growth.png; returns a note when it cannot."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ("Charts skipped: matplotlib is not installed "
                "(apt-get install python3-matplotlib), then `bench/report.py --render DIR`.")
    for c in ("latency.png", "growth.png"):  # --render: no stale charts
        if os.path.exists(os.path.join(outdir, c)):
            os.unlink(os.path.join(outdir, c))
    label = rep.get("label", "this run")
    clabel = cmp_rep.get("label", "compared") if cmp_rep else None
    bench = rep["benchmarks"]
    cbench = cmp_rep["benchmarks"] if cmp_rep else {}

    groups = latency_groups(bench)
    cgroups = {t: {lab: (a, b) for lab, a, b in rows} for t, rows, _ in latency_groups(cbench)}
    if groups:
        widths = [max(len(rows), 1) + 0.6 for _, rows, _ in groups]
        fig, axes = plt.subplots(1, len(groups), figsize=(min(17, max(9, 1.15 * sum(widths) + 2)), 5.4),
                                 gridspec_kw={"width_ratios": widths}, squeeze=False)
        series = [("p50", 0, "#4c72b0", None), ("p99", 1, "#dd8452", None)]
        if cmp_rep:
            series += [(f"p50 {clabel}", 2, "#a6bddb", "//"), (f"p99 {clabel}", 3, "#fdd0a2", "//")]
        nb = len(series)
        bw = 0.8 / nb
        for ax, (title, rows, target) in zip(axes[0], groups):
            prev = cgroups.get(title, {})
            for si, (name, idx, color, hatch) in enumerate(series):
                xs, ys = [], []
                for i, (lab, p50, p99) in enumerate(rows):
                    v = [p50, p99][idx] if idx < 2 else (prev.get(lab, (None, None))[idx - 2])
                    if v:
                        xs.append(i - 0.4 + bw * (si + 0.5))
                        ys.append(v)
                ax.bar(xs, ys, bw, color=color, hatch=hatch, edgecolor="#555555",
                       linewidth=0.5, label=name)
                for x, y in zip(xs, ys):
                    ax.text(x, y * 1.08, f"{y:.2g}" if y < 10 else f"{y:.0f}", ha="center",
                            va="bottom", fontsize=7, rotation=90 if nb > 2 else 0)
            if target:
                ax.axhline(target[1], color="#c44e52", linestyle="--", linewidth=1)
                ax.text(-0.55, target[1] * 1.05, f"p99 target {target[0]}",
                        color="#c44e52", fontsize=7, ha="left", va="bottom")
            ax.set_xticks(range(len(rows)))
            ax.set_xticklabels([r[0] for r in rows], fontsize=9)
            ax.set_xlim(-0.6, len(rows) - 0.4)
            ax.set_yscale("log")
            ax.set_title(title, fontsize=10)
            ax.grid(axis="y", which="major", alpha=0.3)
        axes[0][0].set_ylabel("latency per operation, ms (log scale)")
        lo = min(ax.get_ylim()[0] for ax in axes[0])
        hi = max(ax.get_ylim()[1] for ax in axes[0])
        for ax in axes[0]:
            ax.set_ylim(lo, hi * 2)
        axes[0][0].legend(fontsize=8, loc="upper left")
        fig.suptitle(f"p50 / p99 latency per benchmark and concurrency: {label}"
                     + (f" (hatched: {clabel})" if cmp_rep else ""), fontsize=11)
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "latency.png"), dpi=110)
        plt.close(fig)

    curve = growth_curve(bench)
    ccurve = growth_curve(cbench)
    if curve:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
        xs = [r["volumes"] for r in curve]
        ax = axes[0]
        ax.plot(xs, [r["cost_us"] for r in curve], "o-", color="#4c72b0", label=label)
        for x, r in zip(xs, curve):
            ax.annotate(f"{r['cost_us']:.0f}", (x, r["cost_us"]), textcoords="offset points",
                        xytext=(0, 6), ha="center", fontsize=8)
        if curve[0]["cost_us"]:
            ax.axhline(curve[0]["cost_us"] * T_COST_RATIO, color="#c44e52", linestyle="--",
                       linewidth=1, label=f"target: {T_COST_RATIO}x the cost at {xs[0]:,}")
        if ccurve:
            ax.plot([r["volumes"] for r in ccurve], [r["cost_us"] for r in ccurve], "s--",
                    color="#8c8c8c", label=clabel)
        ax.set_title(f"µs per create+delete pair (1 / throughput, concurrency "
                     f"{curve[0].get('concurrency', 16)})", fontsize=10)
        ax.set_ylim(0, max([r["cost_us"] or 0 for r in curve + ccurve]
                           + [(curve[0]["cost_us"] or 0) * T_COST_RATIO]) * 1.25)
        ax.set_ylabel("µs per pair")
        ax = axes[1]
        ax.plot(xs, [r["p50_us"] / 1000 for r in curve], "o-", color="#4c72b0", label="p50")
        ax.plot(xs, [r["p99_us"] / 1000 for r in curve], "o-", color="#dd8452", label="p99")
        if ccurve:
            cx = [r["volumes"] for r in ccurve]
            ax.plot(cx, [r["p50_us"] / 1000 for r in ccurve], "s--", color="#a6bddb",
                    label=f"p50 {clabel}")
            ax.plot(cx, [r["p99_us"] / 1000 for r in ccurve], "s--", color="#fdd0a2",
                    label=f"p99 {clabel}")
        ax.set_title("latency per pair, ms", fontsize=10)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("ms")
        ax = axes[2]
        rss = [(r["volumes"], r["rss_kb"] / 1024) for r in curve if r.get("rss_kb")]
        if rss:
            ax.plot([a for a, _ in rss], [b for _, b in rss], "o-", color="#55a868", label=label)
            crss = [(r["volumes"], r["rss_kb"] / 1024) for r in ccurve if r.get("rss_kb")]
            if crss:
                ax.plot([a for a, _ in crss], [b for _, b in crss], "s--", color="#8c8c8c",
                        label=clabel)
            ax.axhline(T_RSS_DRIVER / 1024, color="#c44e52", linestyle="--", linewidth=1,
                       label=f"target < {T_RSS_DRIVER // 1024} MiB")
            for a, b in rss:
                ax.annotate(f"{b:.1f}", (a, b), textcoords="offset points", xytext=(0, 6),
                            ha="center", fontsize=8)
            ax.set_ylim(0, max([b for _, b in rss] + [T_RSS_DRIVER / 1024]) * 1.25)
        else:
            ax.text(0.5, 0.5, "RSS not measured\n(--pid with --endpoint)", ha="center",
                    va="center", transform=ax.transAxes)
        ax.set_title("driver RSS, MiB", fontsize=10)
        for i, ax in enumerate(axes):
            ax.set_xscale("log")
            ax.set_xlabel("volumes in the pool (log)")
            ax.set_xticks(xs)
            ax.set_xticklabels([f"{x:,}" for x in xs], fontsize=8)
            ax.minorticks_off()
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="best" if i == 1 else "lower right")
        fig.suptitle(f"Cost as the volume count grows: {label}", fontsize=11)
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "growth.png"), dpi=110)
        plt.close(fig)
    return None


# --------------------------------------------------------------------------


def load_report(path):
    p = os.path.join(path, "report.json") if os.path.isdir(path) else path
    with open(p) as f:
        rep = json.load(f)
    rep["dir"] = os.path.relpath(os.path.dirname(os.path.realpath(p)), ROOT)
    # recompute, so a report of an older report.py compares row by row
    rep["metrics"] = metrics_of(rep.get("benchmarks", {}), bool(rep.get("endpoint")))
    return rep


def write_outputs(rep, cmp_rep, outdir):
    rep["metrics"] = metrics_of(rep["benchmarks"], bool(rep.get("endpoint")))
    note = charts(rep, cmp_rep, outdir)
    rep["charts"] = [] if note else [c for c in ("latency.png", "growth.png")
                                     if os.path.exists(os.path.join(outdir, c))]
    if not note and not rep["charts"]:
        note = "No charts: no results to plot."
    rep.pop("compared_with", None)
    if cmp_rep:
        rep["compared_with"] = {"label": cmp_rep.get("label"), "dir": cmp_rep.get("dir"),
                                "created": cmp_rep.get("created")}
    with open(os.path.join(outdir, "report.json"), "w") as f:
        json.dump(rep, f, indent=2)
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write(markdown(rep, cmp_rep, note))
    print(text_table(rep, cmp_rep))
    print()
    if note:
        print(note)
    print(f"report: {os.path.relpath(os.path.join(outdir, 'report.md'), os.getcwd())}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory (default build)")
    ap.add_argument("--out", default=os.path.join(BENCH, "results"),
                    help="results go to OUT/<timestamp>/ (default bench/results)")
    ap.add_argument("--label", help="name of this run in the report (default dynvol <commit>, "
                    "or the endpoint)")
    ap.add_argument("--endpoint", help="measure the CSI driver already running there")
    ap.add_argument("--pid", type=int, help="with --endpoint: its pid, for the RSS")
    ap.add_argument("--pool", action="append", help="with --endpoint: pool parameter for the "
                    "controller benchmark, repeatable ('' for none)")
    ap.add_argument("--compare", metavar="DIR", help="an earlier results directory (or its "
                    "report.json) to put beside this run")
    ap.add_argument("--duration", help="per measurement, passed to rpc.py and controller.py "
                    "(default: theirs, 5s and 3s)")
    ap.add_argument("--volumes", type=int, help="end of the cost curve (default 10000)")
    ap.add_argument("--only", help="comma-separated subset of rpc,controller,node")
    ap.add_argument("--render", metavar="DIR", help="re-write the report and charts of an "
                    "earlier run; runs nothing")
    args = ap.parse_args()

    cmp_rep = load_report(args.compare) if args.compare else None
    if args.render:
        rep = load_report(args.render)
        rep.pop("dir", None)
        write_outputs(rep, cmp_rep, os.path.abspath(args.render))
        return 0
    if args.endpoint and args.pool is None and (not args.only or "controller" in args.only):
        ap.error("--endpoint needs --pool for the controller benchmark (the StorageClass "
                 "parameter pool=P; --pool '' for none), or --only rpc,node")
    if args.only and not set(args.only.split(",")) <= {"rpc", "controller", "node"}:
        ap.error("--only takes rpc, controller, node")
    if not args.endpoint:
        for exe in ("dynvol", "dynvolctl"):
            if not os.access(os.path.join(ROOT, args.build, exe), os.X_OK):
                ap.error(f"{args.build}/{exe} is missing: run make first")
    elif not os.access(os.path.join(ROOT, args.build, "dynvolctl"), os.X_OK):
        ap.error(f"{args.build}/dynvolctl is missing: run make first")

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.out, exist_ok=True)
    outdir = os.path.join(args.out, stamp)
    n = 2
    while os.path.exists(outdir):
        outdir = os.path.join(args.out, f"{stamp}-{n}")
        n += 1
    os.makedirs(outdir)
    git = git_info()
    label = args.label or (args.endpoint if args.endpoint else
                           f"dynvol {git['commit'] or ''}{'+' if git['dirty'] else ''}".strip())
    rep = {"schema": SCHEMA, "created": datetime.datetime.now().isoformat(timespec="seconds"),
           "label": label, "endpoint": args.endpoint, "pid": args.pid, "host": host_info(),
           "git": git, "runs": {}, "benchmarks": {}}
    log(f"results in {os.path.relpath(outdir, os.getcwd())}")
    failed = False
    todo = plan(args)
    for i, (name, argv, note) in enumerate(todo, 1):
        if argv is None:
            log(f"{name} ({i}/{len(todo)}): {note}")
            rep["runs"][name] = {"note": note}
            continue
        log(f"{name} ({i}/{len(todo)}) ...")
        res, secs, err = run_one(name, argv, outdir)
        cmd = " ".join(["bench/" + os.path.basename(argv[0])] + argv[1:])
        rep["runs"][name] = {"command": cmd, "seconds": round(secs, 1), "error": err}
        if err:
            failed = True
            log(f"{name} FAILED: {err}")
        else:
            rep["benchmarks"][name] = res
            if name == "rpc" and res.get("go_note"):  # grpc-go rows left out: say why
                rep["runs"][name]["note"] = "grpc-go rows " + res["go_note"]
            log(f"{name} done in {secs:.0f} s")
    write_outputs(rep, cmp_rep, outdir)
    latest = os.path.join(args.out, "latest")
    tmp = latest + ".tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.basename(outdir), tmp)
    os.replace(tmp, latest)
    log(f"done in {time.time() - T0:.0f} s; {os.path.relpath(latest, os.getcwd())} -> "
        f"{os.path.basename(outdir)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
