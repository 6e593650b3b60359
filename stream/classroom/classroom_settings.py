"""`ClassroomSettings`: how many rooms, for how long, and where the teachers' accounts are
(`stream.app.ServerConfig.classroom`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stream.classroom.room_store import DEFAULT_IDLE_S, DEFAULT_ROOMS_PER_TEACHER


@dataclass(frozen=True)
class ClassroomSettings:
    """Classroom rooms and the teachers who open them.

    max_rooms              rooms open at once
    max_rooms_per_teacher  rooms one teacher may have open at once
    room_idle_s            a room with no teacher, phone or screen for this long ends
    teachers_file          teacher accounts (`visionanything teacher add`); None: the default
                           place (`stream.classroom.teachers.default_teachers_path`)
    secure_cookies         mark the teacher's login cookie Secure (served over HTTPS)
    """

    max_rooms: int = 100
    max_rooms_per_teacher: int = DEFAULT_ROOMS_PER_TEACHER
    room_idle_s: float = DEFAULT_IDLE_S
    teachers_file: Path | None = None
    secure_cookies: bool = False

    def __post_init__(self) -> None:
        if self.max_rooms < 1 or self.max_rooms_per_teacher < 1:
            raise ValueError(
                f"max_rooms ({self.max_rooms}) and max_rooms_per_teacher "
                f"({self.max_rooms_per_teacher}) must be at least 1"
            )
        if self.room_idle_s <= 0:
            raise ValueError(f"room_idle_s must be positive, got {self.room_idle_s}")
