# Two commands for a fresh Debian/Ubuntu machine with Python 3.10+:
#   make run    install into ./.venv, then serve the studio at http://localhost:7860
#   make test   install (test packages too, and the Debian packages the tests use when root), run the suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Real speech for tests, decoders and tools the tests drive, the browser for UI tests and a CJK font for its pages.
APT_PACKAGES := ffmpeg sox rubberband-cli codec2-examples asterisk-core-sounds-en-g722 asterisk-core-sounds-fr-g722 asterisk-moh-opsound-wav chromium fonts-wqy-microhei
PYTEST_ARGS ?=

.PHONY: run test lint format bench apt tiny-checkpoint clean

run: $(VENV)/.runtime
	$(BIN)/python app.py $(ARGS)

test: $(VENV)/.test apt
	$(BIN)/ruff check .
	# Passive OpenMP waits: torch, onnxruntime and the test servers share two cores without spinning.
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.test apt
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

tiny-checkpoint: $(VENV)/.runtime
	$(BIN)/python -m studio.testing.tiny_checkpoint $(or $(OUT),tiny-checkpoint)

$(VENV)/.runtime: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps resemblyzer==0.1.4
	touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt
	$(BIN)/python -m pip install -r requirements-test.txt
	touch $@

# Installs the Debian packages the tests use when running as root; otherwise says what is missing.
apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
		echo "not root: tests needing these Debian packages will skip: $$missing"; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
