"""`visionanything weights fetch|verify` (placeholder: being written)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("weights", help="fetch or verify checkpoints")
    parser.set_defaults(run=lambda args: 2)
