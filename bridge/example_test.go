package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

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
	fmt.Println("connected")
	// Output: connected
}

func ExampleDial_rabbitMQ() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := bridge.Dial(ctx, bridge.Config{
		URLs: []string{"amqp://svc:hunter2@rabbit-1:5672/", "amqp://svc:hunter2@rabbit-2:5672/"},
		OnStateChange: func(s bridge.State, err error) {
			switch s {
			case bridge.StateDisconnected:
				log.Printf("broker lost (%v): reconnecting", err)
			case bridge.StateReconnecting:
				log.Printf("no broker yet (%v): trying again", err)
			case bridge.StateConnected, bridge.StateClosed:
				log.Printf("connection %s", s)
			}
		},
	})
	switch {
	case errors.Is(err, bridge.ErrAccessRefused):
		log.Fatal("check the user, password and virtual host: ", err)
	case err != nil:
		log.Fatal(err)
	}
	defer conn.Close()
	serveAndCall(conn) // workers and callers share the one *bridge.Conn
}

func serveAndCall(*bridge.Conn) {}

func ExampleConfig() {
	// Printing a Config never shows a password or a secret.
	cfg := bridge.Config{URL: "amqp://svc:hunter2@broker:5672/", Secret: "s3cret"}
	fmt.Println(cfg.LogValue())
	fmt.Println(strings.Contains(fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), "hunter2"))
	// Output:
	// [url=amqp://svc:xxxxx@broker:5672/ host= port=0 username= vhost=]
	// false
}

func ExampleTLSConfig() {
	cfg := bridge.Config{
		Host: "rabbit.internal", Username: "svc", Password: "hunter2",
		TLS: bridge.TLSConfig{CAFile: "/etc/rabbitmq/ca.pem", ServerName: "rabbit.internal"},
	}
	fmt.Println(cfg.LogValue()) // with TLS set, Dial uses amqps:// on port 5671
	// Output: [url= host=rabbit.internal port=0 username=svc vhost=]
}

func ExampleLoadConfig() {
	// RabiBridge's env.toml works unchanged; the environment overrides it.
	dir, _ := os.MkdirTemp("", "env")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "env.toml")
	os.WriteFile(path, []byte("[rabbitmq]\nRABBITMQ_HOST = \"broker.example\"\nRABBITMQ_PORT = 5673\n"), 0o600)
	cfg, err := bridge.LoadConfig(path)
	if err != nil {
		log.Fatal(err) // the file does not parse, or the environment holds a bad number
	}
	fmt.Println(cfg.Host, cfg.Port)

	// A password that does not decrypt with the secret fails at Dial.
	cfg.URL, cfg.Password, cfg.Secret = "", "rbenc1:AAAA", "wrong"
	_, err = bridge.Dial(context.Background(), cfg)
	fmt.Println(errors.Is(err, bridge.ErrSecret))
	// Output:
	// broker.example 5673
	// true
}

// The defaults of Config's zero fields.
func ExampleConfig_defaults() {
	fmt.Println(bridge.DefaultReconnectMin, bridge.DefaultReconnectMax, bridge.DefaultMaxMessageSize>>20, "MiB")
	// Output: 100ms 2s 128 MiB
}
