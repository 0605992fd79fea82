import type { Connector } from '../shared/connector.ts';
import { sourceConnector } from '../declarative/connector.ts';
import { mailchimpSource } from '../sources/mailchimp.ts';
import type { MailchimpConfig } from './config.ts';
import { discoverMailchimp } from './discover.ts';

/** Mailchimp runs on the declarative engine; its `kpi check` (ping, the account's zone, its lists) stays its own. */
export const mailchimpConnector = sourceConnector(mailchimpSource, { discover: (config, ctx) => discoverMailchimp(config as MailchimpConfig, ctx) }) as unknown as Connector<MailchimpConfig>;
