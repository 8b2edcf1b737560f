.PHONY: run test fuzz

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
