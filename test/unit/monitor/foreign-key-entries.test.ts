/**
 * Entries whose key is not PEM: rekord `ssh` and `minisign`, and `tuf` root keys. An entry signed
 * with an owned key must match whatever encoding the log keeps the key in, and a key that is
 * there but cannot be read must make the entry unreadable, never yield silently nothing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto, { type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { extractVerifiers } from '../../../functions/monitor-log/entry-verifiers.ts';
import { b64, matches, monitorAlerts, owned, pemOf, rekordBody, unreadable } from './key-entry-checks.ts';

/** RFC 4253 wire encoding, written independently of the reader under test. */
const wire = (...fields: Array<string | Buffer>): Buffer =>
  Buffer.concat(
    fields.flatMap((f) => {
      const b = Buffer.from(f);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      return [len, b];
    }),
  );

const p256 = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
const uncompressedPoint = (key: KeyObject): Buffer => {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x!, 'base64url'),
    Buffer.from(jwk.y!, 'base64url'),
  ]);
};
// RFC 8410: an Ed25519 SPKI is this fixed prefix and the 32 key bytes.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

// The ssh-keygen cases need OpenSSH (`-?` exits non-zero; only a missing binary is ENOENT).
let hasSshKeygen = true;
try {
  execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
} catch (err) {
  hasSshKeygen = (err as { code?: string }).code !== 'ENOENT';
}

describe('rekord ssh entries', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sigsentry-ssh-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const artifact = path.join(dir, 'artifact');
  writeFileSync(artifact, 'artifact bytes');

  /** A Node-made private key, its authorized_keys line by ssh-keygen, and an SSHSIG over the artifact. */
  function sshSigned(name: string, type: 'ec' | 'rsa' | 'dsa', options: object, sign = true) {
    const { privateKey, publicKey } = crypto.generateKeyPairSync(
      type as 'ec',
      options as { namedCurve: string },
    );
    const file = path.join(dir, name);
    const format = type === 'ec' ? 'sec1' : type === 'rsa' ? 'pkcs1' : 'pkcs8';
    writeFileSync(file, privateKey.export({ type: format as 'sec1', format: 'pem' }), { mode: 0o600 });
    const line = `${execFileSync('ssh-keygen', ['-y', '-f', file]).toString().trim()} ops@example.com\n`;
    writeFileSync(`${file}.pub`, line); // -Y sign reads the public half from here
    if (sign)
      execFileSync('ssh-keygen', ['-Y', 'sign', '-n', 'file', '-f', file, artifact], { stdio: 'ignore' });
    const signature = sign ? readFileSync(`${artifact}.sig`) : Buffer.from('none');
    rmSync(`${artifact}.sig`, { force: true });
    return { publicKey, line, signature, file };
  }

  const cases: Array<[string, 'ec' | 'rsa' | 'dsa', object, boolean]> = [
    ['ecdsa-sha2-nistp256', 'ec', { namedCurve: 'P-256' }, true],
    ['ecdsa-sha2-nistp384', 'ec', { namedCurve: 'P-384' }, true],
    ['ecdsa-sha2-nistp521', 'ec', { namedCurve: 'P-521' }, true],
    ['ssh-rsa', 'rsa', { modulusLength: 2048 }, true],
    // OpenSSH no longer signs with DSA, but the log keeps old ssh-dss keys.
    ['ssh-dss', 'dsa', { modulusLength: 1024, divisorLength: 160 }, false],
  ];
  for (const [name, type, options, sign] of cases) {
    it(`${name}: the key ssh-keygen wrote matches the owned PEM key`, { skip: !hasSshKeygen }, async () => {
      const { publicKey, line, signature } = sshSigned(name, type, options, sign);
      assert.ok(line.startsWith(`${name} `));
      assert.equal(matches(rekordBody('ssh', signature, line), await owned(publicKey)), 1);
      assert.equal(matches(rekordBody('ssh', signature, line), await owned(p256())), 0);
    });
  }

  it('an OpenSSH certificate matches by the key it certifies', { skip: !hasSshKeygen }, async () => {
    const { publicKey, file } = sshSigned('certified', 'ec', { namedCurve: 'P-256' }, false);
    const ca = path.join(dir, 'ca');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', ca]);
    execFileSync('ssh-keygen', ['-q', '-s', ca, '-I', 'ops', '-n', 'ops', `${file}.pub`], {
      stdio: 'ignore',
    });
    const cert = readFileSync(`${file}-cert.pub`, 'utf8');
    assert.ok(cert.startsWith('ecdsa-sha2-nistp256-cert-v01@openssh.com '));
    assert.equal(matches(rekordBody('ssh', 'sig', cert), await owned(publicKey)), 1);
  });

  it('a rogue ssh signature by an owned key raises rogue-signature', { skip: !hasSshKeygen }, async () => {
    const { publicKey, line, signature } = sshSigned('rogue', 'ec', { namedCurve: 'P-256' });
    const alerts = await monitorAlerts([rekordBody('ssh', signature, line)], await owned(publicKey));
    assert.equal(alerts.ofKind('rogue-signature').length, 1);
    assert.equal(alerts.ofKind('rogue-signature')[0]?.evidence.entryKind, 'rekord');
  });

  it('ssh-ed25519 from the public log (rekor types.md, log index 5896)', async () => {
    const key = Buffer.from(
      'c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSUkrc1RWNmxiVVQ2R3pZY2ZUTElKc1FvbDltZTAxOGdNTmc3NHV5T2UrMjUK',
      'base64',
    ).toString('utf8');
    const blob = Buffer.from(key.split(' ')[1]!, 'base64');
    const extracted = extractVerifiers(rekordBody('ssh', 'sig', key));
    assert.ok(extracted.ok);
    assert.deepEqual(extracted.verifiers[0]?.der, Buffer.concat([ED25519_SPKI_PREFIX, blob.subarray(-32)]));
  });

  it('FIDO sk- keys match by their ECDSA or Ed25519 key', async () => {
    const ec = p256();
    const skEcdsa = wire('sk-ecdsa-sha2-nistp256@openssh.com', 'nistp256', uncompressedPoint(ec), 'ssh:');
    assert.equal(
      matches(
        rekordBody('ssh', 'sig', `sk-ecdsa-sha2-nistp256@openssh.com ${b64(skEcdsa)}`),
        await owned(ec),
      ),
      1,
    );
    const ed = crypto.generateKeyPairSync('ed25519').publicKey;
    const raw = Buffer.from(ed.export({ format: 'jwk' }).x!, 'base64url');
    const skEd = wire('sk-ssh-ed25519@openssh.com', raw, 'ssh:');
    assert.equal(
      matches(rekordBody('ssh', 'sig', `sk-ssh-ed25519@openssh.com ${b64(skEd)}`), await owned(ed)),
      1,
    );
  });

  it('a key that is there but cannot be read makes the entry unreadable', () => {
    const offCurve = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]);
    const bad = wire('ecdsa-sha2-nistp256', 'nistp256', offCurve);
    unreadable(rekordBody('ssh', 'sig', `ecdsa-sha2-nistp256 ${b64(bad)}`), /ssh public key/);
    const wrongCurve = wire('ecdsa-sha2-nistp256', 'nistp384', uncompressedPoint(p256()));
    unreadable(rekordBody('ssh', 'sig', `ecdsa-sha2-nistp256 ${b64(wrongCurve)}`), /curve nistp384/);
    unreadable(
      rekordBody('ssh', 'sig', `ssh-foo ${b64(wire('ssh-foo', 'x'))}`),
      /unsupported key type ssh-foo/,
    );
    unreadable(rekordBody('ssh', 'sig', `ssh-ed25519 ${b64(wire('ssh-ed25519'))}`), /truncated/);
    unreadable(rekordBody('ssh', 'sig', 'not a key'), /no "<type> <base64 key>"/);
  });
});

describe('rekord minisign entries', () => {
  const { publicKey } = crypto.generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const keyLine = b64(Buffer.concat([Buffer.from('Ed'), crypto.randomBytes(8), raw]));

  it('matches the owned Ed25519 key in each form rekor reads or stores', async () => {
    const ids = await owned(publicKey);
    for (const text of [
      `untrusted comment: minisign public key 1234\n${keyLine}\n`, // minisign.pub
      keyLine, // the -P form
      b64(raw), // rekor's canonical value
    ]) {
      assert.equal(matches(rekordBody('minisign', 'untrusted comment:\nRWQ=', text), ids), 1, text);
    }
  });

  it('reads the key of a public log entry (rekor types.md, log index 5895)', () => {
    const content = 'akpGNDdCd05uYWw2MHZ5a0JteXMxK1IzS3F2Ulh1UDhjWnArbU4wcGxDWT0=';
    const body = rekordBody('minisign', 'sig', Buffer.from(content, 'base64').toString('utf8'));
    const extracted = extractVerifiers(body);
    assert.ok(extracted.ok);
    const key = Buffer.from(Buffer.from(content, 'base64').toString('utf8'), 'base64');
    assert.deepEqual(extracted.verifiers[0]?.der, Buffer.concat([ED25519_SPKI_PREFIX, key]));
  });

  it('a key of the wrong size or algorithm makes the entry unreadable', () => {
    unreadable(rekordBody('minisign', 'sig', b64(Buffer.alloc(31))), /minisign public key/);
    unreadable(
      rekordBody('minisign', 'sig', b64(Buffer.concat([Buffer.from('XX'), Buffer.alloc(40)]))),
      /minisign/,
    );
  });
});

describe('tuf entries', () => {
  const signingKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = crypto.generateKeyPairSync('ed25519').publicKey;
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  const other = p256();
  const rootKeys = {
    ecdsaPem: {
      keytype: 'ecdsa',
      scheme: 'ecdsa-sha2-nistp256',
      keyval: { public: pemOf(signingKey.publicKey) },
    },
    ecdsaHex: {
      keytype: 'ecdsa-sha2-nistp256',
      scheme: 'ecdsa-sha2-nistp256',
      keyval: { public: uncompressedPoint(other).toString('hex') },
    },
    ed25519: {
      keytype: 'ed25519',
      scheme: 'ed25519',
      keyval: { public: Buffer.from(ed.export({ format: 'jwk' }).x!, 'base64url').toString('hex') },
    },
    rsa: { keytype: 'rsa', scheme: 'rsassa-pss-sha256', keyval: { public: pemOf(rsa) } },
  };
  const manifestSig = crypto.sign('sha256', Buffer.from('timestamp'), signingKey.privateKey);
  const root = { signatures: [], signed: { _type: 'root', keys: rootKeys, roles: {} } };
  const manifest = {
    signatures: [{ keyid: 'ecdsaPem', sig: manifestSig.toString('hex') }],
    signed: { _type: 'timestamp' },
  };
  const tuf = (rootContent: unknown, metadataContent: unknown = b64(JSON.stringify(manifest))): Buffer =>
    Buffer.from(
      JSON.stringify({
        apiVersion: '0.0.1',
        kind: 'tuf',
        spec: { spec_version: '1.0', root: { content: rootContent }, metadata: { content: metadataContent } },
      }),
    );

  it('matches every owned key the root lists, in each encoding, with the manifest signature', async () => {
    // Rekor stores the root as base64 of its canonical JSON; the schema also allows an object.
    for (const body of [tuf(b64(JSON.stringify(root))), tuf(root, manifest)]) {
      for (const key of [signingKey.publicKey, other, ed, rsa])
        assert.equal(matches(body, await owned(key)), 1);
      const extracted = extractVerifiers(body);
      assert.ok(extracted.ok);
      assert.equal(extracted.verifiers.length, 4);
      assert.deepEqual(extracted.verifiers[0]?.signature, manifestSig);
    }
  });

  it('a root key that cannot be read makes the entry unreadable', () => {
    const bad = {
      ...root,
      signed: { ...root.signed, keys: { k: { keytype: 'sm2', keyval: { public: 'abcd' } } } },
    };
    unreadable(tuf(bad), /unsupported keytype sm2/);
    const noKeys = { ...root, signed: { ...root.signed, keys: {} } };
    unreadable(tuf(noKeys), /lists no keys/);
    unreadable(tuf('not base64 json'), /root.content/);
  });
});
