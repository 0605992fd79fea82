// `npm run docs:config`: writes the configuration reference made from the zod schemas, the
// README's section between its markers and config/kpi.schema.json for editors.
// test/config/reference.test.ts fails while either differs from what this would write.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configJsonSchema, configReferenceMarkdown, undescribedFields, withReference } from '../src/config/reference.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const README = path.join(root, 'README.md');
const SCHEMA_FILE = path.join(root, 'config/kpi.schema.json');

const missing = undescribedFields();
if (missing.length > 0) console.warn(`fields without a description (add .describe() to their schemas):\n  ${missing.join('\n  ')}`);

writeFileSync(README, withReference(readFileSync(README, 'utf8'), configReferenceMarkdown()));
writeFileSync(SCHEMA_FILE, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
console.log(`wrote the configuration reference to ${path.relative(process.cwd(), README)} and ${path.relative(process.cwd(), SCHEMA_FILE)}`);
