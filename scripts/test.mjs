// `npm test`: makes sure Postgres and Redis are there, runs vitest, and ends with one line
// `N passed, N failed, N skipped` taken from vitest's own JSON report.
// `npm run test:unit` (--unit): the tests that need neither, on PGlite, fakes and in-process
// servers (KPI_TEST_TIER=unit, see vitest.config.ts), with the same last line.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureServices } from './services.mjs';

const unit = process.argv.includes('--unit');
const vitestArgs = process.argv.slice(2).filter((a) => a !== '--unit');
// The tier is this script's choice alone: a KPI_TEST_TIER left in the shell must not turn
// `npm test` into the unit tier.
const { KPI_TEST_TIER: _ignored, ...env } = process.env;
if (unit) env.KPI_TEST_TIER = 'unit';
else await ensureServices();

const dir = mkdtempSync(path.join(tmpdir(), 'kpi-test-'));
const report = path.join(dir, 'report.json');
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...vitestArgs];
const child = spawn('npx', args, { stdio: 'inherit', env });
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
