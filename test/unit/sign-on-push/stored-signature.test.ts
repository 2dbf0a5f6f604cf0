/**
 * A signing record is state any writer of the database could change, not an authority on what the
 * organisation's key signed. What it stores reaches the registry only if reverifyImages would call
 * it valid there: the signature under the rule's key, the log entry (its body, its signed entry
 * timestamp, its inclusion proof) in the signing log, and its naming of this image. That holds
 * for a signature gone from the registry and attached again (keepAttached), and for a resumed
 * signing that finds a bundle an earlier attempt stored and never attached. Anything else is
 * refused with a lost-signature alert naming the record to delete and nothing written; a format
 * that does verify is still attached beside a refused one.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { readCosignSignatures, signatureTag } from '../../../functions/attach/cosign-layout.ts';
import { listBundleReferrers } from '../../../functions/attach/referrer.ts';
import { toNotification } from '../../../functions/events/gcr-message.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { digestTag } from '../../../functions/registry/digest.ts';
import { countedWitness, logTreeSize } from '../../helpers/counted-witness.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { gcrEvent, signOnPushCore } from '../../helpers/sign-on-push-core.ts';
import { attachedIn, type Core, signedImages, WRITES } from '../../helpers/signed-both-formats.ts';

let reg: TestRegistry;
let log: TestLog;
let client: RegistryClient;
before(async () => {
  reg = await startRegistry();
  log = await startTestLog('stored-signature', { unrelatedFirstEntry: true });
  client = new RegistryClient({ allowedHosts: [reg.host] });
});
after(async () => {
  await reg.stop();
  await log.stop();
});

const { signed, deleteTag } = signedImages(() => ({ reg, log, client }), 'stored');

/** The parts of a stored bundle (bundleToJSON's JSON) these tests alter. */
interface StoredBundle {
  messageSignature?: { signature: string };
  dsseEnvelope?: { signatures: Array<{ sig: string }> };
  verificationMaterial: {
    tlogEntries: Array<{ integratedTime: string; inclusionPromise: { signedEntryTimestamp: string } }>;
  };
}

const storedBundle = (h: Core, imageRef: string, format: 'cosign' | 'bundle') =>
  h.store.records.get(imageRef)!.formats[format]!.bundle as StoredBundle;

const flipLastBit = (base64: string) => {
  const bytes = Buffer.from(base64, 'base64');
  bytes[bytes.length - 1]! ^= 1;
  return bytes.toString('base64');
};

/** The signature the record stores for `format` altered by one bit: one the key did not make. */
function alterStoredSignature(h: Core, imageRef: string, format: 'cosign' | 'bundle'): void {
  const stored = storedBundle(h, imageRef, format);
  if (format === 'cosign')
    stored.messageSignature!.signature = flipLastBit(stored.messageSignature!.signature);
  else stored.dsseEnvelope!.signatures[0]!.sig = flipLastBit(stored.dsseEnvelope!.signatures[0]!.sig);
}

const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

/** An ECDSA P-256 signature (DER) as (r, n − s): another signature that verifies over the same message. */
function malleated(derBase64: string): string {
  const der = Buffer.from(derBase64, 'base64');
  assert.equal(der[0], 0x30, 'a DER SEQUENCE');
  let at = 2; // a P-256 signature's lengths are all short form
  const integer = () => {
    assert.equal(der[at], 0x02, 'a DER INTEGER');
    const value = der.subarray(at + 2, at + 2 + der[at + 1]!);
    at += 2 + value.length;
    return value;
  };
  const r = integer();
  const s = BigInt(`0x${integer().toString('hex')}`);
  const encode = (n: bigint) => {
    let bytes = Buffer.from(n.toString(16).padStart(64, '0'), 'hex');
    while (bytes.length > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80)) bytes = bytes.subarray(1);
    if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
  };
  const body = Buffer.concat([encode(BigInt(`0x${r.toString('hex')}`)), encode(P256_ORDER - s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]).toString('base64');
}

/** The image's signature in `format` deleted from the registry. */
async function deleteFormat(
  image: { repository: string; ref: { digest: string } },
  format: 'cosign' | 'bundle',
) {
  await deleteTag(
    image.repository,
    format === 'cosign' ? signatureTag(image.ref.digest) : digestTag(image.ref.digest),
  );
}

/** The refusal as the security team reads it: one lost-signature alert naming the record and the remedy. */
function assertRefusedAlert(h: Core, imageRef: string, formats: string[], reason: RegExp) {
  assert.equal(h.raised.length, 1, `one alert: ${h.raised.map((a) => a.summary).join(' | ')}`);
  const [alert] = h.raised;
  assert.equal(alert?.kind, 'signing-failed');
  assert.equal(alert?.severity, 'HIGH');
  assert.equal(alert?.subject, imageRef);
  assert.equal(
    alert?.key,
    `signing-failed:${imageRef}:signature-lost`,
    'the lost-signature incident, resolved by a re-attach',
  );
  assert.deepEqual(alert?.evidence['formats'], formats);
  assert.match(String(alert?.evidence['record']), /^signatures\/[0-9a-f]{64}$/);
  assert.match(alert?.summary ?? '', reason);
  assert.match(alert?.summary ?? '', /delete the record, signatures\/[0-9a-f]{64}, and run sigsentry sign/);
}

describe('a signature read out of a signing record is attached only if it verifies as reverifyImages judges it', () => {
  // What a writer of the database may have done to a stored signature; each leaves a signature
  // that cosign, policy-controller and reverifyImages reject.
  const tamperings: Array<{
    name: string;
    format: 'cosign' | 'bundle';
    tamper: (b: StoredBundle) => void;
    reason: RegExp;
  }> = [
    {
      name: 'the cosign signature altered',
      format: 'cosign',
      tamper: (b) => {
        b.messageSignature!.signature = flipLastBit(b.messageSignature!.signature);
      },
      reason: /the cosign signature: it (does not verify|is not a signature by the rule's key)/,
    },
    {
      name: "the cosign log entry's signed entry timestamp altered",
      format: 'cosign',
      tamper: (b) => {
        const promise = b.verificationMaterial.tlogEntries[0]!.inclusionPromise;
        promise.signedEntryTimestamp = flipLastBit(promise.signedEntryTimestamp);
      },
      reason: /the cosign signature: it does not verify \(TLOG_INCLUSION_PROMISE_ERROR/,
    },
    {
      name: 'the cosign log entry removed',
      format: 'cosign',
      tamper: (b) => {
        b.verificationMaterial.tlogEntries = [];
      },
      reason: /the cosign signature: it does not verify \(the signature has no log entry\)/,
    },
    {
      name: 'the cosign signature malleated to (r, n − s): it verifies under the key, not as the log recorded it',
      format: 'cosign',
      tamper: (b) => {
        b.messageSignature!.signature = malleated(b.messageSignature!.signature);
      },
      reason: /the cosign signature: it does not verify \(TLOG_BODY_ERROR/,
    },
    {
      name: "the bundle's DSSE signature altered",
      format: 'bundle',
      tamper: (b) => {
        const signature = b.dsseEnvelope!.signatures[0]!;
        signature.sig = flipLastBit(signature.sig);
      },
      reason: /the bundle signature: it (does not verify|is not a signature by the rule's key)/,
    },
    {
      name: "the bundle's integrated time moved",
      format: 'bundle',
      tamper: (b) => {
        const entry = b.verificationMaterial.tlogEntries[0]!;
        entry.integratedTime = String(Number(entry.integratedTime) + 1);
      },
      reason: /the bundle signature: it does not verify \(TLOG_INCLUSION_PROMISE_ERROR/,
    },
  ];

  for (const { name, format, tamper, reason } of tamperings) {
    test(`gone from the registry, ${name}: refused, nothing written, alerted`, async () => {
      const image = await signed();
      const { h, imageRef, push, counted } = image;
      await deleteFormat(image, format);
      tamper(storedBundle(h, imageRef, format));
      const writes = () => counted.calls.filter((c) => WRITES.includes(c)).length;
      const before = writes();

      await push(); // acknowledged: a retry would not mend it

      assert.equal(writes(), before, 'nothing written to the registry');
      assert.equal(h.signed.length, 2, 'nothing signed anew');
      const other = format === 'cosign' ? 'bundle' : 'cosign';
      assert.deepEqual(await attachedIn(image.verify), [other], `still attached in ${other} alone`);
      assertRefusedAlert(h, imageRef, [format], reason);
    });
  }

  test("the alert's remedy (delete the record, sigsentry sign) signs anew and closes the incident", async () => {
    const image = await signed();
    const { h, imageRef, push } = image;
    await deleteFormat(image, 'cosign');
    alterStoredSignature(h, imageRef, 'cosign');
    await push();
    const key = h.raised[0]?.key;
    assert.equal(key, `signing-failed:${imageRef}:signature-lost`);
    assert.ok(!h.resolved.includes(key), 'the incident is open: a push does not close it');

    h.store.records.delete(imageRef);
    const outcome = await h.core.sign(
      toNotification({ action: 'INSERT', digest: imageRef }),
      createMemoryLogger(),
    );

    assert.equal(outcome.outcome, 'signed');
    assert.equal(h.signed.length, 4, 'signed anew in both formats');
    // The earlier bundle referrer, which verified, stays beside the new one.
    assert.deepEqual(await attachedIn(image.verify), ['bundle', 'bundle', 'cosign']);
    assert.ok(h.resolved.includes(key), `resolved: ${h.resolved.join(', ')}`);
  });

  test('the malleated signature is one the key verifies (what makes the case above worth testing)', async () => {
    const { h, imageRef } = await signed();
    const record = h.store.records.get(imageRef)!.formats.cosign!;
    const payload = Buffer.from(record.signedBytes!, 'base64');
    const original = storedBundle(h, imageRef, 'cosign').messageSignature!.signature;
    const other = malleated(original);
    assert.notEqual(other, original);
    assert.ok(crypto.verify(null, payload, h.publicKeyPem, Buffer.from(other, 'base64')));
  });

  test("another image's bundle, signed by the same key, is not attached as this image's", async () => {
    const a = await signed();
    const b = await signed({ h: a.h, counted: a.counted }); // the same core: the same key
    await deleteFormat(a, 'bundle');
    const recordA = a.h.store.records.get(a.imageRef)!;
    recordA.formats.bundle!.bundle = structuredClone(
      a.h.store.records.get(b.imageRef)!.formats.bundle!.bundle,
    );
    const writes = () => a.counted.calls.filter((c) => WRITES.includes(c)).length;
    const before = writes();

    await a.push();

    assert.equal(writes(), before, 'nothing written to the registry');
    assert.deepEqual((await listBundleReferrers(client, a.ref)).descriptors, [], 'nothing attached');
    assertRefusedAlert(
      a.h,
      a.imageRef,
      ['bundle'],
      new RegExp(`the statement does not name ${a.ref.digest}`),
    );
    assert.deepEqual(
      await attachedIn(b.verify),
      ['bundle', 'cosign'],
      'the other image keeps its signatures',
    );
  });

  test('both formats gone, the cosign signature altered: the bundle is attached again, the cosign format refused', async () => {
    const image = await signed();
    const { h, imageRef, push } = image;
    await deleteFormat(image, 'cosign');
    await deleteFormat(image, 'bundle');
    assert.deepEqual(await attachedIn(image.verify), []);
    alterStoredSignature(h, imageRef, 'cosign');

    await push();

    assert.deepEqual(await attachedIn(image.verify), ['bundle'], 'the verifying format went back');
    assert.deepEqual(await readCosignSignatures(client, image.ref), [], 'the refused one did not');
    assertRefusedAlert(h, imageRef, ['cosign'], /the cosign signature: it/);
    assert.ok(
      h.logger.entries.some(
        (e) => e.severity === 'NOTICE' && /bundle signature of .* is attached again/.test(e.message),
      ),
      'the re-attach told',
    );
  });

  test('a resumed signing (the record says not attached) does not attach stored signatures that do not verify, and names each', async () => {
    const image = await signed();
    const { h, imageRef, push, counted } = image;
    await deleteFormat(image, 'cosign');
    await deleteFormat(image, 'bundle');
    const record = h.store.records.get(imageRef)!;
    record.formats.cosign!.attached = false;
    record.formats.bundle!.attached = false;
    alterStoredSignature(h, imageRef, 'cosign');
    alterStoredSignature(h, imageRef, 'bundle');
    const writes = () => counted.calls.filter((c) => WRITES.includes(c)).length;
    const before = writes();

    await push();

    assert.equal(writes(), before, 'nothing written to the registry');
    assert.equal(h.signed.length, 2, 'nothing signed anew');
    assert.deepEqual(await attachedIn(image.verify), [], 'nothing attached');
    const formats = h.store.records.get(imageRef)!.formats;
    assert.ok(!formats.cosign?.attached && !formats.bundle?.attached, 'not recorded as attached');
    // The lost-signature incident its remedy closes, not a format incident nothing resolves.
    assertRefusedAlert(
      h,
      imageRef,
      ['bundle', 'cosign'],
      /the bundle signature: it .*; the cosign signature: it /,
    );
  });

  test('a resumed signing with a stored bundle refused beside an attached format is the same incident', async () => {
    const image = await signed();
    const { h, imageRef, push } = image;
    await deleteFormat(image, 'cosign');
    h.store.records.get(imageRef)!.formats.cosign!.attached = false;
    alterStoredSignature(h, imageRef, 'cosign');

    await push();

    assertRefusedAlert(h, imageRef, ['cosign'], /the cosign signature: it /);
    assert.deepEqual(await attachedIn(image.verify), ['bundle']);
  });

  test('a stored cosign signature without its base64 padding (which cosign does not read) is refused', async () => {
    // A DER signature of 72 bytes has no padding to strip: sign until one has.
    let image = await signed();
    for (
      let tries = 0;
      !storedBundle(image.h, image.imageRef, 'cosign').messageSignature!.signature.endsWith('=');
      tries++
    ) {
      assert.ok(tries < 10, 'a signature whose base64 is padded');
      image = await signed();
    }
    const { h, imageRef, push } = image;
    await deleteFormat(image, 'cosign');
    const stored = storedBundle(h, imageRef, 'cosign');
    stored.messageSignature!.signature = stored.messageSignature!.signature.replace(/=+$/, '');

    await push();

    assertRefusedAlert(h, imageRef, ['cosign'], /not standard padded base64/);
  });

  test('a stored bundle whose DSSE keyid names another key (which sigstore-go skips) is refused', async () => {
    const image = await signed();
    const { h, imageRef, push } = image;
    await deleteFormat(image, 'bundle');
    const signature = storedBundle(h, imageRef, 'bundle').dsseEnvelope!.signatures[0]! as { keyid?: string };
    signature.keyid = 'SHA256:not-the-key';

    await push();

    assertRefusedAlert(h, imageRef, ['bundle'], /DSSE keyid is not the rule's key's/);
  });

  test('a record unreadable for one format does not keep the other from being attached again', async () => {
    const image = await signed();
    const { h, imageRef, push } = image;
    await deleteFormat(image, 'cosign');
    await deleteFormat(image, 'bundle');
    delete h.store.records.get(imageRef)!.formats.cosign!.bundle;

    await push();

    assert.deepEqual(await attachedIn(image.verify), ['bundle'], 'the readable format went back');
    assert.equal(h.raised.length, 1);
    assert.match(h.raised[0]?.summary ?? '', /attached in the cosign format but stores no signed bundle/);
  });

  test("the remedy done by a push first: the operator's sigsentry sign, finding every format, closes the incident", async () => {
    const image = await signed();
    const { h, imageRef, push } = image;
    await deleteFormat(image, 'cosign');
    alterStoredSignature(h, imageRef, 'cosign');
    await push();
    const key = `signing-failed:${imageRef}:signature-lost`;
    assert.equal(h.raised[0]?.key, key);

    h.store.records.delete(imageRef);
    await push(); // a push signs it anew: a push does not look for the incident
    assert.ok(!h.resolved.includes(key));
    const outcome = await h.core.sign(
      toNotification({ action: 'INSERT', digest: imageRef }),
      createMemoryLogger(),
    );

    assert.equal(outcome.outcome, 'already-signed');
    assert.ok(h.resolved.includes(key), `resolved: ${h.resolved.join(', ')}`);
  });

  test('with a log, a resumed signing does not replay a stored signature the key did not make: one alert, the log not asked', async () => {
    const image = await signed();
    const { h, imageRef, push, logged } = image;
    await deleteFormat(image, 'cosign');
    const progress = h.store.records.get(imageRef)!.formats.cosign!;
    delete progress.bundle; // as a crash after the signature was stored, before the log answered
    progress.attached = false;
    progress.signature = flipLastBit(progress.signature!);
    const size = await logTreeSize(log.rekor.url);

    await push(); // acknowledged: before, redelivered until its attempts ran out, the log refusing each

    assert.equal(logged.calls, 2, 'the log was not asked');
    assert.equal(await logTreeSize(log.rekor.url), size);
    assertRefusedAlert(
      h,
      imageRef,
      ['cosign'],
      /the cosign signature: its stored signature does not verify under the rule's key/,
    );
  });

  test('attempts spent on a refused record stay the lost-signature incident, which the remedy closes', async () => {
    const image = await signed();
    const { h, imageRef, push } = image;
    await deleteFormat(image, 'cosign');
    h.store.records.get(imageRef)!.formats.cosign!.attached = false;
    alterStoredSignature(h, imageRef, 'cosign');
    const key = `signing-failed:${imageRef}:signature-lost`;

    // Every push of the digest (a re-tag, a redelivery) counts an attempt, past the rule's 10.
    for (let i = 0; i < 12; i++) await push();

    assert.ok(h.raised.length >= 12, `${h.raised.length} alerts`);
    assert.deepEqual([...new Set(h.raised.map((a) => a.key))], [key], 'one incident throughout');
    // The 11th finds the attempts spent (a push published later then starts a fresh count); its
    // text quotes the last refusal bounded, the remedy after it whole.
    const spent = h.raised[10]?.summary ?? '';
    assert.match(spent, /gave no signature that can be attached in cosign on any of its 10 attempts/);
    assert.ok(spent.endsWith(`and run sigsentry sign ${imageRef})`), spent);
    h.store.records.delete(imageRef);
    await h.core.sign(toNotification({ action: 'INSERT', digest: imageRef }), createMemoryLogger());
    assert.ok(h.resolved.includes(key), 'the remedy closes it');
  });

  test('a resumed signing whose stored cosign payload names another image still attaches the honest bundle', async () => {
    const image = await signed();
    const other = await signed();
    const { h, imageRef, push } = image;
    await deleteFormat(image, 'cosign');
    await deleteFormat(image, 'bundle');
    const formats = h.store.records.get(imageRef)!.formats;
    formats.cosign!.attached = false;
    formats.bundle!.attached = false;
    formats.cosign!.signedBytes = other.h.store.records.get(other.imageRef)!.formats.cosign!.signedBytes!;

    await push();

    assert.deepEqual(await attachedIn(image.verify), ['bundle'], 'the honest format went back');
    assertRefusedAlert(h, imageRef, ['cosign'], /the cosign signature: its stored payload names /);
  });

  test('formats gone, one unreadable and one altered in the record: both named in the one alert', async () => {
    const image = await signed();
    const { h, imageRef, push } = image;
    await deleteFormat(image, 'cosign');
    await deleteFormat(image, 'bundle');
    delete h.store.records.get(imageRef)!.formats.cosign!.bundle;
    alterStoredSignature(h, imageRef, 'bundle');

    await push();

    assertRefusedAlert(
      h,
      imageRef,
      ['bundle', 'cosign'],
      /the bundle signature: it .*; the cosign signature: the record says it is attached in the cosign format but stores no signed bundle/,
    );
  });

  // The same on both paths: a resumed signing (the record says not attached) and a re-attach.
  for (const path of ['in one resumed signing', 'while re-attaching'] as const) {
    test(`a tag refusal met beside a record's refusal ${path} is logged, not lost`, async () => {
      const image = await signed();
      const { h, imageRef, push, ref, repository } = image;
      await deleteFormat(image, 'cosign');
      await deleteFormat(image, 'bundle');
      // Someone's image where the cosign signature goes: that format is refused for its tag.
      await reg.pushImage(repository, signatureTag(ref.digest), `${repository}-squatter`);
      if (path === 'in one resumed signing') {
        const formats = h.store.records.get(imageRef)!.formats;
        formats.cosign!.attached = false;
        formats.bundle!.attached = false;
      }
      alterStoredSignature(h, imageRef, 'bundle');
      const before = h.logger.entries.length;

      await push();

      assertRefusedAlert(h, imageRef, ['bundle'], /the bundle signature: it /);
      const warned = h.logger.entries
        .slice(before)
        .find((e) => e.message === 'a format was also refused for what its tag holds');
      assert.ok(warned, 'the tag refusal is told');
      assert.equal(warned?.severity, 'WARNING');
    });
  }

  test('a stored signed entry timestamp without its base64 padding (which cosign does not read) is refused', async () => {
    let image = await signed();
    const set = () =>
      storedBundle(image.h, image.imageRef, 'cosign').verificationMaterial.tlogEntries[0]!.inclusionPromise;
    for (let tries = 0; !set().signedEntryTimestamp.endsWith('='); tries++) {
      assert.ok(tries < 10, 'a timestamp whose base64 is padded');
      image = await signed();
    }
    await deleteFormat(image, 'cosign');
    set().signedEntryTimestamp = set().signedEntryTimestamp.replace(/=+$/, '');

    await image.push();

    assertRefusedAlert(
      image.h,
      image.imageRef,
      ['cosign'],
      /signed entry timestamp is not standard padded base64/,
    );
  });

  test('a record attached in no format, refused until its attempts are spent, stays the lost-signature incident', async () => {
    const image = await signed();
    const { h, imageRef, push } = image;
    await deleteFormat(image, 'cosign');
    await deleteFormat(image, 'bundle');
    // As a signing whose attaches never happened, one attempt left, both stored signatures altered.
    const record = h.store.records.get(imageRef)!;
    record.state = 'claimed';
    record.lease = null;
    record.attempts = 9;
    for (const format of ['cosign', 'bundle'] as const) record.formats[format]!.attached = false;
    alterStoredSignature(h, imageRef, 'cosign');
    alterStoredSignature(h, imageRef, 'bundle');

    await push(); // the 10th attempt, refused
    await push(); // no attempt left

    const key = `signing-failed:${imageRef}:signature-lost`;
    assert.deepEqual(
      h.raised.map((a) => a.key),
      [key, key],
      'one incident',
    );
    const spent = h.raised[1]?.summary ?? '';
    assert.match(spent, /gave no signature that can be attached in bundle, cosign on any of its 10 attempts/);
    assert.ok(spent.endsWith(`and run sigsentry sign ${imageRef})`), spent);
    assert.deepEqual(h.raised[1]?.evidence['formats'], ['bundle', 'cosign']);
    assert.deepEqual(await attachedIn(image.verify), [], 'nothing attached');
  });

  test("a format added later whose attempts run out is the gave-up incident, not an old refusal's", async () => {
    const image = await signed();
    const { h, imageRef, push } = image;
    await deleteFormat(image, 'bundle');
    const record = h.store.records.get(imageRef)!;
    // An old refusal of the cosign format, mended since; the bundle being added, its attempts spent.
    record.lastError = { code: 'SIGNATURE_LOST', message: 'an old refusal', formats: ['cosign'] };
    delete record.formats.bundle;
    record.adding = ['bundle'];
    record.attempts = 10;

    await push();

    assert.equal(h.raised.length, 1);
    assert.equal(h.raised[0]?.key, `signing-failed:${imageRef}:bundle`);
    assert.match(h.raised[0]?.summary ?? '', /gave up signing .* in the bundle format after 10 attempts/);
  });

  test('a tag refusal while re-attaching does not keep a later format from going back', async () => {
    // cosign first in the rule, so its refusal comes before the bundle.
    const pushed = await reg.pushImage('team/order', 'v1', 'order');
    const ref = { host: reg.host, repository: 'team/order', digest: pushed.digest };
    const imageRef = `${reg.host}/team/order@${pushed.digest}`;
    const { witness, signingLog } = countedWitness(reg.host, log.rekor);
    const h = signOnPushCore(client, reg.host, { formats: ['cosign', 'bundle'], witness, signingLog });
    const push = (id: string) => h.entry(gcrEvent({ action: 'INSERT', digest: imageRef }, id, new Date()));
    await push('m1');
    await deleteFormat({ repository: ref.repository, ref }, 'cosign');
    await deleteFormat({ repository: ref.repository, ref }, 'bundle');
    await reg.pushImage(ref.repository, signatureTag(ref.digest), 'order-squatter');

    await push('m2');

    const referrers = (await listBundleReferrers(client, ref)).descriptors;
    assert.equal(referrers.length, 1, 'the bundle went back');
    assert.equal(h.raised.length, 1);
    assert.equal(h.raised[0]?.kind, 'signing-refused', 'the cosign format refused for its tag');
  });

  test('a resumed signing attaches an honest stored signature, with no new signature or log entry', async () => {
    const image = await signed();
    const { h, imageRef, push, logged } = image;
    await deleteFormat(image, 'cosign');
    h.store.records.get(imageRef)!.formats.cosign!.attached = false;

    await push();

    assert.deepEqual(await attachedIn(image.verify), ['bundle', 'cosign']);
    assert.equal(h.signed.length, 2, 'nothing signed anew');
    assert.equal(logged.calls, 2, 'nothing logged anew');
    assert.equal(h.store.records.get(imageRef)?.formats.cosign?.attached, true);
    assert.deepEqual(h.raised, []);
  });
});

describe('with no transparency log (log: none)', () => {
  test('a resumed signing does not replay a stored signature that does not verify: nothing else would check it', async () => {
    const name = 'no-log';
    const pushed = await reg.pushImage(`team/${name}`, 'v1', name);
    const ref = { host: reg.host, repository: `team/${name}`, digest: pushed.digest };
    const imageRef = `${reg.host}/team/${name}@${pushed.digest}`;
    const h = signOnPushCore(client, reg.host, { formats: ['cosign'] });
    const push = (id: string) => h.entry(gcrEvent({ action: 'INSERT', digest: imageRef }, id, new Date()));
    await push('m1');
    assert.equal((await readCosignSignatures(client, ref)).length, 1);
    await deleteFormat({ repository: ref.repository, ref }, 'cosign');
    // As a crash after the signature was stored and before the log and the attach: no bundle yet.
    const progress = h.store.records.get(imageRef)!.formats.cosign!;
    delete progress.bundle;
    progress.attached = false;
    progress.signature = flipLastBit(progress.signature!);

    await push('m2');

    assert.deepEqual(await readCosignSignatures(client, ref), [], 'nothing attached');
    assert.equal(h.signed.length, 1, 'nothing signed anew');
    assertRefusedAlert(
      h,
      imageRef,
      ['cosign'],
      /the cosign signature: its stored signature does not verify under the rule's key/,
    );
  });
});
