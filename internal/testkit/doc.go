// Package testkit holds what the tests are built with, apart from the
// library: suite, the behavioural suite every transport passes; testbroker
// and testredis, which find or start the broker and Redis the tests use;
// faultproxy, a TCP proxy that stalls, resets and refuses; storetest, the
// conformance test of run-once stores. Nothing in it is part of the
// library.
package testkit
