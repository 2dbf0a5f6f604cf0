/**
 * Preloaded (`--import`) into the stack's Functions Framework processes. The framework listens on
 * every interface when given only a port, and the stack runs the functions without the deployed
 * token check (SIGSENTRY_LOCAL), so a server told only a port listens on loopback instead: the
 * endpoints are reachable from this machine alone, as every other part of the stack is.
 */
import net from 'node:net';

const listen = net.Server.prototype.listen;
const bindsEveryInterface = (first: unknown, second: unknown) =>
  (typeof first === 'number' || (typeof first === 'string' && /^[0-9]+$/.test(first))) &&
  typeof second !== 'string';

net.Server.prototype.listen = function listenOnLoopback(this: net.Server, ...args: unknown[]) {
  if (bindsEveryInterface(args[0], args[1])) args.splice(1, 0, '127.0.0.1');
  return Reflect.apply(listen, this, args);
} as typeof listen;
