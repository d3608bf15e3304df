package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"

	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/schema"
)

func runDocs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("docs", stderr)
	format := fs.String("format", "markdown", "markdown, asyncapi (YAML), asyncapi-json or json")
	out := fs.String("out", "", "write to this file (default: standard output)")
	fromDemo := fs.Bool("demo", false, "document the demo functions (the live fleet as a source comes with discovery)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if !*fromDemo {
		return usageError("give --demo: documents from a live fleet need discovery, which is not built yet; from Go, use registry.Functions with schema.Markdown or schema.AsyncAPI")
	}
	reg := registry.New()
	if err := demo.Register(reg, demo.Options); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := writeDocs(&b, *format, reg.Functions()); err != nil {
		return err
	}
	if *out == "" {
		_, err := stdout.Write(b.Bytes())
		return err
	}
	return os.WriteFile(*out, b.Bytes(), 0o644)
}

// writeDocs renders fns in format.
func writeDocs(w io.Writer, format string, fns []schema.Function) error {
	switch format {
	case "markdown", "md":
		return schema.Markdown(w, "rabibridge demo functions", fns)
	case "asyncapi", "asyncapi-json":
		doc, err := schema.AsyncAPI(fns, schema.AsyncAPIOptions{Title: "rabibridge demo functions",
			Description: "The functions `rabibridge serve-demo` serves."})
		if err != nil {
			return err
		}
		if format == "asyncapi-json" {
			return schema.WriteAsyncAPI(w, doc, "json")
		}
		return schema.WriteAsyncAPI(w, doc, "yaml")
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(fns)
	}
	return usageError("--format %q: want markdown, asyncapi, asyncapi-json or json", format)
}
