import assert from 'node:assert/strict';
import { it } from 'node:test';
import { deployedNodeOptions } from '../../../emulators/stack/node-options.ts';
import { functionInstanceCommand, FUNCTIONS as STACK_FUNCTIONS } from '../../../emulators/stack/stack.ts';
import { FUNCTIONS as CONTRACT } from '../../../functions/config/environment.ts';

it('serves each function with the NODE_OPTIONS it is deployed with, after any the stack inherited', () => {
  const inherited = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = '--trace-warnings';
  try {
    for (const fn of STACK_FUNCTIONS) {
      const { env } = functionInstanceCommand(fn, 8080, {});
      const deployed = CONTRACT[fn.target]!.nodeOptions;
      assert.equal(
        env.NODE_OPTIONS,
        deployed === undefined ? '--trace-warnings' : `--trace-warnings ${deployed}`,
        fn.target,
      );
    }
    // The monitor is the function that has one (its heap limit): the check above is not vacuous.
    assert.ok(STACK_FUNCTIONS.some((fn) => CONTRACT[fn.target]!.nodeOptions !== undefined));
  } finally {
    if (inherited === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = inherited;
  }
});

it('gives a function deployed without NODE_OPTIONS only what it inherited, and one deployed with them those alone when nothing is inherited', () => {
  for (const [target, { nodeOptions }] of Object.entries(CONTRACT)) {
    assert.equal(deployedNodeOptions(target, undefined), nodeOptions, target);
    assert.equal(deployedNodeOptions(target, ''), nodeOptions ?? '', target);
  }
});

it('serves the functions from the source, or compiled from SIGSENTRY_COMPILED_DIR as deployed', () => {
  const fn = STACK_FUNCTIONS[0]!;
  const compiled = process.env.SIGSENTRY_COMPILED_DIR;
  try {
    delete process.env.SIGSENTRY_COMPILED_DIR;
    const fromSource = functionInstanceCommand(fn, 8080, {}).args;
    assert.ok(
      fromSource.some((a) => /^--source=.*\/functions\/index\.ts$/.test(a)),
      fromSource.join(' '),
    );
    assert.ok(fromSource.some((a) => /^--import=.*\/emulators\/stack\/listen-on-loopback\.ts$/.test(a)));
    process.env.SIGSENTRY_COMPILED_DIR = '/tmp/built';
    const built = functionInstanceCommand(fn, 8080, {}).args;
    assert.ok(built.includes('--source=/tmp/built/functions/index.js'), built.join(' '));
    assert.ok(built.includes('--import=/tmp/built/emulators/stack/listen-on-loopback.js'), built.join(' '));
  } finally {
    if (compiled === undefined) delete process.env.SIGSENTRY_COMPILED_DIR;
    else process.env.SIGSENTRY_COMPILED_DIR = compiled;
  }
});
