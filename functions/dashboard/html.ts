import { showUnprintable } from '../logging/bounded.ts';

/**
 * A tagged template that escapes every interpolated value, so the page never carries markup that
 * came from data (image names, tags and alert evidence are written by whoever can push or sign).
 * Only `Html` values (the result of another `html` template) are inserted as they are.
 */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * `text` as HTML text or an attribute value. Bidirectional and zero-width characters are shown as
 * `\uXXXX`: from a certificate or a tag, they could make one identity read as another.
 */
export function escapeHtml(text: string): string {
  return showUnprintable(text).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Values a template accepts: nothing (null, undefined, false) renders as nothing; arrays are joined. */
export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

function toHtml(value: HtmlValue): string {
  if (value instanceof Html) return value.value;
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(toHtml).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += toHtml(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Markup from a trusted constant (the stylesheet), never from data. */
export function trusted(markup: string): Html {
  return new Html(markup);
}
