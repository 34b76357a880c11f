# What every machine of the cluster gets, `minimal` included (root SSH with the machine
# key, interface naming, no swap, the static address when the node is known), plus what
# every k3s node gets (firewall ports, secrets at their runtime paths, waiting for the VIP
# before joining).
{ config, lib, pkgs, nodeData, nicoSecrets, ... }:
let
  isNode = nodeData.role != "minimal";
  hasAddress = nodeData ? ip;
  iface = nodeData.interface;

  # With a machine-ssh-public-key file the key is plain text. Without it the public half is
  # computed from the private key in a build step: that derivation reads the private key.
  # ssh-keygen refuses a key file that others may read, as store files are: use a 0600 copy.
  derivedPublicKey = pkgs.runCommand "machine-ssh-public-key" { } ''
    install -m 0600 ${nicoSecrets.privateKey} key
    ${pkgs.openssh}/bin/ssh-keygen -y -f key > $out
  '';
in
{
  config = lib.mkMerge [
    {
      # NICO and nico-cluster reach every machine as root with the machine key, before and
      # after cleanup, so this block is part of `minimal` too.
      services.openssh = {
        enable = true;
        settings = {
          PermitRootLogin = lib.mkDefault "prohibit-password";
          PasswordAuthentication = lib.mkDefault false;
          KbdInteractiveAuthentication = lib.mkDefault false;
        };
      };
      users.users.root.openssh.authorizedKeys =
        if nicoSecrets.publicKey != null
        then { keys = [ nicoSecrets.publicKey ]; }
        else { keyFiles = [ derivedPublicKey ]; };

      # The configured name must be the name the NIC really has: eth0-style names exist only
      # with the kernel's naming scheme (takes effect at the next boot).
      networking.usePredictableInterfaceNames = lib.mkDefault (!nodeData.kernelInterfaceName);

      # Kubernetes expects no swap; the disk layout has none, keep it that way by default.
      swapDevices = lib.mkDefault [ ];
      zramSwap.enable = lib.mkDefault false;

      # Deployment runs `nixos-rebuild switch --flake`.
      nix.settings.experimental-features = [ "nix-command" "flakes" ];
      system.stateVersion = lib.mkDefault "24.05";

      assertions = [
        {
          assertion = nodeData.kernelInterfaceName -> !config.networking.usePredictableInterfaceNames;
          message = "networking.usePredictableInterfaceNames must be false while cluster.nix names the interface ${iface}: with predictable names the NIC is called ens*/enp* and neither the address nor the VIP would be configured.";
        }
      ];
    }

    # The static address of a node, and of `minimal` when it is applied to a known node.
    (lib.mkIf hasAddress {
      networking = {
        hostName = nodeData.hostName or nodeData.name;
        useDHCP = lib.mkDefault false;
        interfaces.${iface}.ipv4.addresses = [
          { address = nodeData.ip; prefixLength = nodeData.prefixLength; }
        ];
        defaultGateway = { address = nodeData.gateway; interface = iface; };
        nameservers = nodeData.nameservers;
      };
    })

    (lib.mkIf isNode {
      networking.firewall = {
        allowedTCPPorts = nodeData.firewall.tcpPorts;
        allowedTCPPortRanges = nodeData.firewall.tcpRanges;
        allowedUDPPorts = nodeData.firewall.udpPorts;
        # Decapsulated VXLAN traffic from pods on other nodes arrives on flannel.1.
        trustedInterfaces = [ "flannel.1" ];
      };

      # Secrets are copied from the flake to their runtime paths as root-only files, at boot
      # and on every switch. k3s reads the token through tokenFile (a path outside the store).
      systemd.services.nico-secrets = {
        wantedBy = [ "multi-user.target" ];
        before = [ "k3s.service" ];
        serviceConfig = { Type = "oneshot"; RemainAfterExit = true; };
        script = ''
          install -d -m 0700 /root/.ssh
          mkdir -p ${dirOf nodeData.tokenPath}
          umask 077
          install -m 0600 -o root -g root ${nicoSecrets.privateKey} /root/.ssh/id_ed25519
          install -m 0600 -o root -g root ${nicoSecrets.joinToken} ${nodeData.tokenPath}
        '';
      };

      systemd.services.k3s = {
        after = [ "nico-secrets.service" ] ++ lib.optional nodeData.waitForVip "nico-wait-for-vip.service";
        requires = [ "nico-secrets.service" ] ++ lib.optional nodeData.waitForVip "nico-wait-for-vip.service";
      };
    })

    # Joining servers and agents start k3s only once the API answers on the VIP. Servers must
    # join one at a time (etcd takes one learner at a time); the deployment orders them, this
    # only keeps a node from starting before the cluster it joins is there. Fails after
    # vipWaitSeconds so the deployment sees the error instead of a k3s restart loop.
    (lib.mkIf (isNode && nodeData.waitForVip) {
      systemd.services.nico-wait-for-vip = {
        wantedBy = [ "multi-user.target" ];
        before = [ "k3s.service" ];
        after = [ "network-online.target" ];
        wants = [ "network-online.target" ];
        path = [ pkgs.curl ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          TimeoutStartSec = nodeData.vipWaitSeconds + 30;
        };
        script = ''
          if [ -e ${nodeData.joinedMarker} ]; then
            echo "already joined (${nodeData.joinedMarker} exists), not waiting for the VIP"
            exit 0
          fi
          deadline=$((SECONDS + ${toString nodeData.vipWaitSeconds}))
          # /cacerts is served by k3s without authentication; --insecure because this node
          # has no cluster CA yet.
          until curl --silent --insecure --fail --max-time 5 --output /dev/null ${nodeData.vipCheckUrl}; do
            if [ "$SECONDS" -ge "$deadline" ]; then
              echo "${nodeData.vipCheckUrl} did not answer within ${toString nodeData.vipWaitSeconds}s" >&2
              exit 1
            fi
            sleep 5
          done
        '';
      };
    })
  ];
}
