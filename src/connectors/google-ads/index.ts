export { createGoogleAdsConnector, googleAdsConnector, type GoogleAdsOptions } from './connector.ts';
