"""`RedisRoomStore` against a real redis-server: the `RoomStore` behaviours as one table run on
both stores (they must agree), then what only Redis has: two servers sharing rooms, the cap
under concurrent creates, no overwritten codes, TTLs, errors propagating."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis
import redis.asyncio

import stream.classroom.redis_room_store as redis_room_store
from stream.classroom.redis_room_store import RedisRoomStore
from stream.classroom.room_store import (
    MemoryRoomStore,
    RoomGoneError,
    RoomLimitError,
    RoomState,
    RoomStore,
    TeacherRoomLimitError,
    normalise_code,
)
from tests.support.redis_server import RedisServer

Store = MemoryRoomStore | RedisRoomStore


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"  # each test its own keys in the one server


@asynccontextmanager
async def _store(
    kind: str, url: str, max_rooms: int = 100, max_per_teacher: int = 100
) -> AsyncIterator[Store]:
    if kind == "memory":
        yield MemoryRoomStore(max_rooms, max_per_teacher=max_per_teacher)
        return
    store = RedisRoomStore(
        url, prefix=_prefix(), max_rooms=max_rooms, max_per_teacher=max_per_teacher
    )
    try:
        yield store
    finally:
        await store.close()


def _run(coroutine: Awaitable[None], timeout: float = 30) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coroutine, timeout)

    asyncio.run(bounded())


# the behaviours both stores share -------------------------------------------------------------


async def create_then_get(store: RoomStore) -> None:
    room = await store.create("alice")
    assert room.teacher == "alice"
    assert normalise_code(room.code) == room.code
    assert room.created_at > 0
    assert room == RoomState(code=room.code, teacher="alice", created_at=room.created_at)
    assert await store.get(room.code) == room


async def codes_differ(store: RoomStore) -> None:
    rooms = [await store.create("alice") for _ in range(10)]
    assert len({room.code for room in rooms}) == 10


async def get_unknown_is_none(store: RoomStore) -> None:
    assert await store.get("ABCDEF") is None


async def update_changes_only_the_given_fields(store: RoomStore) -> None:
    room = await store.create("alice")
    first = await store.update(room.code, presenter="s1", words="cup, lamp")
    assert first.presenter == "s1" and first.words == "cup, lamp"
    second = await store.update(room.code, speech_muted=True)
    assert second == RoomState(
        code=room.code,
        teacher="alice",
        created_at=room.created_at,
        presenter="s1",
        words="cup, lamp",
        speech_muted=True,
    )
    assert await store.get(room.code) == second


async def update_round_trips_every_value(store: RoomStore) -> None:
    room = await store.create("alice")
    await store.update(room.code, presenter="s1", theme="kitchen", projector_speech=True)
    changed = await store.update(
        room.code, presenter=None, words='café, Œuf, 🦊\n"q"', theme=None, ended=True
    )
    assert changed.presenter is None and changed.theme is None
    assert changed.words == 'café, Œuf, 🦊\n"q"'
    assert changed.projector_speech is True and changed.ended is True
    assert changed.speech_muted is False
    assert await store.get(room.code) == changed


async def update_without_changes_returns_the_room(store: RoomStore) -> None:
    room = await store.create("alice")
    assert await store.update(room.code) == room


async def update_of_an_unknown_room_raises_key_error(store: RoomStore) -> None:
    with pytest.raises(RoomGoneError):
        await store.update("ABCDEF", presenter="s1")
    with pytest.raises(RoomGoneError):
        await store.update("ABCDEF")
    assert await store.get("ABCDEF") is None  # nothing half-made


async def update_after_delete_raises_key_error(store: RoomStore) -> None:
    room = await store.create("alice")
    await store.delete(room.code)
    with pytest.raises(RoomGoneError):
        await store.update(room.code, ended=True)
    assert await store.get(room.code) is None


async def update_of_an_unknown_field_raises_type_error(store: RoomStore) -> None:
    room = await store.create("alice")
    with pytest.raises(TypeError):
        await store.update(room.code, colour="red")
    assert await store.get(room.code) == room


async def of_teacher_lists_theirs_oldest_first(store: RoomStore) -> None:
    assert await store.of_teacher("alice") == []
    first = await store.create("alice")
    await asyncio.sleep(0.002)
    await store.create("bob")
    await asyncio.sleep(0.002)
    second = await store.create("alice")
    second = await store.update(second.code, words="cup")
    assert await store.of_teacher("alice") == [first, second]
    assert [room.teacher for room in await store.of_teacher("bob")] == ["bob"]
    assert first.created_at < second.created_at


async def any_teacher_name_works(store: RoomStore) -> None:
    name = 'Zoë "Z" O\'Brien: 🦊\\class'
    room = await store.create(name)
    await store.update(room.code, presenter="s1")
    assert [r.code for r in await store.of_teacher(name)] == [room.code]
    assert await store.of_teacher("Zoë") == []
    await store.delete(room.code)
    assert await store.of_teacher(name) == []


async def delete_forgets_the_room(store: RoomStore) -> None:
    kept = await store.create("alice")
    gone = await store.create("alice")
    await store.delete(gone.code)
    assert await store.get(gone.code) is None
    assert await store.of_teacher("alice") == [kept]
    await store.delete(gone.code)  # again: nothing happens
    await store.delete("ABCDEF")


async def the_cap_holds_until_a_room_is_deleted(store: RoomStore) -> None:
    # made with max_rooms=3 (see test_both_stores_agree)
    rooms = [await store.create(f"t{i}") for i in range(3)]
    with pytest.raises(RoomLimitError):
        await store.create("t3")
    await store.delete(rooms[0].code)
    await store.create("t3")
    with pytest.raises(RoomLimitError):
        await store.create("t4")


async def one_teacher_cannot_take_every_room(store: RoomStore) -> None:
    # made with max_per_teacher=2 (see test_both_stores_agree)
    first, _ = [await store.create("greedy") for _ in range(2)]
    with pytest.raises(TeacherRoomLimitError, match="you have 2 open rooms"):
        await store.create("greedy")
    await store.create("other")  # the others still get rooms
    await store.delete(first.code)
    await store.create("greedy")


async def a_new_code_moves_the_room_and_the_old_code_dies(store: RoomStore) -> None:
    room = await store.update((await store.create("alice")).code, words="cup", locked=True)
    moved = await store.rename(room.code)
    assert moved.code != room.code and normalise_code(moved.code) == moved.code
    assert (moved.teacher, moved.words, moved.locked, moved.created_at) == (
        "alice", "cup", True, room.created_at,
    )  # fmt: skip
    assert await store.get(room.code) is None
    assert await store.get(moved.code) == moved
    assert [r.code for r in await store.of_teacher("alice")] == [moved.code]
    assert [r.code for r in await store.open_rooms()] == [moved.code]
    with pytest.raises(RoomGoneError):
        await store.update(room.code, words="x")
    with pytest.raises(RoomGoneError):
        await store.rename(room.code)


async def screens_and_settings_round_trip(store: RoomStore) -> None:
    room = await store.create("alice")
    changed = await store.update(
        room.code, screens=("a" * 64, "b" * 64), first_phone_presents=True, locked=True
    )
    assert changed.screens == ("a" * 64, "b" * 64)  # a tuple again, not a list
    assert await store.get(room.code) == changed
    assert "screens" not in changed.public()  # members never see the screens' digests


async def touch_keeps_the_room_and_refuses_a_missing_one(store: RoomStore) -> None:
    room = await store.create("alice")
    await store.touch(room.code)
    assert await store.get(room.code) == room
    with pytest.raises(RoomGoneError):
        await store.touch("ZZZZZZ")


SHARED: list[Callable[[RoomStore], Awaitable[None]]] = [
    one_teacher_cannot_take_every_room,
    a_new_code_moves_the_room_and_the_old_code_dies,
    screens_and_settings_round_trip,
    touch_keeps_the_room_and_refuses_a_missing_one,
    create_then_get,
    codes_differ,
    get_unknown_is_none,
    update_changes_only_the_given_fields,
    update_round_trips_every_value,
    update_without_changes_returns_the_room,
    update_of_an_unknown_room_raises_key_error,
    update_after_delete_raises_key_error,
    update_of_an_unknown_field_raises_type_error,
    of_teacher_lists_theirs_oldest_first,
    any_teacher_name_works,
    delete_forgets_the_room,
    the_cap_holds_until_a_room_is_deleted,
]


@pytest.mark.parametrize("kind", ["memory", "redis"])
@pytest.mark.parametrize("case", SHARED, ids=[case.__name__ for case in SHARED])
def test_both_stores_agree(
    kind: str, case: Callable[[RoomStore], Awaitable[None]], server: RedisServer
) -> None:
    max_rooms = 3 if case is the_cap_holds_until_a_room_is_deleted else 100
    per_teacher = 2 if case is one_teacher_cannot_take_every_room else 100

    async def run() -> None:
        async with _store(kind, server.url, max_rooms, per_teacher) as store:
            await case(store)

    _run(run())


# Redis only -----------------------------------------------------------------------------------


def test_two_servers_share_rooms_and_updates(server: RedisServer) -> None:
    async def run() -> None:
        prefix = _prefix()
        a = RedisRoomStore(server.url, prefix=prefix, max_rooms=3)
        b = RedisRoomStore(server.url, prefix=prefix, max_rooms=3)
        try:
            room = await a.create("alice")
            assert await b.get(room.code) == room
            await b.update(room.code, presenter="phone-on-b")
            await a.update(room.code, words="cup")
            both = await b.get(room.code)
            assert both is not None
            assert (both.presenter, both.words) == ("phone-on-b", "cup")
            assert await a.of_teacher("alice") == await b.of_teacher("alice") == [both]
            # one cap for both
            await b.create("bob")
            await a.create("carol")
            with pytest.raises(RoomLimitError):
                await b.create("dave")
            await b.delete(room.code)
            assert await a.get(room.code) is None
            assert await a.of_teacher("alice") == []
            with pytest.raises(RoomGoneError):
                await a.update(room.code, ended=True)
            # another prefix is another deployment
            other = RedisRoomStore(server.url, prefix=_prefix(), max_rooms=3)
            try:
                assert await other.of_teacher("bob") == []
                await other.create("bob")
            finally:
                await other.close()
        finally:
            await a.close()
            await b.close()

    _run(run())


def test_concurrent_creates_never_pass_the_cap_nor_collide(server: RedisServer) -> None:
    async def run() -> None:
        prefix = _prefix()
        stores = [RedisRoomStore(server.url, prefix=prefix, max_rooms=20) for _ in range(2)]
        try:
            results = await asyncio.gather(
                *(stores[i % 2].create(f"teacher{i % 5}") for i in range(50)),
                return_exceptions=True,
            )
            made = [r for r in results if isinstance(r, RoomState)]
            refused = [r for r in results if isinstance(r, RoomLimitError)]
            assert len(made) == 20 and len(refused) == 30, results
            assert len({room.code for room in made}) == 20
            for room in made:
                assert await stores[1].get(room.code) == room
            listed = [room for i in range(5) for room in await stores[0].of_teacher(f"teacher{i}")]
            assert sorted(listed, key=lambda r: r.code) == sorted(made, key=lambda r: r.code)
            assert await stores[0].client.zcard(f"{prefix}:rooms") == 20
        finally:
            for store in stores:
                await store.close()

    _run(run())


def test_a_taken_code_is_never_overwritten(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = iter(["AAAAAA", "AAAAAA", "AAAAAA", "BBBBBB"])
    monkeypatch.setattr(redis_room_store, "new_code", lambda: next(drawn))

    async def run() -> None:
        async with _store("redis", server.url) as store:
            first = await store.create("alice")
            first = await store.update(first.code, presenter="s1")
            second = await store.create("mallory")
            assert (first.code, second.code) == ("AAAAAA", "BBBBBB")
            assert await store.get("AAAAAA") == first
            assert await store.of_teacher("mallory") == [second]

    _run(run())


def test_concurrent_updates_of_different_fields_all_land(server: RedisServer) -> None:
    async def run() -> None:
        prefix = _prefix()
        a = RedisRoomStore(server.url, prefix=prefix)
        b = RedisRoomStore(server.url, prefix=prefix)
        try:
            room = await a.create("alice")
            for i in range(20):
                await asyncio.gather(
                    a.update(room.code, presenter=f"p{i}"),
                    b.update(room.code, words=f"w{i}"),
                    a.update(room.code, theme=f"t{i}"),
                    b.update(room.code, speech_muted=i % 2 == 0),
                )
                now = await b.get(room.code)
                assert now is not None
                assert (now.presenter, now.words, now.theme, now.speech_muted) == (
                    f"p{i}",
                    f"w{i}",
                    f"t{i}",
                    i % 2 == 0,
                )
        finally:
            await a.close()
            await b.close()

    _run(run())


def test_every_write_sets_the_ttl(server: RedisServer) -> None:
    async def run() -> None:
        prefix = _prefix()
        store = RedisRoomStore(server.url, prefix=prefix, ttl_s=60)
        client = store.client
        try:
            room = await store.create("alice")
            keys = [f"{prefix}:room:{room.code}", f"{prefix}:rooms", f"{prefix}:teacher:alice"]
            for key in keys:
                assert 50_000 < await client.pttl(key) <= 60_000, key
            # the values are JSON, one field per RoomState field
            raw = await client.hgetall(keys[0])
            assert json.loads(raw[b"teacher"]) == "alice"
            assert json.loads(raw[b"presenter"]) is None
            fields = {k.decode() for k in raw if isinstance(k, bytes)}
            assert fields == set(redis_room_store.ROOM_FIELDS)
            for key in keys:
                await client.pexpire(key, 1_000)
            await store.update(room.code, presenter="s1")
            for key in keys:
                assert 50_000 < await client.pttl(key) <= 60_000, key
            score = await client.zscore(keys[1], room.code)
            assert score is not None and score > 1_000 * room.created_at + 50_000
        finally:
            await store.close()

    _run(run())


def test_an_abandoned_room_expires_and_frees_its_place(server: RedisServer) -> None:
    async def run() -> None:
        prefix = _prefix()
        store = RedisRoomStore(server.url, prefix=prefix, max_rooms=1, ttl_s=1.0)
        try:
            room = await store.create("alice")
            with pytest.raises(RoomLimitError):
                await store.create("bob")
            await asyncio.sleep(1.3)
            assert await store.get(room.code) is None
            assert await store.of_teacher("alice") == []
            with pytest.raises(RoomGoneError):
                await store.update(room.code, ended=True)
            assert await store.get(room.code) is None  # the failed update made nothing
            await store.create("bob")
        finally:
            await store.close()

    _run(run())


def test_a_room_whose_hash_vanished_does_not_count(server: RedisServer) -> None:
    async def run() -> None:
        prefix = _prefix()
        store = RedisRoomStore(server.url, prefix=prefix, max_rooms=1)
        try:
            room = await store.create("alice")
            await store.client.delete(f"{prefix}:room:{room.code}")  # evicted, say
            assert await store.of_teacher("alice") == []
            await store.create("bob")
        finally:
            await store.close()

    _run(run())


def test_delete_removes_the_hash_and_the_index_entries(server: RedisServer) -> None:
    async def run() -> None:
        async with _store("redis", server.url) as store:
            assert isinstance(store, RedisRoomStore)
            room = await store.create("alice")
            client = store.client
            assert await client.exists(f"{store.prefix}:room:{room.code}") == 1
            await store.delete(room.code)
            assert await client.exists(f"{store.prefix}:room:{room.code}") == 0
            assert await client.zscore(store.rooms_key(), room.code) is None
            assert await client.zscore(store.teacher_key("alice"), room.code) is None

    _run(run())


def test_a_given_client_is_used_and_left_open(server: RedisServer) -> None:
    async def run() -> None:
        client: Any = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
        try:
            store = RedisRoomStore("redis://unused:1/0", prefix=_prefix(), client=client)
            room = await store.create("alice")
            room = await store.update(room.code, words="cup")
            assert await store.get(room.code) == room
            assert await store.of_teacher("alice") == [room]
            await store.close()
            assert await client.ping()
        finally:
            await client.aclose()

    _run(run())


def test_redis_errors_propagate(server: RedisServer) -> None:
    async def run() -> None:
        down = RedisServer()  # a free port with nothing listening
        store = RedisRoomStore(down.url)
        try:
            calls: list[Callable[[], Awaitable[object]]] = [
                lambda: store.create("alice"),
                lambda: store.get("ABCDEF"),
                lambda: store.update("ABCDEF", ended=True),
                lambda: store.of_teacher("alice"),
                lambda: store.delete("ABCDEF"),
            ]
            for call in calls:
                with pytest.raises(redis.ConnectionError):
                    await call()
        finally:
            await store.close()

    _run(run())


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        RedisRoomStore("redis://localhost:6379/0", max_rooms=0)
    with pytest.raises(ValueError):
        RedisRoomStore("redis://localhost:6379/0", ttl_s=0)


def test_what_a_room_is_filed_under_cannot_change(server: RedisServer) -> None:
    async def run() -> None:
        async with _store("redis", server.url) as store:
            room = await store.create("alice")
            for change in ({"teacher": "bob"}, {"created_at": 1.0}):
                with pytest.raises(ValueError):
                    await store.update(room.code, **change)
            assert await store.get(room.code) == room

    _run(run())


def test_a_memory_room_nobody_uses_ends_after_its_idle_time() -> None:
    """The memory store's idle end, on a clock only the test moves (Redis's TTL is above)."""
    now = [0.0]

    async def run() -> None:
        store = MemoryRoomStore(max_per_teacher=1, idle_s=600, clock=lambda: now[0])
        used, idle = await store.create("alice"), await store.create("bob")
        now[0] = 500.0
        await store.touch(used.code)  # a teacher or a phone is there
        now[0] = 700.0
        assert await store.get(idle.code) is None  # 700 s untouched
        assert await store.get(used.code) is not None  # touched 200 s ago
        await store.create("bob")  # the idle room no longer counts against bob's cap
        now[0] = 1200.0
        assert await store.open_rooms() == [r for r in await store.of_teacher("bob")]

    _run(run())
