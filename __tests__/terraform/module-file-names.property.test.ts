import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as fc from 'fast-check';
import { ClusterDescription } from '../../constructs';
import { PLAIN_FILE_NAME } from '../../constructs/flake-tree';
import { synthApp, tempDir, terraform, terraformConsole } from '../helpers/terraform';
import { writeGraphRoot, writeModuleRoot } from '../helpers/module-root';

jest.setTimeout(10 * 60 * 1000);

// Issue 25: the names of files inside a user's module directory were spliced into here-documents; a
// file named with a newline and a heredoc terminator ran commands as root on every node (and, with
// `install`, on the runner). Names that are not plain are refused by the plan, naming the path;
// those that pass travel base64-encoded and reach the node byte-for-byte, never as shell text.

const SCRIPT_DIR = path.resolve(__dirname, '..', '..', 'constructs', 'templates', 'nico-node');
/** The node side of an upload, as deploy.sh writes it ahead of the emitted lines. */
const NODE_PUT = 'set -eu\numask 077\nput() { mkdir -p "$(dirname "$1")"; base64 -d >"$1"; }\n';

/** One path component a file system accepts: no "/" and no NUL, not "." or "..". */
const hostilePart = fc
  .oneof(
    fc.constantFrom('x\nNICO_EOF\ntouch "$CANARY"\n', "a'b", 'a"b', '$(touch "$CANARY")', '`touch "$CANARY"`', 'NICO_EOF', "'NICO_EOF'", 'x\n', '\n', ' -rf', '*', 'a\\b', '${CANARY}', 'é€', 'a\tb\rc'),
    // Any ASCII but NUL (control characters included) and a few non-ASCII characters, all precomposed:
    // Terraform keeps strings in NFC.
    fc.string({ unit: fc.oneof(fc.integer({ min: 1, max: 0x7f }).map((c) => String.fromCharCode(c)), fc.constantFrom('é', '€', '😀', '\u200b')), minLength: 1, maxLength: 12 }),
    fc.stringMatching(/^[A-Za-z0-9._+-]{1,12}$/),
  )
  .map((s) => s.replace(/[\/\u0000]/g, '_'))
  .filter((s) => s !== '.' && s !== '..' && s.length > 0 && Buffer.byteLength(s) < 200);
const hostileName = fc.array(hostilePart, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/'));

const plain = (name: string) => new RegExp(PLAIN_FILE_NAME).test(name);

describe('file names on their way to a node (the script side)', () => {
  const work = tempDir('tf-file-names');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('given any file names, when the lines the node script emits for them run in a shell as the node runs them, then each file lands byte-for-byte and nothing in a name is executed', () => {
    const common = fs.readFileSync(path.join(SCRIPT_DIR, 'common.sh'), 'utf8');
    let run = 0;
    fc.assert(
      fc.property(fc.uniqueArray(hostileName, { minLength: 1, maxLength: 6, comparator: (a, b) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`) }), (names) => {
        const dir = path.join(work, `run-${run++}`);
        const canary = path.join(work, `canary-${run}`);
        const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, NICO_NODE: 'n', NICO_FILE_COUNT: String(names.length), CANARY: canary };
        names.forEach((name, i) => (env[`NICO_FILE_${i}`] = `${Buffer.from(name).toString('base64')}\n${Buffer.from(`content of ${i}`).toString('base64')}`));
        // Given: what the runner sends (common.sh's emit, with the deployment's environment).
        const emitted = spawnSync('/bin/sh', ['-c', `${common}\nemit NICO_FILE "$NICO_FILE_COUNT" '"$dir"'`], { env, encoding: 'buffer' });
        expect(emitted.status).toBe(0);
        // When: the node's shell reads it on stdin, as `ssh node sh -s` does.
        const node = spawnSync('/bin/sh', ['-s'], { input: Buffer.concat([Buffer.from(`${NODE_PUT}dir=${dir}\n`), emitted.stdout]), env: { PATH: process.env.PATH, CANARY: canary } });
        expect(node.stderr.toString()).toBe('');
        expect(node.status).toBe(0);
        // Then: every name is exactly a file, with its content, and the canary was never touched.
        names.forEach((name, i) => expect(fs.readFileSync(path.join(dir, name), 'utf8')).toBe(`content of ${i}`));
        expect(fs.existsSync(canary)).toBe(false);
      }),
      { numRuns: 150, seed: 25 },
    );
  });
});

describe('file names in module directories (the plan side, real terraform)', () => {
  const work = tempDir('tf-file-names-plan');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  const description = (modules: string[], deploy: boolean): ClusterDescription => ({
    name: 'names',
    vip: '10.40.0.10',
    gateway: '10.40.0.1',
    controlPlane: [{ name: 'cp-01', ip: '10.40.0.11' }],
    nixosModules: modules,
    deploy,
  });
  /** A module directory holding default.nix and one file of the given name. */
  const moduleDir = (name: string, file: string): string => {
    const dir = path.join(work, 'modules', name);
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'default.nix'), '{ ... }: { }\n');
    fs.writeFileSync(path.join(dir, file), 'payload');
    return dir;
  };

  test('given 40 generated names, each in its own module directory, when Terraform reads the directories, then exactly the names that are not plain are refused, and the others reach the tree unchanged', () => {
    const names = fc.sample(hostileName, { numRuns: 40, seed: 7 });
    expect(names.some((n) => !plain(n)) && names.some(plain)).toBe(true);
    const dirs = names.map((n, i) => moduleDir(`m${i}`, n));
    const root = path.join(work, 'graph');
    writeGraphRoot(root, description(dirs, false), path.join(work, 'graph-out'));
    terraform(root, ['init', '-input=false']);
    const state = path.join(root, 'none.tfstate');
    const refused = terraformConsole<string[]>(root, state, 'local.bad_module_file_names');
    // Each message names the module directory (and the name, JSON-escaped, cut at 40 characters).
    expect(refused.every((m) => m.startsWith('nixosModules: "'))).toBe(true);
    expect(refused.map((m) => m.slice(m.lastIndexOf(' in ') + 4))).toEqual(dirs.filter((_d, i) => !plain(names[i])));
    const tree = terraformConsole<Record<string, string>>(root, state, 'local.user_module_files');
    names.forEach((n, i) => {
      if (plain(n)) expect(tree[`extra-modules/all/${String(i).padStart(2, '0')}-m${i}/${n}`]).toBe('payload');
    });
  });

  const EVIL = 'x\nNICO_EOF\ntouch /tmp/nico-pwned\n';

  test('given a module file named with a newline and a heredoc terminator, when the app synthesizes, then it is refused naming the field, the rule and the name, and nothing is written', () => {
    const dir = moduleDir('evil-app', EVIL);
    const workDir = path.join(work, 'app');
    expect(() => synthApp(description([dir], true), workDir)).toThrow(
      'nixosModules[0]: must hold only files with plain names (path components of letters, digits, ".", "_", "+" or "-"); this one is not (got "x\\nNICO_EOF\\ntouch ")', // at most 40 characters of a value
    );
    expect(fs.existsSync(path.join(workDir, 'out'))).toBe(false);
  });

  test.each([
    ['deploy on', true],
    ['deploy off, tree written locally', false],
  ])('given the same file in a module of the HCL module (%s), when planned, then the plan is refused naming the file and its directory, and nothing is written', (_label, deploy) => {
    const dir = moduleDir(`evil-${deploy}`, EVIL);
    const root = path.join(work, `hcl-${deploy}`);
    const out = path.join(work, `hcl-out-${deploy}`);
    writeModuleRoot(root, description([dir], deploy), out);
    terraform(root, ['init', '-input=false']);
    const plan = terraform(root, ['plan', '-input=false', '-no-color'], { allowFailure: true });
    expect(plan.status).not.toBe(0);
    const flat = (t: string) => t.replace(/[\s│]+/g, ' ');
    const output = flat(plan.stdout + plan.stderr);
    expect(output).toContain('A file in a NixOS module directory must have a plain name');
    expect(output).toContain(flat(deploy ? `Wrong: nixosModules: "x\\nNICO_EOF\\ntouch /tmp/nico-pwned\\n" in ${dir}.` : `Wrong: "extra-modules/all/00-evil-false/x\\nNICO_EOF\\ntouch /tmp/nico-pwned\\n" in the tree.`));
    expect(fs.existsSync(out)).toBe(false);
  });
});
