package testbroker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os/exec"
	"testing"
	"time"
)

// VHost returns the URL of a virtual host of the test's own on the shared
// broker, deleted when the test ends: for tests whose function names are
// fixed (the README's "add") and would meet other tests' queues of the same
// name. It needs rabbitmqctl for the shared broker, as a local install has;
// without it the test is skipped (or fails, under
// RABIBRIDGE_REQUIRE_BROKER=1).
func VHost(t testing.TB) string {
	t.Helper()
	base := URL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("rabibridge-test-%08x", rand.Uint32())
	user := u.User.Username()
	for _, args := range [][]string{{"add_vhost", name}, {"set_permissions", "-p", name, user, ".*", ".*", ".*"}} {
		if out, err := sharedCtl(args...); err != nil {
			Require(t, fmt.Sprintf("no virtual host of the test's own (rabbitmqctl %v: %v: %s)", args, err, out))
		}
	}
	t.Cleanup(func() { _, _ = sharedCtl("delete_vhost", name) })
	u.Path = "/" + name
	return u.String()
}

// sharedCtl runs rabbitmqctl against the shared broker: the one on PATH,
// Debian's wrapper, which runs as the broker's user with its Erlang cookie.
func sharedCtl(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "rabbitmqctl", append([]string{"-q"}, args...)...).CombinedOutput()
}
