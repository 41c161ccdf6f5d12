# Generates the tiny deterministic test models into $(B)/models (see tools/gen_model.py).
# Called by `make models` / `make test`. Regenerates only when the generator or the
# vocabulary changed; tests/t_models.sh checks the bytes against tests/data/models.sha256.
B ?= build
PYTHON ?= /usr/bin/python3
all: $(B)/models/.stamp

$(B)/models/.stamp: tools/gen_model.py tools/vocab/test-vocab.model
	@mkdir -p $(B)/models
	$(PYTHON) tools/gen_model.py --all $(B)/models
	@touch $@
