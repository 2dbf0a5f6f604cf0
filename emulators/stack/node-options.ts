/**
 * The NODE_OPTIONS a function's instance runs with, for the local stack and the benches alike. Its
 * own module, so that a bench's instance that needs it loads nothing of the stack (whose clients
 * would add their libraries to the instance's heap).
 */
import { FUNCTIONS as CONTRACT } from '../../functions/config/environment.ts';

/**
 * The contract's nodeOptions for `target`, as deployed, after any the caller was started with (a
 * developer's flag stays; a deployed one given again wins).
 */
export function deployedNodeOptions(
  target: string,
  inherited: string | undefined = process.env.NODE_OPTIONS,
): string | undefined {
  const { nodeOptions } = CONTRACT[target]!;
  return nodeOptions === undefined ? inherited : [inherited, nodeOptions].filter(Boolean).join(' ');
}
