import { ClusterDescription } from './cluster-description';

/** The reference README's production cluster: what `main.ts` builds when no cluster file is named. */
export const EXAMPLE_CLUSTER: ClusterDescription = {
  name: 'production-cluster',
  vip: '192.168.1.100',
  controlPlane: [
    { name: 'cp-01', ip: '192.168.1.101' },
    { name: 'cp-02', ip: '192.168.1.102' },
    { name: 'cp-03', ip: '192.168.1.103' },
  ],
  workers: [
    { name: 'worker-01', ip: '192.168.1.201' },
    { name: 'worker-02', ip: '192.168.1.202' },
  ],
};
