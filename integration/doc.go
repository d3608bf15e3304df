// Package integration holds the tests that run against a real RabbitMQ: the
// behavioural suite every transport passes, RabiBridge's wire format byte for
// byte, configuration and TLS. The broker is RABIBRIDGE_URL, else
// 127.0.0.1:5672; without one the tests skip (and fail under
// RABIBRIDGE_REQUIRE_BROKER=1, as in CI).
package integration
