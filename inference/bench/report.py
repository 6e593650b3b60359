"""`visionanything bench`'s report as Markdown tables, and its progress lines."""

from __future__ import annotations

import sys

# -- output ----------------------------------------------------------------------------------
from inference.bench.results import (
    BenchReport,
    format_ms,
)


def to_markdown(report: BenchReport) -> str:
    """The report as Markdown tables (what the command prints)."""
    machine = report.machine
    where = machine.get("gpu") or machine["cpu"]
    weights = "random weights" if report.random_weights else "checkpoints"
    lines = [
        f"## visionanything bench: {machine['device']} ({where}), "
        f"{machine['torch_threads']} torch threads, torch {machine['torch']}, {weights}",
        "",
        f"fp32 matmul peak ({report.peak.size}² × {report.peak.size}², best of "
        f"{report.peak.repeats}): **{report.peak.gflops_per_s:.0f} GFLOP/s**",
        "",
        "| stage | input | median ms | min ms | GFLOP | GFLOP/s | % of peak |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for s in report.stages:
        lines.append(
            f"| {s.label} | {'×'.join(str(v) for v in s.input_shape)} | {s.median_ms:.1f} "
            f"| {s.min_ms:.1f} | {s.flops / 1e9:.2f} | {s.gflops_per_s:.1f} "
            f"| {100 * s.peak_fraction:.1f}% |"
        )
    lines += [
        "",
        "FLOPs are counted by torch's FlopCounterMode (matmul, convolution, attention); decoder "
        "times include upsampling the masks to the frame; detector times include pre- and "
        "post-processing.",
    ]
    p = report.pipeline
    if p is not None:
        height, width = p.frame_size
        lines += [
            "",
            f"### Pipeline: {p.frames} frames ({p.frames / p.fps:.1f} s at {p.fps:g} fps, "
            f"{width}×{height}) played in real time",
            "",
            f"Detector {p.detector_size}, at most {p.max_objects} objects, thresholds box "
            f"{p.box_threshold:g} / text {p.text_threshold:g} in both.",
            "",
            "| pipeline | results | results/s | with masks/s | skipped | detector runs "
            "| detect ms | encode ms | decode ms | latency ms | objects | first masks s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        rows = [("scheduled (Engine)", p.scheduled), ("naive Grounded-SAM", p.naive)]
        if p.scheduled_before is not None:
            rows.insert(1, ("scheduled, torch runtimes (before)", p.scheduled_before))
        for name, r in rows:
            first = "–" if r.first_masks_s is None else f"{r.first_masks_s:.1f}"
            lines.append(
                f"| {name} | {r.results} | {r.results_per_s:.2f} | {r.segmented_per_s:.2f} "
                f"| {r.frames_skipped} | {r.keyframes} | {format_ms(r.detect_ms_mean)} "
                f"| {format_ms(r.encode_ms_mean)} | {format_ms(r.decode_ms_mean)} "
                f"| {format_ms(r.latency_ms_mean)} | {r.objects_mean:.1f} | {first} |"
            )
        ratio = "–" if p.ratio is None else f"{p.ratio:.2f}×"
        overlay = "–" if p.overlay_ratio is None else f"{p.overlay_ratio:.2f}×"
        lines += [
            "",
            f"Scheduled / naive: **{ratio}** frames with masks per second ({overlay} overlay "
            "updates, which also count the engine's empty updates before its first detection).",
        ]
    lines += _runtime_lines(report) + _detector_choice_lines(report) + _following_lines(report)
    lines += ["", f"Total {report.total_s:.0f} s."]
    return "\n".join(lines) + "\n"


def _num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _size(size: tuple[int, int] | None) -> str:
    """A detector input size (H, W) for a table cell."""
    return "–" if size is None else f"{size[0]}×{size[1]}"


def _error(value: float | None) -> str:
    return "–" if value is None else f"{value:.1e}"


def _runtime_lines(report: BenchReport) -> list[str]:
    lines: list[str] = []
    if report.encoder_runtimes:
        lines += [
            "",
            "### Segmenter encoder by runtime (same photo, interleaved repeats)",
            "",
            "| runtime | ran as | median ms | min ms | max abs error vs eager | build s | note |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for r in report.encoder_runtimes:
            note = r.error or r.note or ""
            lines.append(
                f"| {r.runtime} | {r.resolved or 'failed'} | {_num(r.median_ms, 1)} "
                f"| {_num(r.min_ms, 1)} | {_error(r.max_abs_error_vs_eager)} "
                f"| {_num(r.build_s, 1)} | {note.replace('|', '/')[:120]} |"
            )
    if report.detector_paths:
        lines += [
            "",
            "### Detector before (transformers' forward) and after (text cached, own image side)",
            "",
            "| shortest edge | path | input | median ms | logits max diff | boxes max diff "
            "| queries matched | same labels |",
            "|---:|---|---|---:|---:|---:|---:|---|",
        ]
        for d in report.detector_paths:
            size = _size(d.input_size)
            matched = "–" if d.queries_matched is None else f"{100 * d.queries_matched:.0f}%"
            labels = "–" if d.same_labels is None else ("yes" if d.same_labels else "no")
            median = d.error[:60] if d.error else _num(d.median_ms)
            lines.append(
                f"| {d.shortest_edge} | {d.path} | {size} | {median} "
                f"| {_error(d.logits_max_abs_diff)} | {_error(d.boxes_max_abs_diff)} "
                f"| {matched} | {labels} |"
            )
        lines += [
            "",
            '"noise floor": the reference path on pixels with 1e-5 noise (untimed): how much a '
            "random-weight model moves on its own; runtime differences at that level are noise.",
        ]
    return lines


def _detector_choice_lines(report: BenchReport) -> list[str]:
    if not report.detectors:
        return []
    lines = [
        "",
        "### Detectors side by side (`--detector`; same frame, vocabulary and runtime, "
        "interleaved repeats)",
        "",
        "| detector | shortest edge | input | runtime | median ms | min ms | first call ms "
        "| parameters | note |",
        "|---|---:|---|---|---:|---:|---:|---:|---|",
    ]
    for d in report.detectors:
        size = _size(d.input_size)
        params = "–" if d.parameters is None else f"{d.parameters / 1e6:.1f} M"
        note = (d.error or d.note or "").replace("|", "/")[:120]
        lines.append(
            f"| {d.detector} | {d.shortest_edge} | {size} | {d.runtime or '–'} "
            f"| {_num(d.median_ms)} | {_num(d.min_ms)} | {_num(d.warmup_ms)} | {params} "
            f"| {note} |"
        )
    lines += [
        "",
        "The first call converts (OpenVINO) or loads the image side for that input size. Both "
        "tiny detectors are Swin-T + BERT-base with the same encoder and decoder; "
        "MM-Grounding-DINO's class head adds a scale and a bias. What they find differs only "
        "with checkpoints.",
    ]
    return lines


def _following_lines(report: BenchReport) -> list[str]:
    if not report.mask_following:
        return []
    lines = [
        "",
        "### Masks that follow the picture (one continuous shot of the clip)",
        "",
        "Mean IoU of the mask drawn on frame t (made on an older frame) against the mask for "
        "frame t itself, without and with following.",
        "",
        "| masks | lag frames | IoU without | IoU with | follow ms/frame | mean alpha | scored |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report.mask_following:
        lines.append(
            f"| {row['masks']} | {row['lag_frames']} | {row['iou_without']:.3f} "
            f"| {row['iou_with']:.3f} | {row['follow_ms_per_frame']:.1f} "
            f"| {row['mean_alpha']:.2f} | {row['objects']} |"
        )
    lines += [
        "",
        "picture-anchored: an ellipse fixed in the photo, carried by the clip's true camera "
        "(geometry). segmenter: MobileSAM itself; with random weights its masks are speckle "
        "tied to the frame, not the picture, so following cannot help there.",
    ]
    return lines


def print_progress(line: str) -> None:
    """The default progress sink: one flushed line on stderr."""
    print(line, file=sys.stderr, flush=True)
