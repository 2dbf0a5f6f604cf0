/**
 * Fuzzing what a registry can send back: manifest and index JSON (hostile, deep, `__proto__`, huge numbers),
 * bodies over the size cap, digests that do not match, odd media types, statuses and redirects. The client
 * talks to a tiny local HTTP server that answers whatever the current case says.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { DependencyError, InvalidInputError, PolicyViolationError } from '../../../functions/errors.ts';
import { MAX_MANIFEST_BYTES, RegistryClient } from '../../../functions/registry/client.ts';
import { isDigest, sha256Digest } from '../../../functions/registry/digest.ts';
import {
  RegistryIntegrityError,
  RegistryNotFoundError,
  RegistryRejectedError,
} from '../../../functions/registry/errors.ts';
import {
  descriptorSchema,
  imageIndexSchema,
  imageManifestSchema,
  parseManifestBytes,
} from '../../../functions/registry/manifest.ts';
import { MANIFEST_MEDIA_TYPES, OCI_INDEX, OCI_MANIFEST } from '../../../functions/registry/media-types.ts';
import { isSignatureArtifactManifest } from '../../../functions/sign-on-push/signature-artifacts.ts';
import {
  deepJsonText,
  garbageBytes,
  hostileJsonObjectText,
  hostileJsonText,
  nearDigest,
  numberToken,
  outcome,
  outcomeAsync,
  runs,
  validDigest,
} from './hostile.ts';

const MANIFEST_KEYS = [
  'schemaVersion',
  'mediaType',
  'artifactType',
  'config',
  'layers',
  'manifests',
  'subject',
  'annotations',
  'digest',
  'size',
  'urls',
  'platform',
];

// ---- manifest JSON ------------------------------------------------------------------------------------

const descriptorText = fc
  .record({
    mediaType: fc.oneof(
      fc.constantFrom(OCI_MANIFEST, 'application/vnd.oci.image.layer.v1.tar+gzip'),
      fc.string(),
    ),
    digest: fc.oneof(validDigest, nearDigest),
    size: numberToken,
    extra: fc.option(fc.tuple(fc.constantFrom('__proto__', 'annotations', 'platform'), hostileJsonText()), {
      nil: undefined,
    }),
  })
  .map(
    ({ mediaType, digest, size, extra }) =>
      `{"mediaType":${JSON.stringify(mediaType)},"digest":${JSON.stringify(digest)},"size":${size}` +
      (extra === undefined ? '' : `,${JSON.stringify(extra[0])}:${extra[1]}`) +
      '}',
  );

/** Manifests and indexes in their real shape, with any field replaced by something hostile. */
const manifestText: fc.Arbitrary<string> = fc.oneof(
  fc
    .record({
      schemaVersion: fc.oneof(fc.constant('2'), numberToken, fc.constantFrom('"2"', 'null')),
      config: fc.oneof(descriptorText, hostileJsonText(MANIFEST_KEYS)),
      layers: fc.oneof(
        fc.array(descriptorText, { maxLength: 4 }).map((a) => `[${a.join(',')}]`),
        hostileJsonText(MANIFEST_KEYS),
      ),
      tail: fc.constantFrom('', ',"__proto__":{"subject":{"digest":"x"},"polluted":1}', ',"subject":null'),
    })
    .map(
      ({ schemaVersion, config, layers, tail }) =>
        `{"schemaVersion":${schemaVersion},"mediaType":"${OCI_MANIFEST}","config":${config},"layers":${layers}${tail}}`,
    ),
  fc
    .record({
      manifests: fc.oneof(
        fc.array(descriptorText, { maxLength: 4 }).map((a) => `[${a.join(',')}]`),
        hostileJsonText(MANIFEST_KEYS),
      ),
      tail: fc.constantFrom('', ',"__proto__":{"manifests":[]}', ',"annotations":{"__proto__":"x"}'),
    })
    .map(
      ({ manifests, tail }) =>
        `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":${manifests}${tail}}`,
    ),
  hostileJsonObjectText(MANIFEST_KEYS),
  hostileJsonText(MANIFEST_KEYS),
  deepJsonText,
);

const manifestBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: manifestText.map((t) => Buffer.from(t)) },
  { weight: 1, arbitrary: garbageBytes },
);

/** What every descriptor that got through must satisfy. */
function assertSoundDescriptor(d: unknown): void {
  const parsed = descriptorSchema.parse(d);
  assert.ok(isDigest(parsed.digest));
  assert.ok(Number.isSafeInteger(parsed.size) && parsed.size >= 0, `size ${parsed.size}`);
  assert.equal(Object.getPrototypeOf(d), Object.prototype);
}

function assertNoPollution(): void {
  assert.equal((Object.prototype as Record<string, unknown>)['polluted'], undefined);
  assert.equal((Object.prototype as Record<string, unknown>)['subject'], undefined);
}

describe('fuzz: manifest parsers (parseManifestBytes)', () => {
  test('image manifests: a sound manifest or RegistryIntegrityError', () => {
    fc.assert(
      fc.property(manifestBytes, (bytes) => {
        const result = outcome(
          () => parseManifestBytes(imageManifestSchema, bytes, { digest: 'd' }),
          RegistryIntegrityError,
        );
        assertNoPollution();
        if (!result.ok) {
          assert.equal((result.error as RegistryIntegrityError).details['digest'], 'd');
          return;
        }
        const m = result.value;
        assert.equal(Object.getPrototypeOf(m), Object.prototype);
        assert.equal(m.schemaVersion, 2);
        assertSoundDescriptor(m.config);
        for (const layer of m.layers) assertSoundDescriptor(layer);
        if (m.subject !== undefined) assertSoundDescriptor(m.subject);
      }),
      runs(150),
    );
  });

  test('image indexes: a sound index or RegistryIntegrityError', () => {
    fc.assert(
      fc.property(manifestBytes, (bytes) => {
        const result = outcome(() => parseManifestBytes(imageIndexSchema, bytes, {}), RegistryIntegrityError);
        assertNoPollution();
        if (!result.ok) return;
        assert.equal(Object.getPrototypeOf(result.value), Object.prototype);
        for (const d of result.value.manifests) assertSoundDescriptor(d);
      }),
      runs(150),
    );
  });

  test('isSignatureArtifactManifest (the signing path reads every manifest with it): a boolean for any JSON', () => {
    fc.assert(
      fc.property(manifestText, (text) => {
        const r = outcome(() => isSignatureArtifactManifest(JSON.parse(text)));
        assert.ok(r.ok && typeof r.value === 'boolean');
      }),
      runs(200),
    );
  });
});

// ---- the client against a hostile registry --------------------------------------------------------------

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
  /** Send the body in two writes without Content-Length (chunked), so only reading can find its size. */
  chunked?: boolean;
}

let reply: (req: IncomingMessage) => Reply = () => ({ status: 500, headers: {}, body: new Uint8Array(0) });
let registry: Server;
let outside: Server;
let outsideHits = 0;
let host: string;
let outsideHost: string;
let client: RegistryClient;

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

before(async () => {
  registry = createServer((req, res) => {
    const r = reply(req);
    try {
      res.writeHead(r.status, r.headers);
    } catch {
      res.socket?.destroy(); // a header Node refuses to send: the client sees a broken connection
      return;
    }
    if (req.method === 'HEAD') {
      res.end();
    } else if (r.chunked === true) {
      res.write(r.body.subarray(0, 1024));
      res.end(r.body.subarray(1024));
    } else {
      res.end(r.body);
    }
  });
  outside = createServer((_req, res) => {
    outsideHits++;
    res.writeHead(200, { 'content-type': OCI_MANIFEST });
    res.end('{}');
  });
  host = await listen(registry);
  outsideHost = await listen(outside);
  client = new RegistryClient({ allowedHosts: [host], timeoutMs: 10_000 });
});

after(async () => {
  registry.closeAllConnections();
  outside.closeAllConnections();
  await new Promise((r) => registry.close(r));
  await new Promise((r) => outside.close(r));
});

const repo = () => ({ host, repository: 'team/app' });

/** Header values as an HTTP server can send them (printable ASCII). */
const headerValue = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
});
const headerNearDigest = nearDigest.filter((d) => /^[\x20-\x7e]*$/.test(d));

const contentType = fc.option(
  fc.oneof(
    fc.constantFrom(
      ...MANIFEST_MEDIA_TYPES,
      'text/html',
      'application/json',
      '',
      ';',
      `${OCI_MANIFEST}; charset=utf-8`,
    ),
    headerValue,
  ),
  { nil: undefined },
);

const REGISTRY_ERRORS = [
  RegistryIntegrityError,
  RegistryNotFoundError,
  RegistryRejectedError,
  DependencyError,
];

describe('fuzz: registry client manifest reading (RegistryClient over HTTP)', () => {
  test('getManifest: verified bytes, or a typed error; never bytes that miss their digest', async () => {
    await fc.assert(
      fc.asyncProperty(
        manifestBytes,
        contentType,
        fc.constantFrom('own', 'other', 'near', 'none'),
        fc.constantFrom('own', 'other', 'tag'),
        validDigest,
        headerNearDigest,
        async (body, type, headerKind, refKind, other, near) => {
          const own = sha256Digest(body);
          const header = { own, other, near, none: undefined }[headerKind];
          reply = () => ({
            status: 200,
            headers: {
              ...(type === undefined ? {} : { 'content-type': type }),
              ...(header === undefined ? {} : { 'docker-content-digest': header }),
            },
            body,
          });
          const reference = { own, other, tag: 'v1' }[refKind];
          const r = await outcomeAsync(() => client.getManifest(repo(), reference), ...REGISTRY_ERRORS);
          const mismatch =
            (refKind === 'other' && other !== own) || (refKind === 'tag' && headerKind === 'other');
          if (mismatch) {
            assert.ok(
              !r.ok && r.error instanceof RegistryIntegrityError,
              'bytes that miss their digest accepted',
            );
            return;
          }
          if (!r.ok) {
            assert.ok(r.error instanceof RegistryIntegrityError, r.error.message);
            return;
          }
          assert.equal(r.value.descriptor.digest, own);
          assert.equal(r.value.descriptor.size, body.byteLength);
          assert.deepEqual(Buffer.from(r.value.bytes), Buffer.from(body));
          assert.ok(
            MANIFEST_MEDIA_TYPES.includes(r.value.descriptor.mediaType),
            r.value.descriptor.mediaType,
          );
          // What a caller does next: parse it; that too ends in a value or a typed error.
          outcome(() => parseManifestBytes(imageManifestSchema, r.value.bytes, {}), RegistryIntegrityError);
        },
      ),
      runs(120),
    );
  });

  test('resolve: HEAD headers of any kind give the asked digest or a typed error, never another digest', async () => {
    await fc.assert(
      fc.asyncProperty(
        manifestBytes,
        contentType,
        fc.constantFrom('own', 'other', 'near', 'none'),
        fc.option(fc.oneof(fc.nat().map(String), headerValue), { nil: undefined }),
        fc.boolean(),
        validDigest,
        headerNearDigest,
        async (body, type, headerKind, length, byDigest, other, near) => {
          const own = sha256Digest(body);
          const header = { own, other, near, none: undefined }[headerKind];
          reply = (req) => ({
            status: 200,
            headers: {
              ...(type === undefined ? {} : { 'content-type': type }),
              ...(header === undefined ? {} : { 'docker-content-digest': header }),
              ...(req.method === 'HEAD' && length !== undefined ? { 'content-length': length } : {}),
            },
            body,
          });
          const ref = byDigest ? { ...repo(), digest: own } : { ...repo(), tag: 'latest' };
          const r = await outcomeAsync(() => client.resolve(ref), ...REGISTRY_ERRORS);
          if (!r.ok) return;
          assert.ok(isDigest(r.value.digest));
          if (byDigest) assert.equal(r.value.digest, own);
          // By tag, the digest is the registry's word (every later read by digest is verified). A
          // "near" header padded with whitespace is that word too: HTTP trims optional whitespace.
          else if (headerKind === 'none' || (headerKind === 'near' && !isDigest(near.trim())))
            assert.equal(r.value.digest, own);
          assert.ok(Number.isSafeInteger(r.value.size) && r.value.size >= 0);
        },
      ),
      runs(60),
    );
  });

  test('referrers: hostile index bodies and Link headers give sound descriptors or a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(
        manifestBytes,
        fc.option(
          fc.oneof(
            headerValue,
            fc.constantFrom(
              '<?page=2>; rel="next"',
              `<http://${'x'}/v2>; rel=next`,
              '<>; rel="next"',
              '<http://[>; rel="next"',
            ),
          ),
          { nil: undefined },
        ),
        validDigest,
        async (body, link, subject) => {
          let pages = 0;
          reply = () => {
            pages++;
            return {
              status: 200,
              headers: { 'content-type': OCI_INDEX, ...(link === undefined || pages > 3 ? {} : { link }) },
              body,
            };
          };
          const r = await outcomeAsync(
            () => client.referrers(repo(), subject),
            ...REGISTRY_ERRORS,
            PolicyViolationError,
          );
          if (r.ok) for (const d of r.value ?? []) assertSoundDescriptor(d);
        },
      ),
      runs(100),
    );
  });

  test('statuses and redirects: a typed error, and no request ever reaches a host outside the allowlist', async () => {
    const location = fc.oneof(
      fc.constantFrom(
        `http://${'OUTSIDE'}/v2/team/app/manifests/v1`,
        `https://${'HOST'}/v2/team/app/manifests/v1`,
        `http://user:pw@${'HOST'}/v2/team/app/manifests/v1`,
        `http://localhost:${'PORT'}/v2/team/app/manifests/v1`,
        '/v2/team/app/manifests/v1',
        '//OUTSIDE/x',
        'file:///etc/passwd',
        'data:application/json,{}',
        'javascript:alert(1)',
      ),
      fc.webUrl(),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          200,
          201,
          204,
          301,
          302,
          303,
          307,
          308,
          400,
          401,
          403,
          404,
          405,
          408,
          416,
          429,
          500,
          502,
          503,
        ),
        location,
        manifestBytes,
        async (status, where, body) => {
          const to = where
            .replaceAll('OUTSIDE', outsideHost)
            .replaceAll('HOST', host)
            .replaceAll('PORT', host.split(':')[1]!);
          reply = () => ({ status, headers: { location: to, 'content-type': OCI_MANIFEST }, body });
          const before = outsideHits;
          const r = await outcomeAsync(
            () => client.getManifest(repo(), 'v1'),
            ...REGISTRY_ERRORS,
            PolicyViolationError,
          );
          assert.equal(outsideHits, before, `followed a redirect to ${to}`);
          if (r.ok) assert.equal(status, 200);
          if (!r.ok && status >= 500) assert.ok(r.error instanceof DependencyError);
          if (!r.ok && status === 404) assert.ok(r.error instanceof RegistryNotFoundError);
        },
      ),
      runs(120),
    );
  });

  test('401 challenges of any kind: a typed error, one token request at most, no realm outside the allowlist', async () => {
    const realm = fc.oneof(
      fc.constantFrom(
        'http://OUTSIDE/token',
        'http://HOST/token',
        'http://HOST/token?service=x',
        'https://HOST/token',
        'http://user:pw@HOST/token',
        '/token',
        'file:///etc/passwd',
        'http://[',
      ),
      fc.webUrl(),
      headerValue,
    );
    const challenge = fc.oneof(
      realm.map((r) =>
        `Bearer realm="REALM",service="s",scope="repository:team/app:pull"`.replace('REALM', r),
      ),
      realm.map((r) => `Basic realm="x", Bearer realm=${r}`),
      headerValue,
    );
    const tokenReply = fc.record({
      status: fc.constantFrom(200, 200, 200, 302, 401, 404, 500),
      body: fc.oneof(
        fc.constant('{"token":"t0k3n","expires_in":300}'),
        fc.constant('{"access_token":"t0k3n"}'),
        fc.constant('{"token":""}'),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        headerValue,
      ),
    });
    let asked = 0;
    await fc.assert(
      fc.asyncProperty(challenge, tokenReply, async (header, token) => {
        const www = header.replaceAll('OUTSIDE', outsideHost).replaceAll('HOST', host);
        const tokenRequests: Array<string | undefined> = [];
        reply = (req): Reply => {
          if (req.url?.startsWith('/token') === true) {
            tokenRequests.push(req.headers.authorization);
            return {
              status: token.status,
              headers: { 'content-type': 'application/json', location: `http://${outsideHost}/token` },
              body: Buffer.from(token.body),
            };
          }
          return { status: 401, headers: { 'www-authenticate': www }, body: new Uint8Array(0) };
        };
        const before = outsideHits;
        const fresh = new RegistryClient({ allowedHosts: [host], timeoutMs: 10_000 });
        const r = await outcomeAsync(
          () => fresh.getManifest(repo(), 'v1'),
          ...REGISTRY_ERRORS,
          PolicyViolationError,
        );
        assert.equal(outsideHits, before, `contacted a realm outside the allowlist: ${www}`);
        assert.ok(!r.ok, 'a registry that only answers 401 gave a manifest');
        assert.ok(tokenRequests.length <= 1, `${tokenRequests.length} token requests for one read`);
        assert.ok(
          tokenRequests.every((a) => a === undefined),
          'credentials sent to a token realm',
        );
        asked += tokenRequests.length;
      }),
      runs(150),
    );
    assert.ok(asked > 0, 'no run reached a token realm');
  });

  test('a Location header of any text: a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(301, 302, 307, 308),
        fc.oneof(headerValue, fc.constant('http://[')),
        async (status, to) => {
          reply = () => ({ status, headers: { location: to }, body: new Uint8Array(0) });
          await outcomeAsync(
            () => client.getManifest(repo(), 'v1'),
            ...REGISTRY_ERRORS,
            PolicyViolationError,
          );
        },
      ),
      runs(80),
    );
  });

  test('size cap: a manifest over 4 MiB is refused, announced or streamed; one at the cap is read', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -2, max: 2 }),
        fc.boolean(),
        fc.boolean(),
        async (delta, announce, byDigest) => {
          const body = Buffer.alloc(MAX_MANIFEST_BYTES + delta, 0x20);
          reply = () => ({
            status: 200,
            headers: { 'content-type': OCI_MANIFEST },
            body,
            chunked: !announce,
          });
          const r = await outcomeAsync(
            () => client.getManifest(repo(), byDigest ? sha256Digest(body) : 'v1'),
            RegistryIntegrityError,
          );
          if (body.length > MAX_MANIFEST_BYTES) {
            assert.ok(!r.ok && /larger than/.test(r.error.message), 'oversized manifest read');
          } else {
            assert.ok(r.ok, r.ok ? '' : r.error.message);
          }
        },
      ),
      runs(6),
    );
  });

  test('media type: a manifest served as a type sigsentry did not ask for is refused', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom(
            'text/html',
            'application/json',
            'application/octet-stream',
            'x/y',
            `${OCI_MANIFEST}x`,
          ),
          // (an empty type falls back to the manifest's own mediaType field, a manifest type here)
          headerValue.filter((t) => {
            const type = t.split(';')[0]!.trim();
            return type !== '' && !MANIFEST_MEDIA_TYPES.includes(type);
          }),
        ),
        async (type) => {
          const body = Buffer.from(
            `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{},"layers":[]}`,
          );
          reply = () => ({ status: 200, headers: { 'content-type': type }, body });
          const r = await outcomeAsync(() => client.getManifest(repo(), 'v1'), RegistryIntegrityError);
          assert.equal(r.ok, false, `accepted Content-Type ${type}`);
        },
      ),
      runs(40),
    );
  });

  test('bad names never leave the process: invalid repository or reference is InvalidInputError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string(), fc.constantFrom('../x', 'A/b', 'a//b', '', 'a/b/')),
        fc.oneof(nearDigest, fc.constantFrom('../../x', 'v1/../../x', '', ' v1')),
        async (repository, reference) => {
          let hits = 0;
          reply = () => {
            hits++;
            return { status: 200, headers: { 'content-type': OCI_MANIFEST }, body: Buffer.from('{}') };
          };
          const r = await outcomeAsync(
            () => client.getManifest({ host, repository }, reference),
            InvalidInputError,
            ...REGISTRY_ERRORS,
          );
          if (!r.ok && r.error instanceof InvalidInputError) assert.equal(hits, 0);
          if (reference.includes('/') || reference.includes(' ') || reference === '')
            assert.ok(!r.ok && hits === 0);
        },
      ),
      runs(100),
    );
  });
});
