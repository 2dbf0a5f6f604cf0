/**
 * A `jar` entry whose PKCS#7 signature is made with the owned key, its certificate second in the
 * PKCS#7 certificate set. Rekor's pki/pkcs7 NewPublicKey returns the FIRST certificate of the set
 * (`for _, cert := range certs { return ... }`) and jar Canonicalize stores it as
 * signature.publicKey.content; the signature itself is verified (relic signjar / pkcs7) with the
 * signer's certificate, found by issuer and serial number. The monitor read publicKey.content only,
 * so it saw the decoy (an adversarial review of the matcher, 2026-12-03: MEDIUM). Now every
 * certificate of the PKCS#7 in signature.content is matched, and a PKCS#7 that cannot be read, or
 * is hostile, is reported unparseable.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { encodeTlv as tlv } from '../../../functions/monitor-log/der.ts';
import { extractVerifiers } from '../../../functions/monitor-log/entry-verifiers.ts';
import { resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import {
  MAX_PKCS7_CERTIFICATES,
  signedDataCertificates,
} from '../../../functions/monitor-log/pkcs7-certificates.ts';
import { nested, oid, pem, utf8 } from './hand-built-cert.ts';
import { monitorAlerts } from './key-entry-checks.ts';

const KEY_VERSION = 'projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/1';
const kms = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const decoy = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spkiOf = (k: KeyObject) => k.export({ format: 'der', type: 'spki' });
const b64 = (b: string | Buffer) => Buffer.from(b).toString('base64');
const kinds = (a: { raised: Array<{ kind: string; severity: string }> }) =>
  a.raised.map((x) => `${x.kind}/${x.severity}`).sort();

let hasOpenssl = true;
try {
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
} catch {
  hasOpenssl = false;
}

const SEQ = 0x30;
const SET = 0x31;
const ECDSA_SHA256 = tlv(SEQ, oid('2a8648ce3d040302'));
const SHA256 = tlv(SEQ, oid('608648016503040201'));
const SIGNED_DATA = oid('2a864886f70d010702');
const name = (cn: string) => tlv(SEQ, tlv(SET, tlv(SEQ, oid('550403'), utf8(cn))));
/** A self-signed certificate (issuer = subject = cn). */
function selfSigned(cn: string, serial: number, key: { publicKey: KeyObject; privateKey: KeyObject }) {
  const tbs = tlv(
    SEQ,
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, Buffer.from([serial])),
    ECDSA_SHA256,
    name(cn),
    tlv(SEQ, tlv(0x17, Buffer.from('250101000000Z')), tlv(0x17, Buffer.from('450101000000Z'))),
    name(cn),
    spkiOf(key.publicKey),
  );
  return tlv(SEQ, tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0]), sign('sha256', tbs, key.privateKey)));
}
const ownedCert = selfSigned('release signer', 2, kms);
const decoyCert = selfSigned('decoy', 9, decoy);

// The JAR's signature file (META-INF/X.SF) and its detached PKCS#7 (META-INF/X.EC), signed with the
// owned key, no signed attributes; signer = owned (issuer + serial).
const sf = Buffer.from('Signature-Version: 1.0\r\nSHA-256-Digest-Manifest: AAAA\r\n\r\n');
const signerInfo = tlv(
  SEQ,
  tlv(0x02, Buffer.from([1])),
  tlv(SEQ, name('release signer'), tlv(0x02, Buffer.from([2]))),
  SHA256,
  ECDSA_SHA256,
  tlv(0x04, sign('sha256', sf, kms.privateKey)),
);
/** A PKCS#7 SignedData whose `certificates [0]` holds `certificates` (none: no such field). */
const signedData = (certificates: Buffer | undefined) =>
  tlv(
    SEQ,
    SIGNED_DATA,
    tlv(
      0xa0,
      tlv(
        SEQ,
        tlv(0x02, Buffer.from([1])),
        tlv(SET, SHA256),
        tlv(SEQ, oid('2a864886f70d010701')),
        ...(certificates ? [tlv(0xa0, certificates)] : []),
        tlv(SET, signerInfo),
      ),
    ),
  );
const pkcs7 = signedData(Buffer.concat([decoyCert, ownedCert]));

/** A jar 0.0.1 body as Rekor canonicalizes it: publicKey = first certificate of the PKCS#7. */
const jarBody = (publicKeyCert: Buffer, signature: Buffer | string = pem('PKCS7', pkcs7)) =>
  Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.1',
      kind: 'jar',
      spec: {
        archive: { hash: { algorithm: 'sha256', value: 'ab'.repeat(32) } },
        signature: {
          content: b64(signature),
          publicKey: { content: b64(pem('CERTIFICATE', publicKeyCert)) },
        },
      },
    }),
  );

const ownedKms = () =>
  resolveIdentities([{ type: 'kms', keyVersion: KEY_VERSION }], async () =>
    kms.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  );

describe('jar: every certificate of the PKCS#7 is matched', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigsentry-jar-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the PKCS#7 verifies (OpenSSL CMS finds the signer by issuer and serial), its signer the owned certificate, second', {
    skip: !hasOpenssl,
  }, () => {
    const f = (n: string) => join(dir, n);
    writeFileSync(f('jar.sf'), sf);
    writeFileSync(f('jar.p7'), pkcs7);
    execFileSync(
      'openssl',
      ['cms', '-verify', '-noverify', '-binary', '-inform', 'DER', '-in', f('jar.p7')].concat([
        '-content',
        f('jar.sf'),
        '-signer',
        f('signer.pem'),
        '-out',
        '/dev/null',
      ]),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const signer = execFileSync('openssl', ['x509', '-in', f('signer.pem'), '-outform', 'DER']);
    assert.deepEqual(signer, ownedCert);
    assert.deepEqual(signedDataCertificates(readFileSync(f('jar.p7'))).certificates, [decoyCert, ownedCert]);
  });

  it('control: publicKey.content = the owned certificate is rogue-signature', async () => {
    assert.deepEqual(kinds(await monitorAlerts([jarBody(ownedCert)], await ownedKms())), [
      'rogue-signature/CRITICAL',
    ]);
  });

  it('publicKey.content = the first certificate (the decoy), as Rekor stores it: rogue-signature', async () => {
    const extracted = extractVerifiers(jarBody(decoyCert));
    assert.ok(extracted.ok, JSON.stringify(extracted));
    // The decoy once (publicKey.content, and first of the set), then the owned certificate.
    assert.deepEqual(
      extracted.verifiers.map((v) => [v.type, v.der.toString('hex')]),
      [
        ['certificate', decoyCert.toString('hex')],
        ['certificate', ownedCert.toString('hex')],
      ],
    );
    assert.equal(extracted.unreadable, undefined);
    assert.deepEqual(kinds(await monitorAlerts([jarBody(decoyCert)], await ownedKms())), [
      'rogue-signature/CRITICAL',
    ]);
  });

  it('the PKCS#7 as DER rather than PEM (Rekor NewSignature reads either) is read too', async () => {
    assert.deepEqual(kinds(await monitorAlerts([jarBody(decoyCert, pkcs7)], await ownedKms())), [
      'rogue-signature/CRITICAL',
    ]);
  });

  it('control: a normal jar (one certificate, not owned) raises nothing', async () => {
    const normal = signedData(decoyCert);
    const extracted = extractVerifiers(jarBody(decoyCert, pem('PKCS7', normal)));
    assert.ok(extracted.ok, JSON.stringify(extracted));
    assert.equal(extracted.verifiers.length, 1);
    assert.equal(extracted.unreadable, undefined);
    assert.deepEqual(
      kinds(await monitorAlerts([jarBody(decoyCert, pem('PKCS7', normal))], await ownedKms())),
      [],
    );
  });

  it('control: the real jar entry of the fixtures reads whole, its PKCS#7 chain beside its publicKey', () => {
    const json = readFileSync('test/fixtures/tlog/entries/rekor-response__valid__jar-entry.json', 'utf8');
    const body = Buffer.from(/"body"\s*:\s*"([^"]+)"/.exec(json)![1]!, 'base64');
    const extracted = extractVerifiers(body);
    assert.ok(extracted.ok && extracted.unreadable === undefined, JSON.stringify(extracted));
    assert.equal(extracted.verifiers.length, 3);
    for (const v of extracted.verifiers) {
      assert.equal(v.type, 'certificate');
      assert.ok(new X509Certificate(v.der).fingerprint256);
    }
  });

  describe('a hostile or broken PKCS#7 is reported unparseable, never a crash or a silent miss', () => {
    const many = Buffer.concat(Array.from({ length: 100_000 }, () => tlv(SEQ)));
    const cases: Record<string, Buffer | string> = {
      truncated: pkcs7.subarray(0, Math.floor(pkcs7.length / 2)),
      'truncated, in PEM': pem('PKCS7', pkcs7.subarray(0, pkcs7.length - 10)),
      'a length past its buffer': Buffer.concat([Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]), pkcs7]),
      'indefinite length (BER; Go refuses it too)': Buffer.concat([
        Buffer.from([0x30, 0x80]),
        pkcs7.subarray(2),
      ]),
      'a certificate nested 5,000 deep': signedData(nested(5000)),
      'a SignedData nested 5,000 deep instead': tlv(SEQ, SIGNED_DATA, tlv(0xa0, nested(5000))),
      'no certificates field': signedData(undefined),
      '100,000 certificates': signedData(many),
      'an attribute certificate in the set': signedData(tlv(0xa1, Buffer.alloc(4))),
      'not a PKCS#7 at all': 'signature',
      'a PEM block of another type': pem('CERTIFICATE', ownedCert),
    };
    for (const [name, signature] of Object.entries(cases)) {
      it(name, async () => {
        const started = process.hrtime.bigint();
        const extracted = extractVerifiers(jarBody(decoyCert, signature));
        assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 500, 'bounded');
        assert.ok(extracted.ok, JSON.stringify(extracted));
        assert.ok(extracted.verifiers.length >= 1, 'publicKey.content still read');
        assert.ok(extracted.verifiers.length <= 1 + MAX_PKCS7_CERTIFICATES);
        assert.deepEqual(kinds(await monitorAlerts([jarBody(decoyCert, signature)], await ownedKms())), [
          'entry-unparseable/MEDIUM',
        ]);
      });
    }
    it('an owned certificate among more than the bound is still matched when read, and the rest reported', async () => {
      const body = jarBody(decoyCert, signedData(Buffer.concat([ownedCert, many])));
      assert.deepEqual(kinds(await monitorAlerts([body], await ownedKms())), [
        'entry-unparseable/MEDIUM',
        'rogue-signature/CRITICAL',
      ]);
    });
  });
});
