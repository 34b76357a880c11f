# Worker node: k3s agent joining through the VIP. Workers take no part in the VIP election.
{ config, lib, nodeData, ... }:
{
  services.k3s = {
    enable = true;
    role = "agent";
    serverAddr = nodeData.serverAddr;
    tokenFile = nodeData.tokenPath;
    # One string: in nixos-24.05 this option is types.str (lists are accepted from 24.11).
    extraFlags = nodeData.k3sExtraFlags;
  };

  assertions = [
    {
      assertion = !config.services.keepalived.enable;
      message = "services.keepalived.enable must be false on worker ${nodeData.name}: only control-plane nodes may hold the API VIP.";
    }
  ];
}
