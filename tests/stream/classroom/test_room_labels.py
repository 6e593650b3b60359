"""A class screen switched to another phone gets that phone's labels at once: a phone sends
`objects` only when they change, so the screen must not wait for the next change."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import VideoStreamTrack

from stream.classroom.room_store import MemoryRoomStore
from stream.classroom.rooms import RoomHub, RoomState


class Member:
    def __init__(self, member_id: str) -> None:
        self.id = member_id
        self.closed = False
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.on_room_message: Any = None
        self.room: str | None = None
        self.peer = f"client-{member_id}"
        self.latest_frame: Any = None  # no camera: no preview

    def send(self, kind: str, essential: bool = True, **fields: Any) -> bool:
        self.sent.append((kind, fields))
        return True

    def schedule_close(self, reason: str, detail: str = "") -> None:
        self.closed = True

    def presenter_track(self) -> VideoStreamTrack:
        return VideoStreamTrack()

    def apply_room(self, room: RoomState) -> list[str]:
        return list(room.words or ())


def test_a_screen_gets_the_new_presenters_labels_when_the_teacher_switches() -> None:
    async def lesson() -> None:
        hub = RoomHub(MemoryRoomStore())
        state = await hub.store.create("ana")
        _, token = await hub.mint_screen(state.code)
        ana, ben, screen = Member("s1"), Member("s2"), Member("v1")
        for phone in (ana, ben):
            await hub.join_phone(state.code, phone)
        await hub.join_viewer(state.code, screen, token)
        assert ben.on_room_message is not None and ana.on_room_message is not None
        await hub.set_presenter(state.code, ana.id)
        ana.on_room_message("objects", {"objects": [{"label": "cat"}]})
        ben.on_room_message("objects", {"objects": [{"label": "cup"}]})  # not shown yet
        assert [f["objects"] for k, f in screen.sent if k == "objects"][-1] == [{"label": "cat"}]

        await hub.set_presenter(state.code, ben.id)  # Ben's labels never change again
        assert [f["objects"] for k, f in screen.sent if k == "objects"][-1] == [{"label": "cup"}]
        await hub.close()

    asyncio.run(asyncio.wait_for(lesson(), 30))
