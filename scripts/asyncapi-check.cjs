// Parses an AsyncAPI document with the official parser and prints its
// diagnostics as JSON: [{code, message, severity, path}], severity 0 being
// an error. Usage: NODE_PATH=<dir>/node_modules node asyncapi-check.cjs FILE
const fs = require('fs');
const { Parser } = require('@asyncapi/parser');

(async () => {
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const out = diagnostics.map(d => ({ code: String(d.code), message: d.message, severity: d.severity, path: d.path }));
  if (!document && !out.some(d => d.severity === 0)) {
    out.push({ code: 'no-document', message: 'the parser returned no document', severity: 0, path: [] });
  }
  process.stdout.write(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(2); });
