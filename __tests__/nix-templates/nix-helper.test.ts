import * as path from 'path';
import { NixError, nixEval, nixParse } from '../helpers/nix';
import { clusterFixture, NODES } from './support';

// __tests__/helpers/nix.ts, which other test suites may reuse.

describe('helpers/nix', () => {
  it('given a file, an expression and --arg/--argstr values, when evaluated, then the JSON value comes back', () => {
    expect(nixEval<{ name: string }>({ file: clusterFixture('single-master') }).name).toBe('solo');
    expect(nixEval({ expr: '{ x }: x + 1' }, { args: { x: '41' } })).toBe(42);
    expect(nixEval({ expr: '{ who }: "hello ${who}"' }, { argstr: { who: 'nix' } })).toBe('hello nix');
  });

  it('given a syntax error, when parsed, then a NixError carries Nix\'s message', () => {
    expect(() => nixEval({ expr: '{ a = ; }' })).toThrow(NixError);
    expect(() => nixEval({ expr: 'throw "boom"' })).toThrow(/boom/);
    expect(nixParse(path.join(NODES, 'worker.nix'))).toMatch(/services/);
  });

  describe('given no nix-instantiate', () => {
    const saved = process.env.NIX_INSTANTIATE;
    beforeAll(() => {
      process.env.NIX_INSTANTIATE = '/nonexistent/nix-instantiate';
    });
    afterAll(() => {
      if (saved === undefined) delete process.env.NIX_INSTANTIATE;
      else process.env.NIX_INSTANTIATE = saved;
    });

    it('then running nix throws an error saying what to install, instead of skipping', () => {
      expect(() => nixParse(path.join(NODES, 'worker.nix'))).toThrow(/nix-instantiate was not found on PATH.*apt-get install nix-bin/);
      expect(() => nixEval({ expr: '1' })).toThrow(/not skipped/);
    });
  });
});
