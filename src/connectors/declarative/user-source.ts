import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { baseConnectorFields, httpConnectorFields } from '../shared/config.ts';
import { sourceDefinitionSchema, type SourceDefinition } from './definition.ts';
import { settingsShape } from './config.ts';

/**
 * A source of the user's own, without code: `type: source` names a definition file (YAML,
 * the schema of definition.ts) and gives its settings. The loader reads the file once, when
 * the config loads, so `kpi validate` reports a broken definition with its path, and the
 * connector's metrics are known before it syncs.
 */
export const userSourceConfigSchema = z.strictObject({
  ...baseConnectorFields,
  ...httpConnectorFields,
  type: z.literal('source'),
  definition: z.string().min(1).describe('path of the source definition file (YAML; see *Your own source*), relative to this config file'),
  settings: z
    .record(z.string(), z.union([z.string(), z.number(), z.array(z.string())]))
    .default({})
    .describe("values of the definition's `config` fields, e.g. `{ apiToken: \"${env:PIPEDRIVE_TOKEN}\" }`"),
});

export type UserSourceConfig = z.output<typeof userSourceConfigSchema> & {
  /** The definition the file holds, read by the loader (loadUserSource). */
  source?: SourceDefinition;
};

/** The file's definition and the settings checked against its `config` fields; problems each with the key they concern. */
export function loadUserSource(config: UserSourceConfig, configDir: string): { source?: SourceDefinition; settings?: Record<string, unknown>; problems: Array<{ key: string[]; message: string }> } {
  const file = path.resolve(configDir, config.definition);
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message.split('\n')[0];
    return { problems: [{ key: ['definition'], message: `cannot read source definition ${config.definition}: ${why}` }] };
  }
  const parsed = sourceDefinitionSchema.safeParse(raw);
  if (!parsed.success) {
    return { problems: parsed.error.issues.map((i) => ({ key: ['definition'], message: `${config.definition}: ${i.path.join('.') || '(top level)'}: ${i.message}` })) };
  }
  const own = z.strictObject(settingsShape(parsed.data));
  const settings = own.safeParse(config.settings);
  if (!settings.success) return { problems: settings.error.issues.map((i) => ({ key: ['settings', ...i.path.map(String)], message: i.message })) };
  return { source: parsed.data, settings: settings.data, problems: [] };
}
