// A source definition made a connector: sync through the engine, `kpi check` through discovery.
// Apart from engine.ts so that discovery, which uses the engine's requests, does not sit in a
// circle with it.
import type { z } from 'zod';
import { ConfigError } from '../../core/errors.ts';
import { defineConnector, type DefinedConnector, type SourceReader } from '../shared/connector.ts';
import type { SourceDefinition, SourceDefinitionInput } from './definition.ts';
import { configSchemaOf, parseDefinition, type SourceConfig } from './config.ts';
import { discoverSource } from './discover.ts';
import { accountsOf, openSource, type SourceOptions } from './engine.ts';
import { loadUserSource, userSourceConfigSchema, type UserSourceConfig } from './user-source.ts';

export type SourceConnector = DefinedConnector<z.ZodType<SourceConfig>, unknown>;

/**
 * A connector made of a definition: its config schema, sync and `kpi check`. `discover` replaces
 * the generic check (a TS definition's own, e.g. SendGrid's scopes).
 */
export function sourceConnector(input: SourceDefinitionInput | SourceDefinition, options: SourceOptions & { discover?: SourceConnector['discover'] } = {}): SourceConnector {
  const def = parseDefinition(input, `"${String((input as { type?: unknown }).type)}"`);
  const connector = defineConnector({
    type: def.type,
    configSchema: configSchemaOf(def),
    defaultLookbackDays: def.window.lookbackDays,
    streams: (config) => accountsOf(def, config),
    open: (config, ctx) => openSource(def, config, ctx, options) as SourceReader<unknown, undefined>,
    discover: options.discover ?? ((config, ctx) => discoverSource(def, config, ctx)),
  });
  return connector as unknown as SourceConnector;
}

/** A user's source (`type: source`): the connector's settings are the definition's config. */
function asSourceConfig(config: UserSourceConfig, configDir: string): { def: SourceDefinition; config: SourceConfig } {
  let def = config.source;
  let settings: Record<string, unknown> = config.settings;
  if (!def) {
    const loaded = loadUserSource(config, configDir);
    if (!loaded.source) throw new ConfigError(`connector "${config.name}": ${loaded.problems.map((p) => `${p.key.join('.')}: ${p.message}`).join('; ')}`);
    def = loaded.source;
    settings = loaded.settings ?? {};
  }
  return { def, config: { ...settings, ...config } as SourceConfig };
}

/** The connector of `type: source`: each config carries its own definition, read by the loader. */
export const userSourceConnector = defineConnector({
  type: 'source',
  configSchema: userSourceConfigSchema as unknown as z.ZodType<UserSourceConfig>,
  defaultLookbackDays: (config) => (config.source ? config.source.window.lookbackDays : 3),
  streams: (config) => (config.source ? accountsOf(config.source, { ...config.settings, ...config }) : []),
  open: (config, ctx) => {
    const s = asSourceConfig(config, ctx.configDir);
    return openSource(s.def, s.config, ctx, {}) as SourceReader<unknown, undefined>;
  },
  discover: (config, ctx) => {
    const s = asSourceConfig(config, ctx.configDir);
    return discoverSource(s.def, s.config, ctx);
  },
});
