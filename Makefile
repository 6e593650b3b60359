# Two commands matter: `make serve` (runs the product: the live server, HTTPS on port 8443) and
# `make test` (sets everything up, then lint, types and the test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: setup system-deps lint test serve demo weights teacher clean

# Debian packages the tests need (a real Chromium for the browser test). CI runs as root on a
# fresh machine; elsewhere, install them yourself or the browser test reports what is missing.
# fonts-noto-color-emoji: the pages' icons in the browser tests and their screenshots (docs/)
SYSTEM_PACKAGES := chromium fonts-noto-color-emoji redis-server docker-compose coturn

$(BIN)/visionanything: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/visionanything

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else echo "missing Debian packages:$$missing (sudo apt-get install$$missing)"; fi; \
	fi

test: lint system-deps
	$(BIN)/pytest

MODELS := $(if $(wildcard weights/mobile_sam.pt),real,random)

# The live server on the real checkpoints. When they are missing, a terminal is asked once
# whether to fetch them now (as `make weights` does); no, a failed download or no terminal at
# all (CI, systemd) serves demo mode (random weights), saying so in one line.
serve: setup
	$(BIN)/visionanything serve --if-missing ask

# Segments the cat photo that ships with scikit-image; random weights unless checkpoints exist.
demo: setup
	$(BIN)/visionanything segment "$$($(BIN)/python -c 'import skimage, pathlib; print(pathlib.Path(skimage.__file__).parent / "data" / "chelsea.png")')" \
		--find "cat" --models $(MODELS) --out $(OUT)

# Fetches the checkpoints, then builds the fast graphs serve would build on its first start
# (a few minutes of CPU now instead of while the first phones wait).
weights: setup
	$(BIN)/visionanything weights fetch
	$(BIN)/visionanything weights prebuild --models real

# A teacher account for classroom rooms (asks for the password twice). `make` leaves the CLI in
# .venv/bin, off the PATH, so this is the command that works as typed: make teacher NAME=lee
# (ADMIN=1 adds --admin: the /admin page).
teacher: setup
	@test -n "$(NAME)" || { echo "usage: make teacher NAME=lee [ADMIN=1]"; exit 2; }
	$(BIN)/visionanything teacher add "$(NAME)" $(if $(ADMIN),--admin)

clean:
	rm -rf $(VENV) $(OUT) .mypy_cache .ruff_cache .pytest_cache

# Fuzzing (tests/fuzz, Hypothesis): 10,000 random cases per target; prints the counts at the end.
# `make test` runs the same targets with 200 fixed-seed cases each.
FUZZ_EXAMPLES ?= 10000
.PHONY: fuzz
fuzz: setup
	VA_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/fuzz -q
