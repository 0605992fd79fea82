import type { Connector } from '../shared/connector.ts';
import { sourceConnector } from '../declarative/connector.ts';
import { sendgridSource } from '../sources/sendgrid.ts';
import type { SendgridConfig } from './config.ts';
import { discoverSendgrid } from './discover.ts';

/** SendGrid runs on the declarative engine; its `kpi check` (the key's scopes, then its categories) stays its own. */
export const sendgridConnector = sourceConnector(sendgridSource, { discover: (config, ctx) => discoverSendgrid(config as SendgridConfig, ctx) }) as unknown as Connector<SendgridConfig>;
