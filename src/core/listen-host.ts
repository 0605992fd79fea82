import { isIP } from 'node:net';

// Apart from the schema so that `kpi start --host` checks an address without loading zod.

/**
 * RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens, the last
 * one not all digits (1.2.3.4.5 is a mistyped address, not a name to look up).
 */
const HOST_NAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*(?![0-9]+$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

export const LISTEN_HOST_EXPECTED = 'expected an IP address (127.0.0.1, 0.0.0.0, ::1, ::) or a host name';

/** An address the HTTP surface can be bound to. */
export function isListenHost(text: string): boolean {
  return isIP(text) !== 0 || HOST_NAME.test(text);
}
