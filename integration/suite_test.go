package integration

import (
	"context"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/internal/testkit/suite"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
)

// dial connects to the shared test broker for one test.
func dial(t *testing.T) *bridge.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: testbroker.URL(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestSuiteRabbitMQ runs the behavioural suite that the in-process transport
// passes (worker tests) against RabbitMQ.
func TestSuiteRabbitMQ(t *testing.T) { suite.Run(t, dial) }
