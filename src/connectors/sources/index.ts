import type { SourceDefinitionInput } from '../declarative/definition.ts';
import { hubspotSource } from './hubspot.ts';
import { klaviyoSource } from './klaviyo.ts';
import { linkedinAdsSource } from './linkedin-ads.ts';
import { tiktokAdsSource } from './tiktok-ads.ts';

/** Every source shipped as a definition (src/connectors/declarative), keyed by its type. */
export const sourceDefinitions = {
  hubspot: hubspotSource,
  klaviyo: klaviyoSource,
  linkedin_ads: linkedinAdsSource,
  tiktok_ads: tiktokAdsSource,
} satisfies Record<string, SourceDefinitionInput>;
