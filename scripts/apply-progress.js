// Reads `terraform apply -json` (Terraform's machine-readable UI: one JSON message a line, a stable
// interface, unlike the human text) on stdin and prints, for scripts/demo.sh, one line per node step
// when it ends, with the time since the apply started and the step's own seconds; a line a minute while a
// step runs long; at the end a per-node table (node, role, action, seconds, result) and, last, each
// failure: the node, the step and the node script's own error line (`nico: <node>: error: ...`), which
// says what to fix. Everything Terraform said goes, as its human lines, to the log file.
//
// Usage: terraform apply -json plan | node scripts/apply-progress.js --nodes FILE --log FILE
//   --nodes FILE  what scripts/plan-summary.js wrote with --nodes-out (every node, its role and action)
//   --log FILE    Terraform's full output (its `@message` lines and the diagnostics)
const fs = require('fs');
const readline = require('readline');
const { nodeStep, clock } = require('./node-steps');

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const logFile = arg('--log');
const log = logFile ? fs.openSync(logFile, 'w', 0o600) : undefined;
// This filter must never die before Terraform is done: Terraform's next write would meet a closed pipe
// and kill it mid-apply, state unwritten (Go exits on SIGPIPE for stdout). So nothing here may throw:
// a bad nodes file means no table; a message it cannot follow is only logged.
function readPlanned(file) {
  try {
    const list = JSON.parse(fs.readFileSync(file, 'utf8'));
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}
const planned = arg('--nodes') ? readPlanned(arg('--nodes')) : [];
const roleOf = new Map(planned.map((n) => [n.name, n.role]));

/** What a finished step did, as the progress line says it. */
const DONE = { 'deploy:create': 'deployed', 'deploy:delete': 'drained and cleaned with #minimal', install: 'installed', forget: 'forgotten' };
const STEP = { 'deploy:create': 'deploy', 'deploy:delete': 'remove', install: 'install', forget: 'forget' };
/** How many of a failed step's last output lines (before its error line) are shown with the failure. */
const TAIL = 6;
const stepKey = (s) => (s.kind === 'deploy' ? `deploy:${s.action === 'delete' ? 'delete' : 'create'}` : s.kind);

let started;
const steps = new Map(); // resource address -> the step running or run there
const deposed = new Set(); // addresses whose replaced record is being deleted (no script runs)
const done = []; // finished and failed steps, in order
const diagnostics = [];
let summary;

const isDeposed = (hook, res) => hook.action === 'delete' && deposed.has(res.addr);
const say = (line) => process.stdout.write(`${line}\n`);
const since = (m) => (Date.parse(m['@timestamp']) - started) / 1000;
const who = (s) => `${s.node} (${roleOf.get(s.node) ?? s.role ?? '?'})`;

function handle(m) {
  started ??= Date.parse(m['@timestamp']);
  const hook = m.hook ?? {};
  const res = hook.resource ?? {};
  const step = nodeStep(res.resource_type, res.resource_name, res.resource_key);
  switch (m.type) {
    case 'apply_start': {
      if (!step) return;
      const before = steps.get(res.addr);
      // create_before_destroy: after a redeploy, the replaced (deposed) record is deleted without any
      // script, under the same address. So a deploy record deleted after its new one
      // was created, or one of a node the plan does not remove.
      const removed = /cleaned with #minimal|removed/.test(planned.find((n) => n.name === step.node)?.short ?? 'cleaned with #minimal');
      if (hook.action === 'delete' && step.kind === 'deploy' && ((before && before.action === 'create') || !removed)) {
        deposed.add(res.addr);
        return;
      }
      steps.set(res.addr, { ...step, action: hook.action, errors: [], tail: [], nextStill: 60 });
      return;
    }
    case 'apply_progress': {
      const s = steps.get(res.addr);
      if (!s || isDeposed(hook, res) || hook.elapsed_seconds < s.nextStill) return;
      s.nextStill = hook.elapsed_seconds + 60;
      say(`demo: [${clock(since(m))}] ${who(s)}: ${STEP[stepKey(s)]} still running (${hook.elapsed_seconds}s)`);
      return;
    }
    case 'provision_progress': {
      const s = steps.get(res.addr);
      const output = hook.output ?? '';
      if (!s || output.startsWith('Executing: ')) return;
      const error = /^nico: (\S+): error: (.*)$/.exec(output);
      if (error) s.errors.push(error[2]);
      else s.tail = [...s.tail, output].slice(-TAIL);
      return;
    }
    case 'apply_complete':
    case 'apply_errored': {
      const s = steps.get(res.addr);
      if (!s || isDeposed(hook, res)) return;
      s.seconds = hook.elapsed_seconds ?? 0;
      s.failed = m.type === 'apply_errored';
      done.push(s);
      const what = s.failed ? `${STEP[stepKey(s)]} FAILED after ${s.seconds}s` : `${DONE[stepKey(s)]} in ${s.seconds}s`;
      say(`demo: [${clock(since(m))}] ${who(s)}: ${what}`);
      return;
    }
    case 'diagnostic': {
      const d = m.diagnostic ?? { severity: m['@level'], summary: m['@message'] };
      // Terraform repeats some ("execution halted" once per stopped walk): each once.
      if (!diagnostics.some((x) => x.summary === d.summary && x.detail === d.detail && x.address === d.address)) diagnostics.push(d);
      return;
    }
    case 'change_summary':
      summary = m['@message'];
      return;
  }
}

function writeLog(m) {
  if (log === undefined) return;
  let text = m['@message'] ?? '';
  const d = m.diagnostic;
  if (d) text += `${d.address ? `\n  with ${d.address}` : ''}${d.detail ? `\n${d.detail}` : ''}`;
  fs.writeSync(log, `${text}\n`);
}

// Ctrl-C reaches Terraform and this filter alike: Terraform then stops gracefully, writes its state and
// says so; this reads on until it is done (see above).
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => undefined);

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  let m;
  try {
    m = JSON.parse(line);
  } catch {
    // Not a UI message (Terraform fails before its UI starts, e.g. on a stale plan): show it as is.
    say(line);
    if (log !== undefined) fs.writeSync(log, `${line}\n`);
    return;
  }
  try {
    writeLog(m);
    handle(m);
  } catch (e) {
    say(`demo: (progress: could not follow a message of type ${m?.type}: ${e.message})`);
  }
});
lines.on('close', () => {
  const failed = done.filter((s) => s.failed);
  // Terraform's errors that no node step explains with its own error line, shortened.
  const explained = new Set(failed.filter((s) => s.errors.length > 0).map((s) => s.node));
  for (const d of diagnostics.filter((x) => x.severity === 'error')) {
    const s = d.address ? steps.get(d.address) : undefined;
    if (s && explained.has(s.node)) continue;
    const detail = (d.detail ?? '').split('\n').filter((l) => l.trim()).slice(-4);
    say([`demo: terraform: Error: ${d.summary}${d.address ? ` (${d.address})` : ''}`, ...detail.map((l) => `  ${l}`)].join('\n'));
  }
  if (summary) say(`demo: ${summary}`);

  // The table: every node of the plan; seconds and result from the steps that ran.
  const ran = new Map();
  for (const s of done) (ran.get(s.node) ?? ran.set(s.node, []).get(s.node)).push(s);
  const rows = planned.map((n) => {
    const mine = ran.get(n.name) ?? [];
    const bad = mine.find((s) => s.failed);
    const result = bad ? `FAILED (${STEP[stepKey(bad)]})` : mine.length > 0 ? 'ok' : n.short === 'nothing' ? '-' : 'not run';
    return [n.name, n.role, n.short ?? n.action, mine.length > 0 ? String(mine.reduce((t, s) => t + s.seconds, 0)) : '-', result];
  });
  if (done.length > 0 || failed.length > 0) {
    const table = [['node', 'role', 'action', 'seconds', 'result'], ...rows];
    const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
    say('');
    for (const r of table) say(`  ${r.map((c, i) => c.padEnd(widths[i])).join('  ')}`.trimEnd());
  }
  if (logFile && (failed.length > 0 || diagnostics.some((d) => d.severity === 'error'))) say(`demo: Terraform's full output: ${logFile}`);
  // Last, where a user looks first: what failed, where, and the node script's own words on the fix.
  for (const s of failed) {
    if (s.tail.length > 0) say([`demo: ${who(s)}: the last lines of its ${STEP[stepKey(s)]} step:`, ...s.tail.map((l) => `  ${l}`)].join('\n'));
  }
  for (const s of failed) {
    const diag = diagnostics.find((d) => d.address && steps.get(d.address) === s);
    const why = s.errors.length > 0 ? s.errors.join('; ') : ((diag?.detail ?? '').trim().split('\n').pop() || 'see the full output');
    say(`demo: FAILED: ${who(s)}, step ${STEP[stepKey(s)]}: ${why}`);
  }
  if (log !== undefined) fs.closeSync(log);
});
