# Worker node: k3s agent joining through the VIP. Workers take no part in the VIP election.
{ config, lib, options, nodeData, ... }:
{
  services.k3s = {
    enable = true;
    role = "agent";
    serverAddr = nodeData.serverAddr;
    tokenFile = nodeData.tokenPath;
    # A list, or one string where the release's option is types.str (see control-plane.nix).
    extraFlags = if options.services.k3s.extraFlags.type.check [ ] then nodeData.k3sFlags else nodeData.k3sExtraFlags;
  };

  assertions = [
    {
      assertion = !config.services.keepalived.enable;
      message = "services.keepalived.enable must be false on worker ${nodeData.name}: only control-plane nodes may hold the API VIP.";
    }
  ];
}
