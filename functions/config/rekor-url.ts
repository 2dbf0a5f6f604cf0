/**
 * REKOR_URL as every loader reads it (signOnPush, reverifyImages, monitorLog, the CLI): unset or
 * empty (each loader says what that means), exactly `none` (no transparency log), or the log's
 * http(s) base URL. Anything else is refused here, naming the variable. Without this, `None` or
 * ` none ` would be taken for a log's URL and fail later with an error about that "log"'s key or
 * URL, which says nothing of the real mistake; and taking it for `none` would be a guess, where a
 * security setting is read exactly.
 */
import { InvalidInputError, urlForLog } from '../errors.ts';

/** The log's base URL, `'none'`, or undefined for unset or empty. */
export function rekorUrlFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const value = env.REKOR_URL;
  if (value === undefined || value === '') return undefined;
  if (value === 'none') return 'none';
  if (value.trim().toLowerCase() === 'none') {
    throw new InvalidInputError(
      `REKOR_URL is ${JSON.stringify(value)}: for a deployment without a transparency log write none, ` +
        "in lower case with nothing around it; otherwise give the log's http(s) base URL",
      { variable: 'REKOR_URL' },
    );
  }
  if (value.trim() !== value) {
    throw new InvalidInputError(
      `REKOR_URL has white space around the URL ${JSON.stringify(urlForLog(value.trim()))}: give the URL alone`,
      { variable: 'REKOR_URL' },
    );
  }
  const url = URL.parse(value);
  if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.host === '') {
    throw new InvalidInputError(
      `REKOR_URL is ${JSON.stringify(urlForLog(value))}, which is not an http(s) URL: give the log's base URL ` +
        '(such as https://rekor.sigstore.dev), or none for a deployment without a transparency log',
      { variable: 'REKOR_URL' },
    );
  }
  // The clients append the API's paths to the base (`${base}/api/v1/log`): after a query or a
  // fragment they would land inside it, and credentials in the URL are refused by fetch.
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new InvalidInputError(
      `REKOR_URL ${JSON.stringify(urlForLog(value))} carries credentials, a query or a fragment: give the log's base URL alone`,
      { variable: 'REKOR_URL' },
    );
  }
  return value;
}
