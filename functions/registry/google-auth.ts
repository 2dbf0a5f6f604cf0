/**
 * Registry credentials on Google Cloud. Artifact Registry (`LOCATION-docker.pkg.dev`) and the
 * gcr.io hosts it serves take the caller's OAuth 2.0 access token as a bearer token on the Docker
 * registry API (cloud.google.com/artifact-registry/docs/reference/docker-api, "Authenticating
 * using the Docker Registry HTTP API"). The token is the function's service account's, from
 * Application Default Credentials (the metadata server on Cloud Run), cached and refreshed by
 * google-auth-library. Other hosts get no credentials: the local registry, and third-party
 * registries whose public images the watchlist reads.
 */
import { GoogleAuth } from 'google-auth-library';
import { DependencyError } from '../errors.ts';

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const GOOGLE_REGISTRY_HOST = /^(?:[a-z0-9]+(?:-[a-z0-9]+)*-docker\.pkg\.dev|(?:(?:us|eu|asia)\.)?gcr\.io)$/;

export function isGoogleRegistryHost(host: string): boolean {
  return GOOGLE_REGISTRY_HOST.test(host.toLowerCase());
}

/** Where access tokens come from: google-auth-library's GoogleAuth, or a test's stand-in. */
export interface AccessTokenSource {
  getAccessToken(): Promise<string | null | undefined>;
}

/**
 * The `authorization(host)` hook of the registry client: `Bearer <token>` for Google registry
 * hosts, nothing for others. A token that cannot be had is a retryable DependencyError naming the
 * host, never a request sent without credentials.
 */
export function googleRegistryAuthorization(
  source: () => AccessTokenSource = () => new GoogleAuth({ scopes: [CLOUD_PLATFORM] }),
): (host: string) => Promise<string | undefined> {
  let tokens: AccessTokenSource | undefined;
  return async (host) => {
    if (!isGoogleRegistryHost(host)) return undefined;
    tokens ??= source();
    let token: string | null | undefined;
    try {
      token = await tokens.getAccessToken();
    } catch (err) {
      throw new DependencyError(
        'google-auth',
        `no Google access token for registry ${host}: ${(err as Error).message}`,
        { host },
        err,
      );
    }
    if (!token)
      throw new DependencyError('google-auth', `no Google access token for registry ${host}`, { host });
    return `Bearer ${token}`;
  };
}
