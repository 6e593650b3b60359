"""How masks follow the picture between detections: the settings of `mask_motion.MaskFollower`
and what one step reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FollowSettings:
    """How hard to look for motion (costs grow with max_width², max_points and pyramid_levels).

    max_width            working resolution: frames are downscaled to at most this width
    max_points           corners tracked per object and step
    min_inliers          a step with fewer RANSAC inliers fails
    min_inlier_share     ... as does one where fewer than this share of the tracked points fit
    pyramid_levels       Lucas-Kanade pyramid levels above the base (3: about ±60 working px)
    window               Lucas-Kanade window side (working px)
    forward_backward_px  a point must come back within this distance (working px)
    ransac_px            RANSAC inlier threshold (working px)
    max_residual_px      a step whose median inlier residual is larger fails (working px)
    max_step_scale       a step may scale by at most this factor (or its inverse)
    max_step_degrees     ... and rotate by at most this much
    fade_frames          failed steps until a mask has faded out completely
    grow_px              masks are shrunk (or grown) by this much (working px) to find corners
    history              recent frames kept (working size) to catch a new result up with
    match_level          a kept frame whose mean absolute gray difference to a new result's frame
                         is below this (0..255) is taken for that frame
    catch_up_steps       most flow steps one `follow` call makes (the newest frame included), so
                         replaying a late result's backlog is spread over several frames
    """

    max_width: int = 320
    max_points: int = 24
    min_inliers: int = 8
    min_inlier_share: float = 0.4
    pyramid_levels: int = 3
    window: int = 15
    forward_backward_px: float = 1.0
    ransac_px: float = 1.5
    max_residual_px: float = 1.0
    max_step_scale: float = 1.35
    max_step_degrees: float = 20.0
    fade_frames: int = 4
    grow_px: int = 3
    history: int = 16  # ~1 s at 15 fps: a CPU engine's results arrive up to a second late
    match_level: float = 8.0
    catch_up_steps: int = 4

    def __post_init__(self) -> None:
        if not 32 <= self.max_width <= 1280:
            raise ValueError(f"max_width must lie in 32..1280, got {self.max_width}")
        if self.max_points < 4 or self.min_inliers < 3 or self.fade_frames < 1:
            raise ValueError("max_points >= 4, min_inliers >= 3 and fade_frames >= 1 please")
        if not 0 <= self.pyramid_levels <= 5 or self.window < 5:
            raise ValueError("pyramid_levels must lie in 0..5 and window be at least 5")
        if self.catch_up_steps < 2:  # one step per call would never close the gap
            raise ValueError(f"catch_up_steps must be at least 2, got {self.catch_up_steps}")


@dataclass(frozen=True)
class StepReport:
    """What the last `follow` call did (for tests and tuning): per object, whether its motion
    was found, with how many points and inliers, and the step's median residual (working px)."""

    ok: tuple[bool, ...]
    points: tuple[int, ...]
    inliers: tuple[int, ...]
    residual_px: tuple[float, ...]
