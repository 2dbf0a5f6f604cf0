/**
 * An HTTP error in Rekor's wire shape: v1 answers `{"code": <status>, "message": "..."}`; `body`
 * replaces that shape where another API answers differently (rekor-tiles, below).
 */
export class RekorHttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Record<string, unknown> | undefined;
  constructor(
    status: number,
    message: string,
    headers: Record<string, string> = {},
    body?: Record<string, unknown>,
  ) {
    super(message);
    this.status = status;
    this.headers = headers;
    this.body = body;
  }
}

export const badRequest = (message: string): RekorHttpError => new RekorHttpError(400, message);

/** gRPC status codes rekor-tiles answers with (google.golang.org/grpc/codes). */
export const GRPC_INVALID_ARGUMENT = 3;
export const GRPC_NOT_FOUND = 5;
export const GRPC_ALREADY_EXISTS = 6;

/**
 * Rekor v2 errors pass through grpc-gateway's default handler: the HTTP status mapped from the gRPC
 * code and a google.rpc.Status body `{"code": <gRPC code>, "message": "...", "details": []}`.
 */
export function grpcError(
  status: number,
  grpcCode: number,
  message: string,
  headers: Record<string, string> = {},
): RekorHttpError {
  return new RekorHttpError(status, message, headers, { code: grpcCode, message, details: [] });
}
