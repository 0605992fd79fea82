/**
 * The import direction docs/ARCHITECTURE.md documents, held against the code: the module table
 * there is parsed, every import in src/ is read (static, dynamic and type-only alike), and an
 * import the table does not allow fails with the file that makes it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'src');

/** The module table of docs/ARCHITECTURE.md: module → the modules it may import. */
function documentedRules(): Map<string, Set<string>> {
  const doc = readFileSync(path.join(ROOT, 'docs/ARCHITECTURE.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Modules and what each may import'), doc.indexOf('## The warehouse'));
  const rules = new Map<string, Set<string>>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || cells[1] === 'module' || /^-+$/.test(cells[1]!)) continue;
    const allowed = cells[2] === '-' ? [] : cells[2]!.split(',').map((m) => m.trim());
    rules.set(cells[1]!, new Set(allowed));
  }
  return rules;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return /\.(ts|mts)$/.test(name) ? [full] : [];
  });
}

/** The module a file of src/ belongs to: its top folder, or the file itself at the top. */
function moduleOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length > 1 ? rel[0]! : rel[0]!;
}

// `from '…'` (imports and re-exports, type-only too) and `import('…')`; comments are removed first.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...text.matchAll(SPECIFIER)].map((m) => path.resolve(path.dirname(file), m[1]!));
}

describe('the house: imports follow docs/ARCHITECTURE.md', () => {
  const rules = documentedRules();
  const files = sourceFiles(SRC);

  it('the table names every module of src/', () => {
    const modules = [...new Set(files.map(moduleOf))].sort();
    expect(modules.filter((m) => !rules.has(m))).toEqual([]);
    expect([...rules.keys()].filter((m) => !modules.includes(m))).toEqual([]);
  });

  /** The imports of `file` (resolved paths) that the table does not allow. */
  const wrongImports = (file: string, targets: string[]): string[] => {
    const from = moduleOf(file);
    return targets
      .filter((t) => t.startsWith(SRC + path.sep))
      .filter((t) => moduleOf(t) !== from && !rules.get(from)?.has(moduleOf(t)))
      .map((t) => `${path.relative(ROOT, file)} imports ${path.relative(ROOT, t)} (${from} → ${moduleOf(t)})`);
  };

  it('no module imports one the table does not allow it', () => {
    expect(files.flatMap((f) => wrongImports(f, importsOf(f)))).toEqual([]);
  });

  it('would catch an import against the direction: notify reaching up into alerts', () => {
    const slack = path.join(SRC, 'notify', 'slack.ts');
    expect(wrongImports(slack, [path.join(SRC, 'alerts', 'outbox.ts'), path.join(SRC, 'core', 'log.ts')])).toEqual(['src/notify/slack.ts imports src/alerts/outbox.ts (notify → alerts)']);
  });
});
