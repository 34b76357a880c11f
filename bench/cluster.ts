/** Cluster descriptions of the scale benchmark: 3 masters and W workers in one /21. */
import { ClusterDescription } from '../constructs';

export const MASTERS = 3;

/** The i-th host address of 10.0.0.0/21 (2046 hosts: room for 3 masters, 2000 workers, VIP, gateway). */
const address = (i: number) => `10.0.${Math.floor(i / 256)}.${i % 256}`;

export const workerName = (i: number) => `w-${String(i + 1).padStart(4, '0')}`;

export function scaleCluster(workers: number, deploy: boolean): ClusterDescription {
  return {
    name: 'bench',
    vip: address(2),
    gateway: address(1),
    prefixLength: 21,
    controlPlane: Array.from({ length: MASTERS }, (_, i) => ({ name: `cp-${i + 1}`, ip: address(11 + i) })),
    workers: Array.from({ length: workers }, (_, i) => ({ name: workerName(i), ip: address(20 + i) })),
    deploy,
  };
}
