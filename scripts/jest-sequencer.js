// Longest test file first, so that the workers finish together: the e2e files are long but mostly wait
// (stand-in sleeps, SSH, readiness polls), and one started last would run alone at the end.
//
// A file's expected time is what jest measured for it on this machine before (its perf cache), else
// the estimate below (seconds, one file at a time on 2 cores: the per-file times of `npm test` with
// one worker, split files estimated from their share), else a guess from its project: a new e2e file
// is assumed long, anything else short. Files that failed last time still go
// first, as with jest's own sequencer. Update an estimate when a file's time changes a lot (the run's
// per-file times are in jest's output); a missing one only costs balance, never a test.
const path = require('path');
const Sequencer = require('@jest/test-sequencer').default;

const ESTIMATE = {
  '__tests__/e2e/install-kill.test.ts': 290,
  '__tests__/e2e/install-machine.test.ts': 170,
  '__tests__/e2e/install.test.ts': 100,
  '__tests__/e2e/lifecycle.test.ts': 110,
  '__tests__/e2e/deploy.test.ts': 100,
  '__tests__/e2e/lifecycle-nodes.test.ts': 95,
  '__tests__/e2e/rollout-failure.test.ts': 95,
  '__tests__/e2e/deploy-module.test.ts': 85,
  '__tests__/e2e/lifecycle-removal.test.ts': 70,
  '__tests__/e2e/demo.test.ts': 67,
  '__tests__/e2e/rolling-faults.test.ts': 65,
  '__tests__/e2e/backups.test.ts': 63,
  '__tests__/e2e/restore.test.ts': 60,
  '__tests__/e2e/rollout-failure-control-plane.test.ts': 55,
  '__tests__/modules/nico-cluster.test.ts': 50,
  '__tests__/e2e/rolling.test.ts': 45,
  '__tests__/e2e/changes.test.ts': 45,
  '__tests__/e2e/changes-faults.test.ts': 45,
  '__tests__/e2e/runner-safety.test.ts': 42,
  '__tests__/e2e/secrets.test.ts': 37,
  '__tests__/e2e/k3s-standin.test.ts': 19,
  '__tests__/library/consumer.test.ts': 18,
  '__tests__/modules/hostile-input.test.ts': 16,
  '__tests__/e2e/ssh-connections.test.ts': 15,
  '__tests__/terraform/cluster-pki.test.ts': 11,
  '__tests__/modules/parity.test.ts': 10,
  '__tests__/modules/hostile-input.property.test.ts': 10,
  '__tests__/terraform/demo-output.test.ts': 10,
  '__tests__/nix-templates/flake-eval.test.ts': 9,
  '__tests__/terraform/app.test.ts': 9,
  '__tests__/terraform/secret-modes.test.ts': 8,
  '__tests__/terraform/module-file-names.property.test.ts': 7,
  '__tests__/e2e/harness.test.ts': 6,
  '__tests__/modules/cluster-pki.test.ts': 6,
};
const UNKNOWN_E2E = 90;
const UNKNOWN = 5;

class LongestFirst extends Sequencer {
  expected(test) {
    const measured = this.time(test);
    if (measured != null) return measured / 1000;
    const rel = path.relative(test.context.config.rootDir, test.path).split(path.sep).join('/');
    if (rel in ESTIMATE) return ESTIMATE[rel];
    return rel.startsWith('__tests__/e2e/') ? UNKNOWN_E2E : UNKNOWN;
  }

  sort(tests) {
    const expected = new Map(tests.map((t) => [t, this.expected(t)]));
    return [...tests].sort((a, b) => {
      const failed = Number(this.hasFailed(b)) - Number(this.hasFailed(a));
      return failed || expected.get(b) - expected.get(a) || (a.path < b.path ? -1 : 1);
    });
  }
}

module.exports = LongestFirst;
