export { createServer, type ConsoleRoutes, type ReportPage, type RunningConfig, type ServerState } from './server.ts';
export { createPipelineMetrics, type PipelineMetrics, type MetricsSources } from './metrics.ts';
export { evictionPolicy } from './health.ts';
