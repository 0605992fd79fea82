import { z } from 'zod';
import { baseMetricNames, moneyMetrics } from '../../core/vocabulary.ts';
import { baseConnectorFields, httpConnectorFields } from '../shared/config.ts';

/** Metric name → the Meta action_types summed into it; names must be base metrics, so KPIs can use them. */
const actionMap = (money: boolean) =>
  z.record(z.string(), z.array(z.string().min(1)).min(1)).superRefine((map, ctx) => {
    for (const metric of Object.keys(map)) {
      if (!baseMetricNames.has(metric)) {
        ctx.addIssue({ code: 'custom', path: [metric], message: `"${metric}" is not a base metric (see src/core/vocabulary.ts), e.g. ${money ? 'conversion_value' : 'conversions or leads'}` });
      } else if (moneyMetrics.has(metric) !== money) {
        ctx.addIssue({ code: 'custom', path: [metric], message: `"${metric}" is ${money ? 'not a money metric; map counts under actions' : 'a money metric; map values under actionValues'}` });
      }
    }
  });

export const metaAdsConfigSchema = z.strictObject({
  ...baseConnectorFields,
  ...httpConnectorFields,
  type: z.literal('meta_ads'),
  adAccountIds: z
    .array(z.string().regex(/^act_\d+$/, 'expected an ad account id like "act_1234567890"'))
    .min(1)
    .describe('the ad accounts to read, e.g. `["act_1234567890"]`'),
  accessToken: z.string().min(1).describe('a Marketing API access token (a secret, e.g. `${env:META_ACCESS_TOKEN}`)'),
  appSecret: z.string().min(1).optional().describe('the app secret, when the app requires it ("Require App Secret"): every call then carries appsecret_proof'),
  apiVersion: z.string().regex(/^v\d+\.\d+$/).default('v23.0').describe('Graph API version, e.g. `v23.0`'),
  /**
   * Which Meta action_types count towards each of our metrics. `purchase` and `lead` are
   * Meta's roll-ups (pixel, app and offline together), so listing their parts as well would
   * count the same conversion twice.
   */
  actions: actionMap(false)
    .default({ conversions: ['purchase'], leads: ['lead'] })
    .describe("count metric → the Meta action_types summed into it; `purchase` and `lead` already include their pixel, app and offline parts, so listing those too counts twice"),
  actionValues: actionMap(true).default({ conversion_value: ['purchase'] }).describe('money metric → the Meta action_types whose values are summed into it'),
  asyncAfterDays: z.number().int().min(1).default(14).describe('windows longer than this many days are read with an async report run'),
});

export type MetaAdsConfig = z.infer<typeof metaAdsConfigSchema>;
