package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestBrokerInDocker runs scripts/broker.sh's Docker path (a developer's
// laptop with a Docker engine and no broker): RabbitMQ in a container, on a
// port of the test's own, answering AMQP. Where no Docker engine answers
// (these machines have none), it says so and skips.
func TestBrokerInDocker(t *testing.T) {
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("no Docker engine answers here (docker info: %v %.200s): the Docker path of scripts/broker.sh is not exercised", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	url := fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", port)
	name := fmt.Sprintf("rabibridge-rabbitmq-%d", port)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "../scripts/broker.sh")
	cmd.Env = append(os.Environ(), "RABIBRIDGE_URL="+url, "RABIBRIDGE_BROKER=docker")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("broker.sh: %v\n%s", err, out)
	}
	c, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("the broker in Docker does not answer AMQP: %v", err)
	}
	c.Close()
}
