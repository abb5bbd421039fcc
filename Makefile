# Convenience wrappers; the scripts are the source of truth.
PREFIX ?= /usr
DESTDIR ?=

.PHONY: all build test install bench
all build:
	scripts/build
test:
	scripts/test
install:
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) scripts/install
