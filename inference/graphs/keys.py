"""Names of exported-graph cache entries: a digest of everything the graph depends on.

An entry's key changes whenever the weights, the input size, the runtime or its version, torch,
or our own export format change, so a stale graph is never loaded (`inference.graphs.cache`
keeps the old one until eviction).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import torch
from torch import nn


def weights_sha256(module: nn.Module) -> str:
    """sha256 over a module's parameters and buffers (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        data = tensor.detach().to("cpu").contiguous().reshape(-1)  # 0-d buffers too
        digest.update(f"{name}|{data.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def entry_key(prefix: str, parts: Mapping[str, object]) -> str:
    """`<prefix>-<24 hex digits of sha256(parts as sorted JSON)>`."""
    blob = json.dumps(dict(parts), sort_keys=True).encode()
    return f"{prefix}-{hashlib.sha256(blob).hexdigest()[:24]}"
