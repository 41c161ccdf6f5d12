# Generates the tiny deterministic test models into $(B)/models (see tools/gen_model.py).
B ?= build
all:
	@mkdir -p $(B)/models
