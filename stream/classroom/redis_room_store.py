"""Room state in Redis, so that several media servers behind a load balancer share the rooms.

`RedisRoomStore` is a `stream.classroom.room_store.RoomStore`: a room made on one server is found,
changed and ended from any other. Keys (all under `prefix`, default "va"):

    {prefix}:room:{code}        hash, one field per `RoomState` field, each value JSON
    {prefix}:rooms              sorted set: the open rooms' codes, scored by when they expire
                                (ms, Redis's clock): the cap on open rooms counts these
    {prefix}:teacher:{teacher}  sorted set: that teacher's codes, scored the same way

Every write (create, update, rename) goes through a Lua script, so it is atomic on the server:
create counts the open rooms and refuses past `max_rooms`, and the teacher's open rooms past
`max_per_teacher` (whichever server asks, however many at once), never overwrites an existing
code (a taken code is retried with a new one), and takes `created_at` from Redis's clock (one
clock for every server, so a teacher's rooms sort the same everywhere); update writes only the
fields it changes (two servers changing different fields both win) and raises RoomGoneError when the
room is gone. Each write sets the room's time to live back to `ttl_s` (`touch` is a write of
nothing: the servers touch the rooms that have phones, screens or their teacher connected): a
room nobody touches for that long expires by itself (its hash through Redis's expiry, its index
entries dropped by the next write, and skipped on read until then).

`teacher` and `created_at` are what a room is filed under, so update refuses them
(ValueError); an unknown field is a TypeError, as with `dataclasses.replace`.

Errors from Redis (unreachable, timeouts, a read-only replica, ...) are not caught here: they
propagate as `redis.exceptions.RedisError` (`redis.ConnectionError`, `redis.TimeoutError`, ...)
and the caller decides (an HTTP handler answers 503, say). The scripts read keys they derive
from the stored data (the teacher's index, the rooms listed in the index), so this store needs a
standalone Redis (or a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import redis.asyncio

from stream.classroom.room_store import (
    DEFAULT_IDLE_S,
    DEFAULT_ROOMS_PER_TEACHER,
    RoomGoneError,
    RoomLimitError,
    RoomState,
    new_code,
    teacher_limit_error,
)

ROOM_FIELDS = tuple(f.name for f in fields(RoomState))
IMMUTABLE_FIELDS = frozenset({"teacher", "created_at"})  # `code` is update's own argument
CREATE_ATTEMPTS = 100  # fresh codes tried when the drawn one is taken (1 in ~10^9 each)

_LUA_HELPERS = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), t
end
-- a key that lists rooms lives at least as long as the newest room in it
local function extend(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
-- how many rooms an index lists, past those expired or whose hash is gone (evicted, flushed)
local function count(index, now, room_prefix, limit)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
  if redis.call('ZCARD', index) >= limit then
    for _, code in ipairs(redis.call('ZRANGE', index, 0, -1)) do
      if redis.call('EXISTS', room_prefix .. code) == 0 then redis.call('ZREM', index, code) end
    end
  end
  return redis.call('ZCARD', index)
end
"""

# KEYS: room, rooms, teacher's rooms
# ARGV: max_rooms, ttl_ms, code, room key prefix, max_per_teacher, field, value, ...
# (created_at comes from here)
_CREATE = (
    _LUA_HELPERS
    + """
local now, t = now_ms()
local ttl = tonumber(ARGV[2])
if count(KEYS[2], now, ARGV[4], tonumber(ARGV[1])) >= tonumber(ARGV[1]) then
  return {'limit'}
end
if count(KEYS[3], now, ARGV[4], tonumber(ARGV[5])) >= tonumber(ARGV[5]) then
  return {'teacher_limit'}
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'taken'} end
local created = string.format('%d.%06d', tonumber(t[1]), tonumber(t[2]))
redis.call('HSET', KEYS[1], 'created_at', created, unpack(ARGV, 6))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
extend(KEYS[2], ttl)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZADD', KEYS[3], now + ttl, ARGV[3])
extend(KEYS[3], ttl)
return {'ok', created}
"""
)

# KEYS: room, rooms
# ARGV: ttl_ms, code, teacher key prefix, field, value, ...
# returns the room after the change (HGETALL), or nil when there is no such room
_UPDATE = (
    _LUA_HELPERS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local now = now_ms()
local ttl = tonumber(ARGV[1])
if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[2])
extend(KEYS[2], ttl)
local teacher = redis.call('HGET', KEYS[1], 'teacher')
if teacher then
  local index = ARGV[3] .. cjson.decode(teacher)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
  redis.call('ZADD', index, now + ttl, ARGV[2])
  extend(index, ttl)
end
return redis.call('HGETALL', KEYS[1])
"""
)

# KEYS: room, new room, rooms
# ARGV: code, new code, teacher key prefix, ttl_ms
# returns {'gone'}, {'taken'} or the room under its new code (HGETALL)
_RENAME = (
    _LUA_HELPERS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'taken'} end
local now = now_ms()
local ttl = tonumber(ARGV[4])
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[2], 'code', cjson.encode(ARGV[2]))
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[3], now + ttl, ARGV[2])
extend(KEYS[3], ttl)
local teacher = redis.call('HGET', KEYS[2], 'teacher')
if teacher then
  local index = ARGV[3] .. cjson.decode(teacher)
  redis.call('ZREM', index, ARGV[1])
  redis.call('ZADD', index, now + ttl, ARGV[2])
  extend(index, ttl)
end
return redis.call('HGETALL', KEYS[2])
"""
)

# KEYS: room, rooms
# ARGV: code, teacher key prefix
_DELETE = """
local teacher = redis.call('HGET', KEYS[1], 'teacher')
if teacher then redis.call('ZREM', ARGV[2] .. cjson.decode(teacher), ARGV[1]) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _encode(value: Any) -> str:
    # UTF-8 rather than \\u escapes: the scripts decode `teacher` with cjson to name its index
    return json.dumps(value, ensure_ascii=False)


def _decode_room(raw: Mapping[Any, Any] | Sequence[Any]) -> RoomState | None:
    """A room from HGETALL's answer (a dict from the client, a flat list from a script)."""
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    else:
        pairs = list(zip(raw[0::2], raw[1::2], strict=True))
    if not pairs:
        return None
    known = set(ROOM_FIELDS)
    values: dict[str, Any] = {}
    for key, value in pairs:
        name = _text(key)
        if name in known:  # a field from a newer version is left to it
            decoded = json.loads(_text(value))
            values[name] = tuple(decoded) if isinstance(decoded, list) else decoded
    return RoomState(**values)


class RedisRoomStore:
    """`RoomStore` in Redis, shared by every server that uses the same Redis and `prefix`.

    url        redis://host:6379/0 (ignored when `client` is given)
    prefix     the start of every key (several deployments can share one Redis)
    max_rooms  the most open rooms, counted across all servers (RoomLimitError past it)
    max_per_teacher  the most open rooms of one teacher, across all servers
    ttl_s      a room nobody writes to (or touches) for this long expires
    client     an existing `redis.asyncio.Redis` (then `close` leaves it open: it is the
               caller's); by default the store makes its own from `url`

    Redis errors propagate (`redis.exceptions.RedisError`); see the module's docstring.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "va",
        max_rooms: int = 100,
        max_per_teacher: int = DEFAULT_ROOMS_PER_TEACHER,
        ttl_s: float = DEFAULT_IDLE_S,
        client: redis.asyncio.Redis | None = None,
    ) -> None:
        if max_rooms < 1:
            raise ValueError(f"max_rooms must be at least 1, got {max_rooms}")
        if max_per_teacher < 1:
            raise ValueError(f"max_per_teacher must be at least 1, got {max_per_teacher}")
        if not ttl_s >= 0.001:
            raise ValueError(f"ttl_s must be at least 0.001, got {ttl_s}")
        self.url = url
        self.prefix = prefix
        self.max_rooms = max_rooms
        self.max_per_teacher = max_per_teacher
        self.ttl_s = ttl_s
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._owns_client = client is None
        self.client: redis.asyncio.Redis = (
            client if client is not None else redis.asyncio.Redis.from_url(url)
        )
        self._create = self.client.register_script(_CREATE)
        self._update = self.client.register_script(_UPDATE)
        self._delete = self.client.register_script(_DELETE)
        self._rename = self.client.register_script(_RENAME)

    # keys
    def room_key(self, code: str) -> str:
        return f"{self.prefix}:room:{code}"

    def rooms_key(self) -> str:
        return f"{self.prefix}:rooms"

    def teacher_key(self, teacher: str) -> str:
        return f"{self.prefix}:teacher:{teacher}"

    # RoomStore
    async def create(self, teacher: str) -> RoomState:
        for _ in range(CREATE_ATTEMPTS):
            code = new_code()
            room = RoomState(code=code, teacher=teacher, created_at=0.0)
            pairs: list[str] = []
            for name in ROOM_FIELDS:
                if name != "created_at":
                    pairs += [name, _encode(getattr(room, name))]
            answer = await self._create(
                keys=[self.room_key(code), self.rooms_key(), self.teacher_key(teacher)],
                args=[
                    self.max_rooms, self._ttl_ms, code, self.room_key(""), self.max_per_teacher,
                    *pairs,
                ],
            )  # fmt: skip
            status = _text(answer[0])
            if status == "limit":
                raise RoomLimitError(f"{self.max_rooms} rooms are open; end one first")
            if status == "teacher_limit":
                raise teacher_limit_error(self.max_per_teacher)
            if status == "ok":
                return RoomState(code=code, teacher=teacher, created_at=float(_text(answer[1])))
        raise RuntimeError(f"no free room code after {CREATE_ATTEMPTS} tries")

    async def get(self, code: str) -> RoomState | None:
        raw = await self.client.hgetall(self.room_key(code))
        return _decode_room(raw)

    async def update(self, code: str, **changes: Any) -> RoomState:
        unknown = sorted(set(changes) - set(ROOM_FIELDS))
        if unknown:
            raise TypeError(f"RoomState has no field {', '.join(unknown)}")
        fixed = sorted(set(changes) & IMMUTABLE_FIELDS)
        if fixed:
            raise ValueError(f"a room's {', '.join(fixed)} cannot change")
        pairs: list[str] = []
        for name, value in changes.items():
            pairs += [name, _encode(value)]
        raw = await self._update(
            keys=[self.room_key(code), self.rooms_key()],
            args=[self._ttl_ms, code, self.teacher_key(""), *pairs],
        )
        room = _decode_room(raw) if raw is not None else None
        if room is None:
            raise RoomGoneError(code)
        return room

    async def of_teacher(self, teacher: str) -> list[RoomState]:
        return await self._rooms_listed_in(self.teacher_key(teacher))

    async def open_rooms(self) -> list[RoomState]:
        return await self._rooms_listed_in(self.rooms_key())

    async def _rooms_listed_in(self, index: str) -> list[RoomState]:
        """The rooms whose codes the sorted set `index` holds, oldest first."""
        listed = await self.client.zrange(index, 0, -1)
        codes = [_text(code) for code in listed if isinstance(code, bytes | str)]
        if not codes:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for code in codes:
                pipe.hgetall(self.room_key(code))
            answers = await pipe.execute()
        # an expired room may linger in the index until the next write; its hash is gone
        rooms = [room for raw in answers if (room := _decode_room(raw)) is not None]
        return sorted(rooms, key=lambda r: r.created_at)

    async def touch(self, code: str) -> None:
        await self.update(code)

    async def rename(self, code: str) -> RoomState:
        for _ in range(CREATE_ATTEMPTS):
            fresh = new_code()
            answer = await self._rename(
                keys=[self.room_key(code), self.room_key(fresh), self.rooms_key()],
                args=[code, fresh, self.teacher_key(""), self._ttl_ms],
            )
            if len(answer) == 1 and _text(answer[0]) == "gone":
                raise RoomGoneError(code)
            if len(answer) == 1 and _text(answer[0]) == "taken":
                continue
            room = _decode_room(answer)
            if room is None:  # pragma: no cover - the script returns the hash it renamed
                raise RoomGoneError(code)
            return room
        raise RuntimeError(f"no free room code after {CREATE_ATTEMPTS} tries")

    async def delete(self, code: str) -> None:
        await self._delete(
            keys=[self.room_key(code), self.rooms_key()], args=[code, self.teacher_key("")]
        )

    async def close(self) -> None:
        """Close the connections (only those of a client this store made)."""
        if self._owns_client:
            await self.client.aclose()
