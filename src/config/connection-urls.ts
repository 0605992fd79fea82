import { ConfigError, type ConfigProblem } from '../core/errors.ts';
import { registerSecret } from '../core/secrets.ts';

/**
 * Why a connection URL (DATABASE_URL, REDIS_URL) must not be used as it is, or null. A password
 * with "@" and then "#", "/" or "?" written as it is ends the URL's host part early: the driver
 * then connects to a host named after a piece of the password, and every "host not found"
 * error shows that piece. An "@" after the host is the sign of it (no database name, Redis
 * database number or option of ours has one). Other text (a Unix socket path) is left to the
 * driver.
 */
function connectionUrlProblem(url: string): string | null {
  if (!url.includes('://')) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a valid URL; percent-encode any of @ # / ? : in the user name and password. The URL is not shown, as it may hold the password';
  }
  registerPassword(parsed.password);
  if (!`${parsed.pathname}${parsed.search}${parsed.hash}`.includes('@')) return null;
  return 'has an "@" after its host name: a password with "@" and then "#", "/" or "?" written as it is ends the host early; percent-encode them in the user name and password (@ %40, # %23, / %2F, ? %3F). The URL is not shown, as it holds the password';
}

/** The password is a secret like those from ${env:…}: a driver's error may quote it. */
function registerPassword(encoded: string): void {
  if (!encoded) return;
  try {
    registerSecret(decodeURIComponent(encoded));
  } catch {
    registerSecret(encoded);
  }
}

/** Checks the URLs of the warehouse and Redis a command would connect to, before it connects to either. */
export function checkConnectionUrls(urls: Record<string, string | undefined>): void {
  const problems: ConfigProblem[] = [];
  for (const [name, url] of Object.entries(urls)) {
    const problem = url ? connectionUrlProblem(url) : null;
    if (problem) problems.push({ path: name, message: problem });
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
