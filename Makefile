.PHONY: run test

# Everything, with demo data, on http://127.0.0.1:8000/ (Ctrl-C stops it all).
# Extra arguments: make run ARGS="--port 8001"; make test ARGS="-k sign_in" (to pytest).
run:
	bash devtools/bootstrap.sh $(ARGS)

test:
	bash devtools/test.sh $(ARGS)
