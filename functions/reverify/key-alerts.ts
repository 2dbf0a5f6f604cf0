/**
 * The pass-level alert of a KMS key version the watched repositories expect but that is not ENABLED.
 * One incident per key version (`key-disabled`, its subject the key version; a tag's alerts of that
 * kind have the tag as subject), raised by every pass that finds the key not enabled and resolved by
 * the first that finds it enabled. Whichever instance runs the pass judges alike: one that could not
 * read the key's public key (KMS refuses it for a key not enabled) and one that read it earlier and
 * sees its state now, so the alert does not flap with the age of the instances; and the first holds
 * the public key kept when KMS last gave it, when one is kept (owned-policies.ts), so the images
 * signed with the key are `key-disabled` on either.
 */
import type { AlertInput, AlertSink } from '../alerts/alert.ts';
import { keyVersionNameProblem } from '../config/sign-config.ts';
import { errorMessage } from '../logging/describe.ts';
import type { Logger } from '../logging/logger.ts';
import { isTransientKeyState } from '../signing/kms-signer.ts';
import type { KeyStateLookup } from '../verify/verifier.ts';
import type { OwnedKeysReport, UnavailableKey } from './owned-policies.ts';

export function keyAlertKey(keyVersion: string): string {
  return `key-disabled:${keyVersion}`;
}

/**
 * Whether an alert is a key version's (this module's), not a tag's `key-disabled` (reverify/alerts.ts):
 * its subject is a key version name, which has no `:`, where a tag's is HOST/REPO:TAG.
 */
export function isKeyVersionAlert(alert: { kind: string; subject: string }): boolean {
  return alert.kind === 'key-disabled' && keyVersionNameProblem(alert.subject) === undefined;
}

/**
 * A key version whose public key KMS refused: verified with the public key kept when KMS last gave
 * it, its signatures `key-disabled`; or, none kept, trusted for nothing. Its repositories' images fail.
 */
export function unavailableKeyAlert(key: UnavailableKey): AlertInput {
  const repositories = key.repositories.join(', ') || 'no watch rule';
  const judged = key.publicKeysJudged ?? [];
  const pems =
    judged.length === 0
      ? ''
      : ` With no key to tell them from it, the ${judged.length} PEM key(s) of publicKeys are judged as this key ` +
        'version: images they verify are key-disabled, never valid, until it is enabled again or its key kept.';
  const unread =
    key.keptKeyError === undefined ? '' : ` Its kept key could not be read: ${key.keptKeyError}.`;
  return {
    kind: 'key-disabled',
    severity: 'HIGH',
    subject: key.keyVersion,
    key: keyAlertKey(key.keyVersion),
    summary:
      key.kept === undefined
        ? `KMS key version ${key.keyVersion} is ${key.state}: KMS refuses its public key and none is kept, ` +
          `so reverifyImages trusts it for nothing and the images of ${repositories} signed with it fail ` +
          'to verify as unsigned until it is enabled again (taken out of the configuration instead, this alert is resolved by hand: `sigsentry alerts resolve`).' +
          unread +
          pems
        : `KMS key version ${key.keyVersion} is ${key.state}: KMS refuses its public key, so reverifyImages ` +
          `verifies with the one kept when KMS gave it (${key.kept.readAt}), and the images of ${repositories} ` +
          'signed with it are reported key-disabled until it is enabled again (taken out of the configuration instead, this alert is resolved by hand: `sigsentry alerts resolve`)',
    evidence: {
      keyVersion: key.keyVersion,
      state: key.state,
      repositories: key.repositories,
      trusted: key.kept !== undefined,
      ...(key.kept === undefined ? {} : { keptKeyReadAt: key.kept.readAt }),
      ...(key.keptKeyError === undefined ? {} : { keptKeyError: key.keptKeyError }),
      ...(judged.length === 0 ? {} : { publicKeysJudged: judged }),
      verifierOutput: key.error,
    },
  };
}

/** A key version this instance holds the public key of, found not enabled: its signatures are `key-disabled`. */
function disabledKeyAlert(keyVersion: string, state: string): AlertInput {
  return {
    kind: 'key-disabled',
    severity: 'HIGH',
    subject: keyVersion,
    key: keyAlertKey(keyVersion),
    summary: `KMS key version ${keyVersion} is ${state}: images signed only with it are reported key-disabled`,
    evidence: { keyVersion, state },
  };
}

/**
 * A configured key version found not enabled; `trusted` when the pass's policies hold its public key
 * (read from KMS by this instance before, or the kept one), so its signatures are `key-disabled`.
 */
export interface KeyNotEnabled {
  keyVersion: string;
  state: string;
  trusted: boolean;
}

export interface KeyAlertsOutcome {
  notEnabled: KeyNotEnabled[];
  /** Alerts not delivered (by alert key): the next pass raises or resolves them again. */
  errors: Array<{ ref: string; error: string }>;
}

/**
 * Raises the alert of each key version not enabled (an ERROR line each) and resolves that of each
 * enabled one. A trusted key's state is asked with the pass's lookup (memoized, so the tags' checks
 * reuse it); one whose state cannot be read is neither raised nor resolved. Never throws.
 */
export async function reportOwnedKeys(
  deps: { alerts: AlertSink; logger: Logger; keyState?: KeyStateLookup },
  keys: OwnedKeysReport,
): Promise<KeyAlertsOutcome> {
  const outcome: KeyAlertsOutcome = { notEnabled: [], errors: [] };
  const deliver = async (key: string, send: () => Promise<void>) => {
    try {
      await send();
    } catch (err) {
      outcome.errors.push({ ref: key, error: errorMessage(err) });
      deps.logger.error(`could not deliver the alert ${key}; the next pass tries again`, { error: err });
    }
  };

  for (const key of keys.unavailable) {
    if (isTransientKeyState(key.state)) {
      // KMS makes it ENABLED by itself once ready, and nothing can have been signed with it yet.
      deps.logger.warn(
        `KMS key version ${key.keyVersion} is ${key.state}: not ready yet, so no image is verified with it; asked again next pass`,
        { keyVersion: key.keyVersion, state: key.state, repositories: key.repositories, error: key.error },
      );
      continue;
    }
    const trusted = key.kept !== undefined;
    outcome.notEnabled.push({ keyVersion: key.keyVersion, state: key.state, trusted });
    deps.logger.error(
      trusted
        ? `KMS key version ${key.keyVersion} is ${key.state}: KMS refuses its public key; the kept one is used, so images signed only with it are key-disabled`
        : `KMS key version ${key.keyVersion} is ${key.state}: its public key cannot be read and none is kept, so no image is verified with it`,
      {
        keyVersion: key.keyVersion,
        state: key.state,
        repositories: key.repositories,
        error: key.error,
        trusted,
        ...(key.kept === undefined ? {} : { keptKeyReadAt: key.kept.readAt }),
        ...(key.keptKeyError === undefined ? {} : { keptKeyError: key.keptKeyError }),
        ...(key.publicKeysJudged === undefined ? {} : { publicKeysJudged: key.publicKeysJudged }),
      },
    );
    await deliver(keyAlertKey(key.keyVersion), () => deps.alerts.raise(unavailableKeyAlert(key)));
  }

  const { keyState } = deps;
  if (keyState === undefined) return outcome;
  const states = await Promise.all(
    keys.trusted.map(async (keyVersion) => {
      try {
        return { keyVersion, state: await keyState(keyVersion) };
      } catch (err) {
        // The tags signed with it fail on the same lookup, and are reported.
        deps.logger.warn(
          `could not read the state of KMS key version ${keyVersion}; its alert is left as it is`,
          {
            keyVersion,
            error: err,
          },
        );
        return undefined;
      }
    }),
  );
  for (const { keyVersion, state } of states.flatMap((s) => (s === undefined ? [] : [s]))) {
    const alertKey = keyAlertKey(keyVersion);
    if (state === 'ENABLED') {
      const reason = `KMS key version ${keyVersion} is ENABLED`;
      await deliver(alertKey, () => deps.alerts.resolve(alertKey, reason));
      continue;
    }
    outcome.notEnabled.push({ keyVersion, state, trusted: true });
    deps.logger.error(
      `KMS key version ${keyVersion} is ${state}: images signed only with it are key-disabled`,
      {
        keyVersion,
        state,
      },
    );
    await deliver(alertKey, () => deps.alerts.raise(disabledKeyAlert(keyVersion, state)));
  }
  return outcome;
}
