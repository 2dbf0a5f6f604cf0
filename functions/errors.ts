/**
 * Typed errors. Every error names the thing it concerns (an image digest, a log index) so an
 * operator reading one log line knows where to look. `retryable` tells the function entry points
 * whether to let Pub/Sub redeliver (transient: a dependency is down) or to acknowledge (the input
 * itself is bad, and redelivery would only make a retry storm).
 */
export class SigsentryError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...this.details,
    };
  }
}

/** Input that can never become valid by retrying: a malformed event, a digest of the wrong form. */
export class InvalidInputError extends SigsentryError {
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super('INVALID_INPUT', message, { retryable: false, details, cause });
  }
}

/** A dependency (registry, KMS, log, Firestore) failed in a way that may pass on retry. */
export class DependencyError extends SigsentryError {
  constructor(dependency: string, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super('DEPENDENCY_FAILED', message, { retryable: true, details: { dependency, ...details }, cause });
  }
}

/** Something a security team must hear about: refusing to sign, a log that lies, a bad signature. */
export class PolicyViolationError extends SigsentryError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('POLICY_VIOLATION', message, { retryable: false, details });
  }
}

export function isRetryable(err: unknown): boolean {
  return err instanceof SigsentryError ? err.retryable : true;
}

/**
 * A URL as errors and logs may name it: origin and path only. A query or fragment can be a credential
 * (the signature of a pre-signed storage URL a blob read is redirected to), and userinfo is one. Text
 * that is not a URL (a hostile Location or token realm) is cut the same way, at its first `?` or `#`.
 */
export function urlForLog(url: URL | string): string {
  const parsed = typeof url === 'string' ? URL.parse(url) : url;
  if (parsed !== null && parsed.origin !== 'null') return `${parsed.origin}${parsed.pathname}`;
  const text = String(url).split(/[?#]/, 1)[0] ?? '';
  return text.replace(/^([^/]*\/\/)[^/]*@/, '$1').slice(0, 200);
}
