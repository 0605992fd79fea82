export { createServer, type ServerOptions } from './server.ts';
export { createPipelineMetrics, type PipelineMetrics, type MetricsSources } from './metrics.ts';
export { readiness, evictionPolicy, type Readiness, type Check, type ReadinessSources } from './health.ts';
export { DASHBOARD_PATH } from './dashboard-path.ts';
