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

demo: build
	./build/casklab demo

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
# issue 7: casklab serve against redis-server with redis-benchmark (Release
# build; a few minutes; scripts/bench-server says how to shorten it).
.PHONY: bench-server
bench-server: build
	scripts/bench-server build/casklab
