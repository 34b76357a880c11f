import type { TestLab } from './lab';

// Runs inside the namespace (node cannot enter one itself): waits until every address:port answers
// with an SSH banner, which proves sshd accepts connections, not just that the port is bound.
const PROBE = `
const net = require('net');
const deadline = Date.now() + Number(process.argv[1]);
const probe = (host, port) => new Promise((resolve) => {
  const socket = net.connect({ host, port });
  const done = (ok) => { socket.destroy(); resolve(ok); };
  socket.setTimeout(1000, () => done(false));
  socket.once('data', (d) => done(d.toString().startsWith('SSH-')));
  socket.once('error', () => done(false));
});
(async () => {
  for (const target of process.argv.slice(2)) {
    const [host, port] = target.split(' ');
    while (!(await probe(host, Number(port)))) {
      if (Date.now() > deadline) { console.error('no SSH banner from ' + host + ':' + port); process.exit(1); }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
})();`;

/** Resolves once all nodes accept SSH connections; fails early, with the sshd log, if one exits. */
export async function waitForPorts(lab: TestLab, timeoutMs: number): Promise<void> {
  const targets = lab.nodes.map((node) => `${node.address} ${node.port}`);
  const probe = lab.exec(process.execPath, ['-e', PROBE, String(timeoutMs), ...targets]).then((r) => {
    if (r.code !== 0) throw new Error(`sshd did not come up in ${timeoutMs} ms: ${r.stderr.trim()}`);
  });
  const died = lab.nodes.map((node) => node.whenExited().then(() => {
    throw new Error(`sshd of node ${node.name} exited while starting; its log:\n${node.sshdLog()}`);
  }));
  await Promise.race([probe, ...died]);
}
