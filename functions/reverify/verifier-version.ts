/**
 * The version of the rules a verdict was judged by. A pass reuses a recorded verdict only if it was
 * made by these rules: one by other rules is judged afresh, so a check added in an upgrade reaches
 * every digest at the first pass that reaches it, not only those whose signatures change.
 *
 * Bump VERIFIER_VERSION in any change that can make the same signatures get another verdict: a check
 * added, made stricter or looser (functions/verify/**), a finding's outcome or what it records changed
 * (as `bundleBlob` was added), how a status is decided from findings. Not for a change of logging,
 * speed or wording alone, nor of the re-checks a reused verdict gets on every pass anyway (log
 * inclusion, key state). Every digest's verdict is then judged afresh once: the first pass after the
 * upgrade is a cold one, downloading and verifying every signature.
 *
 * The version is part of the basis a verdict is recorded under (TagRecord.policy), a field every
 * version of sigsentry writes with each verdict, so a verdict stored by an older sigsentry (a rollback,
 * an old CLI) never keeps the newer one's version: Firestore's update keeps the fields a writer does
 * not name, so a field of its own would outlive such a verdict. Records from before it have none.
 */
export const VERIFIER_VERSION = 1;

const SEPARATOR = '+verifier:';

/** A basis (policy and trust) as a verdict judged now is recorded under it. */
export function withVerifierVersion(basis: string, version: number = VERIFIER_VERSION): string {
  return `${basis}${SEPARATOR}${version}`;
}

/** A recorded basis without the verifier version it carries, if any: the policy and trust alone. */
export function withoutVerifierVersion(recorded: string): string {
  const at = recorded.lastIndexOf(SEPARATOR);
  return at === -1 ? recorded : recorded.slice(0, at);
}
