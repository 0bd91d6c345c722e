# The two set-up commands: `make demo` (main job end to end on the local stack) and `make test`.
PYTHON ?= python3
STAMP := .mtl/installed.stamp

.PHONY: install demo test test-unit lint devstack-up devstack-down clean

$(STAMP): pyproject.toml
	bash .ci/system-deps
	$(PYTHON) -m pip install -q -e ".[dev,pretrained]"
	@mkdir -p $(dir $(STAMP)) && touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PYTHON) -m mtl demo

# Unit and integration tests; integration tests bring the dev stack up once if it is not running.
# pytest exits 5 when it collected nothing: that is a failure of the suite, not a pass.
test: $(STAMP)
	$(PYTHON) -m pytest

test-unit: $(STAMP)
	$(PYTHON) -m pytest -m "not integration"

lint: $(STAMP)
	ruff check . && ruff format --check .

devstack-up: $(STAMP)
	$(PYTHON) -m mtl devstack up

devstack-down:
	$(PYTHON) -m mtl devstack down

clean:
	-$(PYTHON) -m mtl devstack down
	rm -rf .mtl artifacts .pytest_cache
