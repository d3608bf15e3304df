// Package docgen writes the reference of a fleet's functions, from their
// descriptions (schema.Function, as registry.Functions and
// caller.Discover give them): Markdown for people, and an AsyncAPI 3.0
// document (YAML or JSON) for tools. It lives apart from schema so that
// workers and callers do not link what only documents need.
//
//	fns := registry.Default.Functions()
//	err := docgen.Markdown(os.Stdout, "Our functions", fns)
//
// The CLI's `rabibridge docs` writes both, for a registry or a live fleet.
package docgen
