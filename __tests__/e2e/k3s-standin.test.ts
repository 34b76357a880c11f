// The k3s stand-in refuses what k3s refuses: each rule below is one that k3s's source enforces
// (the stand-in's comments cite the file and function). Without them the deployment tests would
// pass where a real cluster breaks. Driven over SSH, as a deployment drives it, without Terraform.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, placePods, TestLab } from './harness';

jest.setTimeout(60_000);

const TOKEN = 'K10aaaa::server:secret-one';
const VIP = 'https://127.0.0.100:6443';
const NODES = [
  { name: 'cp-01', address: '127.0.0.11' },
  { name: 'cp-02', address: '127.0.0.12' },
  { name: 'cp-03', address: '127.0.0.13' },
  { name: 'w-01', address: '127.0.0.21', role: 'agent' as const },
];
const ip = (name: string) => NODES.find((n) => n.name === name)!.address;

describe('the k3s stand-in behaves as k3s does', () => {
  let work: string;
  let lab: TestLab;

  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'nico-k3s-standin-'));
    const key = await generateKeyPair(work, 'client');
    lab = await TestLab.start({ nodes: NODES, authorizedKey: key.publicKey, identityFile: key.privateKeyFile });
  }, 60_000);

  afterEach(async () => {
    await lab?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const ssh = (name: string, command: string) => lab.exec('ssh', [...lab.sshArgs(name), command], { timeoutMs: 30_000 });
  const kubectl = (via: string, args: string) => ssh(via, `k3s kubectl ${args}`);
  /** One start of the node's k3s service, as systemd runs it after a switch (token file and, on servers, kubeconfig in place). */
  const start = (name: string, args: string, token = TOKEN) =>
    ssh(name, `mkdir -p /var/lib/nico/secrets /etc/rancher/k3s && printf '%s' '${token}' >/var/lib/nico/secrets/join-token && ` +
      `${args.startsWith('server') ? 'touch /etc/rancher/k3s/k3s.yaml && ' : ''}k3s ${args} --token-file /var/lib/nico/secrets/join-token --node-ip ${ip(name)}`);
  /** A reinstall: the machine's disk is new (k3s's data dir and node password gone). */
  const wipe = (name: string) => lab.node(name).shell('rm -rf /var/lib/rancher/* /etc/rancher/node');
  const ready = (via: string, node: string) => kubectl(via, `get node ${node} -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'`);

  async function threeServers() {
    expect(await start('cp-01', 'server --cluster-init')).toMatchObject({ code: 0 });
    for (const n of ['cp-02', 'cp-03']) expect(await start(n, `server --server ${VIP}`)).toMatchObject({ code: 0 });
    const model = await lab.cluster();
    expect(model.ids).toHaveLength(1);
    expect(model.clusters[model.ids[0]].members).toEqual(['cp-01', 'cp-02', 'cp-03']);
    return model.ids[0];
  }

  // Cluster reset and restore (k3s-cluster-reset.sh). `systemctl stop k3s` stops the node's process;
  // `start` is the unit's start again.
  const stop = (name: string) => ssh(name, 'systemctl stop k3s');
  const reset = (name: string, extra: string, token = TOKEN) =>
    ssh(name, `printf '%s' '${token}' >/var/lib/nico/secrets/join-token && k3s server --server ${VIP} --token-file /var/lib/nico/secrets/join-token --node-ip ${ip(name)} ${extra}`);
  const save = (name: string) => ssh(name, 'k3s etcd-snapshot save --name before');
  const pods = async (id: string) => (await lab.cluster()).clusters[id].pods.sort();

  test('given --cluster-reset-restore-path without --cluster-reset, then k3s refuses the flags (server.go run)', async () => {
    await threeServers();
    await stop('cp-01');
    const r = await reset('cp-01', '--cluster-reset-restore-path=/tmp/x');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid flag use; --cluster-reset required with --cluster-reset-restore-path');
  });

  test('given a server whose k3s still runs, then a reset cannot bind its ports', async () => {
    await threeServers();
    const r = await reset('cp-01', '--cluster-reset');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('address already in use');
  });

  test('given a snapshot path that does not exist, then the reset fails with k3s\'s words and the server restarts on its own data (etcd.go Reset)', async () => {
    const id = await threeServers();
    await stop('cp-01');
    const r = await reset('cp-01', '--cluster-reset --cluster-reset-restore-path=/var/lib/rancher/k3s/server/db/snapshots/nope');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('etcd: snapshot path does not exist: /var/lib/rancher/k3s/server/db/snapshots/nope');
    expect(await start('cp-01', `server --server ${VIP}`)).toMatchObject({ code: 0 });
    expect((await lab.cluster()).clusters[id].members).toEqual(['cp-01', 'cp-02', 'cp-03']);
    expect(await ready('cp-02', 'cp-01')).toMatchObject({ stdout: 'True' });
  });

  test('given a snapshot, when the init node resets from it, then state written after it is gone, a server with its old data is refused, and with its etcd data moved aside it rejoins', async () => {
    const id = await threeServers();
    placePods(lab.dir, id, 'cp-02', [{ name: 'default/before', owner: 'ReplicaSet' }]);
    const saved = await save('cp-01');
    expect(saved).toMatchObject({ code: 0 });
    const file = saved.stdout.match(/Snapshot (\S+) saved/)![1];
    placePods(lab.dir, id, 'cp-02', [{ name: 'default/before', owner: 'ReplicaSet' }, { name: 'default/after', owner: 'ReplicaSet' }]);
    for (const n of ['cp-01', 'cp-02', 'cp-03']) await stop(n);
    const r = await reset('cp-01', `--cluster-reset --cluster-reset-restore-path=/var/lib/rancher/k3s/server/db/snapshots/${file}`);
    expect(r).toMatchObject({ code: 0 });
    expect(r.stderr).toContain('Managed etcd cluster membership has been reset, restart without --cluster-reset flag now');
    expect(await pods(id)).toEqual(['default/before']);
    expect((await lab.cluster()).clusters[id].members).toEqual(['cp-01']);
    expect(await start('cp-01', `server --server ${VIP}`)).toMatchObject({ code: 0 });
    expect(await start('cp-02', `server --server ${VIP}`)).toMatchObject({ code: 0 });
    expect((await lab.cluster()).processes['cp-02']).toMatchObject({ state: 'failed', message: expect.stringContaining('not a member of the etcd cluster') });
    expect(await lab.node('cp-02').shell('mv /var/lib/rancher/k3s/server/db/etcd /var/lib/rancher/k3s/server/db/etcd-old')).toMatchObject({ code: 0 });
    expect(await start('cp-02', `server --server ${VIP}`)).toMatchObject({ code: 0 });
    expect(await ready('cp-01', 'cp-02')).toMatchObject({ stdout: 'True' });
    expect((await lab.cluster()).ids).toEqual([id]);
  });

  test('given a snapshot taken with another token, then the restore fails (storage.go) and the server keeps failing until its old data is back', async () => {
    const id = await threeServers();
    const file = (await save('cp-01')).stdout.match(/Snapshot (\S+) saved/)![1];
    await stop('cp-01');
    const r = await reset('cp-01', `--cluster-reset --cluster-reset-restore-path=/var/lib/rancher/k3s/server/db/snapshots/${file}`, 'K10aaaa::server:another-secret');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('bootstrap data already found and encrypted with different token');
    await start('cp-01', 'server');
    expect((await lab.cluster()).processes['cp-01']).toMatchObject({ state: 'failed', message: expect.stringContaining('encrypted with different token') });
    expect((await lab.cluster()).clusters[id].members).toEqual(['cp-01', 'cp-02', 'cp-03']);
  });

  test('given a reset without a snapshot, then a second one is refused while the reset-flag exists (managed.go Cluster.start)', async () => {
    await threeServers();
    await stop('cp-01');
    expect(await reset('cp-01', '--cluster-reset')).toMatchObject({ code: 0 });
    const again = await reset('cp-01', '--cluster-reset');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('Managed etcd cluster membership was previously reset');
  });

  test('given a running cluster, when its init node comes back on an empty disk with --cluster-init, then k3s creates a second cluster (bootstrap.go shouldBootstrapLoad)', async () => {
    await threeServers();
    await wipe('cp-01');
    await start('cp-01', 'server --cluster-init');
    const model = await lab.cluster();
    expect(model.ids).toHaveLength(2);
    expect(model.processes['cp-01']).toMatchObject({ state: 'running', cluster: model.ids[1] });
  });

  test('given a running cluster, when a server restarts on its own disk with --cluster-init still set, then it rejoins its member and no cluster is created (etcd.go IsInitialized)', async () => {
    const id = await threeServers();
    await start('cp-01', 'server --cluster-init');
    expect((await lab.cluster()).ids).toEqual([id]);
    expect(await ready('cp-02', 'cp-01')).toMatchObject({ code: 0, stdout: 'True' });
  });

  test('given a joined server, when it joins again on an empty disk while its etcd member exists, then etcd refuses a duplicate node name; after its Node is deleted through a peer it joins', async () => {
    const id = await threeServers();
    await wipe('cp-02');
    await start('cp-02', `server --server ${VIP}`);
    let model = await lab.cluster();
    expect(model.processes['cp-02']).toMatchObject({ state: 'failed', message: expect.stringContaining('duplicate node name found') });
    expect(await ready('cp-01', 'cp-02')).toMatchObject({ stdout: 'False' });

    expect(await kubectl('cp-01', 'delete node cp-02 --request-timeout=5s')).toMatchObject({ code: 0 });
    expect((await lab.cluster()).clusters[id].members).toEqual(['cp-01', 'cp-03']);
    await start('cp-02', `server --server ${VIP}`);
    model = await lab.cluster();
    expect(model.ids).toEqual([id]);
    expect(model.clusters[id].members).toEqual(['cp-01', 'cp-03', 'cp-02']);
    expect(await ready('cp-01', 'cp-02')).toMatchObject({ code: 0, stdout: 'True' });
  });

  test("given a registered worker, when it registers again with a new node password while its Node's secret lives, then it never becomes Ready (nodepassword.go verifyHash); after its Node is deleted it does", async () => {
    const id = await threeServers();
    await start('w-01', `agent --server ${VIP}`);
    expect(await ready('cp-01', 'w-01')).toMatchObject({ code: 0, stdout: 'True' });
    await wipe('w-01');
    await start('w-01', `agent --server ${VIP}`);
    expect((await lab.cluster()).processes['w-01']).toMatchObject({ state: 'rejected', message: expect.stringContaining('Node password rejected') });
    expect(await ready('cp-01', 'w-01')).toMatchObject({ stdout: 'False' });

    expect(await kubectl('cp-02', 'delete node w-01')).toMatchObject({ code: 0 });
    expect((await lab.cluster()).clusters[id].secrets).not.toContain('w-01.node-password.k3s');
    await start('w-01', `agent --server ${VIP}`);
    expect(await ready('cp-01', 'w-01')).toMatchObject({ code: 0, stdout: 'True' });
  });

  test('given a worker with another token, when it starts, then it never registers and k3s says why (clientaccess token.go)', async () => {
    const id = await threeServers();
    await start('w-01', `agent --server ${VIP}`, 'K10bbbb::server:secret-two');
    expect((await lab.cluster()).processes['w-01']).toMatchObject({ state: 'failed', message: expect.stringContaining('token CA hash does not match') });
    expect((await lab.cluster()).clusters[id].nodes['w-01']).toBeUndefined();
  });

  test('given labels and taints on the command line, then they apply at registration only; kubectl label/taint change the Node', async () => {
    const id = await threeServers();
    await start('w-01', `agent --server ${VIP} --node-label tier=a --node-taint dedicated=gpu:NoSchedule`);
    await start('w-01', `agent --server ${VIP} --node-label tier=b`);
    let node = (await lab.cluster()).clusters[id].nodes['w-01'];
    expect(node.labels).toEqual({ tier: 'a' });
    expect(node.taints).toEqual(['dedicated=gpu:NoSchedule']);

    expect(await kubectl('cp-01', 'label node w-01 tier=b')).toMatchObject({ code: 1, stderr: expect.stringContaining("'tier' already has a value (a), and --overwrite is false") });
    expect(await kubectl('cp-01', 'label --overwrite node w-01 tier=b')).toMatchObject({ code: 0 });
    expect(await kubectl('cp-01', 'taint node w-01 dedicated:NoSchedule-')).toMatchObject({ code: 0 });
    expect(await kubectl('cp-01', 'taint node w-01 dedicated:NoSchedule-')).toMatchObject({ code: 1, stderr: expect.stringContaining('not found') });
    node = (await lab.cluster()).clusters[id].nodes['w-01'];
    expect(node.labels).toEqual({ tier: 'b' });
    expect(node.taints).toEqual([]);
    expect(await kubectl('cp-01', "get nodes -l tier=b -o 'jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}'")).toMatchObject({ code: 0, stdout: 'w-01\n' });
  });

  test('given two of three servers down, when a Node is deleted, then the request blocks until its timeout and the Node and member stay', async () => {
    const id = await threeServers();
    lab.node('cp-02').control({ apiDown: true });
    lab.node('cp-03').control({ apiDown: true });
    expect(await kubectl('cp-01', 'get --raw /readyz')).toMatchObject({ code: 1 });
    const bounded = await kubectl('cp-01', 'delete node cp-03 --request-timeout=1s');
    expect(bounded).toMatchObject({ code: 1, stderr: expect.stringContaining('context deadline exceeded') });
    const killed = await ssh('cp-01', 'timeout 2 k3s kubectl delete node cp-03');
    expect(killed.code).toBe(124);
    expect((await lab.cluster()).clusters[id].members).toEqual(['cp-01', 'cp-02', 'cp-03']);
    // A server whose API is down refuses kubectl outright.
    expect(await kubectl('cp-02', 'get nodes')).toMatchObject({ code: 1, stderr: expect.stringContaining('refused') });
  });

  test('given a bare pod on a node, when it is drained, then kubectl names the pod and the reason', async () => {
    const id = await threeServers();
    placePods(lab.dir, id, 'cp-03', [{ name: 'default/debug', owner: 'none' }, { name: 'default/web-1', owner: 'ReplicaSet' }]);
    const drain = await kubectl('cp-01', 'drain cp-03 --ignore-daemonsets --delete-emptydir-data --timeout=5s');
    expect(drain).toMatchObject({ code: 1, stderr: expect.stringContaining('cannot delete Pods that declare no controller (use --force to override): default/debug') });
    expect((await lab.cluster()).clusters[id].nodes['cp-03'].unschedulable).toBe(true);
  });
});
