import * as fs from 'fs';
import * as path from 'path';

/**
 * The NixOS/disko options the flake may set (nixos-options-subset.json) and a checker for values
 * set at option paths: does the path exist, does it exist in nixos-24.05, does the value have the
 * option's type. Types are written in the JSON as Nix-ish strings ("listOf port", "enum [...]",
 * "ints.between 1 255 (...)"); a small parser turns them into validators.
 */

export interface OptionEntry {
  readonly type: string;
  readonly since: string;
  readonly exists?: boolean;
  readonly notes?: string;
}

export const OPTIONS_FILE = path.join(__dirname, '..', 'nix-templates', 'fixtures', 'nixos-options-subset.json');
/** Where the reference lives beside the repo (DESIGN.md); the fixture above is a copy of it. */
export const SHARED_OPTIONS_FILE = path.join(__dirname, '..', '..', '..', 'shared', 'reference', 'nixos-options-subset.json');

export function loadOptions(file = OPTIONS_FILE): Record<string, OptionEntry> {
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { options: Record<string, OptionEntry> }).options;
}

/** Options of the module system itself, present in every release; the JSON lists only service options. */
const CORE_OPTIONS: Record<string, OptionEntry> = {
  assertions: { type: 'listOf (submodule {assertion: bool; message: str})', since: 'ancient' },
  'assertions.*.assertion': { type: 'bool', since: 'ancient' },
  'assertions.*.message': { type: 'str', since: 'ancient' },
};

// ---------------------------------------------------------------- types

/** A JSON value as eval-modules.nix writes it: derivations become { __derivation: name }. */
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Validator = (v: Json) => string | undefined;

const isObject = (v: Json): v is { [k: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);
const isDerivation = (v: Json) => isObject(v) && typeof v.__derivation === 'string';
const show = (v: Json) => JSON.stringify(v);

const check = (ok: (v: Json) => boolean, what: string): Validator => (v) => (ok(v) ? undefined : `expected ${what}, got ${show(v)}`);
const intIn = (lo: number, hi: number) => check((v) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi, `an integer in ${lo}..${hi}`);
const str = check((v) => typeof v === 'string', 'a string');
const either = (a: Validator, b: Validator): Validator => (v) => {
  const ea = a(v);
  const eb = ea && b(v);
  return ea && eb ? `${ea}; or ${eb}` : undefined;
};
const listOf = (el: Validator): Validator => (v) => {
  if (!Array.isArray(v)) return `expected a list, got ${show(v)}`;
  return v.map((x, i) => el(x) && `[${i}]: ${el(x)}`).find((e) => e);
};
const attrsOf = (el: Validator): Validator => (v) => {
  if (!isObject(v) || isDerivation(v)) return `expected an attrset, got ${show(v)}`;
  return Object.entries(v).map(([k, x]) => el(x) && `.${k}: ${el(x)}`).find((e) => e);
};
/** Nix regexes (builtins.match semantics: whole string, POSIX classes) as JS regexes. */
const strMatching = (re: string): Validator => {
  const js = re.replace(/\[:alnum:\]/g, 'A-Za-z0-9').replace(/\[:digit:\]/g, '0-9').replace(/\[:space:\]/g, '\\s');
  const rx = new RegExp(`^(?:${js})$`);
  return check((v) => typeof v === 'string' && rx.test(v), `a string matching ${re}`);
};
const absolute = check((v) => typeof v === 'string' && v.startsWith('/'), 'an absolute path');
const unitScalar = check((v) => ['string', 'number', 'boolean'].includes(typeof v), 'a unit option value (str, int or bool)');

const BASE: Record<string, Validator> = {
  bool: check((v) => typeof v === 'boolean', 'a bool'),
  str,
  lines: str,
  unitName: str,
  singleLineStr: check((v) => typeof v === 'string' && !v.includes('\n'), 'a single-line string'),
  nonEmptyStr: check((v) => typeof v === 'string' && v.trim() !== '', 'a non-empty string'),
  int: check((v) => Number.isInteger(v), 'an integer'),
  port: intIn(0, 65535),
  package: check(isDerivation, 'a package (derivation)'),
  path: (v) => (isDerivation(v) ? undefined : absolute(v)),
  'absolute-pathname': absolute,
  null: check((v) => v === null, 'null'),
  unitOption: either(unitScalar, listOf(unitScalar)),
  submodule: check((v) => isObject(v) && !isDerivation(v), 'an attrset'),
  anything: () => undefined,
  attrs: check((v) => isObject(v) && !isDerivation(v), 'an attrset'),
  sysctl: either(check((v) => ['string', 'number', 'boolean'].includes(typeof v), 'a sysctl value'), check((v) => v === null, 'null')),
  deviceType: check((v) => isObject(v) && typeof v.type === 'string', 'a disko content attrset with a type'),
  partitionType: check((v) => isObject(v) && typeof v.type === 'string', 'a disko content attrset with a type'),
};

/** Free-text regex descriptions used by the JSON instead of a literal regex. */
const PROSE_REGEX: [RegExp, string][] = [
  [/4-hex/, '[A-Fa-f0-9]{4}'],
  [/GUID/, '[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}'],
];

/** Recursive-descent parser for the type strings; trailing "(...)" prose after a type is an annotation. */
class TypeParser {
  private pos = 0;
  constructor(private readonly src: string) {}

  static parse(type: string): Validator {
    // "24.05: str ; 24.11+: either str (listOf str)": we target 24.05.
    const for2405 = /24\.05:\s*([^;]+)/.exec(type);
    const p = new TypeParser((for2405 ? for2405[1] : type).trim());
    const v = p.type();
    p.ws();
    if (p.pos < p.src.length) throw new Error(`cannot parse type "${type}" after "${p.src.slice(0, p.pos)}"`);
    return v;
  }

  private ws() {
    while (/\s/.test(this.src[this.pos] ?? '')) this.pos++;
  }
  private peek(s: string) {
    this.ws();
    return this.src.startsWith(s, this.pos);
  }
  private word(): string {
    this.ws();
    const m = /^[A-Za-z][\w.-]*/.exec(this.src.slice(this.pos));
    if (!m) throw new Error(`type expected at "${this.src.slice(this.pos)}" in "${this.src}"`);
    this.pos += m[0].length;
    return m[0];
  }
  /** Text up to the matching close bracket, brackets balanced. */
  private balanced(open: string, close: string): string {
    this.ws();
    if (this.src[this.pos] !== open) throw new Error(`"${open}" expected in "${this.src}"`);
    let depth = 0;
    const start = this.pos;
    do {
      if (this.src[this.pos] === open) depth++;
      else if (this.src[this.pos] === close) depth--;
      this.pos++;
    } while (depth > 0 && this.pos < this.src.length);
    return this.src.slice(start + 1, this.pos - 1);
  }

  type(): Validator {
    let v = this.atom();
    while (this.peek('or ')) {
      this.word();
      v = either(v, this.atom());
    }
    return v;
  }

  /** One type; `annotated` lets a following "(...)" be commentary (not so for either's first argument). */
  private atom(annotated = true): Validator {
    if (this.peek('(')) {
      const inner = this.balanced('(', ')');
      return TypeParser.parse(inner);
    }
    const w = this.word();
    let v: Validator;
    switch (w) {
      case 'listOf':
        return listOf(this.atom());
      case 'attrsOf':
        return attrsOf(this.atom());
      case 'nullOr':
        return either(BASE.null, this.atom());
      case 'either':
        return either(this.atom(false), this.atom());
      case 'enum': {
        // Values are quoted ("MASTER") or, in a few entries, bare (once pages both).
        const values = this.balanced('[', ']').trim().split(/\s+/).map((x) => x.replace(/^"|"$/g, ''));
        v = check((x) => values.includes(x as string), `one of ${values.join(', ')}`);
        break;
      }
      case 'oneOf': {
        const alternatives = this.balanced('[', ']').trim().split(/\s+/).map((t) => TypeParser.parse(t));
        return alternatives.reduce(either);
      }
      case 'coercedTo': {
        // coercedTo FROM (function) TO
        const from = this.atom(false);
        this.balanced('(', ')');
        return either(from, this.atom());
      }
      case 'strMatching': {
        if (this.peek('"')) {
          const m = /^"((?:[^"\\]|\\.)*)"/.exec(this.src.slice(this.pos))!;
          this.pos += m[0].length;
          v = strMatching(m[1].replace(/\\(.)/g, '$1'));
        } else {
          const prose = /^[^()]*/.exec(this.src.slice(this.pos))![0];
          this.pos += prose.length;
          const known = PROSE_REGEX.find(([k]) => k.test(prose));
          if (!known) throw new Error(`unknown regex description "${prose}"`);
          v = strMatching(known[1]);
        }
        break;
      }
      case 'ints.between': {
        const m = /^\s*(\d+)\s+(\d+)/.exec(this.src.slice(this.pos))!;
        this.pos += m[0].length;
        v = intIn(Number(m[1]), Number(m[2]));
        break;
      }
      default:
        v = BASE[w];
        if (!v) throw new Error(`unknown type "${w}" in "${this.src}"`);
        // "submodule {fields}" or "submodule virtual-ip-options": the fields are listed as paths.
        if (w === 'submodule' && this.peek('{')) this.balanced('{', '}');
        else if (w === 'submodule' && /^\s*[a-z][\w-]*-options/.test(this.src.slice(this.pos))) this.word();
        // "sysctl value (bool | str | int | null)"
        if (w === 'sysctl' && this.peek('value')) this.word();
    }
    // Annotation such as "(int 0..32 via addCheck)" or "(types.int before 23.11)": an int range
    // in it narrows an int; anything else is commentary.
    if (annotated && this.peek('(')) {
      const note = this.balanced('(', ')');
      const range = /(\d+)\.\.(\d+)/.exec(note);
      if (range && w === 'int') v = intIn(Number(range[1]), Number(range[2]));
    }
    return v;
  }
}

// ---------------------------------------------------------------- availability in 24.05

/** Why an option cannot be used on nixos-24.05, or undefined when it can. */
export function unavailableIn2405(e: OptionEntry): string | undefined {
  if (e.exists === false || /DOES NOT EXIST|REMOVED/.test(e.type)) return `does not exist (${e.type})`;
  if (/never|removed|not in 24\.05|post-24\.05/i.test(e.since)) return `not in 24.05 (since: ${e.since})`;
  if (/^disko/i.test(e.since)) return undefined; // disko follows its own input, not the nixpkgs release
  const release = /(\d\d)\.(\d\d)/.exec(e.since);
  if (release && Number(release[1]) * 100 + Number(release[2]) > 2405) return `appeared after 24.05 (since: ${e.since})`;
  return undefined;
}

// ---------------------------------------------------------------- walking definitions

interface TrieNode {
  entry?: { key: string; option: OptionEntry };
  children: Map<string, TrieNode>;
}

const PLACEHOLDER = /^<[^>]+>$/;
const TAGGED = /^<content>\.type = "(\w+)" : (.+)$/;

export interface Problem {
  readonly path: string;
  readonly problem: string;
}

/**
 * Checks attrset trees of option definitions against the options list. Paths are matched segment by
 * segment; `<name>`-style segments match any attribute name and `*` any list element. Options whose
 * type is free-form (attrsOf X with nothing listed below) accept any attribute, checked against X.
 * Disko `content` attrsets are tagged by their `type`, with the fields of each tag from the
 * `<content>.type = "<tag>" : <field>` entries.
 */
export class OptionChecker {
  private readonly root: TrieNode = { children: new Map() };
  private readonly tagged = new Map<string, Map<string, OptionEntry>>();
  private readonly validators = new Map<string, Validator>();

  constructor(options: Record<string, OptionEntry> = loadOptions()) {
    for (const [key, option] of Object.entries({ ...options, ...CORE_OPTIONS })) {
      const tag = TAGGED.exec(key);
      if (tag) {
        const fields = this.tagged.get(tag[1]) ?? new Map<string, OptionEntry>();
        // "randomEncryption/priority/..." lists several fields with "/"-separated types.
        const names = tag[2].split('/');
        const types = option.type.split(' / ');
        names.forEach((n, i) => fields.set(n, { ...option, type: types.length === names.length ? types[i] : option.type }));
        this.tagged.set(tag[1], fields);
        continue;
      }
      // "content.type (gpt)": the `type` field of a gpt content attrset.
      const segments = key.replace(/ \((\w+)\)$/, '').split('.');
      let node = this.root;
      for (const s of segments) {
        if (!node.children.has(s)) node.children.set(s, { children: new Map() });
        node = node.children.get(s)!;
      }
      node.entry = { key, option };
    }
    this.tagged.forEach((fields, tag) => fields.set('type', { type: `enum ["${tag}"]`, since: 'disko 1.0' }));
  }

  /** The problems of one definition tree (empty when every path and value is fine). */
  check(tree: Json): Problem[] {
    const problems: Problem[] = [];
    this.walk(this.root, tree, [], problems);
    return problems;
  }

  private validator(key: string, type: string): Validator {
    const id = `${key}\u0000${type}`;
    if (!this.validators.has(id)) this.validators.set(id, TypeParser.parse(type));
    return this.validators.get(id)!;
  }

  private typeCheck(key: string, option: OptionEntry, value: Json, at: string[], problems: Problem[]) {
    const unavailable = unavailableIn2405(option);
    if (unavailable) problems.push({ path: at.join('.'), problem: `${key} ${unavailable}` });
    else {
      const error = this.validator(key, option.type)(value);
      if (error) problems.push({ path: at.join('.'), problem: `${key} has type ${option.type}: ${error}` });
    }
  }

  private walk(node: TrieNode, value: Json, at: string[], problems: Problem[]) {
    const entry = node.entry;
    if (entry && node.children.size === 0) {
      this.typeCheck(entry.key, entry.option, value, at, problems);
      if (/^(deviceType|partitionType)/.test(entry.option.type) && isObject(value)) this.walkTagged(value, at, problems);
      return;
    }
    if (entry) {
      // Listed option with listed sub-options: check availability here, fields below.
      const unavailable = unavailableIn2405(entry.option);
      if (unavailable) problems.push({ path: at.join('.'), problem: `${entry.key} ${unavailable}` });
    }
    if (Array.isArray(value) && node.children.has('*')) {
      value.forEach((el, i) => this.walk(node.children.get('*')!, el, [...at, String(i)], problems));
      return;
    }
    if (!isObject(value) || isDerivation(value)) {
      if (entry) this.typeCheck(entry.key, entry.option, value, at, problems);
      else problems.push({ path: at.join('.'), problem: 'is not an option listed in nixos-options-subset.json' });
      return;
    }
    for (const [k, v] of Object.entries(value)) {
      const child = node.children.get(k) ?? [...node.children.entries()].find(([s]) => PLACEHOLDER.test(s))?.[1];
      if (child) this.walk(child, v, [...at, k], problems);
      else problems.push({ path: [...at, k].join('.'), problem: 'is not an option listed in nixos-options-subset.json' });
    }
  }

  /** Fields of a disko content attrset (other than gpt, whose fields are listed as plain paths). */
  private walkTagged(value: { [k: string]: Json }, at: string[], problems: Problem[]) {
    const fields = this.tagged.get(value.type as string);
    if (!fields) {
      problems.push({ path: at.join('.'), problem: `disko content type ${show(value.type)} is not listed in nixos-options-subset.json` });
      return;
    }
    for (const [k, v] of Object.entries(value)) {
      const field = fields.get(k);
      if (field) this.typeCheck(`<content>.type = "${value.type}" : ${k}`, field, v, [...at, k], problems);
      else problems.push({ path: [...at, k].join('.'), problem: `is not a field of disko content type ${value.type}` });
    }
  }
}

/** Rebuilds the attrset tree from eval-modules.nix leaves (paths are lists, so dotted names stay intact). */
export function treeOf(leaves: ReadonlyArray<{ path: string[]; value: unknown }>): Json {
  const root: { [k: string]: Json } = {};
  for (const { path: p, value } of leaves) {
    let node = root;
    p.slice(0, -1).forEach((s) => {
      node[s] ??= {};
      node = node[s] as { [k: string]: Json };
    });
    node[p[p.length - 1]] = value as Json;
  }
  return root;
}
