export { createGa4Connector, ga4Connector, type Ga4Options } from './connector.ts';
