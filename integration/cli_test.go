package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
)

// buildCLI builds cmd/rabibridge into the test's temporary directory.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rabibridge")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/rabibridge").CombinedOutput()
	if err != nil {
		t.Fatalf("building the CLI: %v\n%s", err, out)
	}
	return bin
}

// TestCLIServeAndCall runs `rabibridge serve-demo`, calls it with
// `rabibridge call`, and stops it with SIGTERM.
func TestCLIServeAndCall(t *testing.T) {
	url := testbroker.URL(t)
	bin := buildCLI(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	serve := exec.CommandContext(ctx, bin, "serve-demo", "--url", url)
	stdout, err := serve.StdoutPipe()
	is.NoErr(err)
	var stderr bytes.Buffer
	serve.Stderr = &stderr
	is.NoErr(serve.Start())
	t.Cleanup(func() { _ = serve.Process.Kill() })
	lines := bufio.NewScanner(stdout)
	is.True(lines.Scan())
	is.True(strings.HasPrefix(lines.Text(), "serving"))

	call := func(args ...string) (string, int) {
		cmd := exec.CommandContext(ctx, bin, append([]string{"call", "--url", url}, args...)...)
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		is.NoErr(err)
		return string(out), 0
	}
	var out string
	var code int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if out, code = call("add", `{"a":1,"b":2}`); code != 5 { // 5: not served yet
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	is.Equal(code, 0)
	is.Equal(out, "3\n")
	out, code = call("fib", "[10]")
	is.Equal(code, 0)
	is.Equal(out, "55\n")
	_, code = call("fail")
	is.Equal(code, 3)

	is.NoErr(serve.Process.Signal(syscall.SIGTERM))
	is.True(lines.Scan())
	is.Equal(lines.Text(), "drained")
	is.NoErr(serve.Wait()) // exit 0 after the drain
}

// TestCLIBench runs `rabibridge bench` against a worker it serves itself and
// the raw floor, two rounds in turns at two concurrencies, with --json and
// --plot: every figure is there, no call failed, and the chart is an SVG;
// then --calibrate, which measures the floor against a second copy of it.
func TestCLIBench(t *testing.T) {
	url := testbroker.URL(t)
	bin := buildCLI(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	plot := filepath.Join(t.TempDir(), "bench.svg")
	out, err := exec.CommandContext(ctx, bin, "bench", "--url", url, "--serve", "--floor", "--rounds", "2",
		"--concurrency", "1,4", "--duration", "300ms", "--warmup", "100ms", "--json", "--plot", plot).Output()
	is.NoErr(err)
	type report struct {
		Rounds  int
		Results []struct {
			Concurrency int
			Calls       int64
			CallsPerSec float64 `json:"calls_per_sec"`
			P50ms       float64 `json:"p50_ms"`
			CPUus       float64 `json:"cpu_us_per_call"`
			Errors      map[string]int64
		}
		Floor  []struct{ Calls int64 }
		Ratios []struct {
			Concurrency    int
			CallsPerSec    float64 `json:"calls_per_sec"`
			CallsPerSecMin float64 `json:"calls_per_sec_min"`
			CallsPerSecMax float64 `json:"calls_per_sec_max"`
		}
		Calibration bool
	}
	var rep report
	is.NoErr(json.Unmarshal(out, &rep))
	is.True(!rep.Calibration)
	is.Equal(rep.Rounds, 2)
	is.Equal(len(rep.Results), 2)
	is.Equal(len(rep.Floor), 2)
	is.Equal(len(rep.Ratios), 2)
	for i, r := range rep.Results {
		is.Equal(r.Concurrency, []int{1, 4}[i])
		is.True(r.Calls > 0 && r.CallsPerSec > 0 && r.P50ms > 0 && r.CPUus > 0)
		is.Equal(len(r.Errors), 0)
		is.True(rep.Floor[i].Calls > 0)
		ratio := rep.Ratios[i]
		is.True(0 < ratio.CallsPerSecMin && ratio.CallsPerSecMin <= ratio.CallsPerSec && ratio.CallsPerSec <= ratio.CallsPerSecMax)
	}
	svg, err := os.ReadFile(plot)
	is.NoErr(err)
	is.True(bytes.Contains(svg, []byte("<svg")))

	// --calibrate measures a second floor in rabibridge's place.
	out, err = exec.CommandContext(ctx, bin, "bench", "--url", url, "--floor", "--calibrate", "--rounds", "2",
		"--concurrency", "2", "--duration", "300ms", "--warmup", "100ms", "--json").Output()
	is.NoErr(err)
	var cal report
	is.NoErr(json.Unmarshal(out, &cal))
	is.True(cal.Calibration)
	is.Equal(len(cal.Results), 1)
	is.Equal(len(cal.Floor), 1)
	is.True(cal.Results[0].Calls > 0 && cal.Floor[0].Calls > 0)
	is.Equal(len(cal.Results[0].Errors), 0)
	is.Equal(cal.Ratios[0].Concurrency, 2)
}

// TestCLIDemo runs `rabibridge demo`, the README's main command, against
// RabbitMQ a few times: every call it makes must be answered, so the demo
// must not call before its worker consumes every queue.
func TestCLIDemo(t *testing.T) {
	url := testbroker.URL(t)
	bin := buildCLI(t)
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := exec.CommandContext(ctx, bin, "demo", "--url", url).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out)
		}
		text := string(out)
		if !strings.Contains(text, "using RabbitMQ") {
			t.Fatalf("run %d: the demo did not use RabbitMQ:\n%s", i, text)
		}
		for _, want := range []string{"fib(10)          = 55", "sleep(50)        = 50", "add(40, 2)       = 42"} {
			if !strings.Contains(text, want) {
				t.Fatalf("run %d: no %q in\n%s", i, want, text)
			}
		}
	}
}

// TestCLIAccessRefused: a wrong password exits 8 and says what to check,
// without the password; the in-process fallback of the demo does not hide
// it.
func TestCLIAccessRefused(t *testing.T) {
	u, err := url.Parse(testbroker.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "not-the-Password-1")
	bin := buildCLI(t)
	for _, args := range [][]string{{"call", "add", "[1,2]"}, {"demo"}, {"list"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, append(args, "--url", u.String())...)
		out, err := cmd.CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 8 {
			t.Errorf("%v: %v, want exit 8\n%s", args, err, out)
		}
		if !strings.Contains(string(out), "check the user and password") || strings.Contains(string(out), "not-the-Password-1") {
			t.Errorf("%v: %s", args, out)
		}
	}
}
