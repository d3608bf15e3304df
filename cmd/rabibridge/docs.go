package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"

	"github.com/rabibridge/rabibridge/docgen"
	"github.com/rabibridge/rabibridge/registry"
)

func runDocs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("docs", stderr)
	var s source
	s.cf.register(fs)
	s.register(fs)
	format := fs.String("format", "markdown", "markdown, asyncapi (YAML), asyncapi-json or json")
	out := fs.String("out", "", "write to this file (default: standard output)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	fns, err := s.functions(ctx, stderr)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := writeDocs(&b, *format, fns); err != nil {
		return err
	}
	return output(*out, stdout, b.Bytes())
}

// output writes b to the file out, or to stdout when out is empty.
func output(out string, stdout io.Writer, b []byte) error {
	if out == "" {
		_, err := stdout.Write(b)
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

// writeDocs renders fns in format.
func writeDocs(w io.Writer, format string, fns []registry.Function) error {
	switch format {
	case "markdown", "md":
		return docgen.Markdown(w, "rabibridge demo functions", fns)
	case "asyncapi", "asyncapi-json":
		doc, err := docgen.AsyncAPI(fns, docgen.AsyncAPIOptions{Title: "rabibridge demo functions",
			Description: "The functions `rabibridge serve-demo` serves."})
		if err != nil {
			return err
		}
		if format == "asyncapi-json" {
			return docgen.WriteAsyncAPI(w, doc, "json")
		}
		return docgen.WriteAsyncAPI(w, doc, "yaml")
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(fns)
	}
	return usageError("--format %q: want markdown, asyncapi, asyncapi-json or json", format)
}
