export { createSearchConsoleConnector, searchConsoleConnector, type SearchConsoleOptions } from './connector.ts';
