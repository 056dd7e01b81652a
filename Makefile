# The two commands of the README's quick start, plus their counterparts.
.PHONY: up down test bench lint

up:      ## install what is missing, start Triton (CPU) + the gateway, rerank the sample
	ops/stack.sh up

down:    ## stop the gateway and Triton
	ops/stack.sh down

test:    ## install what is missing, then run every test suite against a real Triton
	ops/setup.sh
	ops/install-node-packages.sh
	ops/install-tools.sh
	ops/check-deploy.sh
	ops/build-clients.sh
	ops/install-cohere-sdk.sh
	npm test

lint:    ## tsc, buf lint, prettier, and the Triton configs against the registry
	npm run lint

bench:   ## bring the stack up (a running one is kept: make down first to measure a new build), then bench/e2e.ts:
         ## latency cold/warm vs Triton alone, the mixed workload at 1-16 clients, head-of-line blocking; tables,
         ## bench/results/*.json and bench/results/bench.svg
	ops/stack.sh up
	npm run bench
