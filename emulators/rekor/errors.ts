/** An HTTP error in Rekor's wire shape: `{"code": <status>, "message": "..."}`. */
export class RekorHttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

export const badRequest = (message: string): RekorHttpError => new RekorHttpError(400, message);
