package worker_test

import (
	"context"
	"testing"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/internal/testkit/suite"
)

// memDial dials the in-process broker of the test: one per test, shared by
// the test's connections.
func memDial(t *testing.T) *bridge.Conn {
	conn, err := bridge.Dial(context.Background(), bridge.Config{URL: "mem://" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestSuiteInProcess runs the behavioural suite on the in-process
// transport; integration/ runs it on RabbitMQ.
func TestSuiteInProcess(t *testing.T) { suite.Run(t, memDial) }
