#!/usr/bin/env python3
"""Draws the WatchTask fan-out plots from watch-bench's CSV files.

Usage: bench/watch_plot.py DIR [LABEL=DELAYS_CSV ...]
  DIR holds watch-bench's delays.csv and rss.csv (--out-dir).

Draws the CDF of the delay from an upstream event to its delivery on a
stream (log scale). With only DIR: this run's total and its two parts (to
the gateway's observed_at, observed_at -> stream), in
DIR/watch_delay_run.svg. With LABEL=DELAYS_CSV arguments: the total of each
of those runs, to compare conditions, in DIR/watch_delay.svg. Also DIR/watch_rss.svg: the gateway's RSS against the
number of open streams. Plain SVG, standard library only.
"""
import csv
import math
import os
import sys

W, H = 760, 500
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 40, 150
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]


def esc(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_ticks(lo, hi, count=6):
    span = max(hi - lo, 1e-9)
    raw = span / count
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw))
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-6:
        if t >= lo - step * 1e-6:
            ticks.append(round(t, 10))
        t += step
    return ticks


class Plot:
    def __init__(self, title, xlabel, ylabel, xmax, ymax, xmin=0.0, ymin=0.0,
                 logx=False):
        self.xmin, self.xmax, self.ymin, self.ymax = xmin, xmax, ymin, ymax
        self.logx = logx
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
            f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
            f'<rect width="{W}" height="{H}" fill="white"/>',
            f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15">'
            f"{esc(title)}</text>",
        ]
        xticks = nice_ticks(xmin, xmax)
        if logx:
            xticks = [10.0 ** e for e in range(math.ceil(math.log10(xmin)),
                                                 math.floor(math.log10(xmax)) + 1)]
        for t in xticks:
            x = self.x(t)
            self.parts.append(
                f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{H - BOTTOM}" '
                'stroke="#ddd"/>'
                f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">'
                f"{t:g}</text>"
            )
        for t in nice_ticks(ymin, ymax):
            y = self.y(t)
            self.parts.append(
                f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" '
                'stroke="#ddd"/>'
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                f"{t:g}</text>"
            )
        self.parts.append(
            f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" '
            f'height="{H - TOP - BOTTOM}" fill="none" stroke="#333"/>'
            f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - BOTTOM + 36}" '
            f'text-anchor="middle">{esc(xlabel)}</text>'
            f'<text x="18" y="{(TOP + H - BOTTOM) / 2}" text-anchor="middle" '
            f'transform="rotate(-90 18 {(TOP + H - BOTTOM) / 2})">'
            f"{esc(ylabel)}</text>"
        )
        self.legend = 0

    def x(self, v):
        v = min(max(v, self.xmin), self.xmax)
        if self.logx:
            share = (math.log10(v) - math.log10(self.xmin)) / (
                math.log10(self.xmax) - math.log10(self.xmin))
        else:
            share = (v - self.xmin) / (self.xmax - self.xmin)
        return LEFT + share * (W - LEFT - RIGHT)

    def y(self, v):
        return H - BOTTOM - (v - self.ymin) / (self.ymax - self.ymin) * (H - TOP - BOTTOM)

    def line(self, points, color, label, dash="", markers=False):
        d = " ".join(f"{self.x(px):.1f},{self.y(py):.1f}" for px, py in points)
        self.parts.append(
            f'<polyline points="{d}" fill="none" stroke="{color}" '
            f'stroke-width="2"{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""}/>'
        )
        if markers:
            for px, py in points:
                self.parts.append(
                    f'<circle cx="{self.x(px):.1f}" cy="{self.y(py):.1f}" r="3.5" '
                    f'fill="{color}"/>'
                )
        # The legend sits under the x-axis label, one line per curve.
        ly = H - BOTTOM + 62 + 19 * self.legend
        self.parts.append(
            f'<line x1="{LEFT}" y1="{ly - 4}" x2="{LEFT + 28}" '
            f'y2="{ly - 4}" stroke="{color}" stroke-width="2"'
            f'{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""}/>'
            f'<text x="{LEFT + 36}" y="{ly}">{esc(label)}</text>'
        )
        self.legend += 1

    def vline(self, v, color, label):
        x = self.x(v)
        self.parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{H - BOTTOM}" '
            f'stroke="{color}" stroke-dasharray="6 4"/>'
            f'<text x="{x + 4:.1f}" y="{H - BOTTOM - 8}" fill="{color}">'
            f"{esc(label)}</text>"
        )

    def hline(self, v, color, label):
        y = self.y(v)
        self.parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" '
            f'stroke="{color}" stroke-dasharray="6 4"/>'
            f'<text x="{LEFT + 6}" y="{y - 5:.1f}" fill="{color}">{esc(label)}</text>'
        )

    def save(self, path):
        self.parts.append("</svg>\n")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.parts))


def cdf(values, points=400):
    values = sorted(values)
    n = len(values)
    if n == 0:
        return []
    out = []
    step = max(1, n // points)
    for i in range(0, n, step):
        out.append((values[i], 100.0 * (i + 1) / n))
    out.append((values[-1], 100.0))
    return out


def percentile(values, q):
    values = sorted(values)
    return values[min(int(q * len(values)), len(values) - 1)]


def read_delays(path):
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return (
        [float(r["total_ms"]) for r in rows],
        [float(r["upstream_ms"]) for r in rows],
        [float(r["gateway_ms"]) for r in rows],
    )


def main():
    if len(sys.argv) < 2 or any("=" not in a for a in sys.argv[2:]):
        sys.exit(__doc__)
    d = sys.argv[1]
    runs = [a.split("=", 1) for a in sys.argv[2:]]
    title = "WatchTask: upstream event → delivery on each stream"
    target = "target p99 100 ms"
    if runs:
        curves = [(label, read_delays(path)[0]) for label, path in runs]
        everything = [v for _, c in curves for v in c]
        xmax = 10 ** math.ceil(math.log10(max(everything)))
        plot = Plot(title + " (10,000 streams)", "delay, ms (log scale)",
                    "deliveries at or below, %", xmax, 100.0, xmin=1.0, logx=True)
        for i, (label, values) in enumerate(curves):
            plot.line(cdf([max(v, 1.0) for v in values]), COLORS[i % len(COLORS)],
                      f"{label}: p99 {percentile(values, 0.99):,.0f} ms")
        plot.vline(100.0, "#333", target)
        plot.hline(99.0, "#777", "99 %")
        plot.save(os.path.join(d, "watch_delay.svg"))
    elif os.path.exists(os.path.join(d, "delays.csv")):
        total, upstream, gateway = read_delays(os.path.join(d, "delays.csv"))
        if total:
            xmax = 10 ** math.ceil(math.log10(max(max(total), 101.0)))
            plot = Plot(f"{title} ({len(total):,} deliveries)",
                        "delay, ms (log scale)", "deliveries at or below, %",
                        xmax, 100.0, xmin=0.1, logx=True)
            p99 = percentile(total, 0.99)
            plot.line(cdf([max(v, 0.1) for v in total]), COLORS[0],
                      f"total (p99 {p99:,.1f} ms)")
            plot.line(cdf([max(v, 0.1) for v in upstream]), COLORS[1],
                      "to the gateway's observed_at", "5 3")
            plot.line(cdf([max(v, 0.1) for v in gateway]), COLORS[2],
                      "observed_at → stream", "2 2")
            plot.vline(100.0, COLORS[3], target)
            plot.hline(99.0, "#777", "99 %")
            plot.save(os.path.join(d, "watch_delay_run.svg"))
    rss_path = os.path.join(d, "rss.csv")
    if os.path.exists(rss_path):
        with open(rss_path, encoding="utf-8") as f:
            rss = [(int(r["streams"]), int(r["rss_kib"]) / 1024.0) for r in csv.DictReader(f)]
        if len(rss) > 1:
            base = rss[0][1]
            xmax = max(s for s, _ in rss) * 1.05
            ymax = max(max(m for _, m in rss), base + 25 * 1000 / 1024 * xmax / 1024) * 1.1
            plot = Plot(
                "Gateway RSS against open WatchTask streams",
                "open streams",
                "gateway VmRSS, MiB",
                xmax,
                ymax,
            )
            plot.line(rss, COLORS[0], "measured", markers=True)
            # The target: 25 KB (25,000 bytes) per stream above the baseline.
            plot.line(
                [(0, base), (xmax, base + 25000 * xmax / 1048576)],
                COLORS[3],
                "target: 25 KB per stream",
                "6 4",
            )
            plot.line(
                [(0, base), (xmax, base + 18000 * xmax / 1048576)],
                "#777",
                "etcd's 18 KB per stream",
                "2 3",
            )
            plot.save(os.path.join(d, "watch_rss.svg"))


if __name__ == "__main__":
    main()
