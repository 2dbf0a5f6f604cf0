import assert from 'node:assert/strict';
import { it } from 'node:test';
import { FUNCTIONS as CONTRACT } from '../../../functions/config/environment.ts';
import { MODULES_OF } from '../../../functions/index.ts';

it("loads the modules of every function of the contract at its instance's start, and of no other", () => {
  // A function missing here would load its modules on its first call instead, after the
  // framework serves, and an instance serving an unknown target would load nothing.
  assert.deepEqual(
    Object.keys(MODULES_OF).sort(),
    Object.values(CONTRACT)
      .map((c) => c.entryPoint)
      .sort(),
  );
});
