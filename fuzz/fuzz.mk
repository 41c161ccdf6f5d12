# fuzz/fuzz.mk: libFuzzer harnesses (fuzz/README.md), included by the Makefile.
#   make fuzz-build        build every harness into build-fuzz/ (Debian's clang)
#   make fuzz              run each for FUZZ_SECONDS (default 600), one after another
#   make fuzz-smoke        run each for FUZZ_SMOKE_SECONDS (default 15) over the committed corpus,
#                          FUZZ_JOBS (default 2) harnesses at a time
#   make fuzz-merge        fold new inputs from `make fuzz` into fuzz/corpus/ (deduplicated)
#   make fuzz-seeds        regenerate the hand-made GGUF seeds (fuzz/seed_gguf.c)
# FUZZ=gguf,config runs a subset.

FUZZ_CC    ?= clang
FUZZ_B     ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_JOBS  ?= 2
FUZZ_ALL   := gguf tokenizer stream transcript config persona
FUZZ       ?= $(FUZZ_ALL)
comma      := ,
FUZZ_LIST   = $(subst $(comma), ,$(FUZZ))

# Only the modules the harnesses reach, compiled with coverage feedback and
# ASan + UBSan; any UB aborts so that libFuzzer records it as a crash.
FUZZ_LIB_SRC := $(wildcard base/*.c) model/gguf.c model/hparams.c model/quant.c model/tokenizer.c \
                app/config.c app/paths.c app/persona.c app/transcript.c app/ydoc.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_B)/%.o)
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE $(PKG_CFLAGS) -I. -O1 -g \
              -fno-omit-frame-pointer $(FUZZ_SAN) -MMD -MP
FUZZ_BIN   := $(FUZZ_ALL:%=$(FUZZ_B)/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-smoke fuzz-merge fuzz-seeds fuzz-clean
fuzz-build: $(FUZZ_BIN)
# Objects named only by the pattern rule would count as intermediate and be deleted.
.SECONDARY: $(FUZZ_LIB_OBJ)

$(FUZZ_B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_B)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) -lyaml -lm

# The tokenizer harnesses need the generated test models (and use the real
# model when `make real-model` has fetched it).
fuzz: fuzz-build models
	@st=0; for h in $(FUZZ_LIST); do FUZZ_B=$(FUZZ_B) sh fuzz/run.sh run $$h $(FUZZ_SECONDS) || st=1; done; exit $$st

# Each harness is one process (libFuzzer without -jobs): FUZZ_JOBS of them side
# by side keep every harness's own FUZZ_SMOKE_SECONDS, in a fraction of the time.
# xargs exits nonzero when any of them did.
fuzz-smoke: fuzz-build models
	@printf '%s\n' $(FUZZ_LIST) | FUZZ_B=$(FUZZ_B) xargs -P $(FUZZ_JOBS) -I{} sh fuzz/run.sh smoke {} $(FUZZ_SMOKE_SECONDS)

fuzz-merge: fuzz-build models
	@for h in $(FUZZ_LIST); do FUZZ_B=$(FUZZ_B) sh fuzz/run.sh merge $$h || exit 1; done

$(FUZZ_B)/seed_gguf: fuzz/seed_gguf.c tests/gguf_build.h model/quant.c base/err.c
	@mkdir -p $(FUZZ_B)
	$(CC) -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -I. -O1 -o $@ $< model/quant.c base/err.c -lm

fuzz-seeds: $(FUZZ_B)/seed_gguf
	$(FUZZ_B)/seed_gguf fuzz/corpus/gguf

fuzz-clean:
	rm -rf $(FUZZ_B)
clean: fuzz-clean

-include $(wildcard $(FUZZ_B)/*/*.d $(FUZZ_B)/*.d)
