import * as fs from 'fs';
import * as path from 'path';
import { ClusterDescription } from '../../constructs';
import { listFiles } from '../../constructs/internal';
import { VALID } from '../fixtures/invalid-descriptions';
import { synthApp, tempDir, terraform } from '../helpers/terraform';

jest.setTimeout(10 * 60 * 1000);

/** Every file of the tree, path => bytes. */
const readTree = (dir: string) => Object.fromEntries(listFiles(dir).map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('base64')]));

// README, install section: "`cluster.nix` carries nothing for the install: the flake is the same with or
// without it, and NICO's four-field `cluster.nix` works as before." Checked on one state (same keys and
// token), deploy off: what the install settings change is the deployment's, never the tree.
describe('given a cluster applied without install (deploy off)', () => {
  const work = tempDir('tf-install-tree');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('when install, installGeneration and kexecUrl are set, then the plan has no change and every file of the flake tree is byte for byte the same', () => {
    const without: ClusterDescription = { ...VALID, install: false };
    const first = synthApp(without, work);
    terraform(first.stackDir, ['init', '-input=false']);
    terraform(first.stackDir, ['apply', '-input=false', '-auto-approve']);
    const tree = path.join(first.outDir, 'nix');
    const before = readTree(tree);
    expect(Object.keys(before)).toContain('cluster.nix');

    const withInstall: ClusterDescription = {
      ...VALID,
      install: true,
      kexecUrl: 'https://mirror.example/nixos-kexec-installer-noninteractive-x86_64-linux.tar.gz',
      workers: VALID.workers?.map((w, i) => (i === 0 ? { ...w, installGeneration: 2 } : w)),
    };
    const second = synthApp(withInstall, work);
    expect(second.stackDir).toBe(first.stackDir);
    const plan = terraform(second.stackDir, ['plan', '-input=false', '-no-color', '-detailed-exitcode'], { allowFailure: true });
    expect(plan.stdout).toMatch(/No changes/);
    expect(plan.status).toBe(0);
    terraform(second.stackDir, ['apply', '-input=false', '-auto-approve']);
    expect(readTree(tree)).toEqual(before);
    expect(fs.readFileSync(path.join(tree, 'cluster.nix'), 'utf8')).not.toMatch(/install|kexec/i);
  });
});
