/**
 * Every secret value resolved from the environment is registered here, so that logs,
 * error messages and anything written to the warehouse can be scrubbed of it.
 */

const secretValues = new Set<string>();

// Short values would scrub ordinary words out of logs; no real credential is this short.
const MIN_SECRET_LENGTH = 4;

export function registerSecret(value: string): void {
  if (value.length >= MIN_SECRET_LENGTH) secretValues.add(value);
}

export function redactSecrets(text: string): string {
  let out = text;
  for (const secret of secretValues) {
    if (out.includes(secret)) out = out.split(secret).join('[redacted]');
  }
  return out;
}

export function knownSecrets(): readonly string[] {
  return [...secretValues];
}

/** For tests that load several configs in one process. */
export function clearSecrets(): void {
  secretValues.clear();
}
