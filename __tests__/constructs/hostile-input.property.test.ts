import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as fc from 'fast-check';
import { Testing } from 'cdktf';
import { stringify as toYaml } from 'yaml';
import { NicoClusterStack, validateClusterDescription } from '../../constructs';
import { ClusterFileError, synthesize } from '../../main';
import { hostileCase, readTerraformLiteral, withField } from '../helpers/hostile';

// A fixed seed keeps CI reproducible; fast-check prints the seed and the shrunk case on failure.
const RUNS = { numRuns: 300, seed: 10 };

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
/** The description as the module variables it becomes: snake_case keys, node keys too (not label keys). */
const asVariables = (d: object): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(d).map(([k, v]) => [snake(k), k === 'controlPlane' || k === 'workers' ? (v as object[]).map((n) => Object.fromEntries(Object.entries(n).map(([nk, nv]) => [snake(nk), nv]))) : v]),
  );
/** Fields that take a reference when the value is wholly one cdktf token (see NicoClusterProps.description). */
const REFERENCE_FIELDS = /^(vip|gateway|nameservers\[0\]|(controlPlane|workers)\[\d\]\.(ip|sshHost|hostKey))$/;

/** Every string of a JSON value, with its path. */
const strings = (v: unknown, at = ''): Array<[string, string]> =>
  typeof v === 'string' ? [[at, v]] : v !== null && typeof v === 'object' ? Object.entries(v).flatMap(([k, x]) => strings(x, `${at}.${k}`)) : [];

describe('hostile strings in every string field (property)', () => {
  test('given any of them, when the construct is built, then it is refused naming the field, or every value reads back literally', () => {
    fc.assert(
      fc.property(hostileCase, ({ field, value }) => {
        const d = withField(field, value);
        const { problems } = validateClusterDescription(d);
        const app = Testing.app();
        if (REFERENCE_FIELDS.test(field.field) && /^\$\{TfToken\[[A-Za-z0-9_.]+\]\}$/.test(value)) {
          // Wholly a token: a reference by design, checked by the module in Terraform.
          expect(() => new NicoClusterStack(app, 'hostile', { description: d, outputDir: '/tmp/x' })).not.toThrow();
          return;
        }
        if (problems.length > 0) {
          expect(problems.some((p) => p.field === field.field || p.rule.includes(field.field))).toBe(true);
          expect(() => new NicoClusterStack(app, 'hostile', { description: d, outputDir: '/tmp/x' })).toThrow(/Invalid cluster description/);
          return;
        }
        const stack = new NicoClusterStack(app, 'hostile', { description: d, outputDir: '/tmp/x' });
        const { source: _source, '//': _meta, output_dir: _out, module_address: _address, ...variables } = JSON.parse(Testing.synth(stack)).module.cluster;
        expect(JSON.stringify(variables)).not.toContain('{TfToken[');
        const read = Object.fromEntries(strings(variables).map(([at, s]) => [at, readTerraformLiteral(s)]));
        expect(read).toEqual(Object.fromEntries(strings(asVariables(d))));
      }),
      RUNS,
    );
  });

  test('given any of them in a cluster file, when main.ts runs, then it is refused naming the field with nothing written, or synthesized', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-hostile-main-'));
    try {
      fc.assert(
        fc.property(hostileCase, ({ field, value }) => {
          const file = path.join(tmp, 'cluster.yaml');
          fs.writeFileSync(file, toYaml(withField(field, value)));
          const env = { NICO_CLUSTER_FILE: file, NICO_OUT_DIR: path.join(tmp, 'out'), CDKTF_OUTDIR: path.join(tmp, 'cdktf.out') };
          let error: unknown;
          try {
            synthesize(env);
          } catch (e) {
            error = e;
          }
          if (error !== undefined) {
            expect(error).toBeInstanceOf(ClusterFileError);
            const message = (error as Error).message;
            expect(message).toContain(`- ${field.field}: `);
            // At most a short excerpt of the value is printed.
            if (value.length > 60) expect(message).not.toContain(value.slice(0, 60));
            expect(fs.existsSync(env.NICO_OUT_DIR)).toBe(false);
            expect(fs.existsSync(env.CDKTF_OUTDIR)).toBe(false);
          } else {
            expect(fs.existsSync(path.join(env.CDKTF_OUTDIR, 'manifest.json'))).toBe(true);
          }
          fs.rmSync(env.NICO_OUT_DIR, { recursive: true, force: true });
          fs.rmSync(env.CDKTF_OUTDIR, { recursive: true, force: true });
        }),
        { ...RUNS, numRuns: 100 },
      );
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
