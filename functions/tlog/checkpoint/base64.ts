/**
 * Go's `base64.StdEncoding`, as golang.org/x/mod/sumdb/note `Open` decodes a signature line and Go's
 * checkpoint parsers (sumdb/tlog, transparency-dev/formats) a root hash: the standard alphabet, padded
 * to a multiple of four characters, `=` only as the last one or two. (Go's decoder also skips CR and
 * LF, which a note cannot hold in a line.)
 */
const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * `text` decoded as Go's `base64.StdEncoding.DecodeString` decodes it, or undefined where Go fails.
 * Buffer.from(text, 'base64') alone would skip what is not base64 and take URL-safe letters and
 * missing padding. Like Go's decoder (not `.Strict()`), non-zero bits under the padding are not
 * refused (RFC 4648 §3.5 leaves that to the decoder): a note Go opens is opened here.
 */
export function decodeStdBase64(text: string): Buffer | undefined {
  return STD_BASE64.test(text) ? Buffer.from(text, 'base64') : undefined;
}
