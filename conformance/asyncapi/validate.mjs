// Parses the AsyncAPI document with the official parser (and its Avro schema parser, for the
// payloads: $refs to schemas/avro/*.avsc), prints every diagnostic, and fails on any of severity error.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';

const path = resolve(process.argv[2] ?? '../../docs/asyncapi.yaml');
const parser = new Parser();
parser.registerSchemaParser(AvroSchemaParser());
const { document, diagnostics } = await parser.parse(readFileSync(path, 'utf8'), {
  source: path,
  validateOptions: { allowedSeverity: { error: false, warning: true, info: true, hint: true } },
});
const names = { [DiagnosticSeverity.Error]: 'error', [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info', [DiagnosticSeverity.Hint]: 'hint' };
for (const d of diagnostics) {
  console.log(`${names[d.severity]} ${d.code} at ${d.path.join('.') || '(root)'}: ${d.message}`);
}
// Parser 3.x checks custom schema formats in AsyncAPI 2 documents only: the Avro payloads (resolved
// from their $refs) are checked here with the Avro schema parser's own validation.
const avro = AvroSchemaParser();
let avroErrors = 0;
const messages = document?.json()?.components?.messages ?? {};
for (const [name, message] of Object.entries(messages)) {
  const payload = message.payload ?? {};
  const original = payload['x-parser-original-payload'];
  if (!avro.getMimeTypes().includes(payload.schemaFormat) || original === undefined) {
    console.log(`error at components.messages.${name}.payload: not an Avro 1.9.0 payload`);
    avroErrors += 1;
    continue;
  }
  for (const problem of await avro.validate({ data: original, path: ['components', 'messages', name, 'payload'] })) {
    console.log(`error avro-schema at components.messages.${name}.payload: ${problem.message}`);
    avroErrors += 1;
  }
}
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).length + avroErrors;
if (errors > 0 || document === undefined) {
  console.log(`${path}: ${errors} error(s); the document is not valid AsyncAPI`);
  process.exit(1);
}
console.log(`${path}: AsyncAPI ${document.version()}, ${document.channels().length} channels, ` +
  `${document.operations().length} operations, ${document.components().messages().length} messages; ` +
  `${diagnostics.length} diagnostic(s), none of severity error; ` +
  `${Object.keys(messages).length} Avro payloads valid`);
