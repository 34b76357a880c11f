import { App, TerraformLocal, TerraformStack, Testing } from 'cdktf';
import { terraformLiteral, terraformStringLiteral } from '../../constructs/terraform-literal';

/** What cdktf writes into the synthesized JSON for a local holding `value`. */
function synthesized(value: unknown): unknown {
  const app = Testing.app();
  const stack = new TerraformStack(app as App, 's');
  new TerraformLocal(stack, 'x', value).overrideLogicalId('x');
  return JSON.parse(Testing.synth(stack)).locals.x;
}

describe('terraformLiteral', () => {
  test.each([
    ['plain text', 'plain text'],
    ['${file("/etc/shadow")}', '$${file("/etc/shadow")}'],
    ['%{ for x in y }', '%%{ for x in y }'],
    ['$${already escaped}', '$$${already escaped}'],
    ['lone $ and % and { }', 'lone $ and % and { }'],
  ])('given %j, when escaped, then it is %j', (input, expected) => {
    expect(terraformLiteral(input)).toBe(expected);
  });

  test('given cdktf token markers, when escaped and synthesized, then cdktf leaves them alone', () => {
    const hostile = ['${TfToken[TOKEN.1]}', '#{TfToken[TOKEN.2]}', '&{TfToken[TOKEN.3]}'];
    for (const h of hostile) {
      const out = synthesized(terraformLiteral(`a ${h} b`)) as string;
      expect(out).not.toContain('{TfToken[');
    }
  });

  test('given a nested object, when escaped, then every string at any depth is escaped and other values kept', () => {
    expect(terraformLiteral({ a: ['${x}', 1, null, true], b: { c: '%{y}' } })).toEqual({ a: ['$${x}', 1, null, true], b: { c: '%%{y}' } });
  });

  test('given an escaped value, when synthesized by cdktf, then cdktf does not escape it again', () => {
    expect(synthesized(terraformLiteral({ k: 'ssh-ed25519 AAAA ${path.cwd}' }))).toEqual({ k: 'ssh-ed25519 AAAA $${path.cwd}' });
  });
});

describe('terraformStringLiteral', () => {
  test('given quotes, backslashes, newlines and template sequences, then it is one quoted HCL string', () => {
    expect(terraformStringLiteral('a"b\\c\n${x}%{y}')).toBe('"a\\"b\\\\c\\n$${x}%%{y}"');
  });
});
