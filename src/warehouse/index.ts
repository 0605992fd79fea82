export { openWarehouse, migrateToLatest, pendingMigrations, ping, describeUrl, type Warehouse, type WarehouseKind, type OpenOptions } from './db.ts';
export { upsertFacts, replaceSlice, combineRows, type MetricRow, type WriteResult, type SliceScope } from './facts.ts';
export { startRun, recordProgress, finishRun, abandonStaleRuns, unfinishedRuns, abandonRuns, listRuns, getRun, type StartRun, type RunProgress } from './runs.ts';
export { getCheckpoint, saveCheckpoint, listCheckpoints } from './checkpoints.ts';
export { quarantine, listQuarantine, type QuarantinedRecord } from './quarantine.ts';
export type { Database, DateString, Executor, SyncRun, SyncRunStatus, MetricFact } from './tables.ts';
export { pruneHistory, type RetentionPolicy, type PruneResult } from './retention.ts';
export { bulkLoaderOf } from './dialect.ts';
export { BinaryCopyWriter, type BulkLoader, type CopySession } from './copy.ts';
