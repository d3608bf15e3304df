package docgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/codec"
	"github.com/rabibridge/rabibridge/docgen"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/once"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/schema"
)

type point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

type shape struct {
	Name   string  `json:"name" jsonschema:"maxLength=20,description=What the shape is called"`
	Points []point `json:"points" jsonschema:"required,minItems=1"`
	Origin *point  `json:"origin,omitempty"`
}

// functions is the demo registry and a function with nested types.
func functions(t *testing.T) []registry.Function {
	t.Helper()
	reg := registry.New()
	if err := demo.Register(reg, registry.Options{Validate: true, QueueSize: 100, MaxQueueWait: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	err := registry.RegisterIn(reg, "area", func(context.Context, shape) (float64, error) { return 0, nil },
		registry.Options{Description: "Computes the area of a shape.", Kind: registry.Sync, Once: once.NewMemory(), OnceTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return reg.Functions()
}

func TestMarkdown(t *testing.T) {
	is := is.New(t)
	fns := functions(t)
	var a, b bytes.Buffer
	is.NoErr(docgen.Markdown(&a, "API", fns))
	reversed := append([]registry.Function(nil), fns...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	is.NoErr(docgen.Markdown(&b, "API", reversed))
	is.Equal(a.String(), b.String()) // deterministic, whatever the order
	md := a.String()
	for _, want := range []string{
		"## add", "## area", "## fib",
		"Computes the area of a shape.",
		"| kind | sync (queue `rpc_sync_area`, routing key `sync_area` on exchange `rpc`) |",
		"| queue size | 100 |", "| timeout in queue | 10s |", "| validation | true |",
		"| validation | false |\n| run once | one run per key (`IdempotencyKey`, else the call's identity); results remembered for 1h0m0s |\n\n### Request", // area
		"| `name` | string | true | maxLength=20 | What the shape is called |",
		"| `points` | array of `point` | true | minItems=1 |",
		"| `origin` | `point` or null | false |",
		"rabibridge call add '{\"a\":1,\"b\":1}'",
		"One positional argument: integer.", // fib
		"No arguments.",                     // fail
		`caller.Call[struct{}, Resp](ctx, c, "fail", struct{}{})`,
		"The result: number.", // area
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

func TestAsyncAPIDocument(t *testing.T) {
	is := is.New(t)
	doc, err := docgen.AsyncAPI(functions(t), docgen.AsyncAPIOptions{Server: "amqp://guest:secret@broker:5672/"})
	is.NoErr(err)
	var a, b bytes.Buffer
	is.NoErr(docgen.WriteAsyncAPI(&a, doc, "yaml"))
	doc2, _ := docgen.AsyncAPI(functions(t), docgen.AsyncAPIOptions{Server: "amqp://guest:secret@broker:5672/"})
	is.NoErr(docgen.WriteAsyncAPI(&b, doc2, "yaml"))
	is.Equal(a.String(), b.String()) // deterministic
	y := a.String()
	is.True(!strings.Contains(y, "secret")) // no password in the document
	is.True(strings.Contains(y, "asyncapi: 3.0.0"))
	is.True(strings.Contains(y, "rpc_async_add:"))
	is.True(strings.Contains(y, "address: async_add"))
	is.True(strings.Contains(y, "x-max-length: 100"))
	is.True(strings.Contains(y, "$ref: '#/components/schemas/point'")) // nested types hoisted
	is.True(!strings.Contains(y, "$defs"))
	var j bytes.Buffer
	is.NoErr(docgen.WriteAsyncAPI(&j, doc, "json"))
	var back map[string]any
	is.NoErr(json.Unmarshal(j.Bytes(), &back))
}

// TestAsyncAPIOfficialParser runs @asyncapi/parser on our document and fails
// on any diagnostic of severity error.
func TestAsyncAPIOfficialParser(t *testing.T) {
	root, _ := filepath.Abs("..")
	out, err := exec.Command(filepath.Join(root, "scripts", "asyncapi-parser.sh")).Output()
	if err != nil {
		msg := "cannot install @asyncapi/parser with npm: " + err.Error()
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := strings.TrimSpace(string(out))
	doc, err := docgen.AsyncAPI(functions(t), docgen.AsyncAPIOptions{Server: "amqp://127.0.0.1:5672/"})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "asyncapi.yaml")
	var buf bytes.Buffer
	if err := docgen.WriteAsyncAPI(&buf, doc, "yaml"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join(root, "scripts", "asyncapi-check.cjs"), file)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("the parser failed: %v\n%s", err, res)
	}
	var diags []struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		Severity int    `json:"severity"`
		Path     []any  `json:"path"`
	}
	if err := json.Unmarshal(res, &diags); err != nil {
		t.Fatalf("parser output: %v: %s", err, res)
	}
	for _, d := range diags {
		if d.Severity == 0 {
			t.Errorf("error %s at %v: %s", d.Code, d.Path, d.Message)
		} else {
			t.Logf("severity %d %s at %v: %s", d.Severity, d.Code, d.Path, d.Message)
		}
	}
}

type profile struct {
	Name  string            `json:"name" jsonschema:"minLength=6"`
	Born  time.Time         `json:"born"`
	Tags  map[string]string `json:"tags"`
	Extra any               `json:"extra"`
}

type auditReq struct {
	At      time.Time  `json:"at"`
	Until   *time.Time `json:"until"`
	Profile profile    `json:"profile"`
	Blob    []byte     `json:"blob"`
	Points  []point    `json:"points" jsonschema:"minItems=2"`
	Level   int8       `json:"level" jsonschema:"minimum=3"`
}

// TestExamplesAreAccepted: the example call of every function's reference
// is a request the function takes: it fits the request's schema and
// decodes into its Go type, through both codecs, as the CLI sends it.
func TestExamplesAreAccepted(t *testing.T) {
	reg := registry.New()
	if err := demo.Register(reg, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	types := map[string]reflect.Type{"audit": reflect.TypeFor[auditReq](), "area": reflect.TypeFor[shape](), "add": reflect.TypeFor[demo.AddReq]()}
	err := registry.RegisterIn(reg, "audit", func(context.Context, auditReq) (int, error) { return 0, nil }, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := registry.RegisterIn(reg, "area", func(context.Context, shape) (float64, error) { return 0, nil }, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	if err := docgen.Markdown(&md, "API", reg.Functions()); err != nil {
		t.Fatal(err)
	}
	examples := regexp.MustCompile(`rabibridge call (\w+) '(.*)'`).FindAllStringSubmatch(md.String(), -1)
	if len(examples) != len(reg.Functions()) {
		t.Fatalf("%d examples for %d functions", len(examples), len(reg.Functions()))
	}
	for _, f := range reg.Functions() {
		var text string
		for _, e := range examples {
			if e[1] == f.Name {
				text = e[2]
			}
		}
		s, err := schema.Parse(f.Request)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			t.Fatalf("%s: %s: %v", f.Name, text, err)
		}
		if _, positional := v.([]any); positional {
			v = v.([]any)[0]
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("%s: the example %s does not fit the schema: %v", f.Name, text, err)
		}
		typ, ok := types[f.Name]
		if !ok {
			continue
		}
		for _, cd := range []codec.Codec{codec.Msgpack, codec.JSON} {
			body, err := cd.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if err := cd.Unmarshal(body, reflect.New(typ).Interface()); err != nil {
				t.Errorf("%s: the example %s does not decode by %s: %v", f.Name, text, cd.Name(), err)
			}
		}
	}
}
