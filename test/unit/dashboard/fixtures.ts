/** View models for the renderer's tests: an empty state, and one with hostile text everywhere. */
import type { Alert } from '../../../functions/alerts/alert.ts';
import type { DashboardView } from '../../../functions/dashboard/view.ts';

export const SCRIPT = '<script>alert(1)</script>';

export function emptyView(): DashboardView {
  return {
    generatedAt: '2025-05-01T10:00:00.000Z',
    project: 'demo-project',
    coverage: [],
    recentSignings: [],
    openAlerts: [],
    monitors: [],
    truncated: [],
  };
}

export function hostileAlert(): Alert {
  return {
    schemaVersion: 1,
    key: 'rogue-signature:x',
    kind: 'rogue-signature',
    severity: 'CRITICAL',
    subject: `registry.example/team/${SCRIPT}@sha256:${'a'.repeat(64)}`,
    summary: `a signature no signing record explains ${SCRIPT}`,
    evidence: {
      image: `registry.example/team/${SCRIPT}`,
      logIndex: 4242,
      verifierOutput: `line one\n${SCRIPT}\nline three`,
      checkpoints: [`origin ${SCRIPT}\n7\nroot\n`],
      extra: { nested: SCRIPT },
    },
    state: 'open',
    count: 3,
    firstSeen: '2025-05-01T09:00:00.000Z',
    lastSeen: '2025-05-01T09:30:00.000Z',
  };
}

export function fullView(): DashboardView {
  const digest = `sha256:${'b'.repeat(64)}`;
  return {
    ...emptyView(),
    coverage: [
      {
        repository: `registry.example/team/${SCRIPT}`,
        source: 'owned',
        signed: 3,
        unsigned: 1,
        failing: 1,
        signing: 0,
        signedDigests: 4,
        problems: [
          {
            ref: `registry.example/team/${SCRIPT}:evil`,
            digest,
            status: 'failing',
            source: 'verdict',
            detail: 'invalid',
            reasons: [`signature does not verify ${SCRIPT}`],
            at: '2025-05-01T09:45:00.000Z',
          },
        ],
        lastVerifiedAt: '2025-05-01T09:45:00.000Z',
      },
    ],
    recentSignings: [
      {
        image: `registry.example/team/app@${digest}`,
        repository: 'registry.example/team/app',
        digest,
        tags: ['registry.example/team/app:v1'],
        state: 'attached',
        keyVersion: 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
        attempts: 1,
        entries: [
          { format: 'bundle', logIndex: 17, kind: 'dsse' },
          { format: 'cosign', logIndex: 18, kind: 'hashedrekord' },
        ],
        updatedAt: '2025-05-01T09:50:00.000Z',
      },
    ],
    openAlerts: [hostileAlert()],
    monitors: [
      {
        log: 'rekor',
        url: 'http://127.0.0.1:1234',
        origin: 'rekor.local - 123',
        cursor: 15,
        treeSize: 19,
        checkpoint: `rekor.local - 123\n19\nROOT=\n\n— rekor ${SCRIPT}\n`,
        updatedAt: '2025-05-01T09:55:00.000Z',
      },
    ],
  };
}
