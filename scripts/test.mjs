// `npm test`: makes sure Postgres and Redis are there, runs vitest, and ends with one line
// `N passed, N failed, N skipped` taken from vitest's own JSON report.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureServices } from './services.mjs';

await ensureServices();

const dir = mkdtempSync(path.join(tmpdir(), 'kpi-test-'));
const report = path.join(dir, 'report.json');
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)];
const child = spawn('npx', args, { stdio: 'inherit', env: process.env });
const code = await new Promise((resolve) => child.on('close', (c, signal) => resolve(c ?? (signal ? 1 : 0))));

let summary = null;
try {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0);
  summary = { passed: json.numPassedTests ?? 0, failed: json.numFailedTests ?? 0, skipped };
  // A file that fails to load, or whose beforeAll/afterAll throws, fails without a failed test
  // to count (its tests show as skipped); it must still show as a failure.
  const brokenFiles = (json.testResults ?? []).filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')).length;
  summary.failed += brokenFiles;
} catch {
  // vitest did not get as far as writing its report
}
rmSync(dir, { recursive: true, force: true });
if (summary) {
  console.log(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
  process.exit(code !== 0 || summary.failed > 0 ? 1 : 0);
}
console.log('0 passed, 1 failed, 0 skipped');
process.exit(code || 1);
