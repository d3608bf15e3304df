package docgen_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/rabibridge/rabibridge/docgen"
	"github.com/rabibridge/rabibridge/registry"
)

type greetReq struct {
	Name string `json:"name" jsonschema:"minLength=1"`
}

func ExampleMarkdown() {
	reg := registry.New()
	_ = registry.RegisterIn(reg, "greet", func(_ context.Context, r greetReq) (string, error) {
		return "hello " + r.Name, nil
	}, registry.Options{Description: "Greets someone."})
	var b strings.Builder
	if err := docgen.Markdown(&b, "Greetings", reg.Functions()); err != nil {
		fmt.Println(err)
	}
	fmt.Println(strings.SplitN(b.String(), "\n", 2)[0])
	// Output: # Greetings
}

func ExampleAsyncAPI() {
	reg := registry.New()
	_ = registry.RegisterIn(reg, "greet", func(_ context.Context, r greetReq) (string, error) {
		return "hello " + r.Name, nil
	}, registry.Options{})
	doc, err := docgen.AsyncAPI(reg.Functions(), docgen.AsyncAPIOptions{Title: "Greetings"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(doc["asyncapi"])
	_ = docgen.WriteAsyncAPI(os.Stdout, map[string]any{"asyncapi": doc["asyncapi"]}, "yaml")
	// Output:
	// 3.0.0
	// asyncapi: 3.0.0
}
