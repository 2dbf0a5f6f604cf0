/**
 * Tiny, distinct container images as OCI image layouts on disk, made by hand so tests need no
 * network: `skopeo copy oci:DIR:TAG docker://…` pushes them like any image.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

export interface OciImage {
  /** `oci:DIR:TAG` for skopeo. */
  source: string;
  dir: string;
  tag: string;
  /** The manifest digest the registry will store (skopeo copies the manifest bytes unchanged). */
  digest: string;
}

const sha256 = (b: Buffer) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

function writeBlob(dir: string, bytes: Buffer): { digest: string; size: number } {
  const digest = sha256(bytes);
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

/** A single-platform image whose one layer holds `content` (a random nonce by default). */
export function makeOciImage(
  opts: { content?: string; tag?: string; dir?: string; architecture?: string } = {},
): OciImage {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'sigsentry-image-'));
  const tag = opts.tag ?? 'latest';
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const content = opts.content ?? crypto.randomUUID();
  // A gzip'd tar with one file: a 512-byte header, the content padded to 512, two zero blocks.
  const header = Buffer.alloc(512);
  header.write('hello.txt', 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${Buffer.byteLength(content).toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\x0000', 257);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const body = Buffer.alloc(Math.ceil(Buffer.byteLength(content) / 512) * 512);
  body.write(content);
  const tar = Buffer.concat([header, body, Buffer.alloc(1024)]);
  const layer = writeBlob(dir, gzipSync(tar));
  const config = writeBlob(
    dir,
    Buffer.from(
      JSON.stringify({
        architecture: opts.architecture ?? 'amd64',
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
      }),
    ),
  );
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    }),
  );
  const manifest = writeBlob(dir, manifestBytes);
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  return { source: `oci:${dir}:${tag}`, dir, tag, digest: manifest.digest };
}

/** A multi-arch image: an OCI index over one image per architecture, in one layout. */
export function makeOciIndex(
  opts: { tag?: string; architectures?: string[] } = {},
): OciImage & { platforms: Array<{ architecture: string; digest: string }> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigsentry-index-'));
  const tag = opts.tag ?? 'latest';
  const platforms = (opts.architectures ?? ['amd64', 'arm64']).map((architecture) => ({
    architecture,
    digest: makeOciImage({ dir, tag: `platform-${architecture}`, architecture }).digest,
  }));
  const manifestOf = (digest: string) => fs.statSync(path.join(dir, 'blobs', 'sha256', digest.slice(7))).size;
  const index = writeBlob(
    dir,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: platforms.map((p) => ({
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: p.digest,
          size: manifestOf(p.digest),
          platform: { architecture: p.architecture, os: 'linux' },
        })),
      }),
    ),
  );
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          ...index,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  return { source: `oci:${dir}:${tag}`, dir, tag, digest: index.digest, platforms };
}
