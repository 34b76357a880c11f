/**
 * Renders Terraform JSON configuration as HCL. Written for what our constructs synthesize, instead of
 * `cdktf synth --hcl`, which mangles strings holding `{` with interpolation, drops falsy defaults and
 * renders blocks as attributes. The output is then formatted by `terraform fmt`.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Index just past the `}` closing the interpolation that opens at `start` (at `${`). */
function interpolationEnd(s: string, start: number): number {
  let depth = 0;
  let quote = false;
  for (let i = start + 2; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === '"') quote = false;
      // A template inside a quoted expression string: skip its interpolation whole.
      else if (c === '$' && s[i + 1] === '{') i = interpolationEnd(s, i) - 1;
    } else if (c === '"') quote = true;
    else if (c === '{') depth++;
    else if (c === '}') {
      if (depth === 0) return i + 1;
      depth--;
    }
  }
  throw new Error(`unbalanced interpolation in ${JSON.stringify(s)}`);
}

/** A JSON string value as an HCL expression: bare when it is one interpolation, else a quoted template. */
export function stringExpression(s: string): string {
  if (s.startsWith('${') && interpolationEnd(s, 0) === s.length) return s.slice(2, -1);
  let out = '"';
  for (let i = 0; i < s.length; ) {
    if (s.startsWith('${', i)) {
      const end = interpolationEnd(s, i);
      out += s.slice(i, end);
      i = end;
    } else {
      const c = s[i];
      out += c === '"' ? '\\"' : c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '%' && s[i + 1] === '{' ? '%%' : c;
      i++;
    }
  }
  return out + '"';
}

const key = (k: string) => (IDENTIFIER.test(k) ? k : JSON.stringify(k));

/** Any JSON value as an HCL expression. */
export function expression(value: Json, indent = ''): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return stringExpression(value);
  if (typeof value !== 'object') return String(value);
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    const items = value.map((v) => expression(v, inner));
    const flat = `[${items.join(', ')}]`;
    return flat.length <= 100 && !flat.includes('\n') ? flat : `[\n${items.map((i) => `${inner}${i},`).join('\n')}\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${key(k)} = ${expression(v, inner)}`).join('\n')}\n${indent}}`;
}

/** Attributes whose values are keywords or references, not strings. */
const BARE: Record<string, (v: Json) => string> = {
  depends_on: (v) => `[${(v as string[]).join(', ')}]`,
  ignore_changes: (v) => (v === 'all' ? 'all' : `[${(v as string[]).join(', ')}]`),
  when: (v) => String(v),
  type: (v) => String(v),
};

/** Nested blocks by name: a JSON object (or a list of them) becomes `name { ... }` blocks. */
// `subject` is the tls provider's certificate subject (tls_self_signed_cert, tls_cert_request).
const BLOCKS = new Set(['lifecycle', 'connection', 'validation', 'precondition', 'postcondition', 'subject', 'assert']);

/** The body of a block: attributes first, then nested blocks, as terraform-aws-modules write them. */
export function body(obj: JsonObject, indent: string, bareKeys: readonly string[] = []): string {
  const lines: string[] = [];
  const blocks: string[] = [];
  // Meta-arguments lead, then attributes, then depends_on, then nested blocks.
  const rank = (k: string) => (k === 'count' || k === 'for_each' ? 0 : k === 'depends_on' ? 2 : 1);
  for (const [k, v] of Object.entries(obj).sort(([a], [b]) => rank(a) - rank(b))) {
    if (k === '//') continue; // cdktf metadata
    if (k === 'provisioner') {
      for (const p of v as JsonObject[]) for (const [kind, b] of Object.entries(p)) blocks.push(block(`provisioner "${kind}"`, b as JsonObject, indent));
    } else if (BLOCKS.has(k)) {
      for (const b of Array.isArray(v) ? v : [v]) blocks.push(block(k, b as JsonObject, indent));
    } else if (bareKeys.includes(k) && k in BARE) {
      lines.push(`${indent}${k} = ${BARE[k](v)}`);
    } else {
      lines.push(`${indent}${key(k)} = ${expression(v, indent)}`);
    }
  }
  return [lines.join('\n'), blocks.join('\n\n')].filter((part) => part !== '').join('\n\n');
}

/** `header { body }` with the body indented one level below `indent`. */
export function block(header: string, obj: JsonObject, indent = ''): string {
  const inner = indent + '  ';
  const text = body(obj, inner, ['depends_on', 'ignore_changes', 'when', ...(header.startsWith('variable') ? ['type'] : [])]);
  return `${indent}${header} {\n${text}\n${indent}}`;
}
