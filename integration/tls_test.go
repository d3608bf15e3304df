package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestTLS calls over amqps:// on a node of the test's own, with
// certificates made at test time, and checks that verification is on.
func TestTLS(t *testing.T) {
	t.Parallel()
	node := testbroker.StartNode(t, testbroker.NodeOptions{TLS: true})
	certs := node.Certs
	good := bridge.TLSConfig{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("round trip", func(t *testing.T) {
		is := is.New(t)
		conn, err := bridge.Dial(ctx, bridge.Config{URL: node.TLSURL(), TLS: good})
		is.NoErr(err)
		defer conn.Close()
		reg := registry.New()
		is.NoErr(registry.RegisterIn(reg, "add", demo.Add, registry.Options{}))
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- worker.New(conn, reg, worker.Config{}).Serve(wctx) }()
		defer func() { stop(); <-done }()
		c, err := caller.New(conn, caller.Config{})
		is.NoErr(err)
		defer c.Close()
		var sum int
		for {
			sum, err = caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: 20, B: 22})
			if err == nil || ctx.Err() != nil {
				break
			}
		}
		is.NoErr(err)
		is.Equal(sum, 42)
	})

	for _, tc := range []struct {
		name string
		tls  bridge.TLSConfig
		url  string
		want string
	}{
		{"unknown authority", bridge.TLSConfig{CertFile: certs.ClientCert, KeyFile: certs.ClientKey}, node.TLSURL(), "certificate"},
		{"wrong server name", bridge.TLSConfig{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey, ServerName: "elsewhere.example"}, node.TLSURL(), "certificate"},
		{"no client certificate", bridge.TLSConfig{CAFile: certs.CA}, node.TLSURL(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			conn, err := bridge.Dial(ctx, bridge.Config{URL: tc.url, TLS: tc.tls})
			if err == nil {
				conn.Close()
				t.Fatal("connected; want a refusal")
			}
			is.True(strings.Contains(err.Error(), tc.want))
			is.True(!strings.Contains(err.Error(), "guest:guest")) // the password stays out of errors
		})
	}
}
