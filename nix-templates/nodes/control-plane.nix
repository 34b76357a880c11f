# Control-plane node: k3s server with embedded etcd, and keepalived holding the API VIP.
{ config, lib, options, pkgs, nodeData, ... }:
let
  vrrp = nodeData.keepalived;
  nftables = config.networking.nftables.enable;
  apiCheck = "k3s_api_ready";
  tls = nodeData.secrets.k3sTlsDir;
in
{
  services.k3s = {
    enable = true;
    role = "server";
    # Only the first server creates the etcd cluster; the others join through the VIP.
    clusterInit = nodeData.clusterInit;
    serverAddr = nodeData.serverAddr;
    tokenFile = nodeData.tokenPath;
    # A list, which merges with the lists of the user's own modules; one string where the
    # release's option is types.str (nixos-24.05 and older, e.g. a NICO default).
    extraFlags = if options.services.k3s.extraFlags.type.check [ ] then nodeData.k3sFlags else nodeData.k3sExtraFlags;
    # AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the etcd snapshots' S3 copies: a root-only
    # file the deploy step puts in the secrets directory; only its path is in the configuration.
    environmentFile = lib.mkIf (nodeData.etcdS3EnvironmentFile != null) nodeData.etcdS3EnvironmentFile;
  };

  # k3s creates only its default snapshot directory; another one must exist, root-only.
  systemd.tmpfiles.settings = lib.mkIf (nodeData.etcdSnapshotDir != null) {
    "10-nico-etcd-snapshots".${nodeData.etcdSnapshotDir}.d = { mode = "0700"; user = "root"; group = "root"; };
  };

  services.keepalived = {
    enable = true;
    # The VIP follows the API: a server whose API is not ready (k3s dead, etcd without it) loses
    # `weight` priority, which is more than the spread of the servers' priorities (150 - index),
    # so a healthy server takes the VIP over. /readyz needs a client certificate (k3s runs the API
    # server with anonymous auth off): the admin one k3s writes next to its CAs. As root: the
    # module's default script user (keepalived_script) exists on no NixOS system by default.
    vrrpScripts.${apiCheck} = {
      script = "${pkgs.curl}/bin/curl --silent --fail --max-time 3 --cacert ${tls}/server-ca.crt --cert ${tls}/client-admin.crt --key ${tls}/client-admin.key https://127.0.0.1:6443/readyz";
      interval = 5;
      timeout = 5;
      fall = 3;
      rise = 2;
      weight = -100;
      user = "root";
    };
    # VRRP is IP protocol 112, which the NixOS firewall drops: without this every server
    # hears no adverts, considers itself MASTER and claims the VIP. Older keepalived modules
    # open it with iptables rules only; newer ones add an nftables rule when nftables is on.
    openFirewall = true;
    vrrpInstances.${vrrp.instance} = {
      interface = nodeData.interface;
      state = vrrp.state;
      priority = vrrp.priority;
      virtualRouterId = vrrp.virtualRouterId;
      virtualIps = [ { addr = vrrp.address; } ];
      # The NixOS module has no authentication option. keepalived reads 8 characters at most.
      # track_script is written here rather than through `trackScripts`: the 24.05 module's check
      # of that option (concatMap over attribute sets) fails evaluation whenever it is non-empty,
      # and NICO trees may still build on 24.05.
      extraConfig = ''
        authentication {
          auth_type PASS
          auth_pass ${vrrp.authPass}
        }
        track_script {
          ${apiCheck}
        }
      '';
    };
  };

  assertions = [
    {
      assertion = !(config.services.k3s.clusterInit && config.services.k3s.serverAddr != "");
      message = "services.k3s.clusterInit and services.k3s.serverAddr are both set on ${nodeData.name}: a joining server must not initialise a second etcd cluster.";
    }
    {
      # A server with neither would start a datastore of its own that nobody can join.
      assertion = config.services.k3s.clusterInit || config.services.k3s.serverAddr != "";
      message = "services.k3s.clusterInit must be true on ${nodeData.name} (the first control-plane node creates the etcd cluster) or services.k3s.serverAddr must name the cluster to join.";
    }
    {
      # With nftables, VRRP is open only if a rule for it reaches the nftables input chain:
      # keepalived's own (releases whose module knows nftables) or one of the user's.
      assertion = nftables -> lib.hasInfix "vrrp" config.networking.firewall.extraInputRules;
      message = "networking.nftables.enable is true on ${nodeData.name}, but no rule in networking.firewall.extraInputRules accepts VRRP: this release's services.keepalived.openFirewall opens it with iptables only. Add \"meta l4proto vrrp accept\" to networking.firewall.extraInputRules, or turn nftables off.";
    }
  ];
}
