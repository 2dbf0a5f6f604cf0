/**
 * DSSE's pre-authentication encoding (PAE), what a DSSE signature signs and what signOnPush stores
 * as a bundle-format record's `signedBytes`. @sigstore/core's `dsse.preAuthEncoding` builds one;
 * nothing there reads one back, which the monitor needs (the payload a record's DSSE entry must
 * hash to).
 */

/** The payload of a DSSE PAE, `DSSEv1 LEN(type) type LEN(payload) payload`; undefined if it is not one. */
export function paePayload(pae: Buffer): Buffer | undefined {
  let at = 0;
  const field = (): Buffer | undefined => {
    const space = pae.indexOf(0x20, at);
    if (space < 0) return undefined;
    const digits = pae.toString('latin1', at, space);
    if (!/^(0|[1-9][0-9]{0,15})$/.test(digits)) return undefined;
    const length = Number(digits);
    const start = space + 1;
    if (start + length > pae.length) return undefined;
    at = start + length;
    return pae.subarray(start, at);
  };
  const header = Buffer.from('DSSEv1 ');
  if (!pae.subarray(0, header.length).equals(header)) return undefined;
  at = header.length;
  if (field() === undefined || pae[at] !== 0x20) return undefined;
  at++;
  const payload = field();
  return payload !== undefined && at === pae.length ? payload : undefined;
}
