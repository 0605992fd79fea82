import { describe, expect, it } from 'vitest';
import { connectorFor, connectorRegistry, type AnyConnector } from '../../src/connectors/index.ts';
import { isConfigError } from '../../src/errors.ts';

describe('connector registry', () => {
  it('loads each built-in type on first use, as the connector of that type', async () => {
    for (const type of Object.keys(connectorRegistry)) {
      const connector = await connectorFor(type);
      expect(connector.type).toBe(type);
      expect(typeof connector.open).toBe('function');
    }
  });

  it('an unknown type, or a name Object.prototype happens to have, is a ConfigError', async () => {
    for (const type of ['tiktok_ads', 'constructor', 'toString', '__proto__']) {
      const err = await connectorFor(type).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isConfigError(err), `${type}: ${String(err)}`).toBe(true);
    }
  });

  it('a registry given by the caller may hold connectors as well as loaders', async () => {
    const fake: AnyConnector = { type: 'csv', defaultLookbackDays: () => 0, streams: () => ['a'], open: () => ({}) as never };
    expect(await connectorFor('csv', { csv: fake })).toBe(fake);
    expect(await connectorFor('csv', { csv: async () => fake })).toBe(fake);
  });
});
