import * as fs from 'fs';
import * as path from 'path';
import { nixParse } from '../helpers/nix';
import { TEMPLATES } from './support';

// The tree nico-cluster copies verbatim into every cluster's flake directory.

const nixFiles = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? nixFiles(p) : e.name.endsWith('.nix') ? [p] : [];
  });

describe('nix-templates/', () => {
  it('then it holds exactly the NICO layout (cluster.nix, keys and token are injected, not templated)', () => {
    expect(nixFiles(TEMPLATES).map((f) => path.relative(TEMPLATES, f)).sort()).toEqual([
      'flake.nix',
      'nodes/common.nix',
      'nodes/control-plane.nix',
      'nodes/disko-config.nix',
      'nodes/generator.nix',
      'nodes/minimal.nix',
      'nodes/worker.nix',
    ]);
    expect(fs.existsSync(path.join(TEMPLATES, 'README.md'))).toBe(true);
    for (const injected of ['cluster.nix', 'machine-ssh-private-key', 'machine-ssh-public-key', 'join-token']) {
      expect(fs.existsSync(path.join(TEMPLATES, injected))).toBe(false);
    }
  });

  it.each(nixFiles(TEMPLATES).map((f) => [path.relative(TEMPLATES, f), f]))('then %s parses', (_, file) => {
    expect(nixParse(file)).not.toBe('');
  });

  it('then no module brings lib or pkgs into scope with `with`', () => {
    for (const f of nixFiles(path.join(TEMPLATES, 'nodes'))) {
      expect({ f, with: /\bwith\s+(lib|pkgs)\s*;/.test(fs.readFileSync(f, 'utf8')) }).toEqual({ f, with: false });
    }
  });

  it('then generator.nix uses builtins only (no nixpkgs, no lib)', () => {
    const src = fs.readFileSync(path.join(TEMPLATES, 'nodes', 'generator.nix'), 'utf8').replace(/#.*$/gm, '');
    expect(src.match(/(?<![\w/-])(lib|pkgs)\.|<nixpkgs>|\bimport\b/g)).toBeNull();
    expect(src.trimStart()).toMatch(/^cluster:/);
  });
});
