import * as fs from 'fs';
import * as path from 'path';
import * as ipaddr from 'ipaddr.js';
import { ClusterDescription, CLUSTER_DEFAULTS, K3S_COMPONENTS, MAX_CONTROL_PLANE_NODES, NODE_DEFAULTS, NodeDescription } from './cluster-description';
import { firstUnplainFileName } from './flake-tree';

/**
 * The rules a cluster description must follow, each written once: a check on known values (the
 * TypeScript app) beside the Terraform condition that enforces it on variables (the HCL module).
 * A rule reading one variable becomes that variable's `validation` block; a rule reading several
 * becomes a `precondition`, which works on every Terraform release since 1.2.
 */

/** One violated rule: the field (TypeScript path), what the rule demands, and the value found. */
export interface Problem {
  readonly field: string;
  readonly rule: string;
  readonly value: unknown;
}

export interface ClusterRule {
  /** The HCL variables the condition reads. */
  readonly variables: readonly string[];
  /**
   * Terraform expression that is true when the input follows the rule. For a rule on the nodes of a
   * list (`node` set), the expression on one node `n`; the module checks all rules of a list in one pass.
   */
  readonly condition: string;
  /**
   * The full sentence Terraform prints when the condition is false. Terraform evaluates it even when
   * the condition holds, so it must not walk the nodes (node rules get their "Wrong: ..." from the
   * offending entries only, see cluster-rules-hcl.ts).
   */
  readonly errorMessage: string;
  /** Set for a rule on each node of one list: the list and the attribute it reads (absent: the whole node). */
  readonly node?: NodeRuleScope;
  /** The same rule on a shape-checked description: one problem per offending value. */
  readonly check: (d: ClusterDescription) => Problem[];
}

export interface NodeRuleScope {
  /** HCL variable of the list. */
  readonly list: string;
  /** The attribute the rule reads; nodes without it follow the rule. Absent: the rule reads the node itself. */
  readonly attribute?: string;
  /** HCL text appended to the entry's name in the message, on the node `n` (e.g. its unknown attributes). */
  readonly detail?: string;
  /**
   * For a rule every node must pass on a required attribute (or its shape): an HCL condition on the list
   * of nodes `ns`, equal to the rule on each node of a list whose nodes have name and ip, that costs few
   * function calls (one regular expression over the joined values instead of one per node). Rules
   * without it run only on nodes that have more than name and ip.
   */
  readonly all?: (ns: string) => string;
}

// Patterns shared by both sides. RE2 (Terraform) and JavaScript agree on all of them.
const RFC1123_LABEL = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
const IPV4_OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
/** Dotted quad without leading zeros: the HCL side of ipaddr.IPv4.isValidFourPartDecimal. */
const IPV4 = `^(${IPV4_OCTET}\\.){3}${IPV4_OCTET}$`;
const INTERFACE_NAME = '^[A-Za-z0-9_.-]{1,15}$';
// Values below are written into Nix strings and shell commands: no quotes, backslashes, `$`, braces
// or control characters.
const FLAKE_REF = '^[A-Za-z][A-Za-z0-9+.-]*:[^ "\'\\\\${}`\\x00-\\x1f\\x7f]+$';
const ABSOLUTE_PATH = '^/[A-Za-z0-9._/+:-]+$';
// Not starting with "-" or ".": ssh would read "-o..." as an option. At most 253 characters (DNS).
const SSH_HOST = '^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$';
/**
 * What glibc's inet_aton reads as an IPv4 address: one to four parts, each decimal, octal (leading 0)
 * or hexadecimal (0x), so "127.1", "2130706433" and "127.000.000.001" all reach 127.0.0.1. ssh resolves
 * its host with getaddrinfo, which parses numeric hosts with inet_aton (glibc resolv/inet_addr.c,
 * inet_aton_end; sysdeps/posix/getaddrinfo.c, gaih_inet). Such a host must be a plain dotted quad, so
 * that one endpoint has one spelling.
 */
const INET_ATON_NUMBERS = '^(0[xX][0-9A-Fa-f]*|[0-9]+)([.](0[xX][0-9A-Fa-f]*|[0-9]+)){0,3}$';
/** Base64 of the first 60 bytes of an unencrypted OpenSSH private key file holding one ED25519 key. */
const OPENSSH_ED25519_START = 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQAA';
/** Base64 of the first 15 bytes of an unencrypted PKCS #8 ED25519 private key (48 bytes, 64 characters in all). */
const PKCS8_ED25519_START = 'MC4CAQAwBQYDK2VwBCIE';
const UNIX_USER = '^[a-z_][a-z0-9_-]{0,31}$';
// nixos-anywhere's --kexec: a URL the machine fetches or a file on the runner; it unpacks by the suffix.
const KEXEC_URL = '^(https?://[^ "\'\\\\${}`\\x00-\\x1f\\x7f]+|/[A-Za-z0-9._/+:-]+)\\.tar(\\.gz|\\.xz|\\.zst)?$';
// A nixpkgs reference naming NixOS 24.05 or older (nixos-24.05, release-23.11, nixpkgs-24.05-darwin, ...):
// disko and the flake need the lib of 24.11 or newer.
const OLD_NIXPKGS = '(^|[^A-Za-z0-9])(nixos|nixpkgs|release)-((0[0-9]|1[0-9]|2[0-3])\\.[0-9]{2}|24\\.0[0-5])([^0-9]|$)';
// Kubernetes label syntax (apimachinery IsQualifiedName / IsValidLabelValue); the prefix is a DNS subdomain.
const LABEL_NAME = '[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';
const LABEL_KEY = `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?${LABEL_NAME}$`;
const LABEL_VALUE = `^(${LABEL_NAME})?$`;
const TAINT = `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?${LABEL_NAME}(=(${LABEL_NAME})?)?:(NoSchedule|PreferNoSchedule|NoExecute)$`;
// kubelet refuses --node-labels in the kubernetes.io and k8s.io namespaces except these.
const RESTRICTED_LABEL = '^([^/]*\\.)?(kubernetes|k8s)\\.io/';
const ALLOWED_LABEL_NAMESPACE = '^([^/]*\\.)?(kubelet|node)\\.kubernetes\\.io/';
const KUBELET_ALLOWED_LABELS = [
  'kubernetes.io/hostname', 'kubernetes.io/arch', 'kubernetes.io/os', 'beta.kubernetes.io/arch', 'beta.kubernetes.io/os',
  'beta.kubernetes.io/instance-type', 'failure-domain.beta.kubernetes.io/region', 'failure-domain.beta.kubernetes.io/zone',
  'topology.kubernetes.io/region', 'topology.kubernetes.io/zone',
];
const K3S_FLAG = '^--[^\\r\\n]+$';
// Names the copied module gets in the tree (extra-modules/<set>/<nn>-<name>).
const MODULE_NAME = '^[A-Za-z0-9._+-]+$';
// The comment may hold any printable text (it reaches Terraform as a literal), but no control
// character: a newline would add a line to the known_hosts file built from it.
const HOST_KEY = '^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$';

/** One path component other than "." and "..". */
const PATH_COMPONENT = '([A-Za-z0-9_+:-][A-Za-z0-9._+:-]*|\\.[A-Za-z0-9_+:-][A-Za-z0-9._+:-]*|\\.\\.[A-Za-z0-9._+:-]+)';
/** An absolute directory of two or more components, none of them "." or "..", no empty ones. */
const DEDICATED_DIR = `^(/${PATH_COMPONENT}){2,}$`;
/** Trees of the operating system, and directories whose removal breaks a node or its access. */
const SYSTEM_TREES = ['nix', 'usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'boot', 'dev', 'proc', 'sys', 'run', 'tmp', 'var/tmp', 'var/run', 'var/lock', 'etc/ssh', 'etc/nixos', 'etc/nix', 'etc/static', 'etc/ssl', 'etc/pam\\.d', 'etc/systemd', 'etc/rancher', 'var/lib/rancher', 'var/lib/nixos', 'var/lib/systemd'];
const SYSTEM_DIRS = ['var/lib', 'var/log', 'var/cache', 'var/db', 'var/empty', 'var/spool', 'var/mail', 'home/[^/]+', 'root/\\.[^/]+'];
const SYSTEM_DIR = `^/((${SYSTEM_TREES.join('|')})(/.*)?|(${SYSTEM_DIRS.join('|')}))$`;
const SYSTEM_DIR_TEXT = '/nix, /usr, /boot, /etc/ssh, /var/lib, a home directory and the like';

const matches = (pattern: string, value: unknown): boolean => typeof value === 'string' && new RegExp(pattern).test(value);
export const isIPv4 = (value: unknown): value is string => typeof value === 'string' && ipaddr.IPv4.isValidFourPartDecimal(value);
const isIntBetween = (value: unknown, min: number, max: number): boolean => Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
/** An HCL string literal of a pattern: quotes and backslashes escaped, and `${`/`%{` so they stay literal. */
const hclString = (s: string): string => JSON.stringify(s).replace(/\$\{/g, '$$${').replace(/%\{/g, '%%{');

type NodeList = 'controlPlane' | 'workers';
const HCL_LIST: Record<NodeList, string> = { controlPlane: 'control_plane', workers: 'workers' };
const ALL_NODES_HCL = 'concat(var.control_plane, var.workers)';

interface LocatedNode { readonly field: string; readonly node: NodeDescription }

function nodesOf(d: ClusterDescription, list: NodeList): LocatedNode[] {
  const nodes = d[list];
  if (!Array.isArray(nodes)) return [];
  // Entries that are not objects are reported by the schema; the rules look at the others.
  return nodes.flatMap((node, i) => (node !== null && typeof node === 'object' ? [{ field: `${list}[${i}]`, node }] : []));
}
const allNodes = (d: ClusterDescription): LocatedNode[] => [...nodesOf(d, 'controlPlane'), ...nodesOf(d, 'workers')];

/** Problems for each value of `get` that fails `ok`; undefined values are left to the defaults. */
function each(located: LocatedNode[], key: keyof NodeDescription, ok: (v: unknown) => boolean, rule: string): Problem[] {
  return located
    .filter(({ node }) => node[key] !== undefined && !ok(node[key]))
    .map(({ field, node }) => ({ field: `${field}.${key}`, rule, value: node[key] }));
}

function field<K extends keyof ClusterDescription>(d: ClusterDescription, key: K, ok: (v: unknown) => boolean, rule: string): Problem[] {
  return d[key] !== undefined && !ok(d[key]) ? [{ field: key, rule, value: d[key] }] : [];
}

/** The attributes a node object may have in the HCL module (snake_case). */
export const HCL_NODE_ATTRIBUTES = ['name', 'ip', 'ssh_host', 'ssh_port', 'disk', 'host_key', 'labels', 'taints', 'gone', 'install', 'install_generation'] as const;

/**
 * The HCL module takes node lists as `any`, so that a misspelt attribute is an error instead of being
 * dropped by type conversion. Its rules therefore read every attribute through `try`: a rule on one
 * attribute looks only at nodes that have it, and the shape rule alone reports missing, unknown or
 * non-object entries, so one bad node gives one message. Each message names the offending entries.
 */
/** Rules on the nodes of one list; the same rules apply to control-plane nodes and workers. */
function nodeRules(list: NodeList): ClusterRule[] {
  const l = HCL_LIST[list];
  const rule = (attribute: string, ok: (x: string) => string, message: string, check: ClusterRule['check'], all?: (ns: string) => string): ClusterRule => ({
    variables: [l],
    condition: ok(`n.${attribute}`),
    errorMessage: message,
    node: { list: l, attribute, all },
    check,
  });
  /** Every value of a required attribute matches `pattern` (anchored, no newline in a match): one regex over all. */
  const allMatch = (attribute: string, pattern: string) => (ns: string) => {
    const one = `(?:${pattern.slice(1, -1)})`;
    return `length(${ns}) == 0 || can(regex(${hclString(`^${one}(\n${one})*$`)}, join("\\n", [for n in ${ns} : n.${attribute}])))`;
  };
  const known = `[${HCL_NODE_ATTRIBUTES.map((a) => `"${a}"`).join(', ')}]`;
  // HCL's && does not short-circuit: the whole test sits in try, for null and non-object entries.
  const wellShaped = `try(can(keys(n)) && length(setsubtract(keys(n), ${known})) == 0 && n.name != null && n.ip != null, false)`;
  const unknownAttributes = `try(length(setsubtract(keys(n), ${known})) > 0 ? " (unknown: \${join(", ", setsubtract(keys(n), ${known}))})" : "", "")`;
  return [
    {
      variables: [l],
      condition: wellShaped,
      errorMessage: `The ${l} list must hold node objects, each with name and ip and no attributes other than ${HCL_NODE_ATTRIBUTES.join(', ')}.`,
      node: {
        list: l,
        detail: `\${${unknownAttributes}}`,
        all: (ns) => `alltrue([for n in ${ns} : n.name != null && n.ip != null]) && (length(${ns}) == 0 || can(regex(${hclString(`^(${HCL_NODE_ATTRIBUTES.join('|')})(\n(${HCL_NODE_ATTRIBUTES.join('|')}))*$`)}, join("\\n", flatten([for n in ${ns} : keys(n)])))))`,
      },
      // The TypeScript side has the schema (zod) for shapes.
      check: () => [],
    },
    rule(
      'name',
      (x) => `can(regex(${hclString(RFC1123_LABEL)}, ${x}))`,
      `Every ${l} node name must be an RFC 1123 label: 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit.`,
      (d) => each(nodesOf(d, list), 'name', (x) => matches(RFC1123_LABEL, x), 'must be an RFC 1123 label (1-63 of a-z, 0-9, "-", starting and ending with a letter or digit)'),
      allMatch('name', RFC1123_LABEL),
    ),
    rule(
      'name',
      (x) => `${x} != "minimal"`,
      `No ${l} node may be named "minimal": that name is reserved for the cleanup configuration.`,
      (d) => each(nodesOf(d, list), 'name', (x) => x !== 'minimal', 'must not be "minimal" (reserved for the cleanup configuration)'),
      (ns) => `!contains([for n in ${ns} : n.name], "minimal")`,
    ),
    rule(
      'ip',
      (x) => `can(regex(${hclString(IPV4)}, ${x}))`,
      `Every ${l} node ip must be an IPv4 address in dotted-quad form, such as 192.168.1.101.`,
      (d) => each(nodesOf(d, list), 'ip', isIPv4, 'must be an IPv4 address in dotted-quad form'),
      allMatch('ip', IPV4),
    ),
    rule(
      'ssh_host',
      (x) => `can(regex(${hclString(SSH_HOST)}, ${x}))`,
      `Every ${l} node ssh_host must be a host name or address of at most 253 letters, digits, ".", "_", ":" or "-", not starting with "-" or ".".`,
      (d) => each(nodesOf(d, list), 'sshHost', (x) => matches(SSH_HOST, x), 'must be a host name or address (at most 253 of A-Z, a-z, 0-9, ".", "_", ":", "-"; not starting with "-" or ".")'),
    ),
    rule(
      'ssh_host',
      (x) => `!can(regex(${hclString(INET_ATON_NUMBERS)}, ${x})) || can(regex(${hclString(IPV4)}, ${x}))`,
      `Every ${l} node ssh_host made only of numbers (which ssh reads as an IPv4 address, octal and hexadecimal parts included) must be an IPv4 address in dotted-quad form without leading zeros, such as 192.168.1.101.`,
      (d) => each(nodesOf(d, list), 'sshHost', (x) => !matches(INET_ATON_NUMBERS, x) || isIPv4(x), 'must be an IPv4 address in dotted-quad form without leading zeros when made only of numbers (ssh reads "127.1" or "0177.0.0.1" as 127.0.0.1)'),
    ),
    rule(
      'ssh_port',
      // A number, or a string of decimal digits: the module's lists are `any`, and "22" was accepted
      // when they were typed (Terraform converts it). No other string ("2.2e1", "0x16", " 22"): the
      // TypeScript side takes numbers only.
      (x) => `can(regex("^[1-9][0-9]{0,4}$", tostring(${x}))) && tonumber(${x}) <= 65535`,
      `Every ${l} node ssh_port must be a whole number from 1 to 65535.`,
      (d) => each(nodesOf(d, list), 'sshPort', (x) => isIntBetween(x, 1, 65535), 'must be a whole number from 1 to 65535'),
    ),
    rule(
      'disk',
      (x) => `can(regex(${hclString(ABSOLUTE_PATH)}, ${x}))`,
      `Every ${l} node disk must be an absolute device path such as /dev/sda.`,
      (d) => each(nodesOf(d, list), 'disk', (x) => matches(ABSOLUTE_PATH, x), 'must be an absolute device path such as /dev/sda'),
    ),
    rule(
      'host_key',
      (x) => `can(regex(${hclString(HOST_KEY)}, ${x}))`,
      `Every ${l} node host_key must be an SSH public key line such as "ssh-ed25519 AAAA...", with an optional comment without control characters.`,
      (d) => each(nodesOf(d, list), 'hostKey', (x) => matches(HOST_KEY, x), 'must be an SSH public key line such as "ssh-ed25519 AAAA..." (key type, base64, optional comment without control characters)'),
    ),
    rule(
      'labels',
      (x) => `alltrue([for k, v in ${x} : can(regex(${hclString(LABEL_KEY)}, k)) && can(regex(${hclString(LABEL_VALUE)}, v))])`,
      `Every ${l} node label must follow Kubernetes label syntax: a key of an optional DNS-subdomain prefix and "/" and a name of 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit; a value of the same form as the name, or empty.`,
      (d) =>
        nodesOf(d, list).flatMap(({ field: f, node }) =>
          Object.entries(node.labels ?? {}).flatMap(([k, v]) => [
            ...(matches(LABEL_KEY, k) ? [] : [{ field: `${f}.labels`, rule: 'every key must be a Kubernetes label key ([prefix/]name, name 1-63 of A-Z, a-z, 0-9, "-", "_", ".", starting and ending with a letter or digit)', value: k }]),
            ...(matches(LABEL_VALUE, v) ? [] : [{ field: `${f}.labels.${k}`, rule: 'must be a Kubernetes label value (empty, or 1-63 of A-Z, a-z, 0-9, "-", "_", ".", starting and ending with a letter or digit)', value: v }]),
          ]),
        ),
    ),
    rule(
      'labels',
      (x) => `alltrue([for k, v in ${x} : !can(regex(${hclString(RESTRICTED_LABEL)}, k)) || can(regex(${hclString(ALLOWED_LABEL_NAMESPACE)}, k)) || contains(${hclList(KUBELET_ALLOWED_LABELS)}, k)])`,
      `No ${l} node label may use the kubernetes.io or k8s.io namespaces except node.kubernetes.io/..., kubelet.kubernetes.io/... and the well-known labels kubelet allows: kubelet refuses to start with them (label such nodes through the API instead).`,
      (d) =>
        nodesOf(d, list).flatMap(({ field: f, node }) =>
          Object.keys(node.labels ?? {})
            .filter((k) => matches(RESTRICTED_LABEL, k) && !matches(ALLOWED_LABEL_NAMESPACE, k) && !KUBELET_ALLOWED_LABELS.includes(k))
            .map((k) => ({ field: `${f}.labels`, rule: 'must not use a kubernetes.io or k8s.io key kubelet refuses (allowed: node.kubernetes.io/*, kubelet.kubernetes.io/*, the well-known topology/os/arch labels)', value: k })),
        ),
    ),
    rule(
      'taints',
      (x) => `alltrue([for t in ${x} : can(regex(${hclString(TAINT)}, t))])`,
      `Every ${l} node taint must be "key=value:Effect" or "key:Effect", with a Kubernetes label key and value and Effect NoSchedule, PreferNoSchedule or NoExecute.`,
      (d) =>
        nodesOf(d, list).flatMap(({ field: f, node }) =>
          (node.taints ?? []).flatMap((t, i) => (matches(TAINT, t) ? [] : [{ field: `${f}.taints[${i}]`, rule: 'must be "key=value:Effect" or "key:Effect" (label-syntax key and value; Effect NoSchedule, PreferNoSchedule or NoExecute)', value: t }])),
        ),
    ),
    rule(
      'install',
      (x) => `${x} == true || ${x} == false`,
      `Every ${l} node install must be true or false.`,
      () => [],
    ),
    rule(
      'install_generation',
      (x) => `tonumber(${x}) >= 1 && floor(tonumber(${x})) == tonumber(${x})`,
      `Every ${l} node install_generation must be a whole number from 1 up.`,
      (d) => each(nodesOf(d, list), 'installGeneration', (x) => isIntBetween(x, 1, Number.MAX_SAFE_INTEGER), 'must be a whole number from 1 up'),
    ),
    rule(
      'gone',
      (x) => `${x} == true || ${x} == false`,
      `Every ${l} node gone must be true or false.`,
      () => [],
    ),
  ];
}

/** Same subnet as the first control-plane node, the reference of the node subnet. */
const inSubnet = (ip: string, d: ClusterDescription): boolean => {
  const ref = nodesOf(d, 'controlPlane')[0]?.node.ip;
  const prefix = d.prefixLength ?? CLUSTER_DEFAULTS.prefixLength;
  if (!isIPv4(ref) || !isIntBetween(prefix, 1, 30)) return true; // reported by the rules on those fields
  return ipaddr.IPv4.parse(ip).match(ipaddr.IPv4.parse(ref), prefix);
};
const isNetworkOrBroadcast = (ip: string, prefix: number): boolean =>
  isIntBetween(prefix, 1, 30) &&
  (ipaddr.IPv4.networkAddressFromCIDR(`${ip}/${prefix}`).toString() === ip ||
    ipaddr.IPv4.broadcastAddressFromCIDR(`${ip}/${prefix}`).toString() === ip);
const prefixOf = (d: ClusterDescription): number => d.prefixLength ?? CLUSTER_DEFAULTS.prefixLength;

/** HCL: same subnet as the first control-plane node; `try` leaves malformed values to their own rules. */
const hclInSubnet = (ip: string) => `local.rule_network == null || try(cidrhost("\${${ip}}/\${var.prefix_length}", 0) == local.rule_network, true)`;
const hclNotEdge = (ip: string) =>
  `try(${ip} != cidrhost("\${${ip}}/\${var.prefix_length}", 0) && ${ip} != cidrhost("\${${ip}}/\${var.prefix_length}", -1), true)`;

/**
 * `host:port` where Terraform reaches a node of the module, in one spelling: host names are
 * case-insensitive (lowercased), the port a number (numeric hosts are plain dotted quads, by a node rule).
 */
const HCL_SSH_ENDPOINT = `"\${lower(coalesce(try(n.ssh_host, null), n.ip))}:\${coalesce(try(tonumber(n.ssh_port), null), ${NODE_DEFAULTS.sshPort})}"`;
const sshEndpoint = (node: NodeDescription): string => `${String(node.sshHost ?? node.ip).toLowerCase()}:${node.sshPort ?? NODE_DEFAULTS.sshPort}`;

/**
 * Facts about every node that the rules across variables share, as module locals: Terraform evaluates
 * a local once per plan, so each rule reads them instead of walking the nodes again. Read through
 * `try`: a malformed node is the node rules' to report.
 */
export const RULE_LOCALS: Readonly<Record<string, string>> = {
  rule_nodes: `try([for n in ${ALL_NODES_HCL} : { name = try(n.name, null), ip = try(n.ip, null), endpoint = try(${HCL_SSH_ENDPOINT}, null) }], [])`,
  rule_node_ips: '[for n in local.rule_nodes : n.ip if n.ip != null]',
  rule_node_endpoints: '[for n in local.rule_nodes : n.endpoint if n.endpoint != null]',
  // Network address of the node subnet (the first control-plane node's), null when that is malformed.
  rule_network: 'try(cidrhost("${var.control_plane[0].ip}/${var.prefix_length}", 0), null)',
};

function duplicates(d: ClusterDescription, key: 'name' | 'ip'): Problem[] {
  const seen = new Map<unknown, string>();
  const problems: Problem[] = [];
  for (const { field: f, node } of allNodes(d)) {
    const first = seen.get(node[key]);
    if (first !== undefined) problems.push({ field: `${f}.${key}`, rule: `must be unique in the cluster (also used by ${first})`, value: node[key] });
    else seen.set(node[key], `${f}.${key}`);
  }
  return problems;
}

/** Rules on a list of k3s flags (`server_extra_flags`, `agent_extra_flags`). */
function flagRule(key: 'serverExtraFlags' | 'agentExtraFlags', hcl: string): ClusterRule {
  return {
    variables: [hcl],
    condition: `alltrue([for f in var.${hcl} : can(regex(${hclString(K3S_FLAG)}, f))])`,
    errorMessage: `Every ${hcl} entry must be a k3s flag starting with "--" (value included, e.g. "--cluster-cidr=10.42.0.0/16"), on one line.`,
    check: (d) => listOf(d, key).flatMap(([v, i]) => (matches(K3S_FLAG, v) ? [] : [{ field: `${key}[${i}]`, rule: 'must be a k3s flag starting with "--", on one line', value: v }])),
  };
}

/**
 * k3s's data dir is where the deployment puts the cluster's CAs (server/tls) and where it looks for a
 * node's k3s state (a reinstalled machine has none): a `--data-dir` of the user's would make k3s make
 * CAs of its own, which the token's CA hash and the kubeconfig do not match.
 */
const DATA_DIR_FLAG = '^(--data-dir|-d)([= ]|$)';
function dataDirRule(key: 'serverExtraFlags' | 'agentExtraFlags', hcl: string): ClusterRule {
  return {
    variables: [hcl],
    condition: `alltrue([for f in var.${hcl} : !can(regex(${hclString(DATA_DIR_FLAG)}, f))])`,
    errorMessage: `No ${hcl} entry may set --data-dir (or -d): nico-cluster delivers the cluster's CAs to k3s's default data dir, /var/lib/rancher/k3s.`,
    check: (d) =>
      listOf(d, key).flatMap(([v, i]) =>
        matches(DATA_DIR_FLAG, v) ? [{ field: `${key}[${i}]`, rule: 'must not set --data-dir: the cluster CAs are delivered to /var/lib/rancher/k3s', value: v }] : []),
  };
}

/** Rules on a list of the user's NixOS module paths; the HCL condition reads the files as Terraform would. */
function moduleRule(key: 'nixosModules' | 'controlPlaneModules' | 'workerModules' | 'minimalModules', hcl: string): ClusterRule {
  const problem = (p: string): string | undefined => {
    if (!matches(MODULE_NAME, path.basename(p))) return 'must end in a name of letters, digits, ".", "_", "+" or "-"';
    const stat = fs.statSync(p, { throwIfNoEntry: false });
    if (p.endsWith('.nix')) return stat?.isFile() ? undefined : 'must be an existing .nix file (or a directory with a default.nix, named without .nix)';
    return stat?.isDirectory() && fs.existsSync(path.join(p, 'default.nix')) ? undefined : 'must be an existing .nix file or a directory holding a default.nix';
  };
  return {
    variables: [hcl],
    condition: `alltrue([for p in var.${hcl} : can(regex(${hclString(MODULE_NAME)}, basename(p))) && try(endswith(p, ".nix") ? fileexists(p) : fileexists("\${p}/default.nix"), false)])`,
    errorMessage: `Every ${hcl} entry must be the path of an existing .nix file or of a directory holding a default.nix, its last name made of letters, digits, ".", "_", "+" or "-".`,
    check: (d) => listOf(d, key).flatMap(([v, i]) => {
      const rule = problem(v);
      if (rule) return [{ field: `${key}[${i}]`, rule, value: v }];
      // File names travel to every node: the TypeScript side of the plan-time refusal in flake-tree.ts.
      const name = v.endsWith('.nix') ? undefined : firstUnplainFileName(v);
      return name === undefined ? [] : [{ field: `${key}[${i}]`, rule: 'must hold only files with plain names (path components of letters, digits, ".", "_", "+" or "-"); this one is not', value: name }];
    }),
  };
}

/** The string entries of a list field with their indexes; other values are the schema's to report. */
function listOf(d: ClusterDescription, key: keyof ClusterDescription): [string, number][] {
  const v = d[key];
  return Array.isArray(v) ? v.flatMap((x, i) => (typeof x === 'string' ? [[x, i] as [string, number]] : [])) : [];
}

const hclList = (items: readonly string[]): string => `[${items.map(hclString).join(', ')}]`;

// etcd snapshot settings reach k3s's ExecStart (systemd splits it into words and expands "%" and
// "$"), the runner's shell and an environment file: the patterns below admit none of quotes,
// backslashes, "$", "%", "`" or white space where a value is one word.
/** A robfig/cron spec as k3s parses it (cron.ParseStandard): five fields, or a descriptor. */
const CRON = '^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every ([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+|[0-9A-Za-z*/,?-]+( [0-9A-Za-z*/,?-]+){4})$';
/** S3 bucket naming: 3-63 of a-z, 0-9, "." and "-", starting and ending with a letter or digit. */
const S3_BUCKET = '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$';
/** host or host:port, no scheme: k3s's --etcd-s3-endpoint (a minio endpoint). */
const S3_ENDPOINT = '^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?$';
const S3_REGION = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';
/** A key prefix: "/"-separated names, no leading or trailing "/", no empty, "." or ".." component. */
const S3_FOLDER = '^([A-Za-z0-9_-][A-Za-z0-9_.-]*|\\.[A-Za-z0-9_-][A-Za-z0-9_.-]*|\\.\\.[A-Za-z0-9_.-]+)(/([A-Za-z0-9_-][A-Za-z0-9_.-]*|\\.[A-Za-z0-9_-][A-Za-z0-9_.-]*|\\.\\.[A-Za-z0-9_.-]+)){0,31}$';
const S3_ACCESS_KEY_ID = '^[A-Za-z0-9+/=._~-]{1,128}$';
/** Printable ASCII without space, quotes, backslash, "$" and "`": it is written single-quoted into an environment file. */
const S3_SECRET_KEY = '^[!#%&(-\\[\\]-_a-~]{1,256}$';
const PEM_CERTIFICATE = '^\\s*-----BEGIN CERTIFICATE-----[\\s\\S]+-----END CERTIFICATE-----\\s*$';

/** The given secret access key is checked on its trimmed value, as the module writes it. */
export const isS3SecretKey = (value: string): boolean => matches(S3_SECRET_KEY, value.trim());
export const S3_SECRET_KEY_RULE = 'must hold only the secret access key: 1-256 printable ASCII characters without spaces, quotes, "\\\\", "$" or "`"';
export const isPemCertificate = (value: string): boolean => matches(PEM_CERTIFICATE, value);
export const PEM_CERTIFICATE_RULE = 'must hold a PEM certificate (-----BEGIN CERTIFICATE----- ...)';

type Snapshots = NonNullable<ClusterDescription['etcdSnapshots']>;
type S3 = NonNullable<Snapshots['s3']>;
const snapshotsOf = (d: ClusterDescription): Snapshots | undefined =>
  d.etcdSnapshots !== null && typeof d.etcdSnapshots === 'object' ? d.etcdSnapshots : undefined;
const s3Of = (d: ClusterDescription): S3 | undefined => {
  const s3 = snapshotsOf(d)?.s3;
  return s3 !== null && typeof s3 === 'object' ? s3 : undefined;
};

/** A rule on one optional setting of `etcd_snapshots` (`s3.bucket`, ...): unset passes. */
function snapshotRule(key: string, ok: (x: string) => string, errorMessage: string, test: (v: unknown) => boolean, rule: string): ClusterRule {
  const [first, second] = key.split('.');
  const tsKey = (k: string) => k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  const x = `var.etcd_snapshots.${key}`;
  return {
    variables: ['etcd_snapshots'],
    // try: an unset s3 block makes `s3.bucket` an error, which means "not set".
    condition: `try(${x} == null, true) || try(${ok(x)}, false)`,
    errorMessage,
    check: (d) => {
      const holder = second === undefined ? snapshotsOf(d) : s3Of(d);
      const name = tsKey(second ?? first);
      const value = (holder as Record<string, unknown> | undefined)?.[name];
      const field = second === undefined ? `etcdSnapshots.${name}` : `etcdSnapshots.s3.${name}`;
      return value !== undefined && !test(value) ? [{ field, rule, value }] : [];
    },
  };
}

const regexRule = (key: string, pattern: string, errorMessage: string, rule: string): ClusterRule =>
  snapshotRule(key, (x) => `can(regex(${hclString(pattern)}, ${x}))`, errorMessage, (v) => matches(pattern, v), rule);

/** The rules of `etcd_snapshots` and the S3 secret access key. */
const SNAPSHOT_RULES: ClusterRule[] = [
  {
    // The variable is `any` (a typed object would drop a misspelt attribute without a word): its shape here.
    variables: ['etcd_snapshots'],
    condition:
      'try(length(setsubtract(keys(var.etcd_snapshots), ["schedule_cron", "retention", "dir", "before_changes", "s3"])) == 0 && ' +
      'can(tobool(try(var.etcd_snapshots.before_changes, true))) && ' +
      // HCL's || evaluates both sides: every side must stand alone.
      'length(setsubtract(try(keys(var.etcd_snapshots.s3), []), ["bucket", "endpoint", "region", "folder", "endpoint_ca", "access_key_id"])) == 0 && ' +
      '(try(var.etcd_snapshots.s3, null) == null || try(var.etcd_snapshots.s3.bucket, null) != null), false)',
    errorMessage:
      'The etcd_snapshots must be an object of schedule_cron, retention, dir, before_changes (true or false) and s3 = { bucket (required), endpoint, region, folder, endpoint_ca, access_key_id }, with no other attribute.' +
      '${try(length(concat(sort(setsubtract(keys(var.etcd_snapshots), ["schedule_cron", "retention", "dir", "before_changes", "s3"])), [for k in try(sort(setsubtract(keys(var.etcd_snapshots.s3), ["bucket", "endpoint", "region", "folder", "endpoint_ca", "access_key_id"])), []) : "s3.${k}"])) > 0 ? " Unknown: ${join(", ", concat(sort(setsubtract(keys(var.etcd_snapshots), ["schedule_cron", "retention", "dir", "before_changes", "s3"])), [for k in try(sort(setsubtract(keys(var.etcd_snapshots.s3), ["bucket", "endpoint", "region", "folder", "endpoint_ca", "access_key_id"])), []) : "s3.${k}"]))}." : "", "")}',
    // The TypeScript side: the schema (strict) refuses other fields and wrong types.
    check: () => [],
  },
  regexRule(
    'schedule_cron',
    CRON,
    'The etcd_snapshots.schedule_cron must be a cron spec of five fields (such as "0 */12 * * *") or a descriptor such as "@daily" or "@every 6h", without quotes, "$" or "%".',
    'must be a cron spec of five fields such as "0 */12 * * *", or @hourly/@daily/@weekly/@monthly/@yearly/@every <duration>',
  ),
  snapshotRule(
    'retention',
    (x) => `${x} >= 1 && ${x} <= 1000 && floor(${x}) == ${x}`,
    'The etcd_snapshots.retention must be a whole number of snapshots from 1 to 1000.',
    (v) => isIntBetween(v, 1, 1000),
    'must be a whole number of snapshots from 1 to 1000',
  ),
  regexRule(
    'dir',
    DEDICATED_DIR,
    'The etcd_snapshots.dir must be an absolute directory of at least two components of letters, digits and ". _ + : -", without "." or ".." components or a trailing "/", such as /var/lib/etcd-snapshots.',
    'must be an absolute directory such as /var/lib/etcd-snapshots (at least two components of A-Z, a-z, 0-9, ". _ + : -", no "." or ".." components, no trailing "/")',
  ),
  regexRule(
    's3.bucket',
    S3_BUCKET,
    'The etcd_snapshots.s3.bucket must be an S3 bucket name: 3 to 63 lowercase letters, digits, "." or "-", starting and ending with a letter or digit.',
    'must be an S3 bucket name (3-63 of a-z, 0-9, ".", "-", starting and ending with a letter or digit)',
  ),
  regexRule(
    's3.endpoint',
    S3_ENDPOINT,
    'The etcd_snapshots.s3.endpoint must be a host name or address with an optional ":port", without a scheme or path, such as s3.eu-central-1.amazonaws.com or minio.example.com:9000.',
    'must be a host or host:port without scheme or path, such as minio.example.com:9000',
  ),
  regexRule(
    's3.region',
    S3_REGION,
    'The etcd_snapshots.s3.region must be a region name of 1 to 64 letters, digits, "_" or "-", such as eu-central-1.',
    'must be a region name such as eu-central-1 (1-64 of A-Z, a-z, 0-9, "_", "-")',
  ),
  regexRule(
    's3.folder',
    S3_FOLDER,
    'The etcd_snapshots.s3.folder must be a key prefix such as prod/etcd: up to 32 "/"-separated names of letters, digits, "_", "." or "-", without a leading or trailing "/" and without "." or ".." names.',
    'must be a key prefix such as prod/etcd (up to 32 "/"-separated names of A-Z, a-z, 0-9, "_", ".", "-"; no leading or trailing "/", no "." or ".." names)',
  ),
  snapshotRule(
    's3.endpoint_ca',
    (x) => `can(regex(${hclString(PEM_CERTIFICATE)}, ${x}))`,
    'The etcd_snapshots.s3.endpoint_ca must be the text of a PEM certificate (-----BEGIN CERTIFICATE----- ...), e.g. file("s3-ca.pem").',
    // The TypeScript side names a file: fileProblems checks its contents.
    () => true,
    PEM_CERTIFICATE_RULE,
  ),
  regexRule(
    's3.access_key_id',
    S3_ACCESS_KEY_ID,
    'The etcd_snapshots.s3.access_key_id must be an access key id of 1 to 128 letters, digits or "+ / = . _ ~ -".',
    'must be an access key id (1-128 of A-Z, a-z, 0-9, "+ / = . _ ~ -")',
  ),
  {
    variables: ['etcd_s3_secret_access_key'],
    condition: `var.etcd_s3_secret_access_key == null || can(regex(${hclString(S3_SECRET_KEY)}, trimspace(var.etcd_s3_secret_access_key)))`,
    // Never the value: it is a secret.
    errorMessage: 'The etcd_s3_secret_access_key must be the secret access key alone: 1 to 256 printable ASCII characters without spaces, quotes, backslashes, "$" or "`".',
    // The TypeScript side names a file: fileProblems checks its contents without showing them.
    check: () => [],
  },
  {
    variables: ['etcd_snapshots', 'etcd_s3_secret_access_key'],
    condition: '(try(var.etcd_snapshots.s3.access_key_id, null) == null) == (var.etcd_s3_secret_access_key == null)',
    errorMessage: 'The etcd_snapshots.s3.access_key_id and etcd_s3_secret_access_key go together: set both (static credentials) or neither (the machines\' own credentials).',
    check: (d) => {
      const s3 = s3Of(d);
      const id = s3?.accessKeyId !== undefined;
      const secret = s3?.secretAccessKeyFile !== undefined;
      if (id === secret) return [];
      return id
        ? [{ field: 'etcdSnapshots.s3.secretAccessKeyFile', rule: 'is required with etcdSnapshots.s3.accessKeyId (a file holding the secret access key)', value: undefined }]
        : [{ field: 'etcdSnapshots.s3.accessKeyId', rule: 'is required with etcdSnapshots.s3.secretAccessKeyFile', value: undefined }];
    },
  },
];

/**
 * The name of an etcd snapshot as `k3s etcd-snapshot ls` prints it (`<name>-<node>-<unix time>`,
 * maybe `.zip`): a file name in the snapshot directory and a key under the S3 folder. It reaches the
 * node's shell and k3s's --cluster-reset-restore-path as it is: no "/", blanks, quotes, "$" or a
 * leading "-" or ".".
 */
const SNAPSHOT_NAME = '^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$';
/** The attributes of `restore` in the HCL module (the variable is `any`: a misspelt one is an error). */
export const HCL_RESTORE_ATTRIBUTES = ['snapshot', 'generation'] as const;
const MAX_GENERATION = 1000000000;

type Restore = NonNullable<ClusterDescription['restore']>;
const restoreOf = (d: ClusterDescription): Restore | undefined => (d.restore !== null && typeof d.restore === 'object' ? d.restore : undefined);
/** A value of `restore` shown in a message: at most 40 characters. */
const shown = (x: string) => `try(substr(tostring(${x}), 0, 40), "(not a string)")`;

/**
 * The rules of `restore` (restore as code): its shape, the snapshot name, the generation. A node to
 * restore on always exists: control_plane holds at least one node, and at most a minority may be gone.
 */
const RESTORE_RULES: ClusterRule[] = [
  {
    variables: ['restore'],
    condition: `var.restore == null || try(length(setsubtract(keys(var.restore), ${JSON.stringify(HCL_RESTORE_ATTRIBUTES)})) == 0 && length(setintersection(keys(var.restore), ${JSON.stringify(HCL_RESTORE_ATTRIBUTES)})) == ${HCL_RESTORE_ATTRIBUTES.length} && alltrue([for k, v in var.restore : v != null]), false)`,
    errorMessage:
      'The restore must be an object { snapshot = "<snapshot name>", generation = <whole number> }, both set, with no other attribute.' +
      `\${try(length(setsubtract(keys(var.restore), ${JSON.stringify(HCL_RESTORE_ATTRIBUTES)})) > 0 ? " Unknown: \${join(", ", sort(setsubtract(keys(var.restore), ${JSON.stringify(HCL_RESTORE_ATTRIBUTES)})))}." : "", "")}`,
    // The TypeScript side: the schema (strict) refuses other fields and wrong types.
    check: () => [],
  },
  {
    variables: ['restore'],
    condition: `try(var.restore.snapshot == null, true) || try(can(regex(${hclString(SNAPSHOT_NAME)}, var.restore.snapshot)), false)`,
    errorMessage:
      'The restore.snapshot must be the name of an etcd snapshot as `k3s etcd-snapshot ls` prints it (such as pre-apply-20261206-041502-cp-01-1796530502): 1 to 255 letters, digits, ".", "_", "+" or "-", starting with a letter or digit.' +
      `\${try(" Got: \\"\${${shown('var.restore.snapshot')}}\\".", "")}`,
    check: (d) => {
      const r = restoreOf(d);
      return r !== undefined && typeof r.snapshot === 'string' && !matches(SNAPSHOT_NAME, r.snapshot)
        ? [{ field: 'restore.snapshot', rule: 'must be the name of an etcd snapshot as `k3s etcd-snapshot ls` prints it (1-255 of A-Z, a-z, 0-9, ". _ + -", starting with a letter or digit; no "/", blanks or quotes)', value: r.snapshot }]
        : [];
    },
  },
  {
    variables: ['restore'],
    condition: `try(var.restore.generation == null, true) || try(var.restore.generation >= 1 && var.restore.generation <= ${MAX_GENERATION} && floor(var.restore.generation) == var.restore.generation, false)`,
    errorMessage: `The restore.generation must be a whole number from 1 to ${MAX_GENERATION}: raise it to restore the snapshot.`,
    check: (d) => {
      const r = restoreOf(d);
      return r !== undefined && typeof r.generation === 'number' && !isIntBetween(r.generation, 1, MAX_GENERATION)
        ? [{ field: 'restore.generation', rule: `must be a whole number from 1 to ${MAX_GENERATION} (raise it to restore)`, value: r.generation }]
        : [];
    },
  },
];

export const CLUSTER_RULES: readonly ClusterRule[] = [
  {
    variables: ['name'],
    condition: `can(regex(${hclString(RFC1123_LABEL)}, var.name))`,
    errorMessage: 'The cluster name must be an RFC 1123 label: 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit.',
    check: (d) => field(d, 'name', (x) => matches(RFC1123_LABEL, x), 'must be an RFC 1123 label (1-63 of a-z, 0-9, "-", starting and ending with a letter or digit)'),
  },
  {
    variables: ['vip'],
    condition: `can(regex(${hclString(IPV4)}, var.vip))`,
    errorMessage: 'The vip must be an IPv4 address in dotted-quad form, such as 192.168.1.100.',
    check: (d) => field(d, 'vip', isIPv4, 'must be an IPv4 address in dotted-quad form'),
  },
  {
    variables: ['control_plane'],
    // A value that is not a list is reported by the shape rule.
    condition: `!can(concat(var.control_plane, [])) || (length(var.control_plane) >= 1 && length(var.control_plane) <= ${MAX_CONTROL_PLANE_NODES})`,
    errorMessage: `The control_plane list must hold 1 to ${MAX_CONTROL_PLANE_NODES} nodes (etcd advises at most ${MAX_CONTROL_PLANE_NODES} members).`,
    check: (d) =>
      Array.isArray(d.controlPlane) && (d.controlPlane.length < 1 || d.controlPlane.length > MAX_CONTROL_PLANE_NODES)
        ? [{ field: 'controlPlane', rule: `must hold 1 to ${MAX_CONTROL_PLANE_NODES} nodes (etcd advises at most ${MAX_CONTROL_PLANE_NODES} members)`, value: `${d.controlPlane.length} nodes` }]
        : [],
  },
  ...nodeRules('controlPlane'),
  ...nodeRules('workers'),
  {
    variables: ['prefix_length'],
    condition: 'var.prefix_length >= 1 && var.prefix_length <= 30 && floor(var.prefix_length) == var.prefix_length',
    errorMessage: 'The prefix_length must be a whole number from 1 to 30, so that the subnet has room for nodes and a VIP.',
    check: (d) => field(d, 'prefixLength', (x) => isIntBetween(x, 1, 30), 'must be a whole number from 1 to 30'),
  },
  {
    variables: ['gateway'],
    condition: `can(regex(${hclString(IPV4)}, var.gateway))`,
    errorMessage: 'The gateway must be an IPv4 address in dotted-quad form, such as 192.168.1.1.',
    check: (d) => field(d, 'gateway', isIPv4, 'must be an IPv4 address in dotted-quad form'),
  },
  {
    variables: ['nameservers'],
    condition: `length(var.nameservers) >= 1 && alltrue([for s in var.nameservers : can(regex(${hclString(IPV4)}, s))])`,
    errorMessage: 'The nameservers list must hold at least one IPv4 address, each in dotted-quad form.',
    check: (d) => {
      if (!Array.isArray(d.nameservers)) return [];
      if (d.nameservers.length === 0) return [{ field: 'nameservers', rule: 'must hold at least one IPv4 address', value: [] }];
      return d.nameservers.flatMap((s, i) => (isIPv4(s) ? [] : [{ field: `nameservers[${i}]`, rule: 'must be an IPv4 address in dotted-quad form', value: s }]));
    },
  },
  {
    variables: ['interface'],
    condition: `can(regex(${hclString(INTERFACE_NAME)}, var.interface)) && !contains([".", ".."], var.interface)`,
    errorMessage: 'The interface must be a Linux interface name of 1 to 15 letters, digits, ".", "_" or "-", such as eth0, other than "." and "..".',
    check: (d) => field(d, 'interface', (x) => matches(INTERFACE_NAME, x) && x !== '.' && x !== '..', 'must be a Linux interface name (1-15 of A-Z, a-z, 0-9, ".", "_", "-"; not "." or "..")'),
  },
  {
    variables: ['vrrp_router_id'],
    condition: 'var.vrrp_router_id >= 1 && var.vrrp_router_id <= 255 && floor(var.vrrp_router_id) == var.vrrp_router_id',
    errorMessage: 'The vrrp_router_id must be a whole number from 1 to 255.',
    check: (d) => field(d, 'vrrpRouterId', (x) => isIntBetween(x, 1, 255), 'must be a whole number from 1 to 255'),
  },
  {
    variables: ['nixpkgs'],
    condition: `can(regex(${hclString(FLAKE_REF)}, var.nixpkgs))`,
    errorMessage: 'The nixpkgs value must be a flake reference such as github:NixOS/nixpkgs/nixos-26.05, without spaces, quotes, backslashes, "$" or braces.',
    check: (d) => field(d, 'nixpkgs', (x) => matches(FLAKE_REF, x), 'must be a flake reference such as github:NixOS/nixpkgs/nixos-26.05 (no spaces, quotes, backslashes, "$" or braces)'),
  },
  {
    variables: ['nixpkgs'],
    condition: `!can(regex(${hclString(OLD_NIXPKGS)}, var.nixpkgs))`,
    errorMessage: 'The nixpkgs value names NixOS 24.05 or older, which the flake cannot build: the disko it pins needs the nixpkgs lib of 24.11 or newer. Use nixos-24.11 through nixos-26.05 or nixos-unstable.',
    check: (d) => field(d, 'nixpkgs', (x) => !matches(OLD_NIXPKGS, x), 'must not name NixOS 24.05 or older (the pinned disko needs the nixpkgs lib of 24.11 or newer); use nixos-24.11 through nixos-26.05 or nixos-unstable'),
  },
  {
    variables: ['kexec_url'],
    condition: `var.kexec_url == null || can(regex(${hclString(KEXEC_URL)}, var.kexec_url))`,
    errorMessage: 'The kexec_url must be an http(s) URL or an absolute path ending in .tar, .tar.gz, .tar.xz or .tar.zst, without spaces, quotes, backslashes, "$" or braces.',
    check: (d) => field(d, 'kexecUrl', (x) => matches(KEXEC_URL, x), 'must be an http(s) URL or an absolute path ending in .tar, .tar.gz, .tar.xz or .tar.zst (no spaces, quotes, backslashes, "$" or braces)'),
  },
  flagRule('serverExtraFlags', 'server_extra_flags'),
  flagRule('agentExtraFlags', 'agent_extra_flags'),
  dataDirRule('serverExtraFlags', 'server_extra_flags'),
  dataDirRule('agentExtraFlags', 'agent_extra_flags'),
  {
    variables: ['disable_components'],
    condition: `alltrue([for c in var.disable_components : contains(${hclList(K3S_COMPONENTS)}, c)])`,
    errorMessage: `Every disable_components entry must be a packaged k3s component: ${K3S_COMPONENTS.join(', ')}.`,
    check: (d) =>
      listOf(d, 'disableComponents').flatMap(([v, i]) =>
        (K3S_COMPONENTS as readonly string[]).includes(v) ? [] : [{ field: `disableComponents[${i}]`, rule: `must be one of ${K3S_COMPONENTS.join(', ')}`, value: v }],
      ),
  },
  moduleRule('nixosModules', 'nixos_modules'),
  moduleRule('controlPlaneModules', 'control_plane_modules'),
  moduleRule('workerModules', 'worker_modules'),
  moduleRule('minimalModules', 'minimal_modules'),
  {
    variables: ['ssh_private_key'],
    // The module's side of the check the TypeScript app makes with sshpk on sshPrivateKeyFile
    // (validate-cluster-description.ts): ED25519, no passphrase, OpenSSH or PKCS #8 PEM. The fixed
    // leading bytes of each form say all of that: "openssh-key-v1", cipher "none", kdf "none", one key of
    // type "ssh-ed25519" (OpenSSH PROTOCOL.key); the PKCS #8 header of an Ed25519 key (RFC 8410, section 7).
    condition: `var.ssh_private_key == null || can(regex(${hclString(`^-----BEGINOPENSSHPRIVATEKEY-----${OPENSSH_ED25519_START}[A-Za-z0-9+/]+={0,2}-----ENDOPENSSHPRIVATEKEY-----$`)}, replace(var.ssh_private_key, ${hclString('/\\s/')}, ""))) || can(regex(${hclString(`^-----BEGINPRIVATEKEY-----${PKCS8_ED25519_START}[A-Za-z0-9+/]{44}-----ENDPRIVATEKEY-----$`)}, replace(var.ssh_private_key, ${hclString('/\\s/')}, "")))`,
    errorMessage: 'The ssh_private_key must be an ED25519 private key without a passphrase, in OpenSSH form ("-----BEGIN OPENSSH PRIVATE KEY-----") or PEM (PKCS #8, "-----BEGIN PRIVATE KEY-----"), e.g. file("machine-key"); null generates one.',
    // The TypeScript app reads sshPrivateKeyFile with sshpk (validate-cluster-description.ts).
    check: () => [],
  },
  {
    variables: ['ssh_user'],
    condition: `can(regex(${hclString(UNIX_USER)}, var.ssh_user))`,
    errorMessage: 'The ssh_user must be a Unix user name such as root.',
    check: (d) => field(d, 'sshUser', (x) => matches(UNIX_USER, x), 'must be a Unix user name such as root'),
  },
  {
    variables: ['remote_flake_dir'],
    // The deployment replaces this directory (rm -rf): it must be one of its own.
    condition: `can(regex(${hclString(DEDICATED_DIR)}, var.remote_flake_dir)) && !can(regex(${hclString(SYSTEM_DIR)}, var.remote_flake_dir))`,
    errorMessage: `The remote_flake_dir must be a dedicated directory such as /etc/nico/flake: an absolute path of at least two components of letters, digits and ". _ + : -", without "." or ".." components or a trailing "/", and not a system directory (${SYSTEM_DIR_TEXT}).`,
    check: (d) =>
      field(d, 'remoteFlakeDir', (x) => matches(DEDICATED_DIR, x) && !matches(SYSTEM_DIR, x), `must be a dedicated directory such as /etc/nico/flake (absolute, at least two components of A-Z, a-z, 0-9, ". _ + : -", no "." or ".." components, no trailing "/", not a system directory: ${SYSTEM_DIR_TEXT})`),
  },
  {
    variables: ['ready_timeout_seconds'],
    condition: 'var.ready_timeout_seconds >= 1 && var.ready_timeout_seconds <= 86400 && floor(var.ready_timeout_seconds) == var.ready_timeout_seconds',
    errorMessage: 'The ready_timeout_seconds must be a whole number of seconds from 1 to 86400.',
    check: (d) => field(d, 'readyTimeoutSeconds', (x) => isIntBetween(x, 1, 86400), 'must be a whole number of seconds from 1 to 86400'),
  },
  {
    variables: ['ssh_connect_timeout_seconds'],
    condition: 'var.ssh_connect_timeout_seconds >= 1 && var.ssh_connect_timeout_seconds <= 600 && floor(var.ssh_connect_timeout_seconds) == var.ssh_connect_timeout_seconds',
    errorMessage: 'The ssh_connect_timeout_seconds must be a whole number of seconds from 1 to 600.',
    check: (d) => field(d, 'sshConnectTimeoutSeconds', (x) => isIntBetween(x, 1, 600), 'must be a whole number of seconds from 1 to 600'),
  },
  {
    variables: ['max_unavailable'],
    condition: 'var.max_unavailable >= 1 && var.max_unavailable <= 1000 && floor(var.max_unavailable) == var.max_unavailable',
    errorMessage: 'The max_unavailable must be a whole number of workers from 1 to 1000.',
    check: (d) => field(d, 'maxUnavailable', (x) => isIntBetween(x, 1, 1000), 'must be a whole number of workers from 1 to 1000'),
  },
  {
    variables: ['drain_timeout_seconds'],
    condition: 'var.drain_timeout_seconds >= 1 && var.drain_timeout_seconds <= 86400 && floor(var.drain_timeout_seconds) == var.drain_timeout_seconds',
    errorMessage: 'The drain_timeout_seconds must be a whole number of seconds from 1 to 86400.',
    check: (d) => field(d, 'drainTimeoutSeconds', (x) => isIntBetween(x, 1, 86400), 'must be a whole number of seconds from 1 to 86400'),
  },
  {
    // Removing members without SSH is a loss, not a graceful leave: etcd must keep a quorum of the
    // control plane as described, or the cluster stops.
    variables: ['control_plane'],
    condition: 'try(length([for n in var.control_plane : n if !try(n.gone, false)]) >= floor(length(var.control_plane) / 2) + 1, true)',
    errorMessage: 'At most a minority of the control_plane nodes may be marked gone at once: etcd needs a quorum of the others to remove them.',
    check: (d) => {
      if (!Array.isArray(d.controlPlane) || d.controlPlane.length === 0) return [];
      const gone = d.controlPlane.filter((n) => n?.gone === true).length;
      const quorum = Math.floor(d.controlPlane.length / 2) + 1;
      return d.controlPlane.length - gone < quorum
        ? [{ field: 'controlPlane', rule: `may have at most ${d.controlPlane.length - quorum} node(s) marked gone at once (etcd needs ${quorum} of ${d.controlPlane.length} to remove them)`, value: `${gone} gone` }]
        : [];
    },
  },
  // Rules across fields: preconditions in HCL.
  {
    // nixos-anywhere switches to root after the kexec, and #minimal authorizes the machine key for
    // root only: any other user installs the machine and then cannot deploy it.
    variables: ['ssh_user', 'install', 'control_plane', 'workers'],
    condition: `var.ssh_user == "root" || alltrue([for n in ${ALL_NODES_HCL} : !coalesce(try(n.install, null), var.install)])`,
    errorMessage: 'The ssh_user must be root while any node is installed (install): the installed system authorizes the machine key for root only, so a deploy as another user could not log in.',
    check: (d) =>
      d.sshUser !== undefined && d.sshUser !== 'root' && allNodes(d).some(({ node }) => node.install ?? d.install ?? CLUSTER_DEFAULTS.install)
        ? [{ field: 'sshUser', rule: 'must be root while any node is installed (install: true): the installed system authorizes the machine key for root only', value: d.sshUser }]
        : [],
  },
  {
    variables: ['control_plane', 'workers'],
    condition: 'length(toset([for n in local.rule_nodes : n.name])) == length(local.rule_nodes)',
    errorMessage: 'Every node name must be unique across control_plane and workers.',
    check: (d) => duplicates(d, 'name'),
  },
  {
    variables: ['control_plane', 'workers'],
    condition: 'length(toset(local.rule_node_ips)) == length(local.rule_node_ips)',
    errorMessage: 'Every node ip must be unique across control_plane and workers.',
    check: (d) => duplicates(d, 'ip'),
  },
  {
    variables: ['control_plane', 'workers', 'prefix_length'],
    condition: `alltrue([for ip in local.rule_node_ips : (${hclInSubnet('ip')}) && ${hclNotEdge('ip')}])`,
    errorMessage: 'Every node ip must lie in the subnet of the first control_plane node (prefix_length) and must not be its network or broadcast address.',
    check: (d) =>
      allNodes(d).flatMap(({ field: f, node }) => {
        if (!isIPv4(node.ip)) return [];
        if (!inSubnet(node.ip, d)) return [{ field: `${f}.ip`, rule: `must lie in the node subnet ${subnetOf(d)}`, value: node.ip }];
        if (isNetworkOrBroadcast(node.ip, prefixOf(d))) return [{ field: `${f}.ip`, rule: `must not be the network or broadcast address of ${subnetOf(d)}`, value: node.ip }];
        return [];
      }),
  },
  {
    variables: ['vip', 'control_plane', 'prefix_length'],
    condition: `(${hclInSubnet('var.vip')}) && ${hclNotEdge('var.vip')}`,
    errorMessage: 'The vip must lie in the subnet of the first control_plane node (prefix_length) and must not be its network or broadcast address.',
    check: (d) => {
      if (!isIPv4(d.vip)) return [];
      if (!inSubnet(d.vip, d)) return [{ field: 'vip', rule: `must lie in the node subnet ${subnetOf(d)}`, value: d.vip }];
      if (isNetworkOrBroadcast(d.vip, prefixOf(d))) return [{ field: 'vip', rule: `must not be the network or broadcast address of ${subnetOf(d)}`, value: d.vip }];
      return [];
    },
  },
  {
    variables: ['vip', 'control_plane', 'workers'],
    condition: '!contains(local.rule_node_ips, var.vip)',
    errorMessage: 'The vip must not be the ip of any node: keepalived moves it between control-plane nodes.',
    check: (d) =>
      allNodes(d)
        .filter(({ node }) => node.ip === d.vip)
        .map(({ field: f }) => ({ field: 'vip', rule: `must not be the ip of a node (it is ${f}.ip)`, value: d.vip })),
  },
  {
    variables: ['control_plane', 'workers'],
    condition: 'length(toset(local.rule_node_endpoints)) == length(local.rule_node_endpoints)',
    // Grouped by endpoint in one pass over the shared endpoints: Terraform evaluates this message on every plan.
    errorMessage: `Every node must be reached at its own ssh_host:ssh_port (default: its ip and ${NODE_DEFAULTS.sshPort}). Shared: \${join(", ", [for endpoint, names in { for e in local.rule_node_endpoints : e => e... } : endpoint if length(names) > 1])}.`,
    check: (d) => {
      const seen = new Map<string, string>();
      const problems: Problem[] = [];
      for (const { field: f, node } of allNodes(d)) {
        const endpoint = sshEndpoint(node);
        const first = seen.get(endpoint);
        if (first !== undefined) problems.push({ field: `${f}.sshHost`, rule: `must be unique with sshPort (default: ip and ${NODE_DEFAULTS.sshPort}): ${first} is also reached at ${endpoint}`, value: node.sshHost ?? node.ip });
        else seen.set(endpoint, f);
      }
      return problems;
    },
  },
  {
    variables: ['gateway', 'vip', 'control_plane', 'workers', 'prefix_length'],
    condition: `var.gateway != var.vip && !contains(local.rule_node_ips, var.gateway) && ${hclNotEdge('var.gateway')}`,
    errorMessage: 'The gateway must not be the vip, the ip of a node, or the network or broadcast address of the node subnet.',
    check: (d) => {
      const gateway = d.gateway ?? CLUSTER_DEFAULTS.gateway;
      if (!isIPv4(gateway)) return [];
      const note = d.gateway === undefined ? ' (the default; set gateway)' : '';
      const problem = (rule: string): Problem[] => [{ field: 'gateway', rule: rule + note, value: gateway }];
      if (gateway === d.vip) return problem('must not be the vip');
      const node = allNodes(d).find(({ node: n }) => n.ip === gateway);
      if (node) return problem(`must not be the ip of a node (it is ${node.field}.ip)`);
      if (inSubnet(gateway, d) && isNetworkOrBroadcast(gateway, prefixOf(d))) return problem(`must not be the network or broadcast address of ${subnetOf(d)}`);
      return [];
    },
  },
  {
    variables: ['gateway', 'control_plane', 'prefix_length'],
    condition: hclInSubnet('var.gateway'),
    errorMessage: 'The gateway must lie in the subnet of the first control_plane node (prefix_length).',
    check: (d) => {
      // The default gateway is checked too: a default route outside the subnet is unreachable.
      const gateway = d.gateway ?? CLUSTER_DEFAULTS.gateway;
      if (!isIPv4(gateway) || inSubnet(gateway, d)) return [];
      return [{ field: 'gateway', rule: `must lie in the node subnet ${subnetOf(d)}${d.gateway === undefined ? ' (the default; set gateway for this subnet)' : ''}`, value: gateway }];
    },
  },
  ...SNAPSHOT_RULES,
  ...RESTORE_RULES,
];

function subnetOf(d: ClusterDescription): string {
  const ref = nodesOf(d, 'controlPlane')[0]?.node.ip as string;
  return ipaddr.IPv4.networkAddressFromCIDR(`${ref}/${prefixOf(d)}`).toString() + `/${prefixOf(d)}`;
}

/** Advice that does not stop synthesis. */
export function clusterWarnings(d: ClusterDescription): string[] {
  const n = d.controlPlane.length;
  return n % 2 === 0
    ? [`controlPlane: ${n} nodes is an even count; etcd keeps quorum with ${n / 2 + 1} of them, the same fault tolerance as ${n - 1} nodes. Prefer an odd count.`]
    : [];
}
