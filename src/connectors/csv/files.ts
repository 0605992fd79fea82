import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../core/errors.ts';

export interface SourceFile {
  /** As shown to people and stored: relative to the config folder. */
  path: string;
  absolute: string;
  sha256: string;
  size: number;
  text: string;
}

/**
 * The text of an export, whatever a spreadsheet saved it as: UTF-8 (with or without a byte
 * order mark), UTF-16 in either byte order (Excel's "Unicode text", with or without a mark),
 * or, when the bytes are not valid UTF-8, Windows-1252 (Excel's default "CSV" on Windows).
 * Read as UTF-8 regardless, UTF-16 comes out as NUL bytes between letters and no header matches.
 */
export function decodeText(bytes: Buffer): { text: string; encoding: string } {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return { text: new TextDecoder('utf-8').decode(bytes.subarray(3)), encoding: 'utf-8' };
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { text: new TextDecoder('utf-16le').decode(bytes.subarray(2)), encoding: 'utf-16le' };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { text: new TextDecoder('utf-16be').decode(bytes.subarray(2)), encoding: 'utf-16be' };
  // Without a mark, UTF-16 of mostly ASCII text has a zero in every other byte.
  const sample = bytes.subarray(0, 4096);
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i + 1 < sample.length; i += 2) {
    if (sample[i] === 0) evenZeros++;
    if (sample[i + 1] === 0) oddZeros++;
  }
  const pairs = Math.floor(sample.length / 2);
  if (pairs >= 2 && oddZeros > pairs * 0.4 && evenZeros < pairs * 0.05) return { text: new TextDecoder('utf-16le').decode(bytes), encoding: 'utf-16le' };
  if (pairs >= 2 && evenZeros > pairs * 0.4 && oddZeros < pairs * 0.05) return { text: new TextDecoder('utf-16be').decode(bytes), encoding: 'utf-16be' };
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), encoding: 'utf-8' };
  } catch {
    return { text: new TextDecoder('windows-1252').decode(bytes), encoding: 'windows-1252' };
  }
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
    let bytes: Buffer;
    try {
      if (!statSync(absolute).isFile()) return [];
      bytes = readFileSync(absolute);
    } catch {
      throw new ConfigError(`connector "${connector}": file ${path.relative(baseDir, absolute)} (from path "${pattern}") cannot be read`);
    }
    const { text } = decodeText(bytes);
    return [{ path: path.relative(baseDir, absolute), absolute, text, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }];
  });
}
