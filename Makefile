# The README's two commands: `make demo` and `make test`.
GO       ?= go
PKGS     ?= ./...
FUZZTIME ?= 60s
# gotestsum reports each test as it ends, so a long package shows progress;
# it comes from the Go module proxy at this version, outside go.mod.
GOTEST   ?= $(GO) run gotest.tools/gotestsum@v1.13.0 --format testname --
GOTESTFLAGS ?= -race -count=1 -timeout 20m
# staticcheck, from the Go module proxy at this version, outside go.mod.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: demo test unit broker redis peers bench lint fuzz fuzz-short soak chaos screenshot

## demo: serve the demo functions and call each once (RabbitMQ if one answers, else in-process)
demo:
	$(GO) run ./cmd/rabibridge demo

## test: formatting and vet, every test (run afresh, never from the test cache) with the race detector against a real broker and Redis (started or installed if needed), and each fuzz target briefly
test: broker redis peers
	@$(MAKE) --no-print-directory lint
	$(GOTEST) $(GOTESTFLAGS) $(PKGS)
	@$(MAKE) --no-print-directory fuzz-short

## unit: the tests without making sure of a broker (integration tests skip without one)
unit:
	$(GOTEST) $(GOTESTFLAGS) $(PKGS)

## broker: make sure a RabbitMQ answers at $RABIBRIDGE_URL or 127.0.0.1:5672
broker:
	@scripts/broker.sh

## redis: make sure a Redis answers at $RABIBRIDGE_REDIS_URL or 127.0.0.1:6379, for the Redis run-once store's tests
redis:
	@scripts/redis.sh

## peers: what the tests of other peers need: Python's msgpack and pika, the AsyncAPI parser, Chromium for the console's browser test (installed, saying so, if missing)
peers:
	@scripts/python-peer.sh
	@scripts/asyncapi-parser.sh >/dev/null || true
	@scripts/chromium.sh

## bench: the Go benchmarks, then rabibridge against the raw amqp091-go floor in one run (figures in docs/benchmarks.md)
bench: broker
	$(GO) test -run '^$$' -bench . -benchmem ./internal/wire ./caller ./integration
	$(GO) run ./cmd/rabibridge bench --serve --floor --rounds 5 --concurrency 1,16,64 --size 16 --duration 4s
	$(GO) run ./cmd/rabibridge bench --serve --floor --rounds 3 --concurrency 1,4 --size 1048576 --compress-threshold -1 --duration 4s

## screenshot: docs/console.png, the console in headless Chromium over the demo functions
screenshot: peers
	RABIBRIDGE_CONSOLE_SCREENSHOT=$(CURDIR)/docs/console.png $(GO) test -run '^TestConsoleInBrowser$$' -count=1 ./internal/console

## soak: 2,000,000 calls, a tenth with deadlines that expire; goroutines and heap must come back
soak: broker
	SOAK_CALLS=2000000 $(GO) test -run '^TestSoak$$' -count=1 -v -timeout 60m ./integration

## chaos: the fault campaign (not part of make test): a seeded random schedule of faults over a mixed load, on a broker node, worker processes and a Redis path of its own, for CHAOS_DURATION; CHAOS_SEED=N replays a seed's schedule
CHAOS_DURATION ?= 10m
CHAOS_SEED     ?=
chaos: broker redis
	RABIBRIDGE_CHAOS_DURATION=$(CHAOS_DURATION) RABIBRIDGE_CHAOS_SEED=$(CHAOS_SEED) $(GO) test -run '^TestChaos$$' -count=1 -v -timeout 0 ./integration

## lint: formatting, staticcheck, and vet on this platform and on each of PLATFORMS (tests included)
PLATFORMS ?= darwin/amd64 windows/amd64 freebsd/amd64 linux/arm64 darwin/arm64 windows/arm64 freebsd/arm64
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt wants to change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
	@for p in $(PLATFORMS); do echo "go vet for $$p"; GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet $(PKGS) || exit 1; done

FUZZ_TARGETS = internal/wire:FuzzDecodeRequest internal/wire:FuzzDecodeReply internal/wire:FuzzDecompress \
	internal/wire:FuzzDecodeDifferential internal/transport:FuzzInbound

## fuzz: each fuzz target of the network decoders for $(FUZZTIME)
fuzz:
	@for t in $(FUZZ_TARGETS); do $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*} || exit 1; done

## fuzz-short: each fuzz target for 50,000 inputs, a few seconds (part of make test)
# A count, not a duration: Go 1.26's fuzzing coordinator can fail a target
# with "context deadline exceeded" when a duration runs out under load
# (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline to race.
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=50000x
