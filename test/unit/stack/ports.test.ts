import assert from 'node:assert/strict';
import { it } from 'node:test';
import { pickFreePort } from '../../../emulators/stack/ports.ts';

it('pickFreePort never hands out the same port twice, even once the first user let it go', async () => {
  const picked: number[] = [];
  // Nothing binds these ports: the kernel is free to offer them again, which is the case that
  // once gave two stack processes one port.
  for (let i = 0; i < 1000; i++) picked.push(await pickFreePort());
  assert.equal(new Set(picked).size, picked.length);
  for (const port of picked) assert.ok(port > 0 && port < 65536);
});
