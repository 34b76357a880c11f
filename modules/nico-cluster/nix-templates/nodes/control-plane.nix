# Control-plane node: k3s server with embedded etcd, and keepalived holding the API VIP.
{ config, lib, nodeData, ... }:
let
  vrrp = nodeData.keepalived;
in
{
  services.k3s = {
    enable = true;
    role = "server";
    # Only the first server creates the etcd cluster; the others join through the VIP.
    clusterInit = nodeData.clusterInit;
    serverAddr = nodeData.serverAddr;
    tokenFile = nodeData.tokenPath;
    # One string: in nixos-24.05 this option is types.str (lists are accepted from 24.11).
    extraFlags = nodeData.k3sExtraFlags;
  };

  services.keepalived = {
    enable = true;
    # VRRP is IP protocol 112, which the NixOS firewall drops: without this every server
    # hears no adverts, considers itself MASTER and claims the VIP.
    openFirewall = true;
    vrrpInstances.${vrrp.instance} = {
      interface = nodeData.interface;
      state = vrrp.state;
      priority = vrrp.priority;
      virtualRouterId = vrrp.virtualRouterId;
      virtualIps = [ { addr = vrrp.address; } ];
      # The NixOS module has no authentication option. keepalived reads 8 characters at most.
      extraConfig = ''
        authentication {
          auth_type PASS
          auth_pass ${vrrp.authPass}
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
      # openFirewall opens VRRP through networking.firewall.extraCommands, i.e. iptables only.
      assertion = !config.networking.nftables.enable;
      message = "networking.nftables.enable must be false on ${nodeData.name}: services.keepalived.openFirewall opens VRRP with iptables rules; with nftables add \"ip protocol vrrp accept\" to networking.firewall.extraInputRules instead.";
    }
  ];
}
