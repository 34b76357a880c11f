import * as fc from 'fast-check';
import { ClusterDescription } from '../../constructs';
import { VALID } from '../fixtures/invalid-descriptions';

/** Pieces an attacker would put into a value read by Terraform, Nix, cdktf or a shell. */
const FRAGMENTS = [
  '${', '%{', '}', '$${', '%%{', '${file("/etc/hostname")}', '${join(",", fileset("/etc/ssh", "*key"))}', '%{ if true }x%{ endif }',
  '${TfToken[TOKEN.1]}', '#{TfToken[TOKEN.2]}', '&{TfToken[TOKEN.3]}', '${builtins.readFile /etc/passwd}', '"; evil = "', "'", '"', '\\', '\\"',
  '\n', '\r', '\t', '\u0000', '\u001b[31m', '`id`', '$(id)', ';', '|', '&&', '>', '*', '~', '-oProxyCommand=sh', '..', '/', ' ', '#',
  'é', 'e\u0301', '🙂', '\u202e', '\u2028', '\ufeff', '192.168.1.101', 'ssh-ed25519', 'AAAA', 'a', '0',
];

/** Strings made of hostile fragments and arbitrary text, plain unicode, or very long. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 8 }).map((a) => a.join('')) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 }) },
  { weight: 1, arbitrary: fc.integer({ min: 300, max: 5000 }).chain((n) => fc.constantFrom('x', '${', '%{', 'é').map((c) => c.repeat(n))) },
);

/** A host key line whose comment is hostile: the one field that accepts arbitrary printable text. */
export const hostileHostKey: fc.Arbitrary<string> = hostileString.map((comment) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1xZ7 ${comment}`);

type Mutable = { -readonly [K in keyof ClusterDescription]: any };

/** Every string field of a description: its path as the validator names it, and how to set it. */
export const STRING_FIELDS: ReadonlyArray<{ readonly field: string; readonly set: (d: Mutable, v: string) => void }> = [
  { field: 'name', set: (d, v) => (d.name = v) },
  { field: 'vip', set: (d, v) => (d.vip = v) },
  { field: 'gateway', set: (d, v) => (d.gateway = v) },
  { field: 'nameservers[0]', set: (d, v) => (d.nameservers = [v]) },
  { field: 'interface', set: (d, v) => (d.interface = v) },
  { field: 'nixpkgs', set: (d, v) => (d.nixpkgs = v) },
  { field: 'sshUser', set: (d, v) => (d.sshUser = v) },
  { field: 'remoteFlakeDir', set: (d, v) => (d.remoteFlakeDir = v) },
  ...(['controlPlane[0]', 'workers[1]'] as const).flatMap((node) =>
    (['name', 'ip', 'sshHost', 'disk', 'hostKey'] as const).map((key) => ({
      field: `${node}.${key}`,
      set: (d: Mutable, v: string) => {
        const [list, i] = node === 'controlPlane[0]' ? ['controlPlane', 0] : ['workers', 1];
        d[list as 'workers'][i as number] = { ...d[list as 'workers'][i as number], [key]: v };
      },
    })),
  ),
];

/** A copy of VALID with one field set to a value. */
export function withField(field: (typeof STRING_FIELDS)[number], value: string): ClusterDescription {
  const d = JSON.parse(JSON.stringify(VALID));
  field.set(d, value);
  return d;
}

/** A case: a field, and a hostile value for it (host keys get hostile comments half of the time). */
export const hostileCase = fc.constantFrom(...STRING_FIELDS).chain((field) =>
  (field.field.endsWith('hostKey') ? fc.oneof(hostileHostKey, hostileString) : hostileString).map((value) => ({ field, value })),
);

/**
 * What Terraform makes of a string of its JSON syntax that holds no expression: `$${` and `%%{` are
 * escapes, `${""}` is empty (terraformLiteral's split of cdktf's token markers). Throws on anything
 * Terraform would evaluate.
 */
export function readTerraformLiteral(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; ) {
    if (s.startsWith('$${', i) || s.startsWith('%%{', i)) {
      out += s[i] + '{';
      i += 3;
    } else if (s.startsWith('${""}', i)) {
      i += 5;
    } else if (s.startsWith('${', i) || s.startsWith('%{', i)) {
      throw new Error(`evaluated by Terraform at ${i}: ${JSON.stringify(s.slice(i, i + 30))}`);
    } else {
      out += s[i++];
    }
  }
  return out;
}
