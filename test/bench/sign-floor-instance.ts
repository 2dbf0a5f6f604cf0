/**
 * The calls of `bench:sign-floor`, made in one process inside signOnPush's deployed memory: each
 * dependency call a signing cannot do without, made with the client the product must use (the
 * Cloud KMS and Firestore libraries) or the cheapest one Node has (node:http with kept-alive
 * connections, for the registry and the log), and no sigsentry code around it. Calls run one at a
 * time, so each one's CPU is its own. Prints {call: {cpuMs, wallMs}} per call as JSON.
 *
 * argv: the stack's environment file, the number of calls of each kind.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import { Firestore } from '@google-cloud/firestore';
import { readStackEnv } from '../../emulators/stack/stack-env.ts';
import { createKmsClient } from '../../functions/signing/kms-client.ts';

const [envFile, countArg] = process.argv.slice(2);
const env = readStackEnv(envFile!);
const N = Number(countArg ?? 300);
const WARM_UP = 30;

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
/** One request over a kept-alive connection; the answer's body, or a thrown error past 2xx. */
function request(url: string, method: string, body?: Buffer | string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>(
    (resolve, reject) => {
      const req = http.request(url, { method, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const answer = { status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) };
          if (answer.status >= 300) reject(new Error(`${method} ${url}: ${answer.status} ${answer.body}`));
          else resolve(answer);
        });
      });
      req.on('error', reject);
      req.end(body);
    },
  );
}

/** CPU (user + system, every thread of this process) and wall time per call of `call(i)`. */
async function measure(call: (i: number) => Promise<unknown>) {
  for (let i = 0; i < WARM_UP; i++) await call(i);
  const cpu = process.cpuUsage();
  const wall = performance.now();
  for (let i = WARM_UP; i < WARM_UP + N; i++) await call(i);
  const used = process.cpuUsage(cpu);
  return {
    cpuMs: Number(((used.user + used.system) / 1000 / N).toFixed(3)),
    wallMs: Number(((performance.now() - wall) / N).toFixed(3)),
  };
}

const runId = crypto.randomUUID().slice(0, 8);
const results: Record<string, { cpuMs: number; wallMs: number }> = {};

// Cloud KMS: one asymmetricSign of a SHA-256 digest, the signature every format needs.
const kms = createKmsClient({ endpoint: env.KMS_ENDPOINT! });
const keyVersion = env.KMS_KEY!;
results.kmsAsymmetricSign = await measure((i) =>
  kms.asymmetricSign({
    name: keyVersion,
    digest: { sha256: crypto.createHash('sha256').update(`${runId}/${i}`).digest() },
  }),
);
await kms.close();

// Firestore: the signing record claimed (a create, which fails if it exists) and moved on (an
// update conditioned on the claim's update time), the two kinds of write exactly-once needs.
process.env.FIRESTORE_EMULATOR_HOST = env.FIRESTORE_EMULATOR_HOST;
const db = new Firestore({ projectId: env.GCP_PROJECT });
const updateTimes: FirebaseFirestore.Timestamp[] = [];
results.firestoreCreate = await measure(async (i) => {
  const written = await db
    .doc(`floor-${runId}/${i}`)
    .create({ image: `registry/app@sha256:${i}`, state: 'claimed', attempt: 1 });
  updateTimes[i] = written.writeTime;
});
results.firestoreConditionedUpdate = await measure((i) =>
  db.doc(`floor-${runId}/${i}`).update({ state: 'signed', logIndex: i }, { lastUpdateTime: updateTimes[i]! }),
);
await db.terminate();

// Rekor v1: one hashedrekord entry appended (made before the clock starts, each a fresh artifact).
const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const publicPem = Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })).toString('base64');
const entries = Array.from({ length: WARM_UP + N }, (_, i) => {
  const artifact = Buffer.from(`${runId}/${i}`);
  return JSON.stringify({
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      signature: {
        content: crypto.sign('sha256', artifact, privateKey).toString('base64'),
        publicKey: { content: publicPem },
      },
      data: {
        hash: { algorithm: 'sha256', value: crypto.createHash('sha256').update(artifact).digest('hex') },
      },
    },
  });
});
results.rekorCreateEntry = await measure((i) =>
  request(`${env.REKOR_URL}/api/v1/log/entries`, 'POST', entries[i], { 'content-type': 'application/json' }),
);

// The registry: the pushed manifest read, a blob uploaded (start, then one PUT with the digest)
// and a manifest put, as attaching a signature in either format does.
const registry = `http://${env.REGISTRY}/v2/floor-${runId}`;
const config = Buffer.from('{}');
const configDigest = `sha256:${crypto.createHash('sha256').update(config).digest('hex')}`;
const blobs = Array.from({ length: WARM_UP + N }, (_, i) => {
  const bytes = Buffer.from(
    JSON.stringify({ critical: { image: { 'docker-manifest-digest': `sha256:${i}` } } }),
  );
  return { bytes, digest: `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}` };
});
const manifestOf = (i: number) =>
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: configDigest,
      size: config.length,
    },
    layers: [
      {
        mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
        digest: blobs[i]!.digest,
        size: blobs[i]!.bytes.length,
      },
    ],
  });
const uploadBlob = async (bytes: Buffer, digest: string) => {
  const started = await request(`${registry}/blobs/uploads/`, 'POST', undefined, { 'content-length': '0' });
  const location = new URL(String(started.headers.location), registry);
  location.searchParams.set('digest', digest);
  await request(location.href, 'PUT', bytes, { 'content-type': 'application/octet-stream' });
};
await uploadBlob(config, configDigest);
results.registryBlobUpload = await measure((i) => uploadBlob(blobs[i]!.bytes, blobs[i]!.digest));
const manifestType = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
results.registryManifestPut = await measure((i) =>
  request(`${registry}/manifests/t${i}`, 'PUT', manifestOf(i), manifestType),
);
results.registryManifestGet = await measure((i) =>
  request(`${registry}/manifests/t${i}`, 'GET', undefined, {
    accept: 'application/vnd.oci.image.manifest.v1+json',
  }),
);
agent.destroy();

process.stdout.write(`${JSON.stringify(results)}\n`);
