// Loaded on the first request: a process whose console nobody opens never loads the pages.
export { overviewPage } from './overview.ts';
export { explorerPage, explorerCsv } from './explorer.ts';
export { goalsPage } from './goals.ts';
export { alertsPage, createSilence, expireSilence } from './alerts.ts';
export { connectorsPage } from './connectors.ts';
