"""Hypothesis strategies shared by the fuzz targets: JSON values, and mutations of real
inputs (bytes and line-based text such as SDP)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Integers stay within ±2**64 and nesting shallow: huge integers (a bare ValueError from
# json.loads) and deep nesting (RecursionError) have their own cases in test_json_limits.py.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def encode_json(value: Any, ensure_ascii: bool, encoding: str) -> bytes:
    return json.dumps(value, ensure_ascii=ensure_ascii).encode(encoding, errors="surrogatepass")


@st.composite
def json_bytes(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> bytes:
    """`values` as JSON, in one of the encodings json.loads detects in bytes."""
    value = draw(values)
    return encode_json(
        value, draw(st.booleans()), draw(st.sampled_from(["utf-8", "utf-16", "utf-32"]))
    )


@st.composite
def mutated_bytes(draw: st.DrawFn, base: bytes, max_mutations: int = 4) -> bytes:
    """`base` with 1..`max_mutations` byte-level edits: flips, inserts, deletes, truncation,
    duplicated or swapped slices."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, max_mutations))):
        kind = draw(
            st.sampled_from(["flip", "set", "insert", "delete", "truncate", "repeat", "swap"])
        )
        size = len(data)
        if size == 0:
            data += draw(st.binary(min_size=1, max_size=16))
            continue
        at = draw(st.integers(0, size - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, ord("{"), ord('"')]))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "repeat":
            end = min(size, at + draw(st.integers(1, 256)))
            data[at:at] = data[at:end] * draw(st.integers(1, 4))
        else:  # swap two slices of equal length
            other = draw(st.integers(0, size - 1))
            n = draw(st.integers(1, 32))
            a, b = sorted((at, other))
            if a + n <= b:
                data[a : a + n], data[b : b + n] = data[b : b + n], data[a : a + n]
    return bytes(data)


@st.composite
def mutated_lines(draw: st.DrawFn, base: str, max_mutations: int = 4) -> str:
    """Line-level edits of text such as SDP: lines dropped, duplicated, swapped, inserted,
    their values replaced (numbers with extreme ones), characters spliced, line ends changed."""
    lines = base.split("\r\n")
    for _ in range(draw(st.integers(1, max_mutations))):
        kind = draw(
            st.sampled_from(
                ["drop", "dup", "swap", "insert", "value", "number", "chars", "truncate"]
            )
        )
        if not lines:
            lines.append(draw(st.text(max_size=40)))
            continue
        at = draw(st.integers(0, len(lines) - 1))
        line = lines[at]
        if kind == "drop":
            del lines[at]
        elif kind == "dup":
            lines[at:at] = [line] * draw(st.integers(1, 3))
        elif kind == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == "insert":
            key = draw(st.sampled_from("vosctmabiekrzu") | st.characters())
            lines.insert(at, f"{key}={draw(st.text(max_size=60))}")
        elif kind == "value":
            prefix = line.split("=", 1)[0] if "=" in line else line[:1]
            keep = draw(st.sampled_from(["", ":"])) if ":" in line else ""
            head = line.split(":", 1)[0] + keep if keep else prefix + "="
            lines[at] = head + draw(st.text(max_size=60))
        elif kind == "number":
            number = draw(
                st.sampled_from(["0", "-1", "65536", "4294967296", "99999999999999999999", "1e9"])
                | st.integers(-(2**40), 2**40).map(str)
            )
            words = line.split(" ")
            spot = draw(st.integers(0, len(words) - 1))
            words[spot] = "".join(c if not c.isdigit() else "" for c in words[spot]) + number
            lines[at] = " ".join(words)
        elif kind == "chars":
            spot = draw(st.integers(0, len(line)))
            cut = draw(st.integers(0, 8))
            lines[at] = line[:spot] + draw(st.text(max_size=12)) + line[spot + cut :]
        else:
            lines[at] = line[: draw(st.integers(0, len(line)))]
            del lines[at + 1 :]
    separator = draw(st.sampled_from(["\r\n", "\r\n", "\n", "\r", " "]))
    return separator.join(lines)
