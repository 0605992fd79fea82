import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../errors.ts';

export interface SourceFile {
  /** As shown to people and stored: relative to the config folder. */
  path: string;
  absolute: string;
  sha256: string;
  size: number;
  text: string;
}

function wildcardToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${escaped}$`);
}

/**
 * A path, or a glob with wildcards in the file name only (exports/leads-*.csv): enough for
 * dated exports without pulling in a glob library.
 */
export function listFiles(pattern: string, baseDir: string, connector: string): SourceFile[] {
  const absolutePattern = path.resolve(baseDir, pattern);
  const dir = path.dirname(absolutePattern);
  const name = path.basename(absolutePattern);
  if (/[*?]/.test(dir)) throw new ConfigError(`connector "${connector}": path "${pattern}" may use wildcards in the file name only`);
  let names: string[];
  if (/[*?]/.test(name)) {
    try {
      const matcher = wildcardToRegExp(name);
      names = readdirSync(dir).filter((n) => matcher.test(n)).sort();
    } catch {
      throw new ConfigError(`connector "${connector}": folder ${path.relative(baseDir, dir) || '.'} of path "${pattern}" does not exist`);
    }
  } else {
    names = [name];
  }
  return names.flatMap((n) => {
    const absolute = path.join(dir, n);
    let text: string;
    try {
      if (!statSync(absolute).isFile()) return [];
      text = readFileSync(absolute, 'utf8');
    } catch {
      throw new ConfigError(`connector "${connector}": file ${path.relative(baseDir, absolute)} (from path "${pattern}") cannot be read`);
    }
    return [{ path: path.relative(baseDir, absolute), absolute, text, size: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') }];
  });
}
