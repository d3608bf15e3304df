package testbroker

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rabbitBin is where Debian's rabbitmq-server package keeps the real
// scripts; /usr/sbin's wrappers would switch to the rabbitmq user.
const rabbitBin = "/usr/lib/rabbitmq/bin"

// NodeOptions configure a node of the test's own.
type NodeOptions struct {
	// TLS adds a TLS listener with certificates made for the test, which
	// requires client certificates.
	TLS bool
	// Config holds further rabbitmq.conf lines.
	Config string
	// Cookie is the Erlang cookie; nodes of one cluster share one. Empty
	// means a random one.
	Cookie string
}

// Node is a RabbitMQ node of one test's own: its own name, loopback ports,
// data directory and Erlang cookie, so it can be stopped, restarted or cut
// without touching the shared broker other tests use.
type Node struct {
	Name    string // e.g. rbtest-1a2b3c@localhost
	Port    int    // AMQP port on 127.0.0.1
	TLSPort int    // AMQPS port on 127.0.0.1, with NodeOptions.TLS
	Certs   *Certs // with NodeOptions.TLS

	t   testing.TB
	dir string
	env []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartNode starts a node and waits until it accepts connections. The node
// is stopped and its files removed in t.Cleanup. Where no node can be
// started (no rabbitmq-server installed, it fails to boot) the test is
// skipped with the reason, or fails when RABIBRIDGE_REQUIRE_BROKER=1.
func StartNode(t testing.TB, opts NodeOptions) *Node {
	t.Helper()
	if _, err := os.Stat(filepath.Join(rabbitBin, "rabbitmq-server")); err != nil {
		Require(t, "cannot start a RabbitMQ node of the test's own: "+rabbitBin+"/rabbitmq-server is missing (Debian package rabbitmq-server; `make broker` installs it)")
	}
	dir, err := os.MkdirTemp("", "rbnode-")
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{t: t, dir: dir, Name: fmt.Sprintf("rbtest-%06x@localhost", rand.Uint32()&0xffffff)}
	t.Cleanup(func() {
		n.Stop()
		os.RemoveAll(dir)
	})
	ports := freePorts(t, 3)
	n.Port = ports[0]
	home := filepath.Join(dir, "home")
	must(t, os.MkdirAll(home, 0o700))
	cookie := opts.Cookie
	if cookie == "" {
		cookie = fmt.Sprintf("RBTEST%016X", rand.Uint64())
	}
	must(t, os.WriteFile(filepath.Join(home, ".erlang.cookie"), []byte(cookie), 0o400))
	conf := fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d\nloopback_users = none\n", n.Port)
	if opts.TLS {
		n.TLSPort = ports[2]
		n.Certs = MakeCerts(t, filepath.Join(dir, "certs"))
		conf += fmt.Sprintf(`listeners.ssl.default = 127.0.0.1:%d
ssl_options.cacertfile = %s
ssl_options.certfile = %s
ssl_options.keyfile = %s
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
`, n.TLSPort, n.Certs.CA, n.Certs.ServerCert, n.Certs.ServerKey)
	}
	conf += opts.Config
	must(t, os.WriteFile(filepath.Join(dir, "rabbitmq.conf"), []byte(conf), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "rabbitmq-env.conf"), nil, 0o644))
	n.env = append(cleanEnv(),
		"HOME="+home,
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"),
		"RABBITMQ_NODENAME="+n.Name,
		"RABBITMQ_NODE_PORT="+strconv.Itoa(n.Port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(ports[1]),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"ERL_EPMD_ADDRESS=127.0.0.1",
	)
	if err := n.Start(); err != nil {
		Require(t, "cannot start a RabbitMQ node of the test's own: "+err.Error())
	}
	return n
}

// URL is the node's amqp:// URL.
func (n *Node) URL() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.Port) }

// TLSURL is the node's amqps:// URL, by the name its certificate has.
func (n *Node) TLSURL() string { return fmt.Sprintf("amqps://guest:guest@localhost:%d/", n.TLSPort) }

// Start starts the node (again, after Stop) and waits until it is up.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return nil
	}
	cmd := exec.Command(filepath.Join(rabbitBin, "rabbitmq-server"))
	cmd.Dir, cmd.Env = n.dir, n.env
	out, err := os.OpenFile(filepath.Join(n.dir, "server.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = groupAttr() // so the whole tree can be killed
	if err := cmd.Start(); err != nil {
		return err
	}
	n.cmd = cmd
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	// await_startup fails at once until the node has registered with epmd:
	// ask again while the server runs.
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, err := n.ctl(30*time.Second, "await_startup")
		if err == nil {
			return nil
		}
		select {
		case <-exited:
		case <-time.After(300 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
		}
		log, _ := os.ReadFile(filepath.Join(n.dir, "server.out"))
		n.killLocked()
		return fmt.Errorf("node %s did not start: %v\n%s", n.Name, err, tail(log, 2000))
	}
}

// Stop stops the node: gracefully, then by killing it.
func (n *Node) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	_, _ = n.ctl(30*time.Second, "stop")
	n.killLocked()
}

// Kill kills the node at once, as a crash would.
func (n *Node) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.killLocked()
}

func (n *Node) killLocked() {
	if n.cmd == nil {
		return
	}
	killGroup(n.cmd.Process)
	n.cmd = nil
	// The node's name stays registered with epmd for a moment.
	for range 50 {
		if _, err := n.ctl(2*time.Second, "ping"); err != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Ctl runs rabbitmqctl against the node.
func (n *Node) Ctl(args ...string) (string, error) { return n.ctl(60*time.Second, args...) }

func (n *Node) ctl(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(rabbitBin, "rabbitmqctl"), append([]string{"-n", n.Name, "-q"}, args...)...)
	cmd.Dir, cmd.Env = n.dir, n.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, tail(out.Bytes(), 500))
	}
	return out.String(), nil
}

// cleanEnv is the environment without RabbitMQ and Erlang settings of the
// machine's own broker.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RABBITMQ_") || strings.HasPrefix(kv, "ERL_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
