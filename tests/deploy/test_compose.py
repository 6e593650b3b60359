"""deploy/: the compose file as Docker Compose renders it (`config`, no daemon needed), the
Dockerfile's promises, and the two scripts baked into the image.

Compose is a system tool: `make test` installs Debian's docker-compose (SYSTEM_PACKAGES in the
Makefile) when run as root. Without any compose these tests fail and say how to install one.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REDIS_PASSWORD = "0123abcd" * 4
TURN_SECRET = "turn5ecret" * 4
PUBLIC_HOST = "va.school.example"
REQUIRED = {"VA_REDIS_PASSWORD": REDIS_PASSWORD, "VA_TURN_SECRET": TURN_SECRET}
REQUIRED["VA_PUBLIC_HOST"] = PUBLIC_HOST
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
GPU_MEDIA = DEPLOY / "compose.gpu-media.yaml"
ENV_FILE = DEPLOY / "example.env"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"

INSTALL_HINT = (
    "no Docker Compose here: install Debian's docker-compose (`apt-get install docker-compose`; "
    "`make test` does it when run as root, from SYSTEM_PACKAGES in the Makefile) or the "
    "Docker Compose v2 plugin (`docker compose`)"
)


def compose_command() -> list[str] | None:
    """`docker compose` (v2) when the plugin is there, else `docker-compose` (v1, Debian's)."""
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy is not None else None


def render(*files: Path, env_file: Path | None = ENV_FILE, **variables: str) -> dict[str, Any]:
    """`compose [--env-file F] -f FILE... config`, parsed; the caller's VA_*/COMPOSE_* variables
    are left out so that only the files and `variables` count."""
    command = compose_command()
    if command is None:
        pytest.fail(INSTALL_HINT)
    args = list(command)
    if env_file is not None:
        args += ["--env-file", str(env_file)]
    for file in files or (COMPOSE,):
        args += ["-f", str(file)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VA_", "COMPOSE_"))}
    env.update(REQUIRED)  # required, and left empty in example.env
    env.update(variables)
    result = subprocess.run(
        [*args, "config"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{' '.join(args)} config failed:\n{result.stderr}"
    rendered = yaml.safe_load(result.stdout)
    assert isinstance(rendered, dict), result.stdout
    return rendered


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return render()


def words(service: dict[str, Any]) -> str:
    command = service["command"]
    return " ".join(command) if isinstance(command, list) else str(command)


def gpu_devices(service: dict[str, Any]) -> list[dict[str, Any]]:
    reservations = service.get("deploy", {}).get("resources", {}).get("reservations", {})
    return [d for d in reservations.get("devices", []) if "gpu" in d.get("capabilities", [])]


def depends_on_healthy(service: dict[str, Any], other: str) -> bool:
    depends = service.get("depends_on", {})
    return isinstance(depends, dict) and depends.get(other, {}).get("condition") == (
        "service_healthy"
    )


# --- compose, as compose renders it ---------------------------------------------------------


def test_services_are_redis_media_and_workers(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) == {"redis", "media", "worker", "turn"}
    redis = services["redis"]
    assert redis["image"] == "redis:7-alpine"
    assert "redis-cli" in redis["healthcheck"]["test"]


def test_redis_needs_a_password_and_persists_nothing(config: dict[str, Any]) -> None:
    redis = config["services"]["redis"]
    command = words(redis)
    assert "requirepass" in command and '"$$REDIS_PASSWORD"' in command
    assert REDIS_PASSWORD not in command  # not on redis-server's command line (ps shows it)
    assert redis["environment"]["REDIS_PASSWORD"] == REDIS_PASSWORD
    assert redis["environment"]["REDISCLI_AUTH"] == REDIS_PASSWORD  # the healthcheck's ping
    assert "--save ''" in command and "--appendonly no" in command
    assert "volumes" not in redis  # nowhere to keep anything
    for name in ("media", "worker"):
        service = config["services"][name]
        url = service["environment"]["VISIONANYTHING_REDIS_URL"]
        assert url.startswith(f"redis://:{REDIS_PASSWORD}@"), name
        assert REDIS_PASSWORD not in words(service) and "--redis" not in words(service)


@pytest.mark.parametrize("required", sorted(REQUIRED))
def test_compose_refuses_to_start_without_a_required_value(required: str) -> None:
    command = compose_command()
    if command is None:
        pytest.fail(INSTALL_HINT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VA_", "COMPOSE_"))}
    env.update({k: v for k, v in REQUIRED.items() if k != required})
    result = subprocess.run(
        [*command, "--env-file", str(ENV_FILE), "-f", str(COMPOSE), "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and required in result.stderr


def test_media_serves_through_redis_after_redis_is_healthy(config: dict[str, Any]) -> None:
    media = config["services"]["media"]
    command = words(media)
    assert command.startswith("visionanything serve --port")
    assert "--port 8443" in command and "--cert-dir /data/tls" in command
    assert depends_on_healthy(media, "redis")
    assert media["network_mode"] == "host"  # WebRTC: host ICE candidates on ephemeral UDP ports
    assert "https://127.0.0.1:8443/healthz" in media["healthcheck"]["test"]
    assert media["build"]["args"]["VARIANT"] == "cpu"


def test_turn_relays_with_a_shared_secret_on_the_hosts_network(config: dict[str, Any]) -> None:
    turn = config["services"]["turn"]
    image, _, tag = turn["image"].partition(":")
    assert image == "coturn/coturn" and tag and tag != "latest"  # pinned
    assert turn["network_mode"] == "host"  # relay ports and its address as the host's
    assert turn["environment"]["TURN_SECRET"] == TURN_SECRET
    assert turn["environment"]["TURN_REALM"] == "visionanything"
    assert (turn["environment"]["TURN_MIN_PORT"], turn["environment"]["TURN_MAX_PORT"]) == (
        "49160",
        "49200",
    )
    script = turn["entrypoint"][-1]
    assert "use-auth-secret" in script and "exec turnserver -c /tmp/turnserver.conf" in script
    assert any(v.endswith(":/etc/coturn/tls:ro") for v in map(str, turn["volumes"])) or any(
        isinstance(v, dict) and v.get("target") == "/etc/coturn/tls" for v in turn["volumes"]
    )


def _run_turn_entrypoint(
    config: dict[str, Any], tmp_path: Path, environment: dict[str, str]
) -> tuple[str, str]:
    """The turn service's entrypoint script under sh, with a stand-in turnserver: (the config
    file it wrote, the arguments turnserver got)."""
    script = config["services"]["turn"]["entrypoint"][-1].replace("$$", "$")
    conf, tls = tmp_path / "turnserver.conf", tmp_path / "tls"
    script = script.replace("/tmp/turnserver.conf", str(conf)).replace("/etc/coturn/tls", str(tls))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "turnserver"
    fake.write_text('#!/bin/sh\necho "$@"\n', encoding="utf-8")
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", **environment}
    result = subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert conf.stat().st_mode & 0o077 == 0  # the secret's file: the container's user only
    return conf.read_text(encoding="utf-8"), result.stdout.strip()


def test_turn_config_is_rendered_at_start_from_the_environment(
    config: dict[str, Any], tmp_path: Path
) -> None:
    environment = {k: str(v) for k, v in config["services"]["turn"]["environment"].items()}
    text, argv = _run_turn_entrypoint(config, tmp_path, environment)
    assert argv == f"-c {tmp_path / 'turnserver.conf'}"  # the secret is not among them
    lines = text.splitlines()
    assert f"static-auth-secret={TURN_SECRET}" in lines and "use-auth-secret" in lines
    assert {"realm=visionanything", "min-port=49160", "max-port=49200"} <= set(lines)
    assert {"listening-port=3478", "tls-listening-port=5349", "no-tls", "no-dtls"} <= set(lines)
    assert not any(line.startswith(("external-ip", "cert=")) for line in lines)

    (tmp_path / "tls").mkdir()
    for name in ("fullchain.pem", "privkey.pem"):
        (tmp_path / "tls" / name).write_text("x", encoding="utf-8")
    environment["TURN_EXTERNAL_IP"] = "203.0.113.7"
    lines = _run_turn_entrypoint(config, tmp_path, environment)[0].splitlines()
    assert "external-ip=203.0.113.7" in lines
    assert f"cert={tmp_path / 'tls' / 'fullchain.pem'}" in lines
    assert f"pkey={tmp_path / 'tls' / 'privkey.pem'}" in lines and "no-tls" not in lines


def test_media_offers_the_turn_service_to_both_ends(config: dict[str, Any]) -> None:
    from visionanything.cli import build_parser
    from visionanything.commands.serve_options import ice_from_args

    media = config["services"]["media"]
    assert media["environment"]["VISIONANYTHING_TURN_SECRET"] == TURN_SECRET
    args = build_parser().parse_args(media["command"][1:])
    settings = ice_from_args(args, environ=media["environment"])
    assert settings.urls == (
        f"stun:{PUBLIC_HOST}:3478",
        f"turn:{PUBLIC_HOST}:3478?transport=udp",
        f"turn:{PUBLIC_HOST}:3478?transport=tcp",
    )
    assert settings.secret == TURN_SECRET and settings.username is None


def test_no_secret_appears_in_any_command(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        shown = json.dumps(
            [service.get(key) for key in ("command", "entrypoint", "healthcheck")]
        )  # what `ps` or `docker inspect`'s Cmd would show
        for secret in (REDIS_PASSWORD, TURN_SECRET):
            assert secret not in shown, name
        assert "--static-auth-secret" not in shown and "--turn-secret " not in shown, name


def test_turn_knobs_reach_the_turn_service() -> None:
    turn = render(
        VA_TURN_REALM="school.example",
        VA_TURN_EXTERNAL_IP="203.0.113.7",
        VA_TURN_MIN_PORT="50000",
        VA_TURN_MAX_PORT="50100",
        VA_TURN_TLS_DIR="/etc/va-turn-tls",
    )["services"]["turn"]
    environment = turn["environment"]
    assert environment["TURN_REALM"] == "school.example"
    assert environment["TURN_EXTERNAL_IP"] == "203.0.113.7"
    assert (environment["TURN_MIN_PORT"], environment["TURN_MAX_PORT"]) == ("50000", "50100")
    assert "/etc/va-turn-tls" in json.dumps(turn["volumes"])


def test_workers_detect_on_a_gpu_through_redis(config: dict[str, Any]) -> None:
    worker = config["services"]["worker"]
    command = words(worker)
    assert command.startswith("visionanything worker --metrics-host 0.0.0.0")  # compose network
    assert "@redis:6379/0" in worker["environment"]["VISIONANYTHING_REDIS_URL"]
    assert "--device cuda" in command and "--batch 4" in command
    assert "--models real" in command and "--detector-size 512" in command
    assert depends_on_healthy(worker, "redis")
    assert worker["build"]["args"]["VARIANT"] == "cuda"
    assert int(worker["deploy"]["replicas"]) == 1
    devices = gpu_devices(worker)
    assert devices, f"no GPU reservation in {worker.get('deploy')}"
    assert devices[0]["driver"] == "nvidia" and int(devices[0]["count"]) == 1


def test_both_images_build_from_the_repository_with_deploy_dockerfile(
    config: dict[str, Any],
) -> None:
    for name in ("media", "worker"):
        build = config["services"][name]["build"]
        assert Path(build["context"]).resolve() == ROOT
        assert build["dockerfile"] == "deploy/Dockerfile"
        assert "visionanything" in config["services"][name]["image"]


def test_media_and_workers_share_the_weights_volume(config: dict[str, Any]) -> None:
    def targets(service: dict[str, Any]) -> dict[str, str]:
        found = {}
        for volume in service["volumes"]:
            if isinstance(volume, str):  # v1: "source:target:mode"
                source, target = volume.split(":")[:2]
            else:  # v2: the long form
                source, target = volume["source"], volume["target"]
            found[target] = source
        return found

    media, worker = (targets(config["services"][s]) for s in ("media", "worker"))
    assert media["/data/weights"] == worker["/data/weights"] == "weights"
    assert media["/data"] == "data"
    assert {"weights", "data"} <= set(config["volumes"])


def test_example_env_holds_the_defaults(config: dict[str, Any]) -> None:
    """example.env says each value is also compose's default: rendering without it agrees."""

    def without_names(rendered: dict[str, Any]) -> dict[str, Any]:
        rendered = dict(rendered)
        rendered.pop("name", None)  # v2: the project name (COMPOSE_PROJECT_NAME)
        for section in ("networks", "volumes"):
            rendered[section] = {
                key: {k: v for k, v in (value or {}).items() if k != "name"}
                for key, value in rendered.get(section, {}).items()
            }
        return rendered

    assert without_names(render(env_file=None)) == without_names(config)


def test_knobs_reach_the_commands() -> None:
    rendered = render(
        VA_WORKERS="3",
        VA_PORT="9443",
        VA_WORKER_BATCH="8",
        VA_MODELS="random",
        VA_DETECTOR_SIZE="320",
    )
    media, worker = rendered["services"]["media"], rendered["services"]["worker"]
    assert int(worker["deploy"]["replicas"]) == 3
    assert "--batch 8" in words(worker) and "--detector-size 320" in words(worker)
    assert "--models random" in words(worker)
    assert "--port 9443" in words(media) and "--models random" in words(media)
    assert "https://127.0.0.1:9443/healthz" in media["healthcheck"]["test"]


def test_gpu_media_overlay_gives_the_media_server_a_gpu() -> None:
    media = render(COMPOSE, GPU_MEDIA)["services"]["media"]
    assert media["build"]["args"]["VARIANT"] == "cuda"
    assert media["image"].endswith(":cuda")
    assert gpu_devices(media)
    assert words(media).startswith("visionanything serve --port")  # the base command stays
    assert media["environment"]["VISIONANYTHING_REDIS_URL"]


def test_the_commands_are_ones_the_cli_accepts(config: dict[str, Any]) -> None:
    """No option in compose or the Dockerfile that `visionanything` would refuse."""
    from visionanything.cli import build_parser

    commands = [config["services"][name]["command"] for name in ("media", "worker")]
    cmd = [v for k, v in instructions() if k == "CMD"][-1]
    commands.append(json.loads(cmd))
    for command in commands:
        assert command[0] == "visionanything"
        parser = build_parser()
        try:
            args = parser.parse_args(command[1:])
        except SystemExit:  # argparse has printed why
            pytest.fail(f"visionanything refuses {command}")
        assert args.command in ("serve", "worker")


# --- the YAML itself, without compose ---------------------------------------------------------


def variables_in(text: str) -> dict[str, str | None]:
    """${NAME:-default} / ${NAME} references: name -> default (None when there is none)."""
    return {
        m.group(1): m.group(3) for m in re.finditer(r"\$\{([A-Z_][A-Z0-9_]*)(:-([^}]*))?\}", text)
    }


def env_file_values() -> dict[str, str]:
    values = {}
    for line in ENV_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_compose_files_are_plain_yaml_with_a_default_for_every_variable() -> None:
    for path in (COMPOSE, GPU_MEDIA):
        text = path.read_text(encoding="utf-8")
        document = yaml.safe_load(text)
        assert isinstance(document, dict) and isinstance(document["services"], dict), path
        assert "version" not in document  # the Compose Specification has none
        for name, default in variables_in(text).items():
            assert default is not None, f"{path.name}: ${{{name}}} has no default"


def required_in(text: str) -> set[str]:
    """${NAME:?message} references: secrets with no default (compose refuses without them)."""
    return set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", text))


def test_example_env_lists_every_knob_with_compose_defaults() -> None:
    used: dict[str, str | None] = {}
    required: set[str] = set()
    for path in (COMPOSE, GPU_MEDIA):
        text = path.read_text(encoding="utf-8")
        used.update(variables_in(text))
        required |= required_in(text)
    assert required == set(REQUIRED)
    values = env_file_values()
    knobs = {k: v for k, v in values.items() if k.startswith("VA_")}
    assert set(knobs) == set(used) | required, "example.env and compose name different knobs"
    for name, value in knobs.items():
        if name in required:
            assert value == "", f"{name}: a secret, left for the operator to set"
            continue
        assert used[name] == value, f"{name}: example.env says {value}, compose {used[name]}"


def test_compose_builds_what_the_raw_yaml_says() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    assert services["worker"]["command"][:3] == ["visionanything", "worker", "--metrics-host"]
    reservation = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert reservation["capabilities"] == ["gpu"]
    assert services["media"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "ports" not in services["media"]  # host networking publishes nothing


# --- the Dockerfile -----------------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per logical line: comments dropped, continuations joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), " ".join(rest.split())))
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


def test_dockerfile_chooses_cpu_or_cuda_with_a_build_arg() -> None:
    steps = instructions()
    first_from = next(i for i, (k, _) in enumerate(steps) if k == "FROM")
    global_args = [v for k, v in steps[:first_from] if k == "ARG"]
    assert "VARIANT=cpu" in global_args
    stages = {v.split(" AS ")[-1] for k, v in steps if k == "FROM" and " AS " in v}
    assert {"torch-cpu", "torch-cuda"} <= stages
    assert ("FROM", "torch-${VARIANT} AS runtime") in steps
    cpu_install = next(v for k, v in steps if k == "RUN" and "whl/cpu" in v)
    assert "https://download.pytorch.org/whl/cpu" in cpu_install


def test_dockerfile_pins_torch_as_pyproject_does() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = dict(dep.split("==") for dep in pyproject["project"]["dependencies"] if "==" in dep)
    args = dict(v.split("=", 1) for k, v in instructions() if k == "ARG" and "=" in v)
    assert args["TORCH_VERSION"] == pins["torch"]
    assert args["TORCHVISION_VERSION"] == pins["torchvision"]


def test_dockerfile_runs_serve_as_a_user_with_a_healthcheck() -> None:
    steps = instructions()
    users = [v for k, v in steps if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    healthchecks = [v for k, v in steps if k == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "va-healthcheck" in healthchecks[0]
    assert healthcheck_module().DEFAULT_URL.endswith(":8443/healthz")
    exposed = " ".join(v for k, v in steps if k == "EXPOSE").split()
    assert {"8443", "8080"} <= set(exposed)
    assert [v for k, v in steps if k == "CMD"][-1].startswith('["visionanything", "serve"')
    assert any(k == "VOLUME" and "/data/weights" in v for k, v in steps)
    env = " ".join(v for k, v in steps if k == "ENV")
    assert "VISIONANYTHING_WEIGHTS=/data/weights" in env


def test_dockerfile_copies_only_what_exists_and_no_checkpoints() -> None:
    for keyword, value in instructions():
        if keyword != "COPY" or "--from" in value:
            continue
        *sources, _ = value.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not source.startswith("weights/") or source == "weights/manifest.json"


def test_dockerignore_keeps_the_context_small_but_the_manifest_in() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for excluded in (".venv", ".git", "tests", "out", "weights/*", "**/__pycache__"):
        assert excluded in patterns
    assert "!weights/manifest.json" in patterns
    assert patterns.index("!weights/manifest.json") > patterns.index("weights/*")


# --- the scripts baked into the image -----------------------------------------------------------


def healthcheck_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("va_healthcheck", DEPLOY / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_is_healthy_only_on_200(health_server: str) -> None:
    check = healthcheck_module().main
    assert check(["va-healthcheck", f"{health_server}/healthz"]) == 0
    assert check(["va-healthcheck", f"{health_server}/readyz"]) == 1  # 503
    closed = health_server.rsplit(":", 1)[0] + ":1/healthz"
    assert check(["va-healthcheck", closed]) == 1


def test_entrypoint_puts_the_images_manifest_beside_the_weights(tmp_path: Path) -> None:
    image_manifest = ROOT / "weights" / "manifest.json"
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "manifest.json").write_text("{}", encoding="utf-8")  # stale
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "VA_IMAGE_MANIFEST": str(image_manifest),
        "VISIONANYTHING_WEIGHTS": str(weights),
    }
    result = subprocess.run(
        ["sh", str(DEPLOY / "entrypoint.sh"), "echo", "ran", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ran serve\n"  # exec's the command it is given
    assert (weights / "manifest.json").read_bytes() == image_manifest.read_bytes()
    assert sorted(p.name for p in weights.iterdir()) == ["manifest.json"]  # no temp file left
    again = subprocess.run(
        ["sh", str(DEPLOY / "entrypoint.sh"), "true"], env=env, capture_output=True, text=True
    )
    assert again.returncode == 0 and again.stderr == ""  # already in step: says nothing
