"""Sessions: one aiortc peer connection per phone, tied to one engine session.

A `Session` wires the peer connection's events (tracks, data channel, connection state) to
the engine and back; the `SessionRegistry` is the set of open sessions with a cap and an idle
reaper. A session is forgotten the moment it closes, whatever the reason (connection failed or
closed, idle, shutdown), and everything it owns (engine session, tasks, tracks, peer connection)
is released then.

Threads: everything here runs on the event loop except `Session._result_from_engine`, which
the engine calls from its worker thread; it only hops back to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any

import av
from aiortc import RTCDataChannel, RTCPeerConnection
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from inference.labels.languages import UnknownLanguageError, load_language
from inference.labels.themes import UnknownThemeError
from inference.labels.vocabulary import VocabularyError
from inference.live.session_state import SessionClosedError
from stream.edge.health import StreamMetrics
from stream.edge.rate_limits import TokenBucket
from stream.webrtc import protocol, wire
from stream.webrtc.channel import _MESSAGE_TYPES, detach, send_message
from stream.webrtc.connection_path import ConnectionPath, connection_path
from stream.webrtc.engine_seam import EngineLike, EngineResult, RoomSettings
from stream.webrtc.error_codes import ErrorCode
from stream.webrtc.hunting import PhoneHunt, hunt_message
from stream.webrtc.objects_throttle import ObjectsThrottle
from stream.webrtc.outgoing_load import OutgoingLoad
from stream.webrtc.peer_tasks import TaskSet, close_peer
from stream.webrtc.room_rules import RoomRules
from stream.webrtc.session_settings import SessionSettings
from stream.webrtc.session_stats import report_stats
from stream.webrtc.snapshot_press import Snapshotter, send_kept, take_snapshot
from stream.webrtc.tracks import (
    AnnotatedVideoTrack,
    FrameMailbox,
    OverlayPainter,
    RenderableResult,
    SharedFrame,
    pump,
)
from stream.webrtc.vocabulary_gate import VocabularyGate

log = logging.getLogger(__name__)


class Session:
    """One phone: its peer connection, its engine session, its tasks and its counters."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        engine: EngineLike,
        settings: SessionSettings,
        metrics: StreamMetrics,
        executor: Executor,
        *,
        room: str | None = None,
        role: str | None = None,
        peer: str = "?",
    ) -> None:
        self.pc = pc
        self.engine = engine
        self.settings = settings
        self.metrics = metrics
        self.room, self.role, self.peer = room, role, peer
        self._executor = executor
        self._loop = asyncio.get_running_loop()
        self.created_at = self.last_frame_at = time.monotonic()
        self.frames_in = 0
        self.results = 0
        self.latest: EngineResult | None = None
        self.latest_frame: SharedFrame | None = None  # the newest camera frame (for snapshots)
        self.snapshots: Snapshotter | None = None  # set by the registry; None: no snapshots
        self.resume_token: str | None = None  # told in `hello` (`stream.webrtc.resume`)
        self.paused = False
        self.speech = True
        self.closed = False
        self.close_reason: str | None = None
        self._closing: asyncio.Task[None] | None = None
        self.channel: RTCDataChannel | None = None
        self.mailbox = FrameMailbox(settings.mailbox_frames)
        self.load = OutgoingLoad(settings.load)
        self.out_track: AnnotatedVideoTrack | None = None
        self._camera: MediaStreamTrack | None = None
        self._on_closed: list[Callable[[Session], object]] = []
        self._objects = ObjectsThrottle(
            self._loop,
            settings.objects_interval_s,
            self._send_objects,
            live=lambda: not self.closed and not self.paused,
        )
        self._overlay_errors = 0
        # data-channel rate limits: every message, vocabulary changes, our `rate_limited` replies
        limits = settings.limits
        self._messages_bucket = TokenBucket(limits.messages_per_s, limits.message_burst)
        self._vocabulary = VocabularyGate(
            self._loop,
            TokenBucket(limits.vocabulary_per_s, limits.vocabulary_burst),
            self._set_vocabulary,
            overtaken=self._vocabulary_overtaken,
            failed=self._vocabulary_failed,
            live=lambda: not self.closed,
        )
        self._limit_replies = TokenBucket(limits.error_replies_per_s, 1)
        self.rate_limited = 0  # messages dropped (or vocabulary changes overtaken) by the limits
        self.fps_in = self.fps_out = self.overlay_fps = 0.0
        # in a room: the annotated video goes out through a relay, so the room's screen can
        # read it too; the presenter's messages are copied to the room's viewers
        self.relay: MediaRelay | None = None
        self.on_room_message: Callable[[str, dict[str, Any]], None] | None = None
        self.room_muted = False
        self._room_rules = RoomRules()
        self._room_message: dict[str, Any] | None = None
        self.hunt = PhoneHunt(self._send_hunt, self._loop.time)
        self.id = engine.open_session(self._result_from_engine)
        self._tasks = TaskSet(f"session {self.id}")
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)
        self._spawn(report_stats(self), "stats")

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def has_camera(self) -> bool:
        """The offer gave us a video track to read (set while the offer is applied)."""
        return self._camera is not None

    def when_closed(self, callback: Callable[[Session], object]) -> None:
        self._on_closed.append(callback)

    def schedule_close(self, reason: str, detail: str = "") -> asyncio.Task[None]:
        """Close the session: forgotten and released at once (synchronously, so a sync event
        handler can call this), the peer connection closed in the background. Idempotent;
        returns the task closing the peer connection.

        `reason` is a short metric label (idle, connection_failed, shutdown, ...); `detail`
        goes to the log only.
        """
        if self._closing is None:
            self._release(reason, detail)
            closing = close_peer(self.pc, self.settings.close_timeout_s, f"session {self.id}")
            self._closing = detach(closing, name=f"close-{self.id}")
        return self._closing

    async def close(self, reason: str, detail: str = "") -> None:
        """`schedule_close`, then wait until the peer connection is closed."""
        # shielded: a caller being cancelled must not leave the connection half closed
        await asyncio.shield(self.schedule_close(reason, detail))

    def _release(self, reason: str, detail: str) -> None:
        self.closed = True
        self.close_reason = reason
        for callback in self._on_closed:
            callback(self)
        try:
            self.engine.close_session(self.id)
        except Exception:
            log.exception("session %s: engine.close_session failed", self.id)
        self._objects.stop_timer()
        self._vocabulary.cancel()
        self._tasks.cancel_all()
        if self.out_track is not None:
            self.out_track.stop()
        self.mailbox.close()
        self.latest = None
        self.latest_frame = None
        self.metrics.sessions_closed.labels(reason=reason).inc()
        log.info(
            "session %s closed: %s%s (%.1f s, %d frames in, %d out, %d results)",
            self.id,
            reason,
            f" - {detail}" if detail else "",
            time.monotonic() - self.created_at,
            self.frames_in,
            self.out_track.frames_out if self.out_track else 0,
            self.results,
        )

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.spawn(coro, name)

    # -- peer connection events ----------------------------------------------------------------

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        log.debug("session %s: connection %s", self.id, state)
        if state == "connected":
            log.info("session %s connected (%s)", self.id, self.peer)
        elif state in ("failed", "closed"):
            self.schedule_close(f"connection_{state}")

    def _on_track(self, track: MediaStreamTrack) -> None:
        if self.closed:
            return
        if track.kind == "video" and self._camera is None:
            self._camera = track
            self.out_track = AnnotatedVideoTrack(
                self.mailbox,
                OverlayPainter(self.settings.output_height, follow=self.settings.follow_masks),
                self._overlay_result,
                self._executor,
                on_frame_out=self._frame_out,
                on_error=self._overlay_failed,
            )
            # added while the offer is applied, so it rides the camera's sendrecv transceiver
            if self.room is None:
                self.pc.addTrack(self.out_track)
            else:
                self.relay = MediaRelay()
                self.pc.addTrack(self.relay.subscribe(self.out_track, buffered=False))
            self._spawn(pump(track, self._frame_in), "pump-video")
        else:
            # a second video track or audio: read and discard, or aiortc buffers it forever
            self._spawn(pump(track, None), f"drain-{track.kind}")

    def _frame_in(self, frame: av.VideoFrame) -> None:
        self.last_frame_at = time.monotonic()
        self.frames_in += 1
        self.metrics.frames_in.inc()
        shared = self.latest_frame = SharedFrame(frame, self.settings.max_frame_size)
        try:
            # the engine calls shared.rgb in its own thread: no pixel work on the loop
            self.engine.submit(self.id, shared.rgb)
        except Exception:
            self.metrics.errors.labels(kind="engine_call").inc()
            log.exception("session %s: engine.submit failed", self.id)
        if self.mailbox.put(shared):
            self.metrics.frames_dropped.labels(stage="outgoing").inc()
            self._lighten(self.load.dropped())

    def _frame_out(self, delay_s: float) -> None:
        self.metrics.frame_out(delay_s)
        self._lighten(self.load.frame_out(delay_s))

    def _lighten(self, level: int | None) -> None:
        """Apply a new load level to the outgoing video (`stream.webrtc.outgoing_load`)."""
        if level is None or self.out_track is None:
            return
        self.out_track.painter.set_load_level(level)
        log.info(
            "session %s: outgoing video at load level %d (smoothed delay %.0f ms)",
            self.id,
            level,
            self.load.delay_s * 1000,
        )

    # -- rooms -----------------------------------------------------------------------------------

    def presenter_track(self) -> MediaStreamTrack | None:
        """A new reader of this phone's annotated video (newest frame wins), for the room's
        screen; None before the phone sent its camera."""
        if self.relay is None or self.out_track is None or self.closed:
            return None
        return self.relay.subscribe(self.out_track, buffered=False)

    def apply_room(self, room: RoomSettings) -> list[str]:
        """Take the room's words, mute, language and hunt (`stream.webrtc.room_rules`); returns
        the problems (also sent to the phone as `error`)."""
        return self._room_rules.apply(self, room)

    def set_speech_on(self, on: bool) -> None:
        self.engine.set_speech(self.id, on)

    def _tell_room(self, kind: str, fields: dict[str, Any]) -> None:
        listener = self.on_room_message
        if listener is not None:
            try:
                listener(kind, fields)
            except Exception:
                log.exception("session %s: passing %s to the room failed", self.id, kind)

    def _overlay_result(self) -> RenderableResult | None:
        return self.latest

    def _overlay_failed(self, exc: BaseException) -> None:
        self.metrics.errors.labels(kind="overlay").inc()
        self._overlay_errors += 1
        if self._overlay_errors in (1, 10, 100) or self._overlay_errors % 1000 == 0:
            log.error(
                "session %s: drawing the overlay failed (%d times); frame sent plain: %r",
                self.id,
                self._overlay_errors,
                exc,
            )

    # -- results from the engine ---------------------------------------------------------------

    def _result_from_engine(self, result: EngineResult) -> None:
        """Called in the engine's worker thread: hop to the loop, nothing else."""
        # a closed loop raises RuntimeError: the server is gone, and so is this session
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_result, result)

    def _on_result(self, result: EngineResult) -> None:
        if self.closed or self.paused:
            return  # paused: the overlay and the words stay as they were
        self.latest = result
        self.results += 1
        self.metrics.overlay_updates.inc()
        self.metrics.observe_stages(result.timings_ms)
        self._objects.offer(
            {"frame": result.frame_index, "objects": wire.objects_fields(result.objects)}
        )
        for notice in result.notices:
            self.metrics.errors.labels(kind="vocabulary").inc()
            self.reply_error(ErrorCode.of(notice.code), notice.message)
        self.hunt.observe(result.objects, result.lighting)
        if result.say is not None and not self.hunt.active:  # a hunt's prompt is not talked over
            say = wire.say_fields(result.say)
            self.send("say", **say)
            self._tell_room("say", say)

    def _send_hunt(self, fields: dict[str, Any]) -> None:
        self.send("hunt", **fields)
        self._tell_room("hunt", fields)  # a class hunt's progress (`stream.classroom.hunt_api`)

    def _send_objects(self, fields: dict[str, Any]) -> bool:
        sent = self.send("objects", essential=False, **fields)
        self._tell_room("objects", fields)
        return sent

    # -- data channel ----------------------------------------------------------------------------

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if self.channel is not None:
            log.info("session %s: ignoring extra data channel %r", self.id, channel.label)
            return
        self.channel = channel
        channel.on("message", self._on_message)
        hello = wire.hello_fields(
            self.id,
            self.resume_token,
            self.words_in_force(),
            self.engine.themes,
            self.settings.idle_timeout_s,
        )
        self.send("hello", **hello)
        if self._room_message is not None:
            self.send("room", **self._room_message)

    def send(self, kind: str, essential: bool = True, **fields: Any) -> bool:
        """Send one message if the channel is open; returns whether it went out (see
        `send_message`)."""
        if kind == "room":  # kept: the room may speak before the phone's channel is open
            self._room_message = fields
        return send_message(
            self.channel, kind, fields, self.metrics, self.id, self.settings.max_buffered_bytes,
            essential=essential,
        )  # fmt: skip

    def reply_error(self, code: ErrorCode, message: str) -> None:
        self.send("error", code=code, message=message[:500])

    def _rate_limited(self) -> None:
        """A message over the limit: dropped and counted; answered `rate_limited` at most once
        per 1 / error_replies_per_s, and only when the channel is not congested."""
        self.rate_limited += 1
        self.metrics.errors.labels(kind="rate_limited").inc()
        if self._limit_replies.take():
            self.send(
                "error",
                essential=False,
                code=ErrorCode.RATE_LIMITED,
                message="too many messages: some were dropped; slow down",
            )

    def _on_message(self, raw: str | bytes) -> None:
        if self.closed:
            return
        if not self._messages_bucket.take():  # before parsing: a flood costs as little as can be
            self._rate_limited()
            return
        try:
            message = protocol.parse_client_message(raw)
        except protocol.ProtocolError as exc:
            self.metrics.errors.labels(kind="protocol").inc()
            self.metrics.messages.labels(direction="in", type="invalid").inc()
            self.reply_error(exc.code, str(exc))
            return
        self.metrics.messages.labels(direction="in", type=_MESSAGE_TYPES[type(message)]).inc()
        try:
            self._apply(message)
        except Exception:
            self.metrics.errors.labels(kind="engine_call").inc()
            log.exception("session %s: applying %r failed", self.id, message)
            self.reply_error(ErrorCode.INTERNAL, "the server could not apply that message")

    def _apply(self, message: protocol.ClientMessage) -> None:
        if isinstance(message, protocol.VocabularyMessage):
            if self.room is not None:  # the teacher sets a room's words, never a phone
                self.metrics.errors.labels(kind="vocabulary").inc()
                self.reply_error(
                    ErrorCode.ROOM_WORDS,
                    "in a class room the teacher chooses the words; yours stay",
                )
                return
            self._vocabulary.change(message)
        elif isinstance(message, protocol.TapMessage):
            self.engine.tap(self.id, message.x, message.y)
        elif isinstance(message, protocol.ModeMessage):
            self.paused = message.mode == "pause"
            self.engine.set_paused(self.id, self.paused)
            if not self.paused:  # "live" finds the words, "everything" segments everything
                self.engine.set_everything(self.id, message.mode == "everything")
            if self.paused:
                self._objects.stop_timer()
        elif isinstance(message, protocol.SpeechMessage):
            self.speech = message.on  # the room's mute wins while it lasts
            self.engine.set_speech(self.id, message.on and not self.room_muted)
        elif isinstance(message, protocol.SnapshotMessage):
            self._spawn(take_snapshot(self), "snapshot")
        elif isinstance(message, protocol.KeptMessage):
            self._spawn(send_kept(self), "kept")
        elif isinstance(message, protocol.HuntMessage):
            hunt_message(self, message)
        elif isinstance(message, protocol.LanguageMessage):
            self.set_language(message.code)

    def _vocabulary_overtaken(self) -> None:
        self.rate_limited += 1
        self.metrics.errors.labels(kind="rate_limited").inc()

    def _vocabulary_failed(self, message: protocol.VocabularyMessage) -> None:
        self.metrics.errors.labels(kind="engine_call").inc()
        log.exception("session %s: applying %r failed", self.id, message)
        self.reply_error(ErrorCode.INTERNAL, "the server could not apply that message")

    def _set_vocabulary(self, message: protocol.VocabularyMessage) -> None:
        self.set_words(message.words, message.theme)

    def set_words(self, words: str | None, theme: str | None) -> tuple[tuple[str, ...], str | None]:
        """New words (or a theme's) for the engine: (the cleaned words, None), or ((), the
        problem) when they are unusable (also sent as `error`)."""
        try:
            cleaned = self.engine.set_vocabulary(self.id, words=words, theme=theme)
        except (VocabularyError, UnknownThemeError) as exc:  # the engine names the known themes
            self.metrics.errors.labels(kind="vocabulary").inc()
            unknown = isinstance(exc, UnknownThemeError)
            text = str(exc) or f"unknown theme {theme!r}"
            self.reply_error(ErrorCode.UNKNOWN_THEME if unknown else ErrorCode.BAD_VOCABULARY, text)
            return (), text
        self._objects.forget_sent()  # new words: the next objects go out whatever they are
        return cleaned, None

    def words_in_force(self) -> tuple[str, ...]:
        try:
            return self.engine.session_stats(self.id).vocabulary
        except SessionClosedError:
            return ()

    def set_language(self, code: str) -> bool:
        """Badges, speech, hunts and the page's words in language `code` (the detector still
        gets English); an unknown code gets `unknown_language` and changes nothing."""
        try:
            self.engine.set_language(self.id, code)
            language = load_language(code)
        except UnknownLanguageError as exc:
            self.reply_error(ErrorCode.UNKNOWN_LANGUAGE, str(exc))
            return False
        self.hunt.use_language(language)
        self.send("language", **wire.language_fields(language))
        self._objects.forget_sent()  # the badges' words change: send them again
        return True

    # -- stats -------------------------------------------------------------------------------------

    def connection_path(self) -> ConnectionPath:
        """Relay / reflexive / direct, the server's leg's transport and the video codec;
        "pending" values if aiortc's state cannot be read (stats and scrapes must go on)."""
        try:
            return connection_path(self.pc)
        except Exception:
            log.debug("session %s: connection path unreadable", self.id, exc_info=True)
            return ConnectionPath()
