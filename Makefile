# The README's two commands: `make demo` and `make test`.
GO       ?= go
PKGS     ?= ./...
FUZZTIME ?= 60s

.PHONY: demo test unit broker bench lint fuzz fuzz-short

## demo: serve the demo functions and call each once (RabbitMQ if one answers, else in-process)
demo:
	$(GO) run ./cmd/rabibridge demo

## test: every test, with the race detector, against a real broker (started or installed if needed), and each fuzz target briefly
test: broker
	$(GO) vet $(PKGS)
	$(GO) test -race -timeout 20m $(PKGS)
	@$(MAKE) --no-print-directory fuzz-short

## unit: the tests without making sure of a broker (integration tests skip without one)
unit:
	$(GO) test -race -timeout 20m $(PKGS)

## broker: make sure a RabbitMQ answers at $RABIBRIDGE_URL or 127.0.0.1:5672
broker:
	@scripts/broker.sh

## bench: the benchmarks (figures go in docs/benchmarks.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## lint: formatting and vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt wants to change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

FUZZ_TARGETS = FuzzDecodeRequest FuzzDecodeReply FuzzDecompress

## fuzz: each fuzz target of the network decoders for $(FUZZTIME)
fuzz:
	@for f in $(FUZZ_TARGETS); do $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./codec || exit 1; done

## fuzz-short: each fuzz target for 5s (part of make test)
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=5s
