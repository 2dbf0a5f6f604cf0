/**
 * A token server for docker-registry's `auth: token` mode (distribution's "Token Authentication
 * Specification"), so the registry client's token challenge is tested against the real registry's
 * token verification. It answers `GET /token?service=…&scope=…` with an ES256 JWT whose `x5c` header
 * carries a self-signed certificate; the registry trusts that certificate (its `rootcertbundle`).
 * Anonymous callers get `pull` only; callers with the push credentials (skopeo, pushing test images)
 * get what they ask for. Every request is recorded for the tests to count.
 */
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { selfSignedCertificate, toPem } from './test-cert.ts';

export interface TokenRequest {
  readonly service: string | null;
  readonly scopes: string[];
  readonly authorization: string | undefined;
}

export interface TokenServer {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  /** The registry's `auth.token` settings. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly rootCertificatePem: string;
  /** `user:password` that gets push as well as pull. */
  readonly pushCredentials: string;
  readonly requests: TokenRequest[];
  /** Seconds each token lives, as `expires_in` and the JWT's `exp` (default 300). */
  expiresIn: number;
  /** Issue tokens the registry refuses as expired, while `expires_in` still says `expiresIn`. */
  issueExpired: boolean;
  /** Answer every token request with this status and body instead (fault tests). */
  fault: { status: number; body: string } | undefined;
  stop(): Promise<void>;
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

export async function startTokenServer(): Promise<TokenServer> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const certificate = selfSignedCertificate(publicKey, privateKey, 'sigsentry test token server');
  const service = 'sigsentry-test-registry';
  const issuer = 'sigsentry-test-token-server';
  const pushCredentials = `pusher:${randomUUID()}`;
  const requests: TokenRequest[] = [];

  const token = (scopes: string[], mayPush: boolean, expiresIn: number, expired: boolean): string => {
    // docker-registry allows 60 s of clock skew either way.
    const now = Math.floor(Date.now() / 1000) - (expired ? expiresIn + 600 : 0);
    const access = scopes.flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      if (type !== 'repository' || name === undefined || actions === undefined) return [];
      const granted = actions.split(',').filter((a) => a === 'pull' || (mayPush && a === 'push'));
      return [{ type, name, actions: granted }];
    });
    const header = b64url(
      JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [certificate.toString('base64')] }),
    );
    const claims = b64url(
      JSON.stringify({
        iss: issuer,
        sub: mayPush ? 'pusher' : '',
        aud: service,
        exp: now + expiresIn,
        nbf: now - 1,
        iat: now,
        jti: randomUUID(),
        access,
      }),
    );
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), {
      key: privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return `${header}.${claims}.${b64url(signature)}`;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    if (req.method !== 'GET' || url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    requests.push({
      service: url.searchParams.get('service'),
      scopes: url.searchParams.getAll('scope'),
      authorization: req.headers.authorization,
    });
    if (state.fault !== undefined) {
      res.writeHead(state.fault.status, { 'content-type': 'application/json' }).end(state.fault.body);
      return;
    }
    const mayPush = req.headers.authorization === `Basic ${Buffer.from(pushCredentials).toString('base64')}`;
    if (req.headers.authorization !== undefined && !mayPush) {
      res.writeHead(401).end();
      return;
    }
    const jwt = token(url.searchParams.getAll('scope'), mayPush, state.expiresIn, state.issueExpired);
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        token: jwt,
        access_token: jwt,
        expires_in: state.expiresIn,
        issued_at: new Date().toISOString(),
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const state: TokenServer = {
    host,
    realm: `http://${host}/token`,
    service,
    issuer,
    rootCertificatePem: toPem(certificate),
    pushCredentials,
    requests,
    expiresIn: 300,
    issueExpired: false,
    fault: undefined,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return state;
}
