# The two commands of the README's quick start, plus their counterparts.
.PHONY: up down test bench lint

up:      ## install what is missing, start Triton (CPU) + the gateway, rerank the sample
	ops/stack.sh up

down:    ## stop the gateway and Triton
	ops/stack.sh down

test:    ## install what is missing, then run every test suite against a real Triton
	ops/setup.sh
	ops/install-node-packages.sh
	npm test

lint:    ## tsc, buf lint, prettier, and the Triton configs against the registry
	npm run lint

bench:   ## bring the stack up, then measure latency, the gateway's added cost and tokenization throughput
	ops/stack.sh up
	npm run bench
