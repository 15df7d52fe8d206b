# casklab: a thin wrapper over CMake. `make demo` and `make test` are the two
# commands; both install missing Debian packages first (scripts/deps).
JOBS   ?= $(shell nproc)
CMAKE  ?= cmake
CTEST  ?= ctest
CTEST_FLAGS ?= --output-on-failure --verbose -j$(JOBS)

.PHONY: all deps build demo test test-asan test-tsan clean help

all: build

help:
	@echo "make demo       build Release into build/ and run the main job"
	@echo "make test       build with -Werror into build-test/ and run every suite"
	@echo "make test-asan  the suites under AddressSanitizer + UBSan (build-asan/)"
	@echo "make test-tsan  the suites under ThreadSanitizer (build-tsan/)"
	@echo "make build      build Release into build/ only"
	@echo "make paper      rebuild papers/keydir-designs/ from a fresh run (minutes)"
	@echo "make bench-goals the engine vs its peers: issue 6's ratios, met or not"
	@echo "make clean      remove every build folder"

deps:
	@scripts/deps

# configure(dir, cmake args): configure once, reconfigure when args change.
define configure
	$(CMAKE) -S . -B $(1) $(2) >/dev/null
	$(CMAKE) --build $(1) -j$(JOBS)
endef

build: deps
	$(call configure,build,-DCMAKE_BUILD_TYPE=Release)

# The main job (scripts/demo): keydir table, keydirs + engine + peers on
# YCSB, stress + check per keydir, figures, a summary; under 3 min on 2 cores.
demo: build
	scripts/demo build/casklab

test: deps
	$(call configure,build-test,-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCASKLAB_WERROR=ON -DCASKLAB_SANITIZE=)
	cd build-test && $(CTEST) $(CTEST_FLAGS)

test-asan: deps
	$(call configure,build-asan,-DCMAKE_BUILD_TYPE=Debug -DCASKLAB_WERROR=ON -DCASKLAB_SANITIZE=address$(,)undefined)
	cd build-asan && $(CTEST) $(CTEST_FLAGS)

test-tsan: deps
	$(call configure,build-tsan,-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCASKLAB_WERROR=ON -DCASKLAB_SANITIZE=thread)
	cd build-tsan && $(CTEST) $(CTEST_FLAGS)

clean:
	rm -rf build build-test build-asan build-tsan

, := ,

# The checker's benchmark: casklab check on ../shared/lincheck against
# Porcupine's figures, and a 1M-operation history (scripts/bench-check).
.PHONY: bench-check
bench-check: build
	scripts/bench-check build/casklab
# issue 4: the keydir ratio table (Release build, one run, about a minute).
.PHONY: bench-keydirs
bench-keydirs: build
	./build/bench/kdratio

# issue 6's "Performance to reach": the engine (cask:lockfree when
# registered, else cask:striped) vs Kyoto, LMDB and RocksDB at 1M keys,
# every ratio met or NOT met; the table also lands in results/goals.txt.
.PHONY: bench-goals
bench-goals: build
	@mkdir -p results
	./build/casklab bench --goals --out results/goals | tee results/goals.txt

# papers/keydir-designs/paper.md and its figures, from a fresh run
# (scripts/paper: benches, goals, stress + check, plots, numbers filled in).
.PHONY: paper
paper: build
	scripts/paper build/casklab
# issue 7: casklab serve against redis-server with redis-benchmark (Release
# build; a few minutes; scripts/bench-server says how to shorten it).
.PHONY: bench-server
bench-server: build
	scripts/bench-server build/casklab
