import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './run';

/** A Node object of the lab's cluster model (standins/k3s-model.sh), as kubectl would show it. */
export interface ModelNode {
  /** The Ready condition: its k3s runs on the disk it registered from and is registered. */
  ready: boolean;
  unschedulable: boolean;
  role: 'server' | 'agent';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** `key[=value]:Effect` */
  taints: string[];
}

export interface ModelCluster {
  /** The node of each etcd member. */
  members: string[];
  /** Node password secrets (`<node>.node-password.k3s`). */
  secrets: string[];
  /** Pods a test put in the cluster (placePods), as `<ns>/<name>`: part of what a snapshot holds. */
  pods: string[];
  nodes: Record<string, ModelNode>;
}

/** What a node's k3s service came to at its last start. */
export interface ModelProcess {
  /** stopped: the unit is stopped (systemctl stop), or k3s exited after a cluster reset. */
  state: 'running' | 'failed' | 'rejected' | 'unregistered' | 'stopped';
  /** The cluster id it belongs to, or '-' when it never got that far. */
  cluster: string;
  /** Still running from the disk it started on (not wiped, reinstalled or cleaned). */
  alive: boolean;
  /** k3s's log line for a failed or rejected start. */
  message: string;
}

export interface ClusterModel {
  /** Every etcd cluster ever created in the lab, oldest first: more than one is a split cluster. */
  ids: string[];
  clusters: Record<string, ModelCluster>;
  processes: Record<string, ModelProcess>;
}

/** Reads the lab's cluster model (what the k3s stand-ins of all nodes keep). */
export async function readClusterModel(labDir: string): Promise<ClusterModel> {
  const result = await run('/bin/sh', [join(labDir, 'lib', 'k3s-dump.sh')], { env: { NICO_TEST_LAB: labDir } });
  if (result.code !== 0) throw new Error(`reading the cluster model failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as ClusterModel;
}

/**
 * Puts pods on a node of the cluster `id` (what a drain has to evict): `owner` 'none' is a bare pod,
 * which kubectl drain refuses to delete without --force.
 */
export function placePods(labDir: string, id: string, node: string, pods: { name: string; owner: string }[]): void {
  mkdirSync(join(labDir, 'k3s', id, 'pods'), { recursive: true });
  writeFileSync(join(labDir, 'k3s', id, 'pods', node), pods.map((p) => `${p.name} ${p.owner}\n`).join(''));
}
