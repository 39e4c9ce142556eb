# danelab — top-level Makefile.  See README.md for the two commands a user needs.
PY      ?= /usr/bin/python3
BUILD   ?= build
COMPONENTS = fake-mx reference-impl
export DANELAB_BUILD = $(BUILD)

.PHONY: all deps check check-c check-py sanitize lab bench fuzz clean lint

all: deps
	@for c in $(COMPONENTS); do $(MAKE) -C $$c BUILD=$(BUILD) all || exit 1; done

deps:
	@ci/deps

# The test command of the README: every CUnit test and the whole pytest suite.
check: all check-c check-py

check-c:
	@for c in $(COMPONENTS); do $(MAKE) -C $$c BUILD=$(BUILD) check || exit 1; done

check-py:
	$(PY) -m pytest -q

# ASan+UBSan build of every C component, its CUnit tests, and the pytest suite on it.
sanitize: deps
	@for c in $(COMPONENTS); do \
	  $(MAKE) -C $$c BUILD=build-asan SANITIZE=1 CC=clang all check || exit 1; done
	DANELAB_BUILD=build-asan $(PY) -m pytest -q

# The main job: the whole conformance catalog against the reference sender.
lab: all
	$(PY) -m danelab run --sender reference --report out/report

bench: all
	$(PY) bench/run.py

fuzz: deps
	@for c in $(COMPONENTS); do $(MAKE) -C $$c fuzz || exit 1; done

lint: all
	$(PY) -m danelab lint

clean:
	@for c in $(COMPONENTS); do $(MAKE) -C $$c clean; done
	rm -rf out
