/**
 * Registry-specific errors, on top of functions/errors.ts. Transient failures (5xx, 429, timeouts,
 * network) are plain DependencyErrors; these are the outcomes a retry cannot change.
 */
import { SigsentryError } from '../errors.ts';

/** The manifest, tag or blob does not exist (HTTP 404). */
export class RegistryNotFoundError extends SigsentryError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('REGISTRY_NOT_FOUND', message, {
      retryable: false,
      details: { dependency: 'registry', ...details },
    });
  }
}

/** The registry refused the request itself (a 4xx other than 404/408/429, e.g. MANIFEST_INVALID). */
export class RegistryRejectedError extends SigsentryError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('REGISTRY_REJECTED', message, {
      retryable: false,
      details: { dependency: 'registry', ...details },
    });
  }
}

/**
 * The registry answered with something that must not be trusted: bytes that do not hash to their digest,
 * a response over its size cap, a malformed manifest, a redirect outside the allowlist.
 */
export class RegistryIntegrityError extends SigsentryError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('REGISTRY_INTEGRITY', message, {
      retryable: false,
      details: { dependency: 'registry', ...details },
    });
  }
}
