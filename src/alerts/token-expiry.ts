import path from 'node:path';
import type { AlertCondition } from '../config/index.ts';
import type { ConnectorConfig } from '../connectors/catalog.ts';
import { errorMessage } from '../core/errors.ts';
import { redactAndCut } from '../core/secrets.ts';
import { inspectMetaToken, metaTokenEnd, type MetaTokenState } from '../connectors/meta-ads/token.ts';
import { isGoogleConnectorType } from '../connectors/shared/google-scopes.ts';
import { findTokenRecord, tokenFingerprint } from '../connectors/shared/token-records.ts';
import type { Observation, RuleContext } from './types.ts';

/**
 * token_expiry: a credential that will stop working, said days before it does, so a person
 * renews it before the syncs start failing. Two kinds of token end on a date:
 *
 * - a Meta user token (about 60 days, and its data access 90 days after the person last used
 *   the app): debug_token says when, so the rule asks Meta, at most every few hours per token;
 * - a Google refresh token of an OAuth client whose consent screen is in Testing (7 days) or
 *   granted for a limited time: nothing in Google's answers says so later, so `kpi connect
 *   google` records it in `<dataDir>/credentials.json` and the rule reads that record.
 *
 * Tokens that do not expire (a Meta system user's, a Google client in production, a service
 * account) are clear; a Google token with no record is "no data" (the rule cannot know).
 */

type Condition = Extract<AlertCondition, { kind: 'token_expiry' }>;

const DAY_MS = 86_400_000;
const WARN_DAYS = { meta: 7, google: 2 } as const;
/** debug_token's answer changes only when a person renews the token: ask again after this. */
const META_LOOKUP_TTL_MS = 6 * 3_600_000;

const lookups = new Map<string, { at: number; state: MetaTokenState }>();

async function metaState(config: Extract<ConnectorConfig, { type: 'meta_ads' }>): Promise<MetaTokenState> {
  const key = `${config.baseUrl ?? ''} ${tokenFingerprint(config.accessToken)}`;
  const known = lookups.get(key);
  if (known && Date.now() - known.at < META_LOOKUP_TTL_MS) return known.state;
  const state = await inspectMetaToken({ baseUrl: config.baseUrl, apiVersion: config.apiVersion, timeoutMs: 20_000 }, config.accessToken);
  lookups.set(key, { at: Date.now(), state });
  return state;
}

/** For tests: forget what debug_token said. */
export function forgetTokenLookups(): void {
  lookups.clear();
}

const when = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const daysText = (days: number) => `${days} day${days === 1 ? '' : 's'}`;

interface Verdict {
  /** When the token stops working; null: never. */
  end: Date | null;
  what: string;
  /** Why it ends then, when there is more to say. */
  because?: string;
  renew: string;
  invalid?: string;
}

export async function tokenExpiryRule(ctx: RuleContext): Promise<Observation[]> {
  const cond = ctx.rule.condition as Condition;
  const watched = ctx.config.connectors.filter((c) => (cond.connectors ? cond.connectors.includes(c.name) : c.enabled));
  const dataDir = path.resolve(ctx.config.dataDir ?? './data');
  const out: Observation[] = [];
  for (const c of watched) {
    const google = isGoogleConnectorType(c.type) && 'auth' in c && c.auth.type === 'oauth' ? c.auth : undefined;
    if (c.type !== 'meta_ads' && !google) continue;
    const source = c.type === 'meta_ads' ? 'meta' : 'google';
    const warnDays = cond.warnDays ?? WARN_DAYS[source];
    const base = { instance: `connector=${c.name}`, labels: { connector: c.name } };
    const alertOf = (value: number | null) => ({ series: `${c.name} days until its token stops working`, value, threshold: warnDays, unit: 'count' as const });
    let verdict: Verdict;
    if (c.type === 'meta_ads') {
      let state: MetaTokenState;
      try {
        state = await metaState(c);
      } catch (err) {
        const summary = `${c.name}: could not ask Meta when the access token expires (${redactAndCut(errorMessage(err), 300)})`;
        out.push({ ...base, seen: { kind: 'no_data', reason: summary }, alert: alertOf(null), summary });
        continue;
      }
      const end = metaTokenEnd(state);
      verdict = {
        end: end?.at ?? null,
        what: end?.what === 'loses data access' ? 'the access token loses its access to data' : 'the access token expires',
        ...(end?.what === 'loses data access' ? { because: '90 days after the app was last used' } : {}),
        renew: 'run kpi connect meta to renew it, or use a system user token, which does not expire',
        ...(state.valid ? {} : { invalid: state.error ?? 'Meta says it is not valid' }),
      };
    } else {
      const record = findTokenRecord(dataDir, google!.refreshToken);
      if (!record) {
        const summary = `${c.name}: no record of when its refresh token was obtained (kpi connect google records it), so its end is unknown`;
        out.push({ ...base, seen: { kind: 'no_data', reason: summary }, alert: alertOf(null), summary });
        continue;
      }
      verdict = {
        end: record.expiresAt ? new Date(record.expiresAt) : null,
        what: `the refresh token in ${record.variable} stops working`,
        ...(record.reason ? { because: record.reason } : {}),
        renew: record.reason?.includes('Testing') ? 'run kpi connect google again, or publish the app (consent screen In production) for a token that lasts' : 'run kpi connect google again',
      };
    }
    if (verdict.invalid) {
      const summary = `${c.name}: ${verdict.what.replace(/ (expires|stops working|loses its access to data)$/, '')} no longer works (${redactAndCut(verdict.invalid, 300)}); ${verdict.renew}`;
      out.push({ ...base, seen: { kind: 'value', breach: true, clear: false, reason: summary }, alert: alertOf(0), summary });
      continue;
    }
    if (!verdict.end) {
      const summary = `${c.name}: the token does not expire`;
      out.push({ ...base, seen: { kind: 'value', breach: false, clear: true, reason: summary }, alert: alertOf(null), summary });
      continue;
    }
    const left = Math.round(((verdict.end.getTime() - ctx.now.getTime()) / DAY_MS) * 10) / 10;
    const breach = left <= warnDays;
    const because = verdict.because ? ` (${verdict.because})` : '';
    const summary =
      left <= 0
        ? `${c.name}: ${verdict.what.replace(/ (expires|stops working)$/, ' stopped working').replace(/ loses its access to data$/, ' lost its access to data')} on ${when(verdict.end)}${because}; ${verdict.renew}`
        : breach
          ? `${c.name}: ${verdict.what} on ${when(verdict.end)}, in ${daysText(left)}${because}; ${verdict.renew}`
          : `${c.name}: ${verdict.what} on ${when(verdict.end)}, in ${daysText(left)}; warns ${daysText(warnDays)} before`;
    out.push({ ...base, seen: { kind: 'value', breach, clear: !breach, reason: summary }, alert: alertOf(Math.max(0, left)), summary });
  }
  return out;
}
