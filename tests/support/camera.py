"""Clips for Chromium's fake camera (`--use-file-for-fake-video-capture`, see
`tests.support.browser.chromium_args`), rendered from real photos by the load test's clip maker."""

from __future__ import annotations

from pathlib import Path

from stream.loadtest.clip_files import write_clip


def write_camera_clip(directory: Path, *, seconds: float = 3, seed: int = 3) -> Path:
    """A clip for the fake camera (Y4M, 320×240 at 15 fps, `seconds` long, made from `seed`) in
    `directory`; its path."""
    path = directory / "clip.y4m"
    write_clip(path, seconds=seconds, fps=15, size=(320, 240), seed=seed)
    return path
