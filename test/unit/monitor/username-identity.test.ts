/**
 * Fulcio username certificates carry the identity in an otherName SAN (type-id
 * 1.3.6.1.4.1.57264.1.7, a UTF8String), not in an email or URI: san and sanRegex rules must see it.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { OwnedIdentitySchema, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { IdentityMatcher } from '../../../functions/monitor-log/matcher.ts';
import { certificateIdentity } from '../../../functions/tlog/entries/identity.ts';
import { fulcioLikeCertificate, generalName, USERNAME } from './fulcio-like-cert.ts';

const ISSUER = 'https://auth.example.com';
const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
  format: 'der',
  type: 'spki',
});
const usernameCert = (username: string, ...before: Buffer[]) =>
  fulcioLikeCertificate({
    spki,
    sans: [...before, generalName.fulcioOtherName(USERNAME, username)],
    issuer: ISSUER,
  });

async function matchedNames(der: Buffer, rules: unknown[]): Promise<string[]> {
  const ids = await resolveIdentities(
    rules.map((r) => OwnedIdentitySchema.parse(r)),
    () => Promise.reject(new Error('no KMS')),
  );
  return new IdentityMatcher(ids)
    .match({ type: 'certificate', der })
    .map((m) => m.identity.description)
    .sort();
}

describe('Fulcio username identities (otherName SAN)', () => {
  it('is the certificate identity SAN', () => {
    assert.deepEqual(certificateIdentity(usernameCert('alice!example.com')), {
      san: 'alice!example.com',
      issuer: ISSUER,
    });
  });

  it('is read as UTF-8, and found after an otherName of another type', () => {
    const der = usernameCert('zoë!example.com', generalName.fulcioOtherName(99, 'not-a-username'));
    assert.equal(certificateIdentity(der).san, 'zoë!example.com');
  });

  it('matches san and sanRegex rules, with and without the issuer, and only the right ones', async () => {
    const names = await matchedNames(usernameCert('alice!example.com'), [
      { type: 'certificate', san: 'alice!example.com', issuer: ISSUER, name: 'exact' },
      { type: 'certificate', san: 'alice!example.com', name: 'exact-any-issuer' },
      { type: 'certificate', sanRegex: '^alice!example\\.com$', name: 'regex' },
      {
        type: 'certificate',
        sanRegex: '^[a-z]+!example\\.com$',
        issuerRegex: '^https://auth\\.',
        name: 're2',
      },
      { type: 'certificate', san: 'bob!example.com', name: 'other-user' },
      { type: 'certificate', san: 'alice!example.com', issuer: 'https://other', name: 'other-issuer' },
      { type: 'certificate', sanRegex: '^mallory!', name: 'other-regex' },
    ]);
    assert.deepEqual(names, ['exact', 'exact-any-issuer', 're2', 'regex']);
  });

  it('leaves email and URI identities as they were', () => {
    const email = fulcioLikeCertificate({ spki, sans: [generalName.email('alice@example.com')] });
    const uri = fulcioLikeCertificate({ spki, sans: [generalName.uri('https://github.com/acme/w')] });
    assert.equal(certificateIdentity(email).san, 'alice@example.com');
    assert.equal(certificateIdentity(uri).san, 'https://github.com/acme/w');
    assert.equal(certificateIdentity(fulcioLikeCertificate({ spki })).san, undefined);
  });
});
