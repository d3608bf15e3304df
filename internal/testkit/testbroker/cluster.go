package testbroker

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// StartCluster starts n nodes of the test's own and joins them into one
// cluster. Where that cannot be done the test is skipped with the reason,
// or fails when RABIBRIDGE_REQUIRE_BROKER=1.
func StartCluster(t testing.TB, n int) []*Node {
	t.Helper()
	cookie := fmt.Sprintf("RBCLUSTER%016X", rand.Uint64())
	nodes := make([]*Node, n)
	for i := range nodes {
		nodes[i] = StartNode(t, NodeOptions{Cookie: cookie})
	}
	for _, node := range nodes[1:] {
		for _, step := range [][]string{{"stop_app"}, {"reset"}, {"join_cluster", nodes[0].Name}, {"start_app"}} {
			if out, err := node.Ctl(step...); err != nil {
				Require(t, fmt.Sprintf("cannot join %s to the cluster (%s): %v %s", node.Name, strings.Join(step, " "), err, out))
			}
		}
	}
	return nodes
}

// URLs returns the nodes' amqp:// URLs.
func URLs(nodes []*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.URL()
	}
	return out
}

// Leader returns the node that leads quorum queue q, by asking node.
func Leader(node *Node, nodes []*Node, q string) (*Node, error) {
	out, err := node.Ctl("list_queues", "--no-table-headers", "name", "leader")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == q {
			for _, n := range nodes {
				if n.Name == f[1] {
					return n, nil
				}
			}
			return nil, fmt.Errorf("queue %s is led by %s, not one of ours", q, f[1])
		}
	}
	return nil, fmt.Errorf("no queue %s", q)
}
