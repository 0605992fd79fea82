export type { Connector, AnyConnector, ConnectorConfigBase, SourceReader, StreamInfo, Fact, ReadContext, PlanContext, OpenContext } from './shared/connector.ts';
export { runSync, type SyncOptions, type SyncResult, type SyncTarget } from './shared/run-sync.ts';
export { isHeldAnswer, HeldAnswerError, DEFAULT_MAX_DELETE_SHARE } from './shared/delete-guard.ts';
export {
  connectorCatalog,
  connectorMetrics,
  settlingDaysOf,
  connectorFor,
  connectorRegistry,
  isConnectorType,
  type ConnectorConfig,
  type ConnectorEntry,
  type ConnectorRegistry,
  type ConnectorType,
} from './catalog.ts';
