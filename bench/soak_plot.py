#!/usr/bin/env python3
"""ASCII curves of a soak CSV (bench/soak.cc --csv), as Markdown.

Usage: bench/soak_plot.py SOAK.csv > plot.md
Standard library only: one text chart per column (RSS, fds, threads,
upstream sockets, calls/s), time on the x axis, the idle/load boundary
marked with '|'.
"""
import csv
import sys

WIDTH = 72
HEIGHT = 11


def chart(title, ts, ys, boundary):
    lo, hi = min(ys), max(ys)
    if hi == lo:  # a flat line, drawn in the middle
        lo, hi = lo - 1, hi + 1
    span = hi - lo
    t0, t1 = ts[0], ts[-1]
    tspan = (t1 - t0) or 1
    grid = [[" "] * WIDTH for _ in range(HEIGHT)]
    if boundary is not None:
        c = min(WIDTH - 1, int((boundary - t0) / tspan * (WIDTH - 1)))
        for r in range(HEIGHT):
            grid[r][c] = "|"
    for t, y in zip(ts, ys):
        c = min(WIDTH - 1, int((t - t0) / tspan * (WIDTH - 1)))
        r = HEIGHT - 1 - min(HEIGHT - 1, round((y - lo) / span * (HEIGHT - 1)))
        grid[r][c] = "*"
    out = ["%s (min %g, max %g)" % (title, min(ys), max(ys)), ""]
    for r, row in enumerate(grid):
        label = hi - span * r / (HEIGHT - 1)
        out.append("%10.1f ┤%s" % (label, "".join(row)))
    out.append(" " * 11 + "└" + "─" * WIDTH)
    out.append(" " * 12 + "%-*s%s" % (WIDTH - 8, "%.0f s" % t0, "%.0f s" % t1))
    return "\n".join(out)


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    if not rows:
        print("(no samples)")
        return
    ts = [float(r["t_s"]) for r in rows]
    boundary = next((float(r["t_s"]) for r in rows if r["phase"] == "load"),
                    None)
    rate = [0.0]
    for a, b in zip(rows, rows[1:]):
        dt = float(b["t_s"]) - float(a["t_s"]) or 1
        rate.append((int(b["calls"]) - int(a["calls"])) / dt)
    series = [
        ("gateway RSS (MiB)", [int(r["rss_kib"]) / 1024 for r in rows]),
        ("open file descriptors", [int(r["fds"]) for r in rows]),
        ("threads", [int(r["threads"]) for r in rows]),
        ("TCP sockets to the emulator", [int(r["upstream_sockets"])
                                         for r in rows]),
        ("GetTask calls/s", rate),
    ]
    print("Curves ('|' marks the start of the load phase):")
    print()
    print("```")
    for title, ys in series:
        print(chart(title, ts, ys, boundary))
        print()
    print("```")


if __name__ == "__main__":
    main()
