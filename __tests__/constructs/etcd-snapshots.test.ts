import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { TerraformStack, Testing } from 'cdktf';
import { ClusterDescription, ClusterValidationError, formatProblem, NicoCluster, validateClusterDescription } from '../../constructs';
import { VALID } from '../fixtures/invalid-descriptions';

// The S3 secret access key is given as a file path in a cluster file and in TypeScript: it is checked
// without ever being shown, and it never lands in the synthesized configuration.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-etcd-s3-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string, content: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content, { mode: 0o600 });
  return p;
};
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const withS3 = (s3: object): ClusterDescription => ({ ...VALID, etcdSnapshots: { s3: { bucket: 'nico-backups', accessKeyId: 'AKIAEXAMPLE', ...s3 } } });

describe('given S3 credentials for the etcd snapshots', () => {
  test('when the secret key file holds a valid key (and a trailing newline), then the description is valid', () => {
    expect(validateClusterDescription(withS3({ secretAccessKeyFile: file('good', `${SECRET}\n`) })).problems).toEqual([]);
  });

  test.each([
    ['a quote, which would end the environment file\'s quoting', `${SECRET}'; touch /tmp/x; '`],
    ['a second line', `${SECRET}\nAWS_SESSION_TOKEN=x`],
    ['a space', 'two words'],
    ['nothing', ''],
  ])('when the secret key file holds %s, then the problem names the field and the file, never the content', (_what, content) => {
    const secretFile = file('bad', content);
    const { problems } = validateClusterDescription(withS3({ secretAccessKeyFile: secretFile }));
    expect(problems).toEqual([{ field: 'etcdSnapshots.s3.secretAccessKeyFile', rule: expect.stringMatching(/must hold only the secret access key/), value: secretFile }]);
    const message = formatProblem(problems[0]);
    if (content.length > 0) expect(message).not.toContain(content.slice(0, 12));
  });

  test('when the secret key file does not exist, then the problem names the field', () => {
    const { problems } = validateClusterDescription(withS3({ secretAccessKeyFile: path.join(dir, 'missing') }));
    expect(problems.map((p) => p.field)).toEqual(['etcdSnapshots.s3.secretAccessKeyFile']);
  });

  test('when the endpoint CA file is not a PEM certificate, then the problem names the field', () => {
    const { problems } = validateClusterDescription(withS3({ secretAccessKeyFile: file('ok', SECRET), endpointCaFile: file('ca', 'not a certificate') }));
    expect(problems).toEqual([{ field: 'etcdSnapshots.s3.endpointCaFile', rule: expect.stringMatching(/PEM certificate/), value: path.join(dir, 'ca') }]);
  });

  test('when a NicoCluster is synthesized, then the key is read by Terraform (file()) and is nowhere in the JSON', () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, 'consumer');
    new NicoCluster(stack, 'prod', { description: withS3({ secretAccessKeyFile: file('synth', SECRET) }) });
    const json = Testing.synth(stack);
    expect(json).not.toContain(SECRET);
    const call = JSON.parse(json).module.prod;
    expect(call.etcd_s3_secret_access_key).toMatch(/^\$\{sensitive\(file\(".*synth"\)\)\}$/);
    expect(call.etcd_snapshots).toEqual({ s3: { bucket: 'nico-backups', access_key_id: 'AKIAEXAMPLE' } });
  });

  test('when only the access key id is given, then construction fails naming the missing secret key file', () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, 'consumer');
    expect(() => new NicoCluster(stack, 'prod', { description: withS3({}) })).toThrow(ClusterValidationError);
    expect(() => new NicoCluster(stack, 'prod', { description: withS3({}) })).toThrow(/etcdSnapshots\.s3\.secretAccessKeyFile: is required with etcdSnapshots\.s3\.accessKeyId/);
  });
});
