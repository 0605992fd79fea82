/** The OAuth scope each Google connector reads with; `kpi connect google` asks for those configured. */
export const GOOGLE_SCOPES = {
  ga4: 'https://www.googleapis.com/auth/analytics.readonly',
  search_console: 'https://www.googleapis.com/auth/webmasters.readonly',
  google_ads: 'https://www.googleapis.com/auth/adwords',
} as const;

export type GoogleConnectorType = keyof typeof GOOGLE_SCOPES;

export function isGoogleConnectorType(type: unknown): type is GoogleConnectorType {
  return typeof type === 'string' && Object.hasOwn(GOOGLE_SCOPES, type);
}
