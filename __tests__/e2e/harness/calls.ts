import { existsSync, readFileSync } from 'node:fs';

/** One entry of the uploaded flake directory, as `find -printf '%y %m %u %P'` saw it on the node. */
export interface FlakeEntry {
  /** Relative to the flake directory. */
  path: string;
  /** find's %y: f file, d directory, l symlink. */
  type: string;
  /** Permission bits in octal, e.g. '600', '755'. */
  mode: string;
  owner: string;
}

/** What `nixos-rebuild switch --flake path:<dir>#<config>` was given, seen when it was called. */
export interface FlakeListing {
  dir: string;
  config: string;
  dirMode: string;
  dirOwner: string;
  parentMode: string;
  parentOwner: string;
  /** First line of `minimal-node` in the directory (the node the destroy step names), or null. */
  minimalNode: string | null;
  entries: FlakeEntry[];
  /** /var/lib/nico/secrets as the node saw it at the switch (its own mode, then each entry). */
  secretsDirMode: string | null;
  secrets: FlakeEntry[];
  /** Contents of the tree's flake.lock at the switch, or null. */
  flakeLock: string | null;
}

/** One call of a stand-in command on a node. */
export interface Call {
  node: string;
  command: 'nixos-rebuild' | 'k3s' | 'systemctl' | 'nix' | 'systemd-run' | 'journalctl' | 'nixos-anywhere'
    // The install's stand-ins on the node (the runner's nix build/copy are recorded on node "runner").
    | 'wget' | 'kexec' | 'disko' | 'nixos-install' | 'reboot' | 'nixos-facter' | 'nixos-generate-config';
  args: string[];
  /** Epoch milliseconds when the command started and ended. */
  start: number;
  end: number;
  exit: number;
  /** The message the stand-in printed on stderr when it refused or failed. */
  error?: string;
  /** Only for a well-formed nixos-rebuild call. */
  flake?: FlakeListing;
  /** Only for `nixos-rebuild switch --rollback`: the generations it went from and to. */
  rollback?: { from: number; to: number };
  /** Only for a `k3s etcd-snapshot save` that succeeded: what it saved, and where (standins/k3s-etcd-snapshot.sh). */
  snapshot?: { name: string; dir: string; s3: boolean; bucket: string; endpoint: string; region: string; folder: string; endpointCa: string; accessKeyId: string; secretKeySha256: string };
  /** Only for a `k3s server --cluster-reset` that succeeded: the cluster reset and the snapshot restored (standins/k3s-cluster-reset.sh). */
  reset?: { cluster: string; restorePath: string };
  /** Only for nixos-install in the installer: the system and what was on /mnt (the extra files) then. */
  install?: { system: string; extraFiles: FlakeEntry[]; hostKey: string };
  /** Only for the kexec of an install: the sha256 of the tarball nixos-anywhere uploaded (a kexecUrl that is a local file). */
  uploaded?: string;
  /** Only for the runner's `nix build`: the installable and the files of its flake directory. */
  build?: { installable: string; files: string[] };
}

export function readCalls(file: string): Call[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as Call;
      } catch (e) {
        throw new Error(`${file}:${i + 1}: a stand-in wrote a line that is not JSON (${(e as Error).message}): ${line}`);
      }
    });
}
