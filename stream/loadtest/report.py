"""What a load test found: a table (p50 / p95 / max per metric across all clients' samples)
with a line per client and per viewer, a JSON document with everything (per-second series
included) and a PNG plot of latency and frame rates over time.

Samples per metric: setup times, dropped and unmatched frames are one sample per client; the
latency is one sample per matched frame; rates are one sample per client-second. Viewer rows
likewise: one sample per viewer, per decoded presenter frame (latency: the presenter's send to
the viewer's receive) or per viewer-second.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inference.core.atomic_write import write_atomically
from stream.loadtest.phone_results import ClientResult, SecondSample
from stream.loadtest.viewer import ViewerResult

EXIT_OK, EXIT_FAILED = 0, 1


@dataclass(frozen=True)
class ClipSummary:
    source: str
    frames: int
    fps: float
    size: tuple[int, int]
    cuts: int  # per pass through the clip


@dataclass
class LoadTestResult:
    """A whole run. `failure` is set when the run could not start at all (server down)."""

    url: str
    clients_asked: int
    duration_s: float
    fps: float | None
    started_at: str
    clip: ClipSummary | None = None
    elapsed_s: float = 0.0
    failure: str | None = None
    clients: list[ClientResult] = field(default_factory=list)
    viewers_asked: int = 0
    room: str | None = None  # the room the phones and viewers joined
    viewers: list[ViewerResult] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)  # the phones' ICE routes, e.g. "relay udp"

    @property
    def ok(self) -> bool:
        return (
            self.failure is None
            and bool(self.clients)
            and all(c.ok for c in self.clients)
            and len(self.viewers) == self.viewers_asked
            and all(v.ok for v in self.viewers)
        )

    @property
    def exit_status(self) -> int:
        return EXIT_OK if self.ok else EXIT_FAILED

    def problems(self) -> list[str]:
        """One line per thing that went wrong, for the operator."""
        if self.failure is not None:
            return [self.failure]
        lines = []
        for client in self.clients:
            if client.failure is not None:
                lines.append(f"client {client.index} failed to connect: {client.failure}")
            elif client.error_count:
                shown = "; ".join(client.errors[:3])
                more = f" (+{client.error_count - 3} more)" if client.error_count > 3 else ""
                lines.append(f"client {client.index}: {client.error_count} error(s): {shown}{more}")
        for viewer in self.viewers:
            if viewer.failure is not None:
                lines.append(f"viewer {viewer.index} failed to connect: {viewer.failure}")
                continue
            if viewer.error_count:
                shown = "; ".join(viewer.errors[:3])
                more = f" (+{viewer.error_count - 3} more)" if viewer.error_count > 3 else ""
                lines.append(f"viewer {viewer.index}: {viewer.error_count} error(s): {shown}{more}")
            if not viewer.frames_matched:
                lines.append(
                    f"viewer {viewer.index}: no frame of this run's phones decoded "
                    f"({viewer.frames_received} frame(s) received, presenting: "
                    f"{viewer.presenting or 'nobody'})"
                )
        return lines


@dataclass(frozen=True)
class MetricRow:
    name: str
    n: int
    p50: float | None
    p95: float | None
    max: float | None


def _row(name: str, samples: list[float]) -> MetricRow:
    values = [v for v in samples if math.isfinite(v)]
    if not values:
        return MetricRow(name, 0, None, None, None)
    p50, p95 = np.percentile(values, [50, 95])
    return MetricRow(name, len(values), float(p50), float(p95), float(max(values)))


def summarise(result: LoadTestResult) -> list[MetricRow]:
    """The table's rows, in order."""
    clients = [c for c in result.clients if c.state != "failed"]

    def each(values: list[float | None]) -> list[float]:
        return [v for v in values if v is not None]

    seconds = [s for c in clients for s in c.series if s.connected]
    return [
        _row("connect (s)", each([c.connected_s for c in clients])),
        _row("first frame back (s)", each([c.first_frame_s for c in clients])),
        _row("first objects (s)", each([c.first_objects_s for c in clients])),
        _row("latency (ms)", [ms for c in clients for _, ms in c.latency_ms]),
        _row("fps out (sent)", [s.fps_out for s in seconds]),
        _row("fps in (returned)", [s.fps_in for s in seconds]),
        _row("objects msgs/s", [s.objects_per_s for s in seconds]),
        _row("overlay fps (server)", each([s.server_overlay_fps for s in seconds])),
        _row("masks drawn per second", [v for c in clients for v in c.masks_fps]),
        _row("new object (s)", [v for c in clients for v in c.new_object_s]),
        _row("dropped frames", [float(c.frames_dropped) for c in clients]),
        _row("longest freeze (s)", each([c.longest_freeze_s for c in clients])),
        _row(
            "unmatched frames (%)",
            [_percent(c.frames_unmatched, c.frames_received) for c in clients],
        ),
        _row("errors", [float(c.error_count) for c in result.clients]),
        *(_viewer_rows(result.viewers) if result.viewers_asked else []),
    ]


def _viewer_rows(results: list[ViewerResult]) -> list[MetricRow]:
    viewers = [v for v in results if v.state != "failed"]
    seconds = [s for v in viewers for s in _watched(v.series)]
    return [
        _row("viewer connect (s)", [v.connected_s for v in viewers if v.connected_s is not None]),
        _row(
            "viewer first presenter frame (s)",
            [v.first_presenter_frame_s for v in viewers if v.first_presenter_frame_s is not None],
        ),
        _row("viewer latency (ms)", [ms for v in viewers for _, ms in v.latency_ms]),
        _row("viewer fps in", [s.fps_in for s in seconds]),
        _row("viewer presenter fps", [s.fps_matched or 0.0 for s in seconds]),
        _row(
            "viewer presenter frames seen (%)",
            [100.0 * v.seen_fraction for v in viewers if v.seen_fraction is not None],
        ),
        _row("viewer errors", [float(v.error_count) for v in results]),
    ]


def _watched(series: list[SecondSample]) -> list[SecondSample]:
    """A viewer's connected seconds."""
    return [s for s in series if s.connected]


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else math.nan


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _client_line(c: ClientResult) -> str:
    if c.state == "failed":
        return f"client {c.index}: FAILED - {c.failure}"
    latencies = [ms for _, ms in c.latency_ms]
    latency = "latency -"
    if latencies:
        p50, p95 = np.percentile(latencies, [50, 95])
        latency = f"latency p50 {p50:.0f} / p95 {p95:.0f} ms"
    matched = _percent(c.frames_matched, c.frames_received)
    read = "-" if math.isnan(matched) else f"{matched:.0f}"
    new_object = f"{float(np.median(c.new_object_s)):.2f} s" if c.new_object_s else "-"
    taps = f", {c.taps_sent} taps" if c.taps_sent else ""
    overlay = "-" if c.server_overlay_fps is None else f"{c.server_overlay_fps:.1f}"
    masks = "masks drawn -"
    if c.masks_fps:
        m50, m95 = np.percentile(c.masks_fps, [50, 95])
        masks = f"masks drawn p50 {m50:.1f} / p95 {m95:.1f} per s"
    parts = [
        f"client {c.index} ({c.session or '?'}{', presenting' if c.presenting else ''}): {c.state}",
        f"connect {_cell(c.connected_s)} s, first frame {_cell(c.first_frame_s)} s",
        f"out {c.fps_out:.1f} fps, in {c.fps_in:.1f} fps, {latency}",
        f"sent {c.frames_sent}, back {c.frames_received} ({read} % read), "
        f"dropped {c.frames_dropped} (server: {_or_dash(c.server_dropped_out)} outgoing), "
        f"camera skipped {c.camera_skipped}",
        f"objects {c.objects_per_s:.1f}/s, overlay {overlay} fps (server), {masks}, "
        f"engine skipped {_or_dash(c.server_dropped)}",
        f"new object {new_object} ({len(c.new_object_s)}/{c.cuts} cuts{taps})",
        f"longest freeze {_cell(c.longest_freeze_s)} s",
    ]
    if c.rtp_dropped is not None and c.rtp_passed is not None:
        sent = c.rtp_dropped + c.rtp_passed
        parts.append(f"link dropped {c.rtp_dropped} of {sent} RTP packets")
    parts.append(f"errors {c.error_count}")
    return " | ".join(parts)


def _viewer_line(v: ViewerResult) -> str:
    if v.state == "failed":
        return f"viewer {v.index}: FAILED - {v.failure}"
    fps = _p50_p95([s.fps_in for s in _watched(v.series)])
    rates = f"in p50 {fps[0]:.1f} / p95 {fps[1]:.1f} fps" if fps else "in - fps"
    latency = _p50_p95([ms for _, ms in v.latency_ms])
    delay = f"latency p50 {latency[0]:.0f} / p95 {latency[1]:.0f} ms" if latency else "latency -"
    seen = "-" if v.seen_fraction is None else f"{100 * v.seen_fraction:.0f} %"
    read = _percent(v.frames_matched, v.frames_received)
    parts = [
        f"viewer {v.index} ({v.session or '?'}): {v.state}",
        f"connect {_cell(v.connected_s)} s, first presenter frame "
        f"{_cell(v.first_presenter_frame_s)} s",
        f"{rates}, {delay}",
        f"presenter frames seen {seen} ({v.presenter_frames_seen}/{v.presenter_frames}), "
        f"received {v.frames_received} ({'-' if math.isnan(read) else f'{read:.0f}'} % read)",
        f"objects {v.objects_messages}, say {v.say_messages}",
        f"errors {v.error_count}",
    ]
    return " | ".join(parts)


def format_table(result: LoadTestResult) -> str:
    """The end-of-run report as text."""
    lines = [
        f"load test: {result.clients_asked} client(s) -> {result.url}, "
        f"{result.duration_s:g} s"
        + (f" at {result.fps:g} fps" if result.fps else "")
        + (
            f"; clip: {result.clip.source}, {result.clip.frames} frames, "
            f"{result.clip.size[0]}x{result.clip.size[1]}, {result.clip.cuts} cut(s) a loop"
            if result.clip
            else ""
        )
        + (f"; room {result.room}" if result.room else "")
        + (f"; {result.viewers_asked} viewer(s)" if result.viewers_asked else "")
        + (f"; route {', '.join(result.routes)}" if result.routes else "")
    ]
    if result.failure is None:
        rows = summarise(result)
        width = max(len(r.name) for r in rows)
        lines.append(f"{'metric':<{width}}  {'n':>6}  {'p50':>8}  {'p95':>8}  {'max':>8}")
        lines.append("-" * (width + 36))
        for r in rows:
            lines.append(
                f"{r.name:<{width}}  {r.n:>6}  {_cell(r.p50):>8}  {_cell(r.p95):>8}  "
                f"{_cell(r.max):>8}"
            )
        lines.extend(_client_line(c) for c in result.clients)
        lines.extend(_viewer_line(v) for v in result.viewers)
    problems = result.problems()
    if problems:
        lines.append("FAILED:")
        lines.extend(f"  {p}" for p in problems)
    else:
        connected = sum(c.state == "ok" for c in result.clients)
        watching = (
            f", {sum(v.state == 'ok' for v in result.viewers)}/{result.viewers_asked} viewer(s)"
            if result.viewers_asked
            else ""
        )
        lines.append(
            f"OK: {connected}/{result.clients_asked} client(s){watching} ran to the end, no errors"
        )
    return "\n".join(lines)


def to_dict(result: LoadTestResult) -> dict[str, Any]:
    """Everything, JSON-ready: the config, the summary rows, every client and viewer with its
    samples (latency as [t, ms] pairs) and per-second series."""
    return {
        "ok": result.ok,
        "exit_status": result.exit_status,
        "url": result.url,
        "clients_asked": result.clients_asked,
        "duration_s": result.duration_s,
        "fps": result.fps,
        "started_at": result.started_at,
        "elapsed_s": result.elapsed_s,
        "clip": asdict(result.clip) if result.clip else None,
        "failure": result.failure,
        "problems": result.problems(),
        "summary": [asdict(r) for r in summarise(result)] if result.failure is None else [],
        "clients": [
            {**asdict(c), "ok": c.ok, "masks_fps_p50_p95": _p50_p95(c.masks_fps)}
            for c in result.clients
        ],
        "room": result.room,
        "routes": result.routes,
        "viewers_asked": result.viewers_asked,
        "viewers": [
            {
                **asdict(v),
                "ok": v.ok,
                "fps_in_p50_p95": _p50_p95([s.fps_in for s in _watched(v.series)]),
                "latency_ms_p50_p95": _p50_p95([ms for _, ms in v.latency_ms]),
            }
            for v in result.viewers
        ],
    }


def _p50_p95(values: list[float]) -> list[float] | None:
    """[p50, p95] of `values` (None when empty), for the JSON."""
    if not values:
        return None
    p50, p95 = np.percentile(values, [50, 95])
    return [round(float(p50), 2), round(float(p95), 2)]


def write_json(result: LoadTestResult, path: Path) -> None:
    """Write `to_dict(result)` to `path` (atomically; strict JSON: no NaN)."""
    text = json.dumps(to_dict(result), indent=1, allow_nan=False)
    write_atomically(path, text.encode("utf-8") + b"\n", mode=0o644)


def write_plot(result: LoadTestResult, path: Path) -> None:
    """A PNG: round-trip latency over time (each matched frame, and the per-second median) and
    frame rates over time (returned solid, sent dashed, the server's overlay rate dotted), one
    colour per client; viewers, however many, as thin grey lines (per-second latency p50 and
    received fps) with their median across viewers in black, so 64 of them stay readable.
    Needs matplotlib (drawn with the Agg backend, no display)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("--plot needs matplotlib: pip install matplotlib") from exc

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    colours = plt.get_cmap("tab10")
    for n, c in enumerate(r for r in result.clients if r.state != "failed"):
        colour = colours(n % 10)
        if c.latency_ms:
            t, ms = zip(*c.latency_ms, strict=True)
            top.scatter(t, ms, s=6, color=colour, alpha=0.5, linewidths=0)
        seconds = [s for s in c.series if s.latency_p50_ms is not None]
        top.plot(
            [s.t for s in seconds],
            [s.latency_p50_ms for s in seconds],
            color=colour,
            label=f"client {c.index} p50/s",
        )
        t_series = [s.t for s in c.series]
        bottom.plot(t_series, [s.fps_in for s in c.series], color=colour, label=f"{c.index} in")
        bottom.plot(
            t_series,
            [s.fps_out for s in c.series],
            color=colour,
            linestyle="--",
            label=f"{c.index} out",
        )
        overlay = [
            (s.t, s.server_overlay_fps) for s in c.series if s.server_overlay_fps is not None
        ]
        if overlay:
            bottom.plot(
                *zip(*overlay, strict=True),
                color=colour,
                linestyle=":",
                label=f"{c.index} overlay",
            )
    _plot_viewers(top, bottom, [v for v in result.viewers if v.state != "failed"])
    top.set_ylabel("latency (ms): round trip; viewers from presenter")
    top.set_ylim(bottom=0)
    top.grid(alpha=0.3)
    viewers = f" + {result.viewers_asked} viewer(s)" if result.viewers_asked else ""
    top.set_title(
        f"{result.clients_asked} client(s){viewers} -> {result.url} ({result.started_at})",
        fontsize=10,
    )
    bottom.set_ylabel("frames per second")
    bottom.set_xlabel("time since start (s)")
    bottom.set_ylim(bottom=0)
    bottom.grid(alpha=0.3)
    for axes in (top, bottom):
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=7, ncol=4, loc="lower right")
    figure.tight_layout()
    partial = path.with_name(f".{path.name}.partial.png")
    try:
        figure.savefig(partial, format="png", dpi=100)
        os.replace(partial, path)
    finally:
        plt.close(figure)
        partial.unlink(missing_ok=True)


def _plot_viewers(top: Any, bottom: Any, viewers: list[ViewerResult]) -> None:
    """Each viewer's per-second latency p50 (top) and received fps (bottom) in thin grey, and
    the median across viewers at each second in black."""
    if not viewers:
        return
    latency_by_t: dict[float, list[float]] = {}
    fps_by_t: dict[float, list[float]] = {}
    for v in viewers:
        seconds = _watched(v.series)
        timed = [(s.t, s.latency_p50_ms) for s in seconds if s.latency_p50_ms is not None]
        if timed:
            top.plot(*zip(*timed, strict=True), color="grey", linewidth=0.6, alpha=0.5)
        bottom.plot(
            [s.t for s in seconds],
            [s.fps_in for s in seconds],
            color="grey",
            linewidth=0.6,
            alpha=0.5,
        )
        for t, ms in timed:
            latency_by_t.setdefault(t, []).append(ms)
        for s in seconds:
            fps_by_t.setdefault(s.t, []).append(s.fps_in)
    for axes, by_t, label in (
        (top, latency_by_t, "viewers p50/s (median)"),
        (bottom, fps_by_t, "viewers in (median)"),
    ):
        if by_t:
            times = sorted(by_t)
            medians = [float(np.median(by_t[t])) for t in times]
            axes.plot(times, medians, color="black", linewidth=1.5, label=label)
