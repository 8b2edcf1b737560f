.PHONY: run test fuzz bench

# Everything, with demo data, on http://127.0.0.1:8000/ (Ctrl-C stops it all).
# Extra arguments: make run ARGS="--port 8001"; make test ARGS="-k sign_in" (to pytest).
run:
	bash devtools/bootstrap.sh $(ARGS)

test:
	bash devtools/test.sh $(ARGS)

# The property-based tests (Hypothesis) searching far longer than make test's fixed,
# bounded run: 1,000 fresh random examples each instead of 40 from a fixed seed.
fuzz:
	HYPOTHESIS_PROFILE=long bash devtools/test.sh -m hypothesis $(ARGS)

# Every benchmark under bench/ in one run (its own throw-away sandbox, PostgreSQL and Redis),
# printed as one table of headline ratios; about four minutes on 2 cores at the default
# scale. Scale and more: make bench ARGS="--scale 265 --json bench.json" (bench/run_all.py).
bench:
	bash -c 'source devtools/uv.sh && "$${uv[@]}" run --frozen python bench/run_all.py "$$@"' bench $(ARGS)
