package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/secret"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestDemoInProcess(t *testing.T) {
	is := is.New(t)
	code, out, errOut := runCLI(t, "demo", "--url", "mem://cli-demo")
	is.Equal(code, 0)
	is.Equal(errOut, "")
	for _, want := range []string{
		"using the in-process transport (mem://cli-demo)",
		"echo(5)          = 5",
		"add(a=1, b=2)    = 3",
		"add(1, 2)        = 3",
		"fib(10)          = 55",
		"demo failure",
		"sleep(50)        = 50",
		"add(40, 2)       = 42",
	} {
		is.True(strings.Contains(out, want)) // every demo function printed its result
	}
}

func TestUsage(t *testing.T) {
	is := is.New(t)
	code, out, _ := runCLI(t, "help")
	is.Equal(code, 0)
	is.True(strings.Contains(out, "demo"))
	code, _, errOut := runCLI(t, "nonsense")
	is.Equal(code, 2)
	is.True(strings.Contains(errOut, `unknown command "nonsense"`))
}

// serveMem serves the demo functions on the in-process broker name, for
// commands run in this process.
func serveMem(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://" + name})
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New()
	if err := demo.Register(reg, registry.Options{Validate: true, QueueSize: 1, FetchSize: 1}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- worker.New(conn, reg, worker.Config{}).Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done; conn.Close() })
	for {
		if code, _, _ := runCLI(t, "call", "echo", "1", "--url", "mem://"+name); code == 0 {
			return
		}
	}
}

func TestCallExitCodes(t *testing.T) {
	serveMem(t, "cli-call")
	url := "mem://cli-call"
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{}, 2, ""},
		{[]string{"call", "echo", "12345678901234567890", "--url", url}, 0, "12345678901234567890\n"}, // beyond int64 and float64's precision
		{[]string{"call", "echo", "-9223372036854775808", "--url", url}, 0, "-9223372036854775808\n"},
		{[]string{"call", "echo", "123456789012345678901234", "--url", url}, 2, ""}, // beyond 64 bits: refused, not rounded
		{[]string{"call", "echo", "--url", url}, 2, ""},                             // echo wants its argument
		{[]string{"call", "add", `{"a":1,"b":2}`, "--url", url}, 0, "3\n"},
		{[]string{"call", "--url", url, "add", `[1,2]`}, 0, "3\n"},
		{[]string{"call", "fib", "10", "--url", url}, 0, "55\n"},
		{[]string{"call", "echo", `{"x":[1,2.5,"s",null]}`, "--url", url}, 0, `[1,2.5,"s",null]` + "\n"},
		{[]string{"call", "fail", "--url", url}, 3, ""},
		{[]string{"call", "add", `{"a":"x","b":1}`, "--url", url}, 3, ""},
		{[]string{"call", "nosuch", "--url", url}, 5, ""},
		{[]string{"call", "sleep", "2000", "--timeout", "100ms", "--url", url}, 6, ""},
		{[]string{"call", "add", "{not json", "--url", url}, 2, ""},
		{[]string{"call", "--url", url}, 2, ""},
		{[]string{"call", "--url", url, "--", "fib", "-1"}, 3, ""},
		{[]string{"call", "--no-such-flag"}, 2, ""},
		{[]string{"call", "add", "--url", "amqp://guest:guest@127.0.0.1:1/"}, 7, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			is := is.New(t)
			code, out, errOut := runCLI(t, tc.args...)
			is.Equal(code, tc.code) // exit code tells the failure's kind
			if tc.out != "" {
				is.Equal(out, tc.out)
			}
			if code != 0 {
				is.True(errOut != "") // and a message says what happened
			}
			is.True(!strings.Contains(errOut, "caller:") && !strings.Contains(errOut, "rabibridge: remote")) // no doubled prefixes
		})
	}
}

// TestConfigExitCodes: a password that does not decrypt is a
// configuration error (9), told apart from a broker that does not answer.
func TestConfigExitCodes(t *testing.T) {
	enc, err := secret.Encrypt("right", "hunter2")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	server := "[rabbitmq]\nRABBITMQ_HOST = \"127.0.0.1\"\nRABBITMQ_PORT = 1\nRABBITMQ_USERNAME = \"u\"\nRABBITMQ_PASSWORD = \"" + enc + "\"\n"
	for _, tc := range []struct {
		name, config string
		code         int
		says         string
	}{
		{"wrong secret", server + "[secret]\nSECRET = \"wrong\"\n", 9, "SECRET"},
		{"no secret", server, 9, "no secret"},
		{"unreadable file", "[rabbitmq\n", 9, "config"},
		{"right secret, no broker", server + "[secret]\nSECRET = \"right\"\n", 7, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RABIBRIDGE_SECRET", "")
			t.Setenv("RABIBRIDGE_URL", "")
			code, _, errOut := runCLI(t, "call", "add", "[1,2]", "--config", write(strings.ReplaceAll(tc.name, " ", "_")+".toml", tc.config))
			if code != tc.code || !strings.Contains(errOut, tc.says) {
				t.Errorf("exit %d, want %d; stderr %q, want it to say %q", code, tc.code, errOut, tc.says)
			}
			if strings.Contains(errOut, "hunter2") {
				t.Errorf("the password leaked: %q", errOut)
			}
		})
	}
}

func TestEncryptPassword(t *testing.T) {
	is := is.New(t)
	stdin = strings.NewReader("hunter2\n")
	t.Cleanup(func() { stdin = os.Stdin })
	code, out, _ := runCLI(t, "encrypt-password", "--secret", "k")
	is.Equal(code, 0)
	pw, err := secret.Decrypt("k", strings.TrimSpace(out))
	is.NoErr(err)
	is.Equal(pw, "hunter2")

	t.Setenv("RABIBRIDGE_SECRET", "")
	stdin = strings.NewReader("hunter2\n")
	code, _, errOut := runCLI(t, "encrypt-password")
	is.Equal(code, 2)
	is.True(strings.Contains(errOut, "no secret"))
}

// TestGeneratedDocsCurrent fails when docs/api.md or docs/asyncapi.yaml
// differ from what `go generate ./internal/demo` writes now.
func TestGeneratedDocsCurrent(t *testing.T) {
	for file, format := range map[string]string{"../../docs/api.md": "markdown", "../../docs/asyncapi.yaml": "asyncapi"} {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := runCLI(t, "docs", "--demo", "--format", format)
			if code != 0 {
				t.Fatal(errOut)
			}
			have, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if string(have) != out {
				t.Errorf("%s is stale: run `go generate ./internal/demo`", file)
			}
		})
	}
}
