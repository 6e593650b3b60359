"""Masks that follow the picture between segmentations.

The models make masks for a frame that is already `model time` old when they arrive; the video
goes out at the camera's rate. `MaskFollower` moves each object's last mask onto every newer
camera frame with cheap motion estimation:

    reset(result luma, detections)          a new result: its frame becomes the reference
    follow(camera luma) → (moved, alphas)   each outgoing frame: reference → ... → this frame

Per `follow` call (all at a reduced working resolution, at most `max_width` px wide):
  1. corners (Shi-Tomasi, as cv2.goodFeaturesToTrack, found once per frame for all objects)
     inside each object's current mask, shrunk away from its outline, on the previous frame
     (at most `max_points` per object; the grown mask, then the box, when it has too few);
  2. pyramidal Lucas-Kanade (cv2.calcOpticalFlowPyrLK, `pyramid_levels`) forward to this frame and
     back again, all objects in one call; points that do not come back within
     `forward_backward_px` are dropped;
  3. a similarity (rotation, uniform scale, translation) per object with RANSAC
     (cv2.estimateAffinePartial2D), checked: enough inliers, a large enough inlier share, a small
     median residual and a plausible step (scale and rotation);
  4. the object's transform (reference frame → this frame) is chained with that step, and its
     reference mask is warped once, straight from the reference (no blur from re-warping).

The chain runs from the previously followed frame to the current one, so each step sees only one
frame interval of motion. A result arrives `model time` late: when its frame is one of the recent
frames kept, the frames shown since are replayed, at most `catch_up_steps` per `follow` call so
no outgoing frame waits for a long replay (meanwhile the masks are drawn a few frames behind,
closing the gap by catch_up_steps - 1 frames a call); otherwise the first step spans the model's
lag, which the pyramid covers.

An object whose step fails (a cut, blur, a texture-less view, a bad fit) keeps its last
position but fades: its alpha drops by 1/`fade_frames` per failed step, so a mask
never sticks, opaque, in the wrong place. A step that succeeds again (the object found from its
last good frame) raises the alpha by the same amount; one that has faded to 0 stays out until the
next result.

Only numpy and OpenCV; no threads of its own. One instance per video stream, one call at a time.
"""

from __future__ import annotations

import math
from collections import deque

import cv2
import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections
from inference.live.follow_settings import FollowSettings, StepReport
from inference.live.motion_geometry import (
    IDENTITY,
    Affine,
    Candidates,
    Luma,
    compose,
    faded,
    spread_corners,
    working_size,
)


class MaskFollower:
    """Moves the masks of the newest result onto newer frames (see the module docstring).

    Shapes: reference luma (H, W) uint8 = the result's frame size, masks (N, H, W) bool; camera
    luma (h', w') uint8 of any size with the same aspect ratio (another aspect: the camera
    turned, every step fails). Not thread-safe: one call at a time.
    """

    def __init__(self, settings: FollowSettings | None = None) -> None:
        self.settings = settings or FollowSettings()
        self._detections: Detections | None = None
        self._size: tuple[int, int] = (0, 0)  # the reference frame (H, W)
        self._work: tuple[int, int] = (0, 0)  # working (h, w)
        self._ref_small: npt.NDArray[np.uint8] = np.zeros((0, 1, 1), np.uint8)  # (N, h, w) 0/1
        # per object, where to look for corners in reference working px: (3, h, w) 0/1 = the
        # mask shrunk by half a flow window, shrunk by grow_px, grown by grow_px; and its
        # bounding rectangle (x, y, w, h)
        self._ref_regions: list[tuple[npt.NDArray[np.uint8], tuple[int, int, int, int]]] = []
        self._ref_full: list[npt.NDArray[np.uint8] | None] = []  # (H, W) 0/1 per object
        self._ref_bounds: npt.NDArray[np.float32] = np.zeros((0, 4), np.float32)  # box ∪ mask
        self._transforms: list[Affine] = []  # working px: reference → the last followed frame
        self._alphas: npt.NDArray[np.float32] = np.zeros(0, np.float32)
        # per object, the working-size luma of the last frame it was found on (objects found on
        # the same frame share the array)
        self._anchors: list[Luma] = []
        self._kernel = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * self.settings.grow_px + 1, 2 * self.settings.grow_px + 1)
        )
        deep = self.settings.window // 2
        self._deep_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * deep + 1,) * 2)
        self._peak_kernel = np.ones((5, 5), np.uint8)
        # corner candidates per anchor frame: id → (the frame, its candidates)
        self._candidate_cache: dict[int, tuple[Luma, Candidates]] = {}
        self.last_step: StepReport | None = None
        self._history: deque[Luma] = deque(maxlen=self.settings.history)
        # frames since the result's frame still to be stepped through (the newest last)
        self._backlog: deque[Luma] = deque()
        self.caught_up = 0  # steps since the last reset on frames older than the newest shown

    @property
    def detections(self) -> Detections | None:
        """The reference detections (None before the first `reset`)."""
        return self._detections

    @property
    def alphas(self) -> npt.NDArray[np.float32]:
        """(N,) current opacity of each object in 0..1 (a copy)."""
        return self._alphas.copy()

    def reset(self, luma: Luma, detections: Detections) -> None:
        """Start again from a new result. When its frame is one of the recent frames `follow`
        or `observe` saw, the frames since then are replayed (one flow step each, at most
        `history`), so the masks are caught up to the newest frame in short steps, spread over
        the next `follow` calls (`behind` says how many frames remain).

        luma:       (H, W) uint8 gray of the frame the masks were made on
        detections: N objects; masks (N, H, W) bool (None: boxes only, moved by the same motion,
                    estimated inside the boxes)
        """
        luma = np.asarray(luma)
        if luma.ndim != 2 or luma.dtype != np.uint8:
            raise ValueError(f"luma must be a (H, W) uint8 array, got {luma.dtype} {luma.shape}")
        height, width = luma.shape
        if detections.masks is not None and detections.masks.shape[1:] != (height, width):
            raise ValueError(
                f"masks are {detections.masks.shape[1:]} but the luma is {(height, width)}"
            )
        self._detections = detections
        self._size = (height, width)
        self._work = h, w = working_size((height, width), self.settings.max_width)
        reference = self._shrink(luma)
        n = len(detections)
        self._ref_small = np.zeros((n, h, w), np.uint8)
        self._ref_full = []
        self._ref_bounds = np.asarray(detections.boxes, np.float32).reshape(-1, 4).copy()
        sx, sy = w / width, h / height
        for i in range(n):
            if detections.masks is not None:
                full = np.ascontiguousarray(detections.masks[i]).view(np.uint8)
                self._ref_full.append(full)
                x, y, bw, bh = cv2.boundingRect(full)
                if bw and bh:  # a mask may reach outside its prompt box: warp all of it
                    bounds = self._ref_bounds[i]
                    self._ref_bounds[i] = [
                        min(bounds[0], x), min(bounds[1], y),
                        max(bounds[2], x + bw), max(bounds[3], y + bh),
                    ]  # fmt: skip
                small = cv2.resize(full, (w, h), interpolation=cv2.INTER_NEAREST)
                if not small.any() and full.any():  # a sliver thinner than a working pixel
                    small = (cv2.resize(full, (w, h), interpolation=cv2.INTER_AREA) > 0).astype(
                        np.uint8
                    )
                self._ref_small[i] = small
            else:
                self._ref_full.append(None)
                x1, y1, x2, y2 = detections.boxes[i]
                cv2.rectangle(
                    self._ref_small[i],
                    (int(x1 * sx), int(y1 * sy)),
                    (math.ceil(x2 * sx) - 1, math.ceil(y2 * sy) - 1),
                    1,
                    thickness=-1,
                )
        self._ref_regions = []
        for small in self._ref_small:
            shapes = np.stack([
                cv2.erode(small, self._deep_kernel),  # the flow window sees only the object
                cv2.erode(small, self._kernel),
                cv2.dilate(small, self._kernel),
            ]).astype(np.uint8)  # fmt: skip
            rect = cv2.boundingRect(small)
            self._ref_regions.append((shapes, (rect[0], rect[1], rect[2], rect[3])))
        self._transforms = [IDENTITY.copy() for _ in range(n)]
        self._anchors = [reference] * n
        self._alphas = np.ones(n, np.float32)
        self.last_step = None
        self.caught_up = 0
        self._backlog.clear()
        kept = [f for f in self._history if f.shape == reference.shape]
        if kept and n:
            # the result's frame is (nearly) one the stream already showed: replay the frames
            # since then one at a time, so every flow step spans one frame interval, not the lag
            small = cv2.resize(reference, (max(1, w // 4), max(1, h // 4)))
            differences = [
                float(cv2.norm(small, cv2.resize(f, (small.shape[1], small.shape[0])), cv2.NORM_L1))
                / small.size
                for f in kept
            ]
            best = int(np.argmin(differences))
            if differences[best] < self.settings.match_level:
                self._backlog.extend(kept[best + 1 :])

    @property
    def behind(self) -> int:
        """Frames the drawn masks lag behind the newest frame seen (0 once caught up)."""
        return len(self._backlog)

    def follow(
        self, luma: Luma, output_size: tuple[int, int] | None = None
    ) -> tuple[Detections, npt.NDArray[np.float32]]:
        """Move every object onto the frame whose gray is `luma` (or, while a late result is
        still being caught up, onto the newest frame reached: see `behind`).

        luma:        (h', w') uint8, the newest frame (any size with the reference's aspect)
        output_size: (Ho, Wo) the returned masks and boxes refer to (default: the reference's
                     (H, W)); the warp resizes too, so no separate resize is needed
        Returns the N objects moved (masks (N, Ho, Wo) bool when the reference had masks; boxes
        the moved masks' bounding boxes) and their alphas (N,) float32 in 0..1, in the reference
        order. Objects whose alpha is 0 are still returned (where they were last found).
        """
        detections = self._detections
        if detections is None:
            raise RuntimeError("follow() before reset()")
        out_size = output_size or self._size
        current = self._current(luma)
        if current is None:  # another aspect ratio: the camera turned
            self._backlog.clear()
            self._fail_all()
        else:
            self._history.append(current)
            self._backlog.append(current)
            for _ in range(min(len(self._backlog), self.settings.catch_up_steps)):
                frame = self._backlog.popleft()
                self._step(frame)
                if frame is not current:
                    self.caught_up += 1
        return self._render(detections, out_size), self._alphas.copy()

    def observe(self, luma: Luma) -> None:
        """Remember a frame shown without following (no result yet), so that a result made on it
        can be caught up (see `reset`). Cheap: one resize."""
        if self._work == (0, 0):
            self._work = working_size(luma.shape[:2], self.settings.max_width)
            self._size = (luma.shape[0], luma.shape[1])
        current = self._current(luma)
        if current is not None:
            self._history.append(current)

    # -- motion --------------------------------------------------------------------------------

    def _shrink(self, luma: Luma) -> Luma:
        h, w = self._work
        if luma.shape == (h, w):
            return np.ascontiguousarray(luma)
        return np.asarray(cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA), np.uint8)

    def _current(self, luma: Luma) -> Luma | None:
        luma = np.asarray(luma)
        if luma.ndim != 2 or luma.dtype != np.uint8:
            raise ValueError(f"luma must be a (H, W) uint8 array, got {luma.dtype} {luma.shape}")
        ref_h, ref_w = self._size
        if abs(luma.shape[0] / luma.shape[1] - ref_h / ref_w) > 0.02 * ref_h / ref_w:
            return None
        return self._shrink(luma)

    def _fail_all(self) -> None:
        n = len(self._alphas)
        self._alphas = faded(self._alphas - 1.0 / self.settings.fade_frames)
        self.last_step = StepReport((False,) * n, (0,) * n, (0,) * n, (math.inf,) * n)

    def _candidates(self, anchor: Luma) -> Candidates:
        """The corner candidates of `anchor`, computed once per frame and shared by every object
        (and every later step from the same anchor): per-object corner searches cost 0.5 ms
        each, and six objects tried twice made following 13 ms a frame."""
        key = id(anchor)
        cached = self._candidate_cache.get(key)
        if cached is not None and cached[0] is anchor:
            return cached[1]
        # the minimum eigenvalue of the gradient matrix (Shi-Tomasi, as goodFeaturesToTrack),
        # kept where it is the largest within 5×5 (corners at least 3 px apart)
        response = cv2.cornerMinEigenVal(anchor, blockSize=5, ksize=3)
        peaks = (response >= cv2.dilate(response, self._peak_kernel)) & (response > 1e-6)
        ys, xs = np.nonzero(peaks)
        strength = np.asarray(response[ys, xs], np.float32)
        order = np.argsort(-strength, kind="stable")
        found = Candidates(xs[order].astype(np.int32), ys[order].astype(np.int32), strength[order])
        live = {id(a) for a in self._anchors}
        self._candidate_cache = {k: v for k, v in self._candidate_cache.items() if k in live}
        self._candidate_cache[key] = (anchor, found)
        return found

    def _corners(self, anchor: Luma, index: int) -> npt.NDArray[np.float32]:
        """Up to max_points corners (K, 1, 2) on `anchor` inside object `index`'s mask there
        (shrunk by half a flow window, then by grow_px; grown by it when the inside has few
        corners), or inside its box grown by a quarter when the mask has too few. The anchor's
        candidates are mapped back to the reference, where the shrunk and grown masks were made
        once (no per-step warps or erosions)."""
        s = self.settings
        h, w = self._work
        shapes, (rx, ry, rw, rh) = self._ref_regions[index]
        if rw == 0 or rh == 0:
            return np.zeros((0, 1, 2), np.float32)
        transform = self._transforms[index]
        corners = np.array([[rx, ry], [rx + rw, ry], [rx + rw, ry + rh], [rx, ry + rh]], np.float64)
        moved = corners @ transform[:, :2].T + transform[:, 2]
        x, y = np.floor(moved.min(axis=0)).astype(int)
        x1, y1 = np.ceil(moved.max(axis=0)).astype(int)
        # the object's box grown by a quarter: corners are looked up there only
        gx, gy = (x1 - x) // 4 + 1, (y1 - y) // 4 + 1
        x0, y0 = max(0, x - gx), max(0, y - gy)
        x1, y1 = min(w, x1 + gx), min(h, y1 + gy)
        if x1 <= x0 or y1 <= y0:
            return np.zeros((0, 1, 2), np.float32)  # moved out of the picture
        field = self._candidates(anchor)
        near = (field.xs >= x0) & (field.xs < x1) & (field.ys >= y0) & (field.ys < y1)
        xs, ys, strength = field.xs[near], field.ys[near], field.strength[near]
        back = cv2.invertAffineTransform(transform)
        points = np.stack([xs, ys], axis=1).astype(np.float64)
        source = np.rint(points @ back[:, :2].T + back[:, 2]).astype(np.int64)
        sx = np.clip(source[:, 0], 0, w - 1)
        sy = np.clip(source[:, 1], 0, h - 1)
        in_frame = (source[:, 0] == sx) & (source[:, 1] == sy)
        chosen = np.ones(len(xs), bool)  # the box, when no mask has enough
        # inside first (away from the outline, whose corners mix object and background motion),
        # then the grown mask (a plain object has corners on its outline only), then the box
        for shape in shapes:
            within = in_frame & (shape[sy, sx] > 0)
            if int(within.sum()) >= 2 * s.min_inliers:
                chosen = within
                break
        xs, ys, strength = xs[chosen], ys[chosen], strength[chosen]
        if not len(xs):
            return np.zeros((0, 1, 2), np.float32)
        # as goodFeaturesToTrack: strong relative to this object's best, strongest first
        strong = strength >= 0.01 * strength[0]
        found = np.stack([xs[strong] - x0, ys[strong] - y0], axis=1)[: 3 * s.max_points]
        spread = spread_corners(found.astype(np.float32), (y1 - y0, x1 - x0), s.max_points)
        spread += np.array([x0, y0], np.float32)
        return spread.reshape(-1, 1, 2)

    def _step(self, current: Luma) -> None:
        """One step for every visible object, from its anchor (the last frame it was found on:
        usually the previous frame) to `current`; objects sharing an anchor share one flow call."""
        n = len(self._alphas)
        ok = [False] * n
        points, inliers, residuals = [0] * n, [0] * n, [math.inf] * n
        groups: dict[int, list[int]] = {}
        for i in range(n):
            if self._alphas[i] > 0:
                groups.setdefault(id(self._anchors[i]), []).append(i)
        for members in groups.values():
            anchor = self._anchors[members[0]]
            corners = [self._corners(anchor, i) for i in members]
            for i, found in zip(members, corners, strict=True):
                points[i] = len(found)
            if not any(len(c) for c in corners):
                continue
            start = np.concatenate([c for c in corners if len(c)])
            good, moved = self._flow(anchor, current, start)
            offset = 0
            for i, found in zip(members, corners, strict=True):
                k = len(found)
                keep = good[offset : offset + k]
                src = start[offset : offset + k][keep].reshape(-1, 2)
                dst = moved[offset : offset + k][keep].reshape(-1, 2)
                offset += k
                step, inliers[i], residuals[i] = self._fit(src, dst)
                if step is not None:
                    self._transforms[i] = compose(step, self._transforms[i])
                    ok[i] = True
        fade = 1.0 / self.settings.fade_frames
        for i in range(n):
            if ok[i]:
                self._anchors[i] = current
                self._alphas[i] = min(1.0, self._alphas[i] + fade)
            elif self._alphas[i] > 0:  # lost: keep its anchor and try again on the next frame
                self._alphas[i] = faded(self._alphas[i : i + 1] - fade)[0]
        self.last_step = StepReport(tuple(ok), tuple(points), tuple(inliers), tuple(residuals))

    def _flow(
        self, anchor: Luma, current: Luma, start: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float32]]:
        """Lucas-Kanade forward and back: which points (K,) came back, and where they went."""
        s = self.settings
        window = (s.window, s.window)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.05)
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            anchor, current, start, None, winSize=window, maxLevel=s.pyramid_levels,
            criteria=criteria,
        )  # fmt: skip
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(
            current, anchor, moved, None, winSize=window, maxLevel=s.pyramid_levels,
            criteria=criteria,
        )  # fmt: skip
        distance = np.linalg.norm((back - start).reshape(-1, 2), axis=1)
        good = (status.reshape(-1) == 1) & (status_back.reshape(-1) == 1)
        good &= distance < s.forward_backward_px
        return good, np.asarray(moved, np.float32)

    def _fit(
        self, src: npt.NDArray[np.float32], dst: npt.NDArray[np.float32]
    ) -> tuple[Affine | None, int, float]:
        """A checked similarity src → dst (working px), its inlier count and median residual."""
        s = self.settings
        if len(src) < s.min_inliers:
            return None, len(src), math.inf
        matrix, mask = cv2.estimateAffinePartial2D(
            src,
            dst,
            method=cv2.RANSAC,
            ransacReprojThreshold=s.ransac_px,
            maxIters=200,
            confidence=0.99,
            refineIters=10,
        )
        if matrix is None or mask is None:
            return None, 0, math.inf
        inlier = mask.reshape(-1).astype(bool)
        used = int(inlier.sum())
        projected = src[inlier] @ matrix[:, :2].T + matrix[:, 2]
        residual = float(np.median(np.linalg.norm(projected - dst[inlier], axis=1))) if used else 0
        scale = math.hypot(matrix[0, 0], matrix[1, 0])
        degrees = abs(math.degrees(math.atan2(matrix[1, 0], matrix[0, 0])))
        plausible = (
            used >= s.min_inliers
            and used >= s.min_inlier_share * len(src)
            and residual <= s.max_residual_px
            and 1 / s.max_step_scale <= scale <= s.max_step_scale
            and degrees <= s.max_step_degrees
        )
        return (np.asarray(matrix, np.float64) if plausible else None), used, residual

    # -- output ----------------------------------------------------------------------------------

    def _output_matrix(self, index: int, out_size: tuple[int, int]) -> Affine:
        """Reference (H, W) pixels → output (Ho, Wo) pixels for object `index`."""
        (height, width), (h, w) = self._size, self._work
        to_work = np.array([[w / width, 0.0, 0.0], [0.0, h / height, 0.0]])
        from_work = np.array([[out_size[1] / w, 0.0, 0.0], [0.0, out_size[0] / h, 0.0]])
        return compose(from_work, compose(self._transforms[index], to_work))

    def _render(self, detections: Detections, out_size: tuple[int, int]) -> Detections:
        out_h, out_w = out_size
        n = len(detections)
        boxes = np.zeros((n, 4), np.float32)
        masks = np.zeros((n, out_h, out_w), bool) if detections.masks is not None else None
        for i in range(n):
            matrix = self._output_matrix(i, out_size)
            corners = self._ref_bounds[i][[0, 1, 2, 1, 2, 3, 0, 3]].reshape(4, 2)
            moved = corners @ matrix[:, :2].T + matrix[:, 2]
            lo = np.clip(np.floor(moved.min(axis=0)) - 1, 0, [out_w, out_h])
            hi = np.clip(np.ceil(moved.max(axis=0)) + 1, 0, [out_w, out_h])
            boxes[i] = [lo[0], lo[1], max(lo[0], hi[0] - 2), max(lo[1], hi[1] - 2)]
            reference = self._ref_full[i]
            if masks is None or reference is None:
                boxes[i] = np.clip(
                    [moved[:, 0].min(), moved[:, 1].min(), moved[:, 0].max(), moved[:, 1].max()],
                    0,
                    [out_w, out_h, out_w, out_h],
                )
                continue
            # warp only the rectangle the moved box covers (plus a margin: a mask may stick out
            # of its box by a pixel or two): the cost follows the object's area
            x0, y0 = int(lo[0]), int(lo[1])
            x1, y1 = int(hi[0]), int(hi[1])
            if x1 <= x0 or y1 <= y0:
                continue  # moved out of the picture
            shifted = matrix.copy()
            shifted[:, 2] -= (x0, y0)
            patch = cv2.warpAffine(reference, shifted, (x1 - x0, y1 - y0), flags=cv2.INTER_NEAREST)
            masks[i, y0:y1, x0:x1] = patch.view(bool)
            x, y, bw, bh = cv2.boundingRect(patch)
            if bw and bh:
                boxes[i] = [x0 + x, y0 + y, x0 + x + bw, y0 + y + bh]
            else:
                boxes[i] = [x0, y0, x0, y0]
        return Detections(
            boxes, detections.scores, detections.labels, masks, detections.track_ids,
            dict(detections.extra),
        )  # fmt: skip
