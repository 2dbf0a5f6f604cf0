import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { crc32c as bitwiseCrc32c } from '../../../emulators/kms/crc32c.ts';
import { crc32c, int64Checksum } from '../../../functions/signing/crc32c.ts';

describe('crc32c', () => {
  it('gives the standard check value for "123456789"', () => {
    assert.equal(crc32c(Buffer.from('123456789', 'ascii')), 0xe3069283);
  });

  // RFC 3720 (iSCSI), appendix B.4.
  it('matches the RFC 3720 B.4 vectors', () => {
    const inc = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const dec = Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i));
    assert.equal(crc32c(Buffer.alloc(32, 0x00)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(crc32c(inc), 0x46dd794e);
    assert.equal(crc32c(dec), 0x113fdb5c);
  });

  it('is 0 for no data', () => {
    assert.equal(crc32c(new Uint8Array()), 0);
  });

  it('continues over chunks and agrees with the emulator bit-by-bit implementation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (bytes, cut) => {
        const at = bytes.length === 0 ? 0 : cut % bytes.length;
        const whole = crc32c(bytes);
        assert.equal(crc32c(bytes.subarray(at), crc32c(bytes.subarray(0, at))), whole);
        assert.equal(bitwiseCrc32c(bytes), whole);
      }),
    );
  });

  it('reads Int64Value checksums in the forms the client library hands over', () => {
    assert.equal(int64Checksum(undefined), undefined);
    assert.equal(int64Checksum(null), undefined);
    assert.equal(int64Checksum({ value: '3808858755' }), 3808858755);
    assert.equal(int64Checksum({ value: 17 }), 17);
    assert.equal(int64Checksum({}), 0);
    assert.ok(Number.isNaN(int64Checksum({ value: '-1' })));
    assert.ok(Number.isNaN(int64Checksum({ value: String(2 ** 32) })));
  });
});
