/**
 * Reads infra/*.tf into one plain object with @cdktf/hcl2json (the HCL parser Terraform uses,
 * compiled to wasm), so tests can check the wiring without a Terraform binary. Expressions stay
 * strings (`${google_service_account.x.email}`); `ref` pulls the resource a string refers to.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// Loaded with require, not import: its typings pull in `/// <reference lib="dom" />`, which would
// retype fetch for the whole program. The one function used is typed here instead.
const { parse } = createRequire(import.meta.url)('@cdktf/hcl2json') as {
  parse(filename: string, contents: string): Promise<Record<string, unknown>>;
};

export type Block = Record<string, unknown>;

export interface Terraform {
  /** type → name → body */
  resource: Record<string, Record<string, Block>>;
  data: Record<string, Record<string, Block>>;
  locals: Record<string, unknown>;
  variable: Record<string, Block>;
}

export const INFRA_DIR = path.resolve(import.meta.dirname, '../../../infra');

function mergeNamed(target: Record<string, Record<string, Block>>, source: unknown, file: string): void {
  for (const [type, byName] of Object.entries((source ?? {}) as Record<string, Record<string, Block[]>>)) {
    target[type] ??= {};
    for (const [name, bodies] of Object.entries(byName)) {
      if (target[type][name]) throw new Error(`${file}: ${type}.${name} is declared twice`);
      target[type][name] = bodies[0]!;
    }
  }
}

/** Parses HCL sources (file name → text) into one merged configuration. */
export async function parseTerraform(files: Record<string, string>): Promise<Terraform> {
  const tf: Terraform = { resource: {}, data: {}, locals: {}, variable: {} };
  for (const [file, text] of Object.entries(files)) {
    const json = await parse(file, text);
    mergeNamed(tf.resource, json['resource'], file);
    mergeNamed(tf.data, json['data'], file);
    for (const locals of (json['locals'] ?? []) as Block[]) Object.assign(tf.locals, locals);
    for (const [name, bodies] of Object.entries((json['variable'] ?? {}) as Record<string, Block[]>)) {
      tf.variable[name] = bodies[0]!;
    }
  }
  return tf;
}

export async function loadTerraform(dir = INFRA_DIR): Promise<Terraform> {
  const files: Record<string, string> = {};
  for (const name of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.tf'))
    .sort()) {
    files[name] = fs.readFileSync(path.join(dir, name), 'utf8');
  }
  return parseTerraform(files);
}

export function resources(tf: Terraform, type: string): [string, Block][] {
  return Object.entries(tf.resource[type] ?? {});
}

/** The first element of a nested block list (`build_config[0]`), or undefined. */
export function block(body: unknown, name: string): Block | undefined {
  const list = (body as Block | undefined)?.[name];
  return Array.isArray(list) ? (list[0] as Block | undefined) : undefined;
}

/** `${google_service_account.signer.email}` → { type, name } of the resource it refers to. */
export function ref(value: unknown, type: string): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = new RegExp(`\\$\\{${type}\\.([A-Za-z0-9_-]+)(?:\\[[^\\]]*\\])?\\.`).exec(value);
  return m?.[1];
}

/** `${var.x}` → the variable's default; `${local.x}` → the local's value; literals as they are. */
export function resolve(tf: Terraform, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const v = /^\$\{var\.([A-Za-z0-9_]+)\}$/.exec(value);
  if (v) return tf.variable[v[1]!]?.['default'];
  const l = /^\$\{local\.([A-Za-z0-9_]+)\}$/.exec(value);
  if (l) return resolve(tf, tf.locals[l[1]!]);
  return value;
}

/** A Terraform interpolation, as the parser renders one: expr('var.region') is "${var.region}". */
export function expr(expression: string): string {
  return `\${${expression}}`;
}

/** Every string anywhere in a parsed configuration, with its path, for global rules. */
export function* strings(node: unknown, at = ''): Generator<[string, string]> {
  if (typeof node === 'string') yield [at, node];
  else if (Array.isArray(node)) for (const [i, v] of node.entries()) yield* strings(v, `${at}[${i}]`);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) yield* strings(v, at ? `${at}.${k}` : k);
  }
}

// One token of the expressions `evaluate` reads: white space, a string without interpolation, a
// number, a variable or local, a bool, a call of one of FUNCTIONS, an operator.
const TOKEN =
  /\s+|"(?:[^"\\$]|\\.)*"|\d+(?:\.\d+)?|(?:var|local)\.[A-Za-z0-9_]+|true|false|replace\(|==|!=|&&|\|\||[!?:(),]/y;

/**
 * Terraform's functions `evaluate` reads. replace(string, substring, replacement): every
 * occurrence of substring, or, when it is wrapped in slashes, of that regular expression.
 */
const FUNCTIONS = {
  replace(value: unknown, substring: unknown, replacement: unknown): string {
    if (typeof value !== 'string' || typeof substring !== 'string' || typeof replacement !== 'string') {
      throw new Error('evaluate: replace() takes three strings');
    }
    const pattern = /^\/(.+)\/$/s.exec(substring);
    return pattern
      ? value.replace(new RegExp(pattern[1]!, 'g'), replacement)
      : value.replaceAll(substring, () => replacement);
  },
};

/**
 * The value of a simple expression (a resource's `count`, a boolean local) for the given variable
 * values, the others at their defaults: string, number and bool literals, `var.` and `local.`
 * references, `replace()`, `==`, `!=`, `!`, `&&`, `||`, `? :` and parentheses. Anything else throws, so a check
 * built on it never passes on an expression it did not read. A literal is its own value.
 */
export function evaluate(
  tf: Terraform,
  value: unknown,
  vars: Record<string, unknown> = {},
  depth = 0,
): unknown {
  if (typeof value !== 'string') return value;
  const m = /^\$\{([\s\S]*)\}$/.exec(value);
  if (!m) return value;
  if (depth > 16) throw new Error(`evaluate: locals nested too deep at ${value}`);
  const source = m[1]!;
  let js = '';
  for (let at = 0; at < source.length; ) {
    TOKEN.lastIndex = at;
    const token = TOKEN.exec(source)?.[0];
    if (token === undefined)
      throw new Error(`evaluate: cannot read ${JSON.stringify(source.slice(at))} in ${value}`);
    at = TOKEN.lastIndex;
    let operand: unknown;
    if (token.startsWith('var.')) {
      const name = token.slice(4);
      if (!(name in vars) && tf.variable[name] === undefined)
        throw new Error(`evaluate: no variable ${name}`);
      operand = name in vars ? vars[name] : tf.variable[name]!['default'];
    } else if (token.startsWith('local.')) {
      const name = token.slice(6);
      if (!(name in tf.locals)) throw new Error(`evaluate: no local ${name}`);
      operand = evaluate(tf, tf.locals[name], vars, depth + 1);
    } else if (token === 'replace(') {
      js += 'functions.replace(';
      continue;
    } else {
      js += token === '==' ? '===' : token === '!=' ? '!==' : token;
      continue;
    }
    if (!['string', 'number', 'boolean'].includes(typeof operand)) {
      throw new Error(`evaluate: ${token} is not a string, number or bool`);
    }
    js += JSON.stringify(operand);
  }
  return new Function('functions', `return (${js});`)(FUNCTIONS);
}
