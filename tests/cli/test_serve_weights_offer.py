"""`make serve` without checkpoints: a terminal is asked once, yes fetches and serves the real
models, anything else (no, no answer, a refused download, no terminal) serves demo mode with
one line saying why. The terminal check, the answer and the download are injected; the real
download runs against a loopback HTTP server (`served_dir`), never the internet."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from inference.weights.checkpoints import Manifest
from tests.support.weights import entry, random_bytes, write_manifest
from visionanything.cli import build_parser
from visionanything.commands import serve
from visionanything.commands.weights_offer import (
    Choice,
    MissingFiles,
    ask_on_terminal,
    choose_models,
    fetch_now,
    fetch_question,
    missing_files,
    needed_groups,
    says_yes,
)

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
SAM, DINO = random_bytes(2_500_000, seed=1), random_bytes(1_000_000, seed=2)


def _manifest(tmp_path: Path, base_url: str = "http://127.0.0.1:9") -> Path:
    """Two groups like the real manifest: one pinned file each, and an unpinned config."""
    return write_manifest(
        tmp_path / "weights" / "manifest.json",
        [
            entry("mobile_sam", "mobile_sam.pt", SAM, url=f"{base_url}/mobile_sam.pt"),
            entry("grounding_dino", "dino/model.bin", DINO, url=f"{base_url}/model.bin"),
            entry("grounding_dino", "dino/config.json", b"{}", f"{base_url}/config.json", False),
        ],
    )


class Terminal:
    """The injected terminal: whether there is one, the answer typed, the questions asked."""

    def __init__(self, present: bool = True, answer: str | None = "") -> None:
        self.present = present
        self.answer = answer
        self.questions: list[str] = []

    def is_terminal(self) -> bool:
        return self.present

    def ask(self, question: str) -> str | None:
        self.questions.append(question)
        return self.answer


class Fetcher:
    """The injected download: writes the files (success) or fails with a reason."""

    def __init__(self, problem: str | None = None, raises: Exception | None = None) -> None:
        self.problem = problem
        self.raises = raises
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, manifest: Manifest, groups: Sequence[str]) -> str | None:
        self.calls.append(tuple(groups))
        if self.raises is not None:
            raise self.raises
        if self.problem is not None:
            return self.problem
        for item in manifest.entries:
            path = item.path(manifest.weights_dir)
            path.parent.mkdir(parents=True, exist_ok=True)
            data = {"mobile_sam.pt": SAM, "dino/model.bin": DINO}.get(item.file, b"{}")
            path.write_bytes(data)
        return None


def _choose(
    manifest: Path, terminal: Terminal, fetcher: Fetcher, if_missing: str = "ask"
) -> Choice:
    return choose_models(
        if_missing,
        lambda: Manifest.load(manifest),
        is_terminal=terminal.is_terminal,
        ask=terminal.ask,
        fetch=fetcher,
        later="make weights",
    )


def test_a_yes_on_a_terminal_fetches_and_serves_the_real_models(tmp_path: Path) -> None:
    manifest, terminal, fetcher = _manifest(tmp_path), Terminal(answer=""), Fetcher()
    choice = _choose(manifest, terminal, fetcher)
    assert choice.models == "real" and choice.message == "Got the real models: serving them."
    # asked once, with the size of the pinned files (the config has none: "at least")
    assert terminal.questions == ["Fetch the real models now? at least 4 MB [Y/n] "]
    assert fetcher.calls == [("mobile_sam", "grounding_dino")]
    # nothing missing any more: the next start asks nothing
    again = Terminal()
    assert _choose(manifest, again, Fetcher()) == Choice("real") and again.questions == []


@pytest.mark.parametrize(
    ("terminal", "fetcher", "starts"),
    [
        (Terminal(answer="n"), Fetcher(), "OK, serving in demo mode"),
        (Terminal(answer="nope"), Fetcher(), "OK, serving in demo mode"),
        (Terminal(answer=None), Fetcher(), "No answer: serving in demo mode"),
        (Terminal(present=False), Fetcher(), "The real models are not downloaded yet"),
        (Terminal(answer="y"), Fetcher(problem="mobile_sam.pt: refused"), "Could not fetch"),
        (Terminal(answer="YES"), Fetcher(raises=OSError("disk full")), "Could not fetch"),
    ],
    ids=["no", "other answer", "no answer", "no terminal", "fetch fails", "fetch raises"],
)
def test_everything_but_a_successful_yes_serves_demo_mode_with_one_line(
    tmp_path: Path, terminal: Terminal, fetcher: Fetcher, starts: str
) -> None:
    choice = _choose(_manifest(tmp_path), terminal, fetcher)
    assert choice.models == "random"
    assert choice.message is not None and choice.message.startswith(starts), choice.message
    assert "\n" not in choice.message and "make weights" in choice.message
    assert "demo mode" in choice.message
    if not terminal.present:  # CI, systemd: never asked, never downloaded
        assert terminal.questions == [] and fetcher.calls == []
        assert "at least 4 MB" in choice.message
    if "fetch" in starts.lower():
        assert len(terminal.questions) == 1
        assert ("refused" in choice.message) or ("disk full" in choice.message)


def test_demo_and_stop_never_ask(tmp_path: Path) -> None:
    manifest, terminal, fetcher = _manifest(tmp_path), Terminal(), Fetcher()
    demo = _choose(manifest, terminal, fetcher, if_missing="demo")
    assert demo.models == "random" and "demo mode" in (demo.message or "")
    # stop: the models load as before and fail naming the fetch command
    assert _choose(manifest, terminal, fetcher, if_missing="stop") == Choice("real")
    assert terminal.questions == [] and fetcher.calls == []


def test_an_unreadable_manifest_serves_demo_mode(tmp_path: Path) -> None:
    choice = _choose(tmp_path / "nowhere.json", Terminal(), Fetcher())
    assert choice.models == "random" and "cannot be read" in (choice.message or "")


def test_what_is_missing_comes_from_sizes_and_partial_downloads(tmp_path: Path) -> None:
    manifest_path = _manifest(tmp_path)
    weights = manifest_path.parent
    (weights / "mobile_sam.pt.part").write_bytes(SAM[:1_500_000])  # an interrupted download
    (weights / "dino").mkdir()
    (weights / "dino" / "model.bin").write_bytes(DINO[:10])  # truncated: wrong size
    (weights / "dino" / "config.json").write_text("{}")  # unpinned, present: fine
    missing = missing_files(Manifest.load(manifest_path))
    assert [path.name for path in missing.files] == ["mobile_sam.pt", "model.bin"]
    assert missing.known_bytes == len(SAM) - 1_500_000 + len(DINO)
    assert missing.size_words() == "about 2 MB" and missing.unknown_sizes == 0
    assert fetch_question(missing) == "Fetch the real models now? about 2 MB [Y/n] "
    assert fetch_question(MissingFiles((weights,), 0, 1)) == "Fetch the real models now? [Y/n] "
    only_sam = missing_files(Manifest.load(manifest_path), ["mobile_sam"])
    assert [path.name for path in only_sam.files] == ["mobile_sam.pt"]


def test_only_the_served_detectors_checkpoints_are_needed(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path / "m.json",
        [
            entry("mobile_sam", "a.pt", b"a"),
            entry("grounding_dino", "b/model.bin", b"b"),
            entry("mm_grounding_dino", "c/model.bin", b"c"),
        ],
    )
    loaded = Manifest.load(manifest)
    assert needed_groups(loaded, "grounding-dino-tiny") == ["mobile_sam", "grounding_dino"]
    assert needed_groups(loaded, "mm-grounding-dino-tiny") == ["mobile_sam", "mm_grounding_dino"]


@pytest.mark.parametrize(
    ("answer", "yes"),
    [("", True), ("y", True), (" Yes ", True), ("n", False), ("no", False), ("x", False)],
)
def test_enter_is_yes(answer: str, yes: bool) -> None:
    assert says_yes(answer) is yes
    assert says_yes(None) is False


def test_the_question_reads_one_line_and_gives_up_at_end_of_input_or_time() -> None:
    out = io.StringIO()
    reader, writer = os.pipe()
    with os.fdopen(reader) as source, os.fdopen(writer, "w") as sink:
        sink.write("n\nmore\n")
        sink.flush()
        assert ask_on_terminal("Q? ", source=source, out=out, timeout_s=30) == "n"
        assert out.getvalue() == "Q? "
    reader, writer = os.pipe()
    with os.fdopen(reader) as source, os.fdopen(writer, "w"):
        # nobody types: gives up after the timeout (0 here) instead of hanging
        assert ask_on_terminal("Q? ", source=source, out=io.StringIO(), timeout_s=0) is None
    reader, writer = os.pipe()
    os.close(writer)
    with os.fdopen(reader) as source:  # end of input (Ctrl-D)
        assert ask_on_terminal("Q? ", source=source, out=io.StringIO(), timeout_s=30) is None


def test_a_yes_downloads_over_http_like_weights_fetch(
    served_dir: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, base_url = served_dir
    (root / "mobile_sam.pt").write_bytes(SAM)
    (root / "model.bin").write_bytes(DINO)
    (root / "config.json").write_bytes(b"{}")
    manifest = _manifest(tmp_path, base_url)
    terminal = Terminal(answer="y")
    choice = choose_models(
        "ask",
        lambda: Manifest.load(manifest),
        is_terminal=terminal.is_terminal,
        ask=terminal.ask,
        fetch=lambda m, groups: fetch_now(m, groups, progress=False, retry_delay=0),
        later="make weights",
    )
    assert choice.models == "real", choice
    assert (manifest.parent / "mobile_sam.pt").read_bytes() == SAM
    assert (manifest.parent / "dino" / "model.bin").read_bytes() == DINO
    out = capsys.readouterr().out  # the lines `weights fetch` prints, one per file
    assert [line.split()[0] for line in out.splitlines()] == ["downloaded"] * 3


def test_a_refused_download_stops_at_the_first_group_and_serves_demo(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, "http://127.0.0.1:9")  # the discard port: refused
    tried: list[tuple[str, ...]] = []

    def fetch(m: Manifest, groups: Sequence[str]) -> str | None:
        tried.append(tuple(groups))
        return fetch_now(m, groups, progress=False, retries=0, timeout=5)

    choice = choose_models(
        "ask",
        lambda: Manifest.load(manifest),
        is_terminal=lambda: True,
        ask=lambda question: "",
        fetch=fetch,
        later="make weights",
    )
    assert choice.models == "random"
    assert "Could not fetch the real models (mobile_sam.pt" in (choice.message or "")
    assert not (manifest.parent / "dino").exists()  # the big group was never started


def test_serve_wires_the_choice_into_its_models(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    lines: list[str] = []
    args = build_parser().parse_args(["serve", "--if-missing", "ask", "--manifest", str(manifest)])
    models = serve.pick_models(
        args, is_terminal=lambda: False, ask=Terminal().ask, fetch=Fetcher(), say=lines.append
    )
    assert models == "random" and len(lines) == 1 and "demo mode" in lines[0]
    fetched = serve.pick_models(
        args, is_terminal=lambda: True, ask=lambda q: "y", fetch=Fetcher(), say=lines.append
    )
    assert fetched == "real" and lines[-1] == "Got the real models: serving them."
    # --models random and the default (stop) are left alone: nothing asked, nothing said
    for argv in (["serve", "--models", "random"], ["serve", "--manifest", str(tmp_path / "x")]):
        plain = build_parser().parse_args(argv)
        said: list[str] = []
        assert serve.pick_models(plain, say=said.append) == plain.models and said == []
    assert serve.fetch_hint("vis", REPO / "Makefile") == "make weights (or vis weights fetch)"
    assert serve.fetch_hint("vis", tmp_path / "no-Makefile") == "vis weights fetch"


def test_make_serve_asks() -> None:
    recipe = (REPO / "Makefile").read_text().split("\nserve:", 1)[1].split("\n\n", 1)[0]
    assert "serve --if-missing ask" in recipe


def test_serve_without_a_terminal_starts_in_demo_mode_at_once(tmp_path: Path) -> None:
    """CI and systemd: stdin is no terminal; serve says why in one line and serves demo mode
    (the banner says so too) instead of waiting for an answer."""
    manifest = _manifest(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    command = ["serve", "--http", "--port", "0", "--device", "cpu", "--if-missing", "ask"]
    command += ["--manifest", str(manifest), "--web-dir", str(tmp_path)]
    process = subprocess.Popen(
        [sys.executable, "-m", "visionanything", *command],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    listening = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if "http://127.0.0.1:" in line:
                listening.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert listening.wait(90), "".join(seen)
        output = "".join(seen)
        assert "The real models are not downloaded yet" in output, output
        assert "serving in demo mode" in output and "[Y/n]" not in output
        assert "DEMO" in output.upper()
    finally:
        process.terminate()
        process.wait(timeout=60)
