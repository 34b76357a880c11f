# Pure cluster logic: turns cluster.nix into one plain attrset of data per node.
#
# Only `builtins` are used (no nixpkgs, no lib), so this file can be evaluated and
# tested on its own:  nix-instantiate --eval --strict --json -E 'import ./generator.nix (import ../cluster.nix)'
# The NixOS modules next to it only map this data onto options.
cluster:
let
  fail = msg: throw "cluster.nix: ${msg}";

  # NICO writes only name, vip, controlPlane and workers; every other field is optional.
  defaults = {
    workers = [ ];
    prefixLength = 24;
    gateway = "192.168.1.1";
    nameservers = [ "8.8.8.8" ];
    interface = "eth0";
    vrrpRouterId = 51;
    disk = "/dev/sda";
    system = "x86_64-linux";
    # Extension points (README "Extending"): k3s flags per role, packaged components the
    # servers leave out, and per node (below) labels and taints.
    serverExtraFlags = [ ];
    agentExtraFlags = [ ];
    disableComponents = [ ];
  };
  opt = field: cluster.${field} or defaults.${field};
  required = field: cluster.${field} or (fail "`${field}` is required");

  name = required "name";
  vip = required "vip";
  controlPlane = required "controlPlane";
  workers = opt "workers";
  prefixLength = opt "prefixLength";
  interface = opt "interface";
  vrrpRouterId = opt "vrrpRouterId";

  # Where the deploy step (or nico-secrets, from files NICO injects next to flake.nix) puts
  # the secrets on a node: root-only files outside the flake, never Nix paths, so no secret
  # is copied into the Nix store. Control-plane nodes also get the cluster's CA files in
  # `tls/`, laid out like k3s's own server/tls directory.
  secretsDir = "/var/lib/nico/secrets";
  secrets = {
    dir = secretsDir;
    joinToken = "${secretsDir}/join-token";
    machineKey = "${secretsDir}/machine-ssh-private-key";
    tlsDir = "${secretsDir}/tls";
    # k3s uses CA files it finds here instead of generating its own.
    k3sTlsDir = "/var/lib/rancher/k3s/server/tls";
    # S3 credentials of the etcd snapshots, as the environment variables k3s reads for
    # --etcd-s3-access-key / --etcd-s3-secret-key (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY;
    # k3s pkg/cli/cmds/server.go): an environment file of the k3s unit, never a flag.
    etcdS3Env = "${secretsDir}/etcd-s3.env";
    etcdS3EndpointCa = "${secretsDir}/etcd-s3-endpoint-ca.pem";
  };

  apiPort = 6443;
  serverUrl = "https://${vip}:${toString apiPort}";

  # keepalived's PASS authentication uses at most 8 characters. Derived from the cluster
  # name, it is not a secret (keepalived.conf is in the Nix store anyway): it only stops
  # two clusters on one L2 segment from adopting each other's adverts.
  authPass = builtins.substring 0 8 (builtins.hashString "sha256" name);

  # Node state that exists only once a node has joined. A node that has it never waits
  # for the VIP again: after a full-cluster power cut the joiners must start without it,
  # or etcd never regains quorum and the VIP never answers.
  joinedMarker = {
    server = "/var/lib/rancher/k3s/server/db/etcd";
    agent = "/var/lib/rancher/k3s/agent/kubelet.kubeconfig";
  };

  # Contract ports. Single ports and ranges are kept apart because NixOS has separate
  # options for them.
  firewall = {
    server = {
      tcpPorts = [ 22 6443 ];
      tcpRanges = [
        { from = 2379; to = 2380; } # etcd client and peer
        { from = 10250; to = 10259; } # kubelet, scheduler, controller-manager
      ];
      udpPorts = [ 8472 ]; # flannel VXLAN
    };
    agent = {
      tcpPorts = [ 22 10250 ];
      tcpRanges = [ { from = 30000; to = 32767; } ]; # NodePort services
      udpPorts = [ 8472 ];
    };
  };

  # --node-ip: the VIP is a second address on the same interface; without the flag k3s
  # may advertise whichever address it finds first. --tls-san: the API certificate must
  # name the VIP before the first start, or clients of the VIP fail TLS verification.
  # Then the user's: components to disable (servers), the role's extra flags, and the node's
  # labels and taints. Each list element is one argument word group, as in ExecStart.
  k3sFlags = role: node:
    [ "--node-ip ${node.ip}" ]
    ++ (if role == "server" then [ "--tls-san ${vip}" ] ++ map (c: "--disable ${c}") disableComponents ++ snapshotFlags else [ ])
    ++ (if role == "server" then serverExtraFlags else agentExtraFlags)
    ++ map (k: "--node-label ${k}=${node.labels.${k}}") (builtins.attrNames node.labels)
    ++ map (t: "--node-taint ${t}") node.taints;

  # etcd snapshots (servers only): a flag for each setting cluster.nix has; k3s's own default
  # for the others. The cron spec holds spaces: quoted, as systemd splits ExecStart into words.
  etcdSnapshots = cluster.etcdSnapshots or { };
  etcdS3 = etcdSnapshots.s3 or null;
  optionalFlag = attrs: key: flag: if attrs ? ${key} then [ "${flag} ${toString attrs.${key}}" ] else [ ];
  snapshotFlags =
    (if etcdSnapshots ? scheduleCron then [ "--etcd-snapshot-schedule-cron \"${etcdSnapshots.scheduleCron}\"" ] else [ ])
    ++ optionalFlag etcdSnapshots "retention" "--etcd-snapshot-retention"
    ++ optionalFlag etcdSnapshots "dir" "--etcd-snapshot-dir"
    ++ (if etcdS3 == null then [ ] else
      [ "--etcd-s3" "--etcd-s3-bucket ${etcdS3.bucket}" ]
      ++ optionalFlag etcdS3 "endpoint" "--etcd-s3-endpoint"
      ++ optionalFlag etcdS3 "region" "--etcd-s3-region"
      ++ optionalFlag etcdS3 "folder" "--etcd-s3-folder"
      ++ (if etcdS3.endpointCa or false then [ "--etcd-s3-endpoint-ca ${secrets.etcdS3EndpointCa}" ] else [ ]));

  serverExtraFlags = stringList "serverExtraFlags" (opt "serverExtraFlags");
  agentExtraFlags = stringList "agentExtraFlags" (opt "agentExtraFlags");
  disableComponents = stringList "disableComponents" (opt "disableComponents");

  isStringList = l: builtins.isList l && builtins.all builtins.isString l;
  stringList = what: l: if isStringList l then l else fail "`${what}` must be a list of strings";
  isStringAttrs = a: builtins.isAttrs a && builtins.all (k: builtins.isString a.${k}) (builtins.attrNames a);

  checkNode = what: i: node:
    if !(builtins.isAttrs node) then fail "${what}[${toString i}] must be an attrset { name; ip; }"
    else if !(node ? name) || !(node ? ip) then fail "${what}[${toString i}] needs `name` and `ip`"
    else if node.name == "minimal" then fail "${what}[${toString i}]: the name `minimal` is reserved for the cleanup configuration"
    else if !isStringAttrs (node.labels or { }) then fail "${what}[${toString i}].labels must be an attrset of strings"
    else if !isStringList (node.taints or [ ]) then fail "${what}[${toString i}].taints must be a list of strings"
    else { labels = { }; taints = [ ]; } // node;

  # The node that creates the etcd cluster. nico-cluster records it when the cluster is first
  # deployed and writes it as `initNode`, so reordering or removing nodes never makes another node
  # run --cluster-init (a second cluster); NICO's cluster.nix has no such field: the first node.
  initNode = cluster.initNode or (builtins.head controlPlane).name;

  mkNode = role: index: node:
    let
      first = role == "server" && index == 0;
      init = role == "server" && node.name == initNode;
    in
    {
      inherit (node) name ip;
      inherit role index;
      disk = node.disk or defaults.disk;
      isControlPlane = role == "server";

      # Only the init node creates the etcd cluster; everyone else joins through the VIP,
      # which keepalived keeps on a live server. Once the init node has left the cluster,
      # every server joins.
      clusterInit = init;
      serverAddr = if init then "" else serverUrl;
      waitForVip = !init;
      vipCheckUrl = "${serverUrl}/cacerts";
      vipWaitSeconds = 600;
      joinedMarker = joinedMarker.${role};

      # Our own path: k3s writes its full token to /var/lib/rancher/k3s/server/token itself.
      tokenPath = secrets.joinToken;
      inherit secrets;
      inherit (node) labels taints;
      k3sFlags = k3sFlags role node;
      # The same flags as one string, for releases whose services.k3s.extraFlags is types.str.
      k3sExtraFlags = builtins.concatStringsSep " " (k3sFlags role node);

      firewall = firewall.${role};

      # What the server's NixOS configuration adds for its snapshots: the snapshot directory
      # (k3s creates only its default one) and the environment file with the S3 credentials.
      etcdSnapshotDir = if role == "server" then etcdSnapshots.dir or null else null;
      etcdS3EnvironmentFile = if role == "server" && etcdS3 != null && (etcdS3.credentials or false) then secrets.etcdS3Env else null;

      keepalived =
        if role == "server" then {
          instance = "k8s_vip";
          state = if first then "MASTER" else "BACKUP";
          priority = 150 - index;
          virtualRouterId = vrrpRouterId;
          inherit authPass;
          address = "${vip}/${toString prefixLength}";
        } else null;
    } // network;

  network = {
    inherit interface prefixLength;
    gateway = opt "gateway";
    nameservers = opt "nameservers";
    # eth0-style names exist only with the kernel's own naming; systemd would call the
    # same NIC ens3 or enp1s0.
    kernelInterfaceName = builtins.match "eth[0-9]+" interface != null;
  };

  servers = builtins.genList (i: mkNode "server" i (checkNode "controlPlane" i (builtins.elemAt controlPlane i))) (builtins.length controlPlane);
  agents = builtins.genList (i: mkNode "agent" i (checkNode "workers" i (builtins.elemAt workers i))) (builtins.length workers);
  allNodes = servers ++ agents;
  nodeNames = map (n: n.name) allNodes;

  nodes = builtins.listToAttrs (map (n: { name = n.name; value = n; }) allNodes);

  disks = map (n: n.disk) allNodes;
  uniformDisk = builtins.all (d: d == builtins.head disks) disks;

  # `minimal` is applied to every node, whatever its role, so it carries nothing that
  # belongs to one node: no address (it uses DHCP) and, when the nodes' disks differ, no
  # GRUB device either (the EFI loader is rewritten, the BIOS stage already installed on
  # each disk stays as it is).
  minimal = {
    name = "minimal";
    role = "minimal";
    disk = builtins.head disks;
    grubDevices = if uniformDisk then null else [ "nodev" ];
  } // network;

  # `minimal` on one known node, when the tree names it (nico-cluster's destroy step writes
  # `minimal-node` before switching): that node's address, host name and disk, so a
  # machine on a network without DHCP stays reachable where it was.
  minimalOn = nodeName:
    if !(nodes ? ${nodeName}) then fail "minimal-node names `${nodeName}`, which is not a node of this cluster (${builtins.concatStringsSep ", " nodeNames})"
    else minimal // {
      inherit (nodes.${nodeName}) ip disk;
      hostName = nodeName;
      # disko adds this node's own disk, as it does for the node's configuration.
      grubDevices = null;
    };

  validated =
    if !(builtins.isString name) || name == "" then fail "`name` must be a non-empty string"
    else if !(builtins.isList controlPlane) || controlPlane == [ ] then fail "`controlPlane` needs at least one node"
    else if !(builtins.isList workers) then fail "`workers` must be a list"
    else if builtins.length (builtins.attrNames nodes) != builtins.length allNodes then fail "node names must be unique, got ${builtins.toJSON nodeNames}"
    else if !(builtins.isInt vrrpRouterId) || vrrpRouterId < 1 || vrrpRouterId > 255 then fail "`vrrpRouterId` must be an integer from 1 to 255"
    else if !(builtins.isInt prefixLength) || prefixLength < 0 || prefixLength > 32 then fail "`prefixLength` must be an integer from 0 to 32"
    else if !(builtins.isString interface) || interface == "" then fail "`interface` must be a non-empty string"
    else true;
in
assert validated;
{
  inherit nodes nodeNames minimal minimalOn secrets;
  system = opt "system";
  cluster = { inherit name vip; apiServer = serverUrl; };
}
