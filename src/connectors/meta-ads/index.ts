export { createMetaAdsConnector, metaAdsConnector, type MetaAdsOptions } from './connector.ts';
