package bridge_test

import (
	"context"
	"fmt"

	"github.com/rabibridge/rabibridge/bridge"
)

func ExampleDial() {
	// mem:// is the in-process broker, for tests and demos; amqp:// and
	// amqps:// are RabbitMQ.
	conn, err := bridge.Dial(context.Background(), bridge.Config{URL: "mem://example"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Println(bridge.QueueName("async", "add"), bridge.RoutingKey("async", "add"))
	// Output: rpc_async_add async_add
}

func ExampleConfig() {
	// Printing a Config never shows a password or a secret.
	cfg := bridge.Config{URL: "amqp://svc:hunter2@broker:5672/", Secret: "s3cret"}
	fmt.Println(cfg.LogValue())
	// Output: [url=amqp://svc:xxxxx@broker:5672/ host= port=0 username= vhost=]
}
