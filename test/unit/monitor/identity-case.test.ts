/**
 * Certificate identities are matched without regard to ASCII case (identities.ts identityText):
 * an email SAN as the IdP wrote it ("Alice.Smith@Example.com") is the owned identity
 * alice.smith@example.com (Rekor's search index lower-cases emails, so `rekor-cli search --email`
 * finds it), a GitHub workflow SAN carries the owner and repository in GitHub's case, and an issuer
 * may differ in host case or a trailing slash. A false negative is the monitor's failure that
 * matters; identities that differ in more than case still do not match.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { loadMonitorConfig } from '../../../functions/monitor-log/config.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { extractVerifiers } from '../../../functions/monitor-log/entry-verifiers.ts';
import { type OwnedIdentity, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { IdentityMatcher } from '../../../functions/monitor-log/matcher.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { fulcioLikeCertificate, generalName } from './fulcio-like-cert.ts';
import { logServing } from './key-entry-checks.ts';

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spki = key.publicKey.export({ format: 'der', type: 'spki' });
const noKms = () => Promise.reject(new Error('no KMS'));
const GITHUB = 'https://github.com/login/oauth';
const ACTIONS = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/example-org/app/.github/workflows/release.yml@refs/heads/main';

const email = (san: string, issuer = GITHUB) =>
  fulcioLikeCertificate({ spki, sans: [generalName.email(san)], issuer });
const uri = (san: string, issuer = ACTIONS) =>
  fulcioLikeCertificate({ spki, sans: [generalName.uri(san)], issuer });

async function matcherFor(...identities: OwnedIdentity[]): Promise<IdentityMatcher> {
  return new IdentityMatcher(await resolveIdentities(identities, noKms));
}
const matched = (m: IdentityMatcher, der: Buffer) =>
  m.match({ type: 'certificate', der }).map((x) => x.identity.description);

describe('certificate identities are matched without regard to case', () => {
  it('an email SAN in any case is the owned mailbox, both parts; another mailbox is not', async () => {
    const m = await matcherFor({
      type: 'certificate',
      san: 'alice.smith@example.com',
      issuer: GITHUB,
      name: 'alice',
    });
    for (const san of ['alice.smith@example.com', 'Alice.Smith@Example.com', 'ALICE.SMITH@EXAMPLE.COM'])
      assert.deepEqual(matched(m, email(san)), ['alice'], san);
    for (const san of [
      'bob@example.com',
      'alice.smith@example.org',
      'alice.smith@example.com.evil',
      'xalice.smith@example.com',
    ])
      assert.deepEqual(matched(m, email(san)), [], san);
    // An identity configured in mixed case matches the certificate's lower case.
    const mixed = await matcherFor({ type: 'certificate', san: 'Alice.Smith@Example.COM', name: 'mixed' });
    assert.deepEqual(matched(mixed, email('alice.smith@example.com')), ['mixed']);
  });

  it("a GitHub workflow SAN in GitHub's case of the owner and repository is the owned workflow; another repository is not", async () => {
    const m = await matcherFor({ type: 'certificate', san: WORKFLOW, issuer: ACTIONS, name: 'release' });
    assert.deepEqual(
      matched(m, uri('https://github.com/Example-Org/App/.github/workflows/release.yml@refs/heads/main')),
      ['release'],
    );
    assert.deepEqual(
      matched(m, uri(WORKFLOW.toUpperCase())),
      ['release'],
      'any case, workflow path and ref included',
    );
    for (const other of [
      'https://github.com/example-org/app2/.github/workflows/release.yml@refs/heads/main',
      'https://github.com/example-org/app/.github/workflows/release.yml@refs/heads/dev',
      'https://github.com/evil-org/app/.github/workflows/release.yml@refs/heads/main',
    ])
      assert.deepEqual(matched(m, uri(other)), [], other);
  });

  it('an issuer differing in case or a trailing slash is the owned issuer; another issuer is not', async () => {
    const m = await matcherFor({ type: 'certificate', san: WORKFLOW, issuer: ACTIONS, name: 'plain' });
    const slash = await matcherFor({
      type: 'certificate',
      san: WORKFLOW,
      issuer: `${ACTIONS}/`,
      name: 'slash',
    });
    for (const issuer of [
      ACTIONS,
      `${ACTIONS}/`,
      'HTTPS://Token.Actions.GitHubUserContent.com',
      `${ACTIONS}//`,
    ]) {
      assert.deepEqual(matched(m, uri(WORKFLOW, issuer)), ['plain'], issuer);
      assert.deepEqual(matched(slash, uri(WORKFLOW, issuer)), ['slash'], issuer);
    }
    for (const issuer of [`${ACTIONS}.evil`, 'https://token.actions.githubusercontent.co', `${ACTIONS}/x`]) {
      assert.deepEqual(matched(m, uri(WORKFLOW, issuer)), [], issuer);
      assert.deepEqual(matched(slash, uri(WORKFLOW, issuer)), [], issuer);
    }
  });

  it('sanRegex and issuerRegex ignore case; the issuer regex is also tried without trailing slashes', async () => {
    const m = await matcherFor({
      type: 'certificate',
      sanRegex: '^https://github\\.com/example-org/',
      issuerRegex: '^https://token\\.actions\\.githubusercontent\\.com$',
      name: 'org',
    });
    assert.deepEqual(
      matched(m, uri('https://github.com/EXAMPLE-ORG/x/.github/workflows/a.yml@refs/tags/v1', `${ACTIONS}/`)),
      ['org'],
    );
    assert.deepEqual(
      matched(m, uri('https://github.com/other-org/x/.github/workflows/a.yml@refs/tags/v1')),
      [],
    );
  });

  it('a regex that excludes by case still matches what it matches as written (either form is a match)', async () => {
    // Every workflow of the org but the sandboxed ones named Test-*.yml: ignoring case alone
    // would exclude test-release.yml too, an identity the pattern as written matches.
    const m = await matcherFor({
      type: 'certificate',
      sanRegex: '^https://github\\.com/example-org/app/\\.github/workflows/(?!Test-)[^/@]+@refs/heads/main$',
      issuer: ACTIONS,
      name: 'org-workflows',
    });
    assert.deepEqual(
      matched(
        m,
        uri('https://github.com/example-org/app/.github/workflows/test-release.yml@refs/heads/main'),
      ),
      ['org-workflows'],
    );
    assert.deepEqual(
      matched(m, uri('https://github.com/EXAMPLE-ORG/app/.github/workflows/release.yml@refs/heads/main')),
      ['org-workflows'],
    );
  });

  it('a real entry (production dsse, brian@dehamer.com via GitHub) matches its identity written in another case', async () => {
    const json = JSON.parse(
      readFileSync('test/fixtures/tlog/entries/prod_dsse_logIndex27246114.DERIVED.json', 'utf8'),
    ) as Record<string, { body: string }>;
    const body = Buffer.from(Object.values(json)[0]!.body, 'base64');
    const extracted = extractVerifiers(body);
    assert.ok(extracted.ok);
    const m = await matcherFor(
      {
        type: 'certificate',
        san: 'Brian@Dehamer.com',
        issuer: 'https://GitHub.com/login/oauth/',
        name: 'brian',
      },
      { type: 'certificate', san: 'brian@dehamer.org', issuer: GITHUB, name: 'unrelated' },
    );
    assert.deepEqual(matched(m, extracted.verifiers[0]!.der), ['brian']);
  });

  it('the byte prefilter still spares the parse of certificates that cannot match in any case', async () => {
    const m = await matcherFor({ type: 'certificate', san: 'alice.smith@example.com', issuer: GITHUB });
    for (const san of ['bob@example.com', 'ALICE@EXAMPLE.COM']) matched(m, email(san));
    assert.equal(m.fullParses, 0);
    matched(m, email('ALICE.SMITH@EXAMPLE.COM'));
    assert.equal(m.fullParses, 1);
  });

  it('a monitor run reports the entry of the owned mailbox written in another case, and not an unrelated one', async () => {
    const entry = (der: Buffer) => {
      const data = Buffer.from(`artifact ${Math.random()}`);
      return Buffer.from(
        JSON.stringify({
          apiVersion: '0.0.1',
          kind: 'hashedrekord',
          spec: {
            data: { hash: { algorithm: 'sha256', value: Buffer.alloc(32, 1).toString('hex') } },
            signature: {
              content: sign('sha256', data, key.privateKey).toString('base64'),
              publicKey: {
                content: Buffer.from(
                  `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`,
                ).toString('base64'),
              },
            },
          },
        }),
      );
    };
    const alerts = new MemoryAlertSink();
    const result = await runMonitor({
      logs: [
        {
          name: 'test',
          log: logServing([entry(email('Alice.Smith@Example.com')), entry(email('bob@example.com'))]),
          startIndex: 0,
        },
      ],
      store: new MemoryMonitorStore(),
      alerts,
      records: new StaticSigningRecordLookup(),
      identities: await resolveIdentities(
        [{ type: 'certificate', san: 'alice.smith@example.com', issuer: GITHUB }],
        noKms,
      ),
      logger: createMemoryLogger(),
    });
    assert.equal(result.ok, true);
    assert.deepEqual(
      alerts.raised.map((a) => [a.kind, a.evidence.logIndex]),
      [['rogue-signature', 0]],
    );
  });

  it('warns at load of owned identities that differ only in case (or an issuer’s trailing slash)', () => {
    const load = (identities: OwnedIdentity[]) => {
      const logger = createMemoryLogger();
      loadMonitorConfig(
        {
          GCP_PROJECT: 'p',
          REKOR_URL: 'https://rekor.sigstore.dev',
          REKOR_PUBLIC_KEY: key.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
          SIGSENTRY_IDENTITIES: JSON.stringify(identities),
        },
        logger,
      );
      return logger.entries.filter((e) => e.severity === 'WARNING');
    };
    const warned = load([
      { type: 'certificate', san: 'alice@example.com', issuer: GITHUB },
      { type: 'certificate', san: 'Alice@Example.com', issuer: `${GITHUB}/` },
      { type: 'certificate', san: 'bob@example.com', issuer: GITHUB },
    ]);
    assert.equal(warned.length, 1);
    assert.match(String(warned[0]!.message), /differ only in case/);
    assert.match(JSON.stringify(warned[0]), /Alice@Example\.com/);
    // The same identity twice, or identities that differ in more than case: nothing to say.
    assert.deepEqual(
      load([
        { type: 'certificate', san: 'alice@example.com', issuer: GITHUB, name: 'a' },
        { type: 'certificate', issuer: GITHUB, san: 'alice@example.com', name: 'b' },
        { type: 'certificate', san: 'alice@example.org', issuer: GITHUB },
      ]),
      [],
    );
  });
});
