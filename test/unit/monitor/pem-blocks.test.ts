/**
 * Keys and certificates are read from PEM as Go's encoding/pem reads them (Rekor's pki/x509 and
 * cosign do), and a DER key or certificate with anything after it is refused as Go refuses it.
 * Rekor v1 keeps intoto 0.0.2 signature keys as submitted (its Canonicalize copies the envelope's
 * signatures; sigstore/rekor#1170), so an entry can hold PEM that only Go's reading makes sense of:
 * header lines (`Name: value`, which Go leaves out of the bytes), a BEGIN line before the one Go
 * takes. Read any other way, a header naming a decoy key in base64 hid an owned-key entry.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { canonicalSpki } from '../../../functions/monitor-log/canonical-spki.ts';
import { certificateSpki, DerError } from '../../../functions/monitor-log/der.ts';
import { extractVerifiers, pemBlocks } from '../../../functions/monitor-log/entry-verifiers.ts';
import {
  OwnedIdentitySchema,
  type ResolvedIdentity,
  resolveIdentities,
  spkiSha256,
} from '../../../functions/monitor-log/identities.ts';
import { IdentityMatcher } from '../../../functions/monitor-log/matcher.ts';
import { certificateIdentity } from '../../../functions/tlog/entries/identity.ts';
import { certificate, pem, sanExt, uri } from './hand-built-cert.ts';
import { monitorAlerts } from './key-entry-checks.ts';

const KEY_VERSION = 'projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/1';
const kmsKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
/** A P-384 SPKI is 120 bytes: its base64 has no padding, so it can stand in a header's name. */
const decoyKey = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const spkiOf = (k: KeyObject) => k.export({ format: 'der', type: 'spki' });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const kinds = (alerts: { raised: Array<{ kind: string; severity: string }> }) =>
  alerts.raised.map((a) => `${a.kind}/${a.severity}`).sort();

const ownedKms = (): Promise<ResolvedIdentity[]> =>
  resolveIdentities([{ type: 'kms', keyVersion: KEY_VERSION }], async () =>
    kmsKey.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  );

// --- the production intoto 0.0.2 entry (logIndex 27244980), its Fulcio certificate as Rekor keeps it
const realBody = (() => {
  const file = 'test/fixtures/tlog/entries/prod_intoto_logIndex27244980.DERIVED.json';
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { body: string }>;
  return Buffer.from(Object.values(json)[0]!.body, 'base64');
})();
type IntotoBody = {
  spec: { content: { envelope: { signatures: Array<{ publicKey: string; sig: string }> } } };
};
const realPem = Buffer.from(
  (JSON.parse(realBody.toString()) as IntotoBody).spec.content.envelope.signatures[0]!.publicKey,
  'base64',
).toString();
const realDer = Buffer.from(new X509Certificate(realPem).raw);
/** The real entry with its signature's publicKey replaced by `publicKeyPem`, as Rekor would keep it. */
function realWith(publicKeyPem: string): Buffer {
  const body = JSON.parse(realBody.toString()) as IntotoBody;
  body.spec.content.envelope.signatures[0]!.publicKey = b64(publicKeyPem);
  return Buffer.from(JSON.stringify(body));
}
const realIdentity = async (): Promise<ResolvedIdentity[]> => {
  const { san, issuer } = certificateIdentity(realDer);
  return resolveIdentities([OwnedIdentitySchema.parse({ type: 'certificate', san, issuer })], () =>
    Promise.reject(new Error('no KMS')),
  );
};
/** A certificate whose DER length is a multiple of 3: its base64 has no padding. */
const decoyCert = (() => {
  for (let n = 0; ; n++) {
    const der = certificate(spkiOf(decoyKey.publicKey), [
      sanExt(uri(`https://decoy.example/${'x'.repeat(n)}`)),
    ]);
    if (der.length % 3 === 0) return der;
  }
})();

// --- synthetic intoto 0.0.2 entries signed with the owned KMS key
const payloadType = 'application/vnd.in-toto+json';
const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1","subject":[]}');
const pae = Buffer.concat([
  Buffer.from(`DSSEv1 ${payloadType.length} ${payloadType} ${payload.length} `),
  payload,
]);
const signature = sign('sha256', pae, kmsKey.privateKey);
function intoto002(publicKeyPem: string): Buffer {
  const envelope = { payload: b64(payload), payloadType, signatures: [{ sig: b64(signature) }] };
  return Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.2',
      kind: 'intoto',
      spec: {
        content: {
          envelope: {
            payloadType,
            signatures: [{ publicKey: b64(publicKeyPem), sig: b64(b64(signature)) }],
          },
          hash: { algorithm: 'sha256', value: sha256(Buffer.from(JSON.stringify(envelope))) },
          payloadHash: { algorithm: 'sha256', value: sha256(payload) },
        },
      },
    }),
  );
}
const ownedDer = spkiOf(kmsKey.publicKey);
const decoyDer = spkiOf(decoyKey.publicKey);

/** Ways of writing a PEM that Go reads as `der` (and only `der`), with a decoy in front of it. */
const disguises = (label: string, der: Buffer, decoy: Buffer): Record<string, string> => ({
  'a header line': pem(label, der, ['Comment: release key']),
  'headers and the blank line RFC 1421 puts after them': pem(label, der, [
    'Proc-Type: 4,ENCRYPTED',
    'DEK-Info: none',
    '',
  ]),
  'a header whose name is the base64 of a decoy': pem(label, der, [`${decoy.toString('base64')}:`]),
  'a header whose value is the base64 of a decoy': pem(label, der, [`X: ${decoy.toString('base64')}`]),
  'a BEGIN line with a decoy and no END before the one Go takes': `${pem(label, decoy).split('\n-----END')[0]}\n${pem(label, der)}`,
  'CRLF line ends and a header': pem(label, der, ['Comment: x']).replace(/\n/g, '\r\n'),
});

describe('PEM read as Go reads it', () => {
  describe('in the production intoto 0.0.2 entry (its Fulcio certificate)', () => {
    it('control: the entry as logged is rogue-signature for its certificate identity', async () => {
      assert.deepEqual(kinds(await monitorAlerts([realBody], await realIdentity())), [
        'rogue-signature/CRITICAL',
      ]);
    });
    for (const [name, text] of Object.entries(disguises('CERTIFICATE', realDer, decoyCert))) {
      it(`${name}: the certificate Go reads, and a rogue-signature`, async () => {
        const extracted = extractVerifiers(realWith(text));
        assert.ok(extracted.ok, JSON.stringify(extracted));
        assert.deepEqual(
          extracted.verifiers.map((v) => v.der.toString('base64')),
          [realDer.toString('base64')],
        );
        assert.equal(extracted.unreadable, undefined);
        assert.deepEqual(kinds(await monitorAlerts([realWith(text)], await realIdentity())), [
          'rogue-signature/CRITICAL',
        ]);
      });
    }
  });

  describe('an owned KMS key in an intoto 0.0.2 entry', () => {
    it('control: the plain PEM is rogue-signature', async () => {
      assert.deepEqual(
        kinds(await monitorAlerts([intoto002(pem('PUBLIC KEY', ownedDer))], await ownedKms())),
        ['rogue-signature/CRITICAL'],
      );
    });
    for (const [name, text] of Object.entries(disguises('PUBLIC KEY', ownedDer, decoyDer))) {
      it(`${name}: still rogue-signature`, async () => {
        assert.deepEqual(kinds(await monitorAlerts([intoto002(text)], await ownedKms())), [
          'rogue-signature/CRITICAL',
        ]);
      });
    }
  });

  it('every kind that carries PEM reads the key behind a decoy header', async () => {
    const text = pem('PUBLIC KEY', ownedDer, [`${decoyDer.toString('base64')}:`]);
    const key = b64(text);
    const sig = b64(signature);
    const specs: Record<string, [string, unknown]> = {
      hashedrekord: ['0.0.1', { signature: { content: sig, publicKey: { content: key } } }],
      rekord: ['0.0.1', { signature: { format: 'x509', content: sig, publicKey: { content: key } } }],
      dsse: ['0.0.1', { signatures: [{ signature: sig, verifier: key }] }],
      'intoto 0.0.1': ['0.0.1', { publicKey: key }],
      'intoto 0.0.2': [
        '0.0.2',
        { content: { envelope: { signatures: [{ publicKey: key, sig: b64(sig) }] } } },
      ],
      jar: ['0.0.1', { signature: { content: sig, publicKey: { content: key } } }],
      alpine: ['0.0.1', { publicKey: { content: key } }],
      cose: ['0.0.1', { publicKey: key }],
      helm: ['0.0.1', { publicKey: { content: key } }],
      rpm: ['0.0.1', { publicKey: { content: key } }],
    };
    const owned = spkiSha256(ownedDer);
    for (const [name, [apiVersion, spec]] of Object.entries(specs)) {
      const kind = name.split(' ')[0];
      const extracted = extractVerifiers(Buffer.from(JSON.stringify({ apiVersion, kind, spec })));
      assert.ok(extracted.ok, `${name}: ${JSON.stringify(extracted)}`);
      assert.deepEqual(
        extracted.verifiers.map((v) => spkiSha256(v.der)),
        [owned],
        name,
      );
    }
  });

  it('text Go releases read differently: the key either read is matched, and the text reported', async () => {
    // Go since its 2025 rewrite of Decode takes the END line (it has a colon) as a header of the
    // first block and gives up; Go before it goes on to the owned key. Rekor v1 ran both.
    const text = `-----BEGIN A:B-----\n-----END A:B-----\n${pem('PUBLIC KEY', ownedDer)}`;
    assert.deepEqual(
      pemBlocks(text, () => true),
      { blocks: [], irregular: true },
    );
    const extracted = extractVerifiers(intoto002(text));
    assert.ok(extracted.ok, JSON.stringify(extracted));
    assert.deepEqual(
      extracted.verifiers.map((v) => v.der.toString('hex')),
      [ownedDer.toString('hex')],
    );
    assert.match(extracted.unreadable?.[0] ?? '', /Go releases differ/);
    assert.deepEqual(kinds(await monitorAlerts([intoto002(text)], await ownedKms())), [
      'entry-unparseable/MEDIUM',
      'rogue-signature/CRITICAL',
    ]);
  });

  describe("the body is Go's base64: what it refuses is reported, never read another way", () => {
    const owned = pem('PUBLIC KEY', ownedDer);
    for (const [name, bad] of Object.entries({
      'a character outside the alphabet': pem('PUBLIC KEY', decoyDer).replace('\n', '\n.'),
      'base64url characters': pem('PUBLIC KEY', Buffer.from([0xfb, 0xff, 0xbf])).replace('+/+/', '-_-_'),
      'no padding': pem('PUBLIC KEY', decoyDer.subarray(0, 100)).replace(/=+\n/, '\n'),
      'data after the padding': pem('PUBLIC KEY', decoyDer.subarray(0, 100)).replace(/=+\n/, '==AAAA\n'),
      'a form feed': pem('PUBLIC KEY', decoyDer).replace('\n', '\n\f'),
    })) {
      it(`${name}: Go passes over that block and reads the next; the monitor matches that one and reports the first`, async () => {
        assert.equal(pemBlocks(bad, () => true).blocks[0]?.der, undefined);
        const extracted = extractVerifiers(intoto002(`${bad}${owned}`));
        assert.ok(extracted.ok, JSON.stringify(extracted));
        assert.deepEqual(
          extracted.verifiers.map((v) => v.der.toString('hex')),
          [ownedDer.toString('hex')],
        );
        assert.match(extracted.unreadable?.[0] ?? '', /PUBLIC KEY block is not base64/);
        assert.deepEqual(kinds(await monitorAlerts([intoto002(`${bad}${owned}`)], await ownedKms())), [
          'entry-unparseable/MEDIUM',
          'rogue-signature/CRITICAL',
        ]);
      });
    }
    it('alone, such a block makes the entry unparseable', async () => {
      const bad = pem('PUBLIC KEY', ownedDer).replace('\n', '\n.');
      assert.deepEqual(kinds(await monitorAlerts([intoto002(bad)], await ownedKms())), [
        'entry-unparseable/MEDIUM',
      ]);
    });
  });

  it("finds blocks where Go's pem.Decode does", () => {
    const der = (text: string) => pemBlocks(text, () => true).blocks.map((b) => b.der?.toString('hex'));
    const k = ownedDer.toString('hex');
    const body = ownedDer.toString('base64');
    // Text around blocks, spaces and tabs in the body, spaces after the END line.
    assert.deepEqual(der(`junk\n-----BEGIN PUBLIC KEY-----\n ${body}\t\n-----END PUBLIC KEY-----  \njunk`), [
      k,
    ]);
    // BEGIN not at a line start, END of another type, text after the END line: no block.
    assert.deepEqual(der(`x-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----\n`), []);
    assert.deepEqual(der(`-----BEGIN PUBLIC KEY-----\n${body}\n-----END CERTIFICATE-----\n`), []);
    assert.deepEqual(der(`-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----x\n`), []);
    // Headers need a line break before the END line.
    assert.deepEqual(der('-----BEGIN PUBLIC KEY-----\nA: b\n-----END PUBLIC KEY-----\n'), []);
    // An END line with a colon is a header line to Go: a block of a type with a colon has no END.
    assert.deepEqual(der('-----BEGIN A:B-----\n-----END A:B-----\n'), []);
    // An empty block; two blocks.
    assert.deepEqual(der('-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n'), ['']);
    assert.deepEqual(der(`${pem('PUBLIC KEY', ownedDer)}${pem('CERTIFICATE', decoyDer)}`), [
      k,
      decoyDer.toString('hex'),
    ]);
  });

  describe('DER with data after it is refused, as Go refuses it', () => {
    it('a key followed by another key', () => {
      assert.throws(() => canonicalSpki(Buffer.concat([decoyDer, ownedDer])), DerError);
      assert.throws(() => canonicalSpki(Buffer.concat([ownedDer, Buffer.from([0])])), DerError);
      assert.deepEqual(canonicalSpki(ownedDer), ownedDer);
    });
    it('a certificate followed by more', () => {
      assert.throws(() => certificateSpki(Buffer.concat([decoyCert, realDer])), DerError);
      assert.throws(() => certificateSpki(Buffer.concat([realDer, Buffer.from([0x05, 0x00])])), DerError);
    });
    it('an entry whose PEM holds a decoy key then the owned key is reported, not passed over', async () => {
      const text = pem('PUBLIC KEY', Buffer.concat([decoyDer, ownedDer]));
      assert.deepEqual(kinds(await monitorAlerts([intoto002(text)], await ownedKms())), [
        'entry-unparseable/MEDIUM',
      ]);
    });
    it('so is one whose PEM holds a decoy certificate then the owned one', async () => {
      const text = pem('CERTIFICATE', Buffer.concat([decoyCert, realDer]));
      assert.deepEqual(kinds(await monitorAlerts([realWith(text)], await realIdentity())), [
        'entry-unparseable/MEDIUM',
      ]);
    });
  });

  it('every real entry of test/fixtures reads as before: whole, and each key or certificate as a parser reads it', () => {
    const bodies: Buffer[] = [];
    const walk = (v: unknown): void => {
      if (v === null || typeof v !== 'object') return;
      for (const [key, value] of Object.entries(v)) {
        if ((key === 'body' || key === 'canonicalizedBody') && typeof value === 'string')
          bodies.push(Buffer.from(value, 'base64'));
        else walk(value);
      }
    };
    for (const file of [
      'tlog/entries/prod_dsse_logIndex27246114.DERIVED.json',
      'tlog/entries/prod_intoto_logIndex27244980.DERIVED.json',
      'tlog/entries/prod_log2025-1_TransparencyLogEntry_logIndex4855114.DERIVED.json',
      'tlog/entries/rekor-response__valid__entry.json',
      'tlog/entries/rekor-response__valid__jar-entry.json',
      'tlog/bundles/bundles__PKIX_ECDSA_P384_SHA_384.sigstore.json',
      'tlog/bundles/bundles__bundle.sigstore',
      'tlog/bundles/bundles__sigstore.js@2.0.0-provenance.sigstore.json',
      'tlog/bundles/tests_bundles_bundleV02-dsse.sigstore',
      'tlog/bundles/tests_bundles_bundleV03-dsse.sigstore',
      'tlog/bundles/tests_bundles_bundleV03-intoto.sigstore',
    ])
      walk(JSON.parse(readFileSync(`test/fixtures/${file}`, 'utf8')));
    assert.ok(bodies.length >= 11, String(bodies.length));
    const matcher = new IdentityMatcher([
      { type: 'certificate', san: 'nobody@example.org', description: 'unrelated' } as ResolvedIdentity,
    ]);
    for (const body of bodies) {
      const extracted = extractVerifiers(body);
      assert.ok(extracted.ok && extracted.unreadable === undefined, JSON.stringify(extracted));
      assert.ok(extracted.verifiers.length > 0);
      for (const v of extracted.verifiers) {
        const outcome = matcher.matchOutcome(v);
        assert.equal(outcome.error, undefined);
        const key =
          v.type === 'certificate'
            ? new X509Certificate(v.der).publicKey.export({ format: 'der', type: 'spki' })
            : v.der;
        assert.deepEqual(canonicalSpki(v.type === 'certificate' ? certificateSpki(v.der) : v.der), key);
      }
    }
  });
});
