export type { Connector, AnyConnector, SourceReader, StreamInfo, FactValue, DateWindow, ReadContext, OpenContext } from './shared/connector.ts';
export { runSync, type SyncOptions, type SyncResult, type SyncTarget } from './shared/run-sync.ts';
export { addDays, daysOf, todayIn, splitWindow } from './shared/dates.ts';
export { connectorConfigSchemas, type ConnectorConfig, type ConnectorType } from './schemas.ts';
export { connectorRegistry, connectorFor, type ConnectorEntry, type ConnectorRegistry } from './registry.ts';
