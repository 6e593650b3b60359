"""Prints how many fuzz cases each target ran, after the test session."""

from __future__ import annotations

import pytest

from tests.fuzz.fuzzing import COUNTS, examples


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not COUNTS:
        return
    terminalreporter.section(f"fuzz cases per target (VA_FUZZ_EXAMPLES={examples()})")
    for target, n in sorted(COUNTS.items()):
        terminalreporter.write_line(f"{target:<32} {n:>8,}")
    terminalreporter.write_line(f"{'total':<32} {sum(COUNTS.values()):>8,}")
