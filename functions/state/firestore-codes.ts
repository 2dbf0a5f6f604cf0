/** gRPC status codes the stores act on: another writer got there first. */
export const NOT_FOUND = 5;
export const ALREADY_EXISTS = 6;
export const FAILED_PRECONDITION = 9;

export const codeOf = (err: unknown): unknown => (err as { code?: unknown } | undefined)?.code;
