"""`visionanything weights fetch|verify` (placeholder: being written)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("segment", help="segment named objects in photos")
    parser.set_defaults(run=lambda args: 2)
