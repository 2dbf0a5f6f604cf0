/**
 * An rfc3161 entry whose timestamp token is a CMS SignedData made with the OWNED key (its
 * certificate embedded). Rekor v1 (rfc3161 0.0.1 validate) checks the token with
 * `tsr.TimeStampToken.Content.Verify(nil, false)`: the CMS signature is verified under the embedded
 * certificate, whatever it is. The monitor read no verifier at all for rfc3161, so the owned key's
 * signature over attacker-chosen content (the TSTInfo's messageImprint) was logged without any
 * alert (an adversarial review of the matcher, 2026-12-03: LOW). Now the token's certificates are
 * matched; a token that carries none gives nothing to match (relic refuses such a token).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { encodeTlv as tlv } from '../../../functions/monitor-log/der.ts';
import { extractVerifiers } from '../../../functions/monitor-log/entry-verifiers.ts';
import { resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { nested, oid, utf8 } from './hand-built-cert.ts';
import { monitorAlerts } from './key-entry-checks.ts';

const KEY_VERSION = 'projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/1';
const kms = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const tsa = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spkiOf = (k: KeyObject) => k.export({ format: 'der', type: 'spki' });
const kinds = (a: { raised: Array<{ kind: string; severity: string }> }) =>
  a.raised.map((x) => `${x.kind}/${x.severity}`).sort();

let hasOpenssl = true;
try {
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
} catch {
  hasOpenssl = false;
}

const rfc3161Body = (tsr: Buffer) =>
  Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.1',
      kind: 'rfc3161',
      spec: { tsr: { content: tsr.toString('base64') } },
    }),
  );
const ownedKms = () =>
  resolveIdentities([{ type: 'kms', keyVersion: KEY_VERSION }], async () =>
    kms.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  );

// --- a TimeStampResp built by hand: SEQUENCE { PKIStatusInfo, ContentInfo { signedData, [0] SignedData } }
const SEQ = 0x30;
const SET = 0x31;
const ECDSA_SHA256 = tlv(SEQ, oid('2a8648ce3d040302'));
const SHA256 = tlv(SEQ, oid('608648016503040201'));
const name = (cn: string) => tlv(SEQ, tlv(SET, tlv(SEQ, oid('550403'), utf8(cn))));
function selfSigned(cn: string, key: { publicKey: KeyObject; privateKey: KeyObject }) {
  const tbs = tlv(
    SEQ,
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, Buffer.from([7])),
    ECDSA_SHA256,
    name(cn),
    tlv(SEQ, tlv(0x17, Buffer.from('250101000000Z')), tlv(0x17, Buffer.from('450101000000Z'))),
    name(cn),
    spkiOf(key.publicKey),
  );
  return tlv(SEQ, tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0]), sign('sha256', tbs, key.privateKey)));
}
const tstInfo = tlv(SEQ, tlv(0x02, Buffer.from([1])), oid('2a0304'));
const token = (certificates: Buffer | undefined, signer = kms) =>
  tlv(
    SEQ,
    oid('2a864886f70d010702'),
    tlv(
      0xa0,
      tlv(
        SEQ,
        tlv(0x02, Buffer.from([3])),
        tlv(SET, SHA256),
        tlv(SEQ, oid('2a864886f70d0109100104'), tlv(0xa0, tlv(0x04, tstInfo))),
        ...(certificates ? [tlv(0xa0, certificates)] : []),
        tlv(
          SET,
          tlv(SEQ, tlv(0x02, Buffer.from([1])), tlv(0x04, sign('sha256', tstInfo, signer.privateKey))),
        ),
      ),
    ),
  );
const granted = tlv(SEQ, tlv(0x02, Buffer.from([0])));
const tsr = (t: Buffer) => tlv(SEQ, granted, t);

describe('rfc3161: the timestamp token is matched by the certificates it carries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigsentry-tsr-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a token made by OpenSSL with the owned key, which verifies under it, is rogue-signature', {
    skip: !hasOpenssl,
  }, async () => {
    const f = (n: string) => join(dir, n);
    writeFileSync(f('owned.key'), kms.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    writeFileSync(
      f('ts.cnf'),
      `[tsa]\ndefault_tsa = t\n[t]\nserial = ${f('serial')}\ncrypto_device = builtin\ndefault_policy = 1.2.3.4.1\n` +
        'digests = sha256\nsigner_digest = sha256\ness_cert_id_alg = sha256\n',
    );
    writeFileSync(f('serial'), '01\n');
    writeFileSync(f('data'), 'attacker-chosen artifact\n');
    const run = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    run(
      'req',
      '-new',
      '-x509',
      '-key',
      f('owned.key'),
      '-subj',
      '/CN=owned',
      '-days',
      '30',
      '-addext',
      'extendedKeyUsage=critical,timeStamping',
      '-out',
      f('owned.crt'),
    );
    run('ts', '-query', '-data', f('data'), '-sha256', '-cert', '-out', f('q.tsq'));
    run(
      'ts',
      '-reply',
      '-config',
      f('ts.cnf'),
      '-queryfile',
      f('q.tsq'),
      '-inkey',
      f('owned.key'),
      '-signer',
      f('owned.crt'),
      '-out',
      f('r.tsr'),
    );
    // The token verifies with the owned key's certificate as the TSA (OpenSSL's TS verifier).
    assert.match(
      run('ts', '-verify', '-data', f('data'), '-in', f('r.tsr'), '-CAfile', f('owned.crt')).toString(),
      /Verification: OK/,
    );
    const body = rfc3161Body(readFileSync(f('r.tsr')));
    const extracted = extractVerifiers(body);
    assert.ok(extracted.ok, JSON.stringify(extracted));
    assert.equal(extracted.verifiers.length, 1);
    assert.equal(extracted.unreadable, undefined);
    assert.deepEqual(kinds(await monitorAlerts([body], await ownedKms())), ['rogue-signature/CRITICAL']);
  });

  it('a token whose certificates hold the owned one among others is rogue-signature', async () => {
    const body = rfc3161Body(tsr(token(Buffer.concat([selfSigned('tsa', tsa), selfSigned('owned', kms)]))));
    const extracted = extractVerifiers(body);
    assert.ok(extracted.ok, JSON.stringify(extracted));
    assert.equal(extracted.verifiers.length, 2);
    assert.deepEqual(kinds(await monitorAlerts([body], await ownedKms())), ['rogue-signature/CRITICAL']);
  });

  it("control: a TSA's token (not an owned key) raises nothing", async () => {
    const body = rfc3161Body(tsr(token(selfSigned('tsa', tsa), tsa)));
    const extracted = extractVerifiers(body);
    assert.ok(extracted.ok && extracted.unreadable === undefined, JSON.stringify(extracted));
    assert.equal(extracted.verifiers.length, 1);
    assert.deepEqual(kinds(await monitorAlerts([body], await ownedKms())), []);
  });

  it('a token that carries no certificate gives nothing to match (Rekor v1 refuses it: relic SignedData.Verify)', async () => {
    const body = rfc3161Body(tsr(token(undefined)));
    const extracted = extractVerifiers(body);
    assert.deepEqual(extracted, { ok: true, kind: 'rfc3161', apiVersion: '0.0.1', verifiers: [] });
    assert.deepEqual(kinds(await monitorAlerts([body], await ownedKms())), []);
  });

  describe('a hostile or broken response is unparseable, never a crash', () => {
    const whole = tsr(token(selfSigned('owned', kms)));
    const cases: Record<string, Buffer> = {
      truncated: whole.subarray(0, whole.length - 20),
      'no token': tsr(Buffer.alloc(0)),
      'not DER': Buffer.from('timestamp'),
      'a token nested 5,000 deep': tsr(nested(5000)),
      '100,000 certificates': tsr(token(Buffer.concat(Array.from({ length: 100_000 }, () => tlv(SEQ))))),
      'a multi-byte tag in the certificates': tsr(token(Buffer.from([0x3f, 0x81, 0x01, 0x00]))),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      it(name, async () => {
        assert.deepEqual(kinds(await monitorAlerts([rfc3161Body(bytes)], await ownedKms())), [
          'entry-unparseable/MEDIUM',
        ]);
      });
    }
  });
});
