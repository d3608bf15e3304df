package worker_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/internal/suite"
)

var brokers atomic.Int64

// memDial dials a fresh in-process broker for each test.
func memDial(t *testing.T) *bridge.Conn {
	conn, err := bridge.Dial(context.Background(), bridge.Config{URL: fmt.Sprintf("mem://suite-%d", brokers.Add(1))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestSuiteInProcess runs the behavioural suite on the in-process
// transport; integration/ runs it on RabbitMQ.
func TestSuiteInProcess(t *testing.T) { suite.Run(t, memDial) }
