/**
 * Pulls the keys and certificates out of a log entry body without parsing any certificate: a
 * JSON parse and base64/PEM decoding only. This is the scan's hot path; the full, typed parse
 * (tlog/entries parseEntryBody) runs only for entries that match an owned identity.
 *
 * Paths per kind are those of Rekor v1's type schemas (hashedrekord, rekord, dsse, intoto 0.0.1
 * and 0.0.2, helm, rpm, jar, alpine, cose, tuf, rfc3161) and of Rekor v2's entries
 * (hashedRekordV002, dsseV002, with DER `rawBytes` verifiers). Keys in other encodings (rekord
 * ssh, minisign and pgp, helm and rpm OpenPGP keys, tuf root keys) are rebuilt as canonical SPKI
 * DER, as rekor's own pki Identities() expose them, so they match owned keys like any PEM key.
 * The certificates of a PKCS#7 (jar's signature, rfc3161's timestamp token) are found by a short
 * DER walk (pkcs7-certificates.ts), still without parsing a certificate.
 */

import { errorMessage } from '../logging/describe.ts';
import { DerError, readTlv } from './der.ts';
import { minisignPublicKeySpki } from './minisign-public-key.ts';
import { pgpPublicKeySpkis } from './pgp-public-key.ts';
import {
  type Pkcs7Certificates,
  signedDataCertificates,
  timeStampRespCertificates,
} from './pkcs7-certificates.ts';
import { sshPublicKeySpki } from './ssh-public-key.ts';
import { tufRootKeys } from './tuf-root-keys.ts';

export interface ExtractedVerifier {
  type: 'publicKey' | 'certificate';
  der: Buffer;
  /** The signature made with it, when the body keeps one. */
  signature?: Buffer;
}

export type ExtractResult =
  | {
      ok: true;
      kind: string;
      apiVersion: string;
      verifiers: ExtractedVerifier[];
      /**
       * Parts of the entry that could not be read although others could (a signature of several, a
       * PEM block of several): the entry is reported unparseable, and its verifiers still matched.
       */
      unreadable?: string[];
    }
  | { ok: false; kind: string | undefined; apiVersion: string | undefined; message: string };

class Unreadable extends Error {}

const get = (o: unknown, ...path: string[]): unknown => {
  let cur = o;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
};

function b64(value: unknown, what: string): Buffer {
  if (typeof value !== 'string' || value === '') throw new Unreadable(`${what} missing`);
  return Buffer.from(value, 'base64');
}

const PEM_BEGIN = '-----BEGIN ';
const PEM_END = '\n-----END ';
const PEM_EOL = '-----';
/** Go's base64.StdEncoding alphabet and padding, once CR, LF, spaces and tabs are dropped. */
const STRICT_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const PEM_SPACE = /[ \t\r\n]+/g;

export interface PemBlock {
  type: string;
  /** Undefined when the body is not base64 as Go reads it (Go passes over such a block). */
  der: Buffer | undefined;
}

export interface PemScan {
  blocks: PemBlock[];
  /**
   * Whether the text held a BEGIN and an END line that made no block (a BEGIN line not at a line
   * start or without its dashes, headers running into the END, an END of another type or with text
   * after it, a wanted block Go passes over). Go before its 2025 rewrite of Decode (the fix for
   * CVE-2025-61723) paired BEGIN and END lines otherwise, and in such text may have read another
   * block; Rekor v1 entries were logged by both. Well-formed PEM, headers or not, reads alike.
   */
  irregular: boolean;
}

/** Go pem getLine: the line at `from` without its trailing spaces, tabs and CRLF; where the next starts. */
function lineAt(text: string, from: number): { start: number; end: number; next: number } {
  const nl = text.indexOf('\n', from);
  let end = nl < 0 ? text.length : nl;
  const next = nl < 0 ? text.length : nl + 1;
  if (nl > from && text.charCodeAt(nl - 1) === 13) end--;
  while (end > from) {
    const c = text.charCodeAt(end - 1);
    if (c !== 32 && c !== 9) break;
    end--;
  }
  return { start: from, end, next };
}

/** Whether text[start, end) holds a colon (a bounded search: the text may hold none at all). */
function hasColon(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (text.charCodeAt(i) === 58) return true;
  return false;
}

/**
 * The bytes of a PEM body as Go decodes them (spaces, tabs, CR and LF dropped, then padded standard
 * base64), or undefined where Go's decoder fails.
 */
function pemBody(text: string, start: number, end: number): Buffer | undefined {
  if (end <= start) return Buffer.alloc(0);
  const b64 = text.slice(start, end).replace(PEM_SPACE, '');
  // Node's decoder skips what it cannot read, so the text is held to Go's alphabet and padding
  // first (Go, like Node, takes nonzero bits before the padding).
  if (b64.length % 4 !== 0 || !STRICT_BASE64.test(b64)) return undefined;
  return Buffer.from(b64, 'base64');
}

/**
 * Every PEM block of a `wanted` type in `text` (bytes as latin1 characters), as repeated calls of
 * Go's encoding/pem Decode find them: Rekor (pki/x509 NewPublicKey,
 * cryptoutils.UnmarshalCertificatesFromPEM) and cosign read keys and certificates so, and Rekor
 * keeps some as submitted (intoto 0.0.2 signature keys): the monitor must read the bytes they read.
 *
 * As Go's Decode since the 2025 fix of its quadratic search (CVE-2025-61723); the earlier form,
 * the first BEGIN then the first END after it, finds the same blocks unless the scan is
 * `irregular`. The first END line, then the last BEGIN line before it (at the start or after a
 * newline); `Key: value` header lines after the BEGIN line are no part of the bytes; the END line
 * names the same type and is followed by spaces or tabs only; the body is padded standard base64
 * once spaces, tabs, CR and LF are dropped. Go passes over a block whose body is not, and goes on
 * after its END line's "-----END ": such a block of a `wanted` type is returned with `der`
 * undefined, for the caller to report. Linear in the text.
 */
export function pemBlocks(text: string, wanted: (type: string) => boolean): PemScan {
  const out: PemBlock[] = [];
  let irregular = false;
  const done = () => ({ blocks: out, irregular });
  let rest = 0;
  /** The first BEGIN at or after `rest`, once searched for (-1: none left). */
  let nextBegin = -2;
  for (;;) {
    const end = text.indexOf(PEM_END, rest);
    if (end < 0) return done();
    const trailer = end + PEM_END.length;
    const start = rest;
    rest = trailer; // where Go goes on when this END makes no block
    // The last BEGIN wholly before the END (PEM_BEGIN holds no newline and text[end] is one).
    if (nextBegin < start && nextBegin !== -1) nextBegin = text.indexOf(PEM_BEGIN, start);
    if (nextBegin === -1) return done(); // no BEGIN left: no block either
    if (nextBegin >= end) continue;
    let begin = nextBegin;
    const beginLineEnd = text.indexOf('\n', begin); // at most `end`
    if (text.indexOf('-', beginLineEnd + 1) === end + 1) {
      // The common case, found cheaply: no dash, so no BEGIN, between this BEGIN line and the END.
      begin = text.lastIndexOf(PEM_BEGIN, beginLineEnd - 1);
      nextBegin = -2;
    } else {
      for (;;) {
        nextBegin = text.indexOf(PEM_BEGIN, begin + 1);
        if (nextBegin < 0 || nextBegin >= end) break;
        begin = nextBegin;
      }
    }
    // From here on, a BEGIN and an END that make no block are text that Go releases may read
    // differently (see PemScan): marked so until a block is made.
    const wasIrregular: boolean = irregular;
    irregular = true;
    if (begin > start && text.charCodeAt(begin - 1) !== 10) continue;
    const typeLine = lineAt(text, begin + PEM_BEGIN.length);
    const typeEnd = typeLine.end - PEM_EOL.length;
    if (typeEnd < typeLine.start || !text.startsWith(PEM_EOL, typeEnd)) continue;
    const type = text.slice(typeLine.start, typeEnd);
    let body = typeLine.next;
    let headers = false;
    for (;;) {
      if (body >= text.length) return done(); // Go gives up on the whole text
      const line = lineAt(text, body);
      if (!hasColon(text, line.start, line.end)) break;
      headers = true;
      body = line.next;
      // The END line read as a header: Go gives up on the whole text too (its next search would
      // start before where it stands).
      if (body > trailer) return done();
    }
    // After headers, a newline must come before the END line.
    if (headers && end < body) continue;
    if (!text.startsWith(type, trailer) || !text.startsWith(PEM_EOL, trailer + type.length)) continue;
    const endLine = lineAt(text, trailer + type.length + PEM_EOL.length);
    if (endLine.end !== endLine.start) continue;
    const der = pemBody(text, body, end);
    const keep = wanted(type);
    if (keep) out.push({ type, der });
    // Go's next call starts after the END line, or after this END when the body was not base64.
    if (der !== undefined) rest = endLine.next;
    // A block: regular, unless of a wanted type and passed over by Go (the caller reports it);
    // another type's base64 may fail as a matter of course (OpenPGP armour's checksum line).
    if (der !== undefined || !keep) irregular = wasIrregular;
  }
}

/**
 * The PEM blocks of a `wanted` type that Go's Decode found before its 2025 rewrite: the first BEGIN
 * line (at the start or after a newline), header lines, then the first END line after them; a
 * block that fails sends the search on from after its headers. Read only for `irregular` text, where
 * the two forms can differ, so that a key only that form read is still matched. Linear in the text:
 * the END position is remembered, and a body holding a dash (another BEGIN line) is not decoded.
 */
export function pemBlocksBefore2025(text: string, wanted: (type: string) => boolean): PemBlock[] {
  const out: PemBlock[] = [];
  let pos = 0;
  let nextEnd = -2;
  for (;;) {
    let begin: number;
    if (text.startsWith(PEM_BEGIN, pos)) begin = pos;
    else {
      const at = text.indexOf(`\n${PEM_BEGIN}`, pos);
      if (at < 0) return out;
      begin = at + 1;
    }
    const typeLine = lineAt(text, begin + PEM_BEGIN.length);
    pos = typeLine.next;
    const typeEnd = typeLine.end - PEM_EOL.length;
    if (typeEnd < typeLine.start || !text.startsWith(PEM_EOL, typeEnd)) continue;
    const type = text.slice(typeLine.start, typeEnd);
    let headers = false;
    for (;;) {
      if (pos >= text.length) return out;
      const line = lineAt(text, pos);
      if (!hasColon(text, line.start, line.end)) break;
      headers = true;
      pos = line.next;
    }
    let end: number;
    if (!headers && text.startsWith(PEM_END.slice(1), pos)) end = pos - 1;
    else {
      if (nextEnd < pos && nextEnd !== -1) nextEnd = text.indexOf(PEM_END, pos);
      if (nextEnd === -1) return out; // no END left: no block either
      end = nextEnd;
    }
    if (end > pos && text.indexOf('-', pos) < end) continue; // another BEGIN inside: not base64
    const trailer = end + PEM_END.length;
    if (!text.startsWith(type, trailer) || !text.startsWith(PEM_EOL, trailer + type.length)) continue;
    const endLine = lineAt(text, trailer + type.length + PEM_EOL.length);
    if (endLine.end !== endLine.start) continue;
    const der = pemBody(text, pos, end);
    if (der === undefined) continue;
    if (wanted(type)) out.push({ type, der });
    pos = endLine.next;
  }
}

const verifierType = (label: string): ExtractedVerifier['type'] | undefined =>
  label === 'CERTIFICATE'
    ? 'certificate'
    : label.endsWith('PUBLIC KEY') && !label.startsWith('PGP')
      ? 'publicKey'
      : undefined;
const isVerifierLabel = (label: string) => verifierType(label) !== undefined;
const anyLabel = () => true;

/** The blocks of a `wanted` type Go reads in `text`, and those Go before 2025 read where they differ. */
function scanPem(text: string, wanted: (label: string) => boolean): PemScan {
  const scan = pemBlocks(text, wanted);
  if (scan.irregular) {
    // What Go read before 2025 as well, Rekor v1 having logged entries with both.
    for (const block of pemBlocksBefore2025(text, wanted))
      if (!scan.blocks.some((b) => b.type === block.type && b.der?.equals(block.der!)))
        scan.blocks.push(block);
  }
  return scan;
}

/**
 * The verifiers of scanned blocks, each read as `typeOf` says. A block whose base64 Go would refuse
 * is noted in `problems`: never passed over.
 */
function blockVerifiers(
  { blocks, irregular }: PemScan,
  typeOf: (label: string, der: Buffer) => ExtractedVerifier['type'],
  signature: Buffer | undefined,
  problems: string[],
): ExtractedVerifier[] {
  const out: ExtractedVerifier[] = [];
  let reported = false;
  for (const { type: label, der } of blocks) {
    if (der === undefined) {
      problems.push(`a PEM ${label} block is not base64`);
      reported = true;
      continue;
    }
    const type = typeOf(label, der);
    out.push(signature === undefined ? { type, der } : { type, der, signature });
  }
  // The blocks read are matched; that an older Go may have read another is reported.
  if (irregular && !reported)
    problems.push('PEM text with BEGIN and END lines that make no block (Go releases differ on it)');
  return out;
}

/**
 * Every key or certificate in PEM content; PGP armour and other formats yield nothing. A key or
 * certificate block whose base64 Go would refuse is noted in `problems`: never passed over.
 */
function pemVerifiers(
  content: Buffer,
  signature: Buffer | undefined,
  problems: string[],
): ExtractedVerifier[] {
  return pemTextVerifiers(content.toString('latin1'), signature, problems);
}

/** pemVerifiers of content already as latin1 text. */
function pemTextVerifiers(
  text: string,
  signature: Buffer | undefined,
  problems: string[],
): ExtractedVerifier[] {
  return blockVerifiers(scanPem(text, isVerifierLabel), (label) => verifierType(label)!, signature, problems);
}

/** Whether DER is shaped as a SubjectPublicKeyInfo (SEQUENCE { SEQUENCE, BIT STRING }), not a certificate. */
function spkiShaped(der: Buffer): boolean {
  try {
    const outer = readTlv(der, 0);
    const algorithm = readTlv(der, outer.contentStart);
    return outer.tag === 0x30 && algorithm.end < outer.end && der[algorithm.end] === 0x03;
  } catch {
    return false;
  }
}

/**
 * A key kept as submitted and read by Rekor v1's pki/x509 NewPublicKey (intoto 0.0.2 signature
 * keys). After bytes.TrimSpace, one PEM block must be a PUBLIC KEY or a CERTIFICATE: read as any
 * PEM key. More than one is a chain, read by cryptoutils.UnmarshalCertificatesFromPEMLimited, which
 * parses every block as a certificate whatever its label ("X509 CERTIFICATE", "FOO"): its first
 * (certs[0]) verifies the envelope and is the identity Rekor indexes. So in a chain every block is
 * a certificate, one that does not walk reported by the matcher; a block labelled as a key that is
 * shaped as one is still read as a key (Rekor refuses that chain; matched all the same).
 */
function submittedKeyVerifiers(
  content: Buffer,
  signature: Buffer | undefined,
  problems: string[],
): ExtractedVerifier[] {
  const text = content.toString('latin1');
  // The common case, one BEGIN line, costs one search more than any PEM key.
  const first = text.indexOf(PEM_BEGIN);
  if (first < 0 || text.indexOf(PEM_BEGIN, first + PEM_BEGIN.length) < 0)
    return pemTextVerifiers(text, signature, problems);
  const scan = scanPem(text, anyLabel);
  // Go's first Decode passes over a block that is not base64: fewer than two read, no chain.
  let read = 0;
  for (const block of scan.blocks) if (block.der !== undefined) read++;
  if (read < 2) return pemTextVerifiers(text, signature, problems);
  return blockVerifiers(
    scan,
    (label, der) => (verifierType(label) === 'publicKey' && spkiShaped(der) ? 'publicKey' : 'certificate'),
    signature,
    problems,
  );
}

/** A base64 PEM field that must hold a key or certificate. */
function requiredPem(
  value: unknown,
  what: string,
  problems: string[],
  signature?: Buffer,
  read: typeof pemVerifiers = pemVerifiers,
): ExtractedVerifier[] {
  const own: string[] = [];
  const found = read(b64(value, what), signature, own);
  if (found.length === 0)
    throw new Unreadable(own.length > 0 ? `${what}: ${own[0]}` : `${what} is not a PEM key or certificate`);
  problems.push(...own.map((p) => `${what}: ${p}`));
  return found;
}

/** A base64 field that may hold PEM; anything else yields nothing. */
function optionalPem(value: unknown, problems: string[], signature?: Buffer): ExtractedVerifier[] {
  if (typeof value !== 'string' || value === '') return [];
  return pemVerifiers(Buffer.from(value, 'base64'), signature, problems);
}

/** The primary key and every subkey of an OpenPGP key block (armored or binary). */
function pgpVerifiers(content: Buffer, signature: Buffer | undefined): ExtractedVerifier[] {
  return pgpPublicKeySpkis(content).map((der) =>
    signature === undefined ? { type: 'publicKey', der } : { type: 'publicKey', der, signature },
  );
}

/**
 * helm and rpm keys: rekor reads them with pki/pgp and stores OpenPGP armor. A PEM key is still
 * read as before; anything else that is there is an unreadable key.
 */
function pgpOrPemVerifiers(value: unknown, problems: string[]): ExtractedVerifier[] {
  if (typeof value !== 'string' || value === '') return [];
  const content = Buffer.from(value, 'base64');
  const own: string[] = [];
  const pem = pemVerifiers(content, undefined, own);
  if (pem.length === 0) return pgpVerifiers(content, undefined);
  problems.push(...own);
  return pem;
}

function optionalSignature(value: unknown): Buffer | undefined {
  return typeof value === 'string' && value !== '' ? Buffer.from(value, 'base64') : undefined;
}

/** Rekor v2 verifier: {publicKey: {rawBytes}} or {x509Certificate: {rawBytes}}, DER in base64. */
function v2Verifier(verifier: unknown, signature: Buffer | undefined): ExtractedVerifier {
  const key = get(verifier, 'publicKey', 'rawBytes');
  const cert = get(verifier, 'x509Certificate', 'rawBytes');
  const base =
    cert !== undefined
      ? { type: 'certificate' as const, der: b64(cert, 'verifier.x509Certificate.rawBytes') }
      : { type: 'publicKey' as const, der: b64(key, 'verifier.publicKey.rawBytes') };
  return signature === undefined ? base : { ...base, signature };
}

function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value) || value.length === 0) throw new Unreadable(`${what} missing`);
  return value;
}

/**
 * The verifiers of every signature of a multi-signature entry. One that cannot be read is noted in
 * `problems` and the others are still read: an unreadable signature must not hide an owned key in
 * another. Throws when none can be read.
 */
function eachSignature(
  signatures: unknown[],
  problems: string[],
  read: (signature: unknown, problems: string[]) => ExtractedVerifier[],
): ExtractedVerifier[] {
  const out: ExtractedVerifier[] = [];
  const own: string[] = [];
  for (const signature of signatures) {
    try {
      for (const v of read(signature, own)) out.push(v);
    } catch (err) {
      own.push(errorMessage(err));
    }
  }
  if (out.length === 0 && own.length > 0) throw new Unreadable(own[0]);
  problems.push(...own);
  return out;
}

/**
 * rekord 0.0.1 keeps the key in the encoding of `signature.format`. A key present in a format
 * read here but unreadable throws: Rekor parsed it on upload, so only a gap in this reader can
 * get here, and that is worth an unparseable-entry alert rather than a silent miss.
 */
function rekordVerifiers(spec: unknown, problems: string[]): ExtractedVerifier[] {
  const key = get(spec, 'signature', 'publicKey', 'content');
  const signature = optionalSignature(get(spec, 'signature', 'content'));
  const format = get(spec, 'signature', 'format');
  const foreign = (spkiOf: (text: string) => Buffer, what: string): ExtractedVerifier[] => {
    const der = spkiOf(b64(key, `${what} publicKey.content`).toString('utf8'));
    return [signature === undefined ? { type: 'publicKey', der } : { type: 'publicKey', der, signature }];
  };
  switch (format) {
    case 'ssh':
      return foreign(sshPublicKeySpki, 'ssh');
    case 'minisign':
      return foreign(minisignPublicKeySpki, 'minisign');
    case 'pgp':
      return pgpVerifiers(b64(key, 'pgp publicKey.content'), signature);
    default:
      // x509 (PEM).
      return optionalPem(key, problems, signature);
  }
}

/** The certificates read from a PKCS#7, each a verifier; what could not be read is a problem. */
function pkcs7Verifiers(
  read: () => Pkcs7Certificates,
  what: string,
  signature: Buffer | undefined,
  problems: string[],
): ExtractedVerifier[] {
  let found: Pkcs7Certificates;
  try {
    found = read();
  } catch (err) {
    problems.push(`${what}: ${errorMessage(err)}`);
    return [];
  }
  if (found.problem !== undefined) problems.push(`${what}: ${found.problem}`);
  return found.certificates.map((der) =>
    signature === undefined ? { type: 'certificate', der } : { type: 'certificate', der, signature },
  );
}

/**
 * jar 0.0.1: Rekor stores the first certificate of the JAR's PKCS#7 as `publicKey.content`
 * (pki/pkcs7 NewPublicKey returns the first of the set) and the detached PKCS#7 as
 * `signature.content` (PEM `PKCS7`, or DER as NewSignature also reads), while the JAR was verified
 * with the signer's certificate, found in the set by issuer and serial number wherever it stands.
 * So every certificate of the set is matched too (rare entries: the walk costs nothing on the
 * common kinds); a PKCS#7 that cannot be read is reported.
 */
function jarVerifiers(spec: unknown, problems: string[]): ExtractedVerifier[] {
  const signature = optionalSignature(get(spec, 'signature', 'content'));
  const out = optionalPem(get(spec, 'signature', 'publicKey', 'content'), problems, signature);
  if (signature === undefined) {
    problems.push('signature.content missing');
    return out;
  }
  const what = 'signature.content';
  const pkcs7: Buffer[] = [];
  if (signature[0] === 0x30) pkcs7.push(signature);
  else {
    for (const block of pemBlocks(signature.toString('latin1'), (label) => label === 'PKCS7').blocks) {
      if (block.der === undefined) problems.push(`${what}: a PEM PKCS7 block is not base64`);
      else pkcs7.push(block.der);
    }
    if (pkcs7.length === 0) problems.push(`${what} is not a PKCS7`);
  }
  // Rekor's NewPublicKey refuses a PKCS#7 without a certificate: one here is reported too.
  const certificates = (der: Buffer) => () => {
    const found = signedDataCertificates(der);
    if (found.certificates.length === 0 && found.problem === undefined)
      throw new DerError('PKCS#7 carries no certificate');
    return found;
  };
  // The first is publicKey.content already, as Rekor stores it.
  for (const der of pkcs7)
    for (const v of pkcs7Verifiers(certificates(der), what, signature, problems))
      if (!out.some((o) => o.type === 'certificate' && o.der.equals(v.der))) out.push(v);
  return out;
}

/**
 * rfc3161 0.0.1: `tsr.content` is the DER TimeStampResp as submitted (at most 10 KiB), accepted
 * when its token verifies under a certificate the token carries (relic SignedData.Verify), whoever
 * made it: a token signed with an owned key is matched by that certificate. A token that carries
 * no certificate gives nothing to match (relic refuses one, so Rekor v1 logs none).
 */
function timestampVerifiers(spec: unknown, problems: string[]): ExtractedVerifier[] {
  const content = get(spec, 'tsr', 'content');
  // Rekor requires it; an entry without it is read as holding nothing, as before (matching.test.ts).
  if (content === undefined) return [];
  const tsr = b64(content, 'tsr.content');
  const own: string[] = [];
  const found = pkcs7Verifiers(() => timeStampRespCertificates(tsr), 'tsr.content', undefined, own);
  if (found.length === 0 && own.length > 0) throw new Unreadable(own[0]);
  problems.push(...own);
  return found;
}

/** An entry's verifiers; a part that cannot be read while others can is noted in `problems`. */
function verifiersOf(
  kind: string,
  apiVersion: string,
  spec: unknown,
  problems: string[],
): ExtractedVerifier[] {
  const v2 = get(spec, 'hashedRekordV002') ?? get(spec, 'dsseV002');
  if (v2 !== undefined) {
    if (kind === 'hashedrekord') {
      const sig = get(v2, 'signature');
      return [v2Verifier(get(sig, 'verifier'), b64(get(sig, 'content'), 'signature.content'))];
    }
    return eachSignature(list(get(v2, 'signatures'), 'signatures'), problems, (s) => [
      v2Verifier(get(s, 'verifier'), b64(get(s, 'content'), 'signature.content')),
    ]);
  }
  switch (kind) {
    case 'hashedrekord': {
      const sig = b64(get(spec, 'signature', 'content'), 'signature.content');
      return requiredPem(get(spec, 'signature', 'publicKey', 'content'), 'publicKey.content', problems, sig);
    }
    case 'rekord':
      return rekordVerifiers(spec, problems);
    case 'jar':
      return jarVerifiers(spec, problems);
    case 'dsse':
      return eachSignature(list(get(spec, 'signatures'), 'signatures'), problems, (s, found) =>
        requiredPem(get(s, 'verifier'), 'signatures.verifier', found, b64(get(s, 'signature'), 'signature')),
      );
    case 'intoto':
      if (apiVersion === '0.0.1') return requiredPem(get(spec, 'publicKey'), 'publicKey', problems);
      return eachSignature(
        list(get(spec, 'content', 'envelope', 'signatures'), 'envelope.signatures'),
        problems,
        (s, found) =>
          requiredPem(
            get(s, 'publicKey'),
            'envelope.signatures.publicKey',
            found,
            // intoto 0.0.2 keeps the envelope's (base64) signature base64-encoded once more.
            Buffer.from(b64(get(s, 'sig'), 'sig').toString('utf8'), 'base64'),
            // ... and its key as submitted, read as Rekor reads it.
            submittedKeyVerifiers,
          ),
      );
    case 'helm':
    case 'rpm':
      return pgpOrPemVerifiers(get(spec, 'publicKey', 'content'), problems);
    case 'alpine':
      return optionalPem(get(spec, 'publicKey', 'content'), problems);
    case 'cose':
      return optionalPem(get(spec, 'publicKey'), problems);
    case 'tuf':
      return tufRootKeys(get(spec, 'root', 'content'), get(spec, 'metadata', 'content')).map((k) =>
        k.signature === undefined
          ? { type: 'publicKey', der: k.der }
          : { type: 'publicKey', der: k.der, signature: k.signature },
      );
    case 'rfc3161':
      return timestampVerifiers(spec, problems);
    default:
      throw new Unreadable(`unsupported entry kind ${kind}`);
  }
}

/** Never throws: an entry that cannot be read is a result, to be reported by the caller. */
export function extractVerifiers(body: Buffer): ExtractResult {
  let kind: string | undefined;
  let apiVersion: string | undefined;
  try {
    const json = JSON.parse(body.toString('utf8')) as unknown;
    if (json === null || typeof json !== 'object') throw new Unreadable('body is not an object');
    kind = typeof get(json, 'kind') === 'string' ? (get(json, 'kind') as string) : undefined;
    apiVersion =
      typeof get(json, 'apiVersion') === 'string' ? (get(json, 'apiVersion') as string) : undefined;
    if (kind === undefined) throw new Unreadable('body has no kind');
    const problems: string[] = [];
    const verifiers = verifiersOf(kind, apiVersion ?? '', get(json, 'spec'), problems);
    return problems.length > 0
      ? { ok: true, kind, apiVersion: apiVersion ?? '', verifiers, unreadable: problems }
      : { ok: true, kind, apiVersion: apiVersion ?? '', verifiers };
  } catch (err) {
    return { ok: false, kind, apiVersion, message: errorMessage(err) };
  }
}
