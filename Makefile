# danelab — top-level Makefile.  README.md names the two commands a user
# needs: `make lab` (the main job) and `make check` (every test).
PY      := /usr/bin/python3
BUILD   ?= build
COMPONENTS = fake-mx reference-impl \
	$(patsubst %/Makefile,%,$(wildcard reference-impl/tlsrpt/Makefile))
DANELAB := PYTHONPATH=$(CURDIR)/harness $(PY) -m danelab
export DANELAB_BUILD = $(BUILD)

.PHONY: all deps build check check-c check-py sanitize lab bench fuzz lint \
	clean

all: deps build

deps:
	@ci/deps

build:
	@for c in $(COMPONENTS); do \
	  $(MAKE) --no-print-directory -C $$c BUILD=$(BUILD) all || exit 1; done

# Every CUnit test, the scenario linter and the whole pytest suite (which
# includes the full catalog against the reference sender).
check: all check-c lint check-py

check-c:
	@for c in $(COMPONENTS); do \
	  $(MAKE) --no-print-directory -C $$c BUILD=$(BUILD) check || exit 1; done

# One pytest session over every test folder (testpaths in pytest.ini); its
# closing line is pytest's own ("N passed in ...").
check-py:
	$(PY) -m pytest -q

# The scenario linter, then flake8 and mypy (Debian's) over the Python code.
PYCODE = harness/danelab harness/tests bench fake-mx/tests reference-impl/tests \
	reference-impl/tlsrpt/tests
lint:
	$(DANELAB) lint
	$(PY) -m flake8 $(PYCODE)
	$(PY) -m mypy --ignore-missing-imports --no-error-summary harness/danelab

# The C components and their CUnit tests with ASan+UBSan, then the pytest
# suite running on those binaries.
sanitize: deps
	@for c in $(COMPONENTS); do \
	  $(MAKE) --no-print-directory -C $$c BUILD=build-asan SANITIZE=1 \
	    CC=clang all check || exit 1; done
	$(MAKE) check-py DANELAB_BUILD=build-asan BUILD=build-asan

# The main job: the whole conformance catalog against the reference sender,
# report in out/report (report.html, junit.xml, results.json).
lab: all
	rm -rf out/run
	$(DANELAB) run --sender reference --report out/report --run-dir out/run

bench: all
	$(PY) bench/run.py

fuzz: deps
	@for c in $(COMPONENTS); do $(MAKE) -C $$c fuzz || exit 1; done

clean:
	@for c in $(COMPONENTS); do $(MAKE) -C $$c clean; done
	rm -rf out runs
