# What every machine of the cluster gets, `minimal` included (root SSH with the machine
# key, interface naming, no swap, the static address when the node is known), plus what
# every k3s node gets (firewall ports, secrets at their runtime paths, waiting for the VIP
# before joining).
{ config, lib, pkgs, nodeData, nicoSecrets, ... }:
let
  isNode = nodeData.role != "minimal";
  hasAddress = nodeData ? ip;
  iface = nodeData.interface;

  secrets = nodeData.secrets or null;
  isServer = nodeData.role == "server";

  # With a machine-ssh-public-key file the key is plain text (nico-cluster always writes it).
  # Without it (NICO) the public half is computed from the injected private key in a build
  # step: that derivation reads the private key. ssh-keygen refuses a key file that others
  # may read, as store files are: use a 0600 copy.
  derivedPublicKey = pkgs.runCommand "machine-ssh-public-key" { } ''
    install -m 0600 ${nicoSecrets.injectedPrivateKey} key
    ${pkgs.openssh}/bin/ssh-keygen -y -f key > $out
  '';
  authorizedKeys =
    if nicoSecrets.publicKey != null then { keys = [ nicoSecrets.publicKey ]; }
    else if nicoSecrets.injectedPrivateKey != null then { keyFiles = [ derivedPublicKey ]; }
    else throw "machine-ssh-public-key is missing next to flake.nix: nico-cluster writes it (NICO injects machine-ssh-private-key instead).";

  # Only under NICO: the secrets it injected into the flake (store paths) go to the runtime
  # paths. In nico-cluster's own flow the deploy step has put them there already.
  installInjected = source: target: lib.optionalString (source != null) ''
    install -m 0600 -o root -g root ${source} ${target}
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
      users.users.root.openssh.authorizedKeys = authorizedKeys;

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

      # The secrets channel: the deploy step puts the join token, the machine key and (on
      # control-plane nodes) the cluster's CA files into ${secrets.dir}, root-only. This unit
      # installs them where they are used, at boot and on every switch, always before k3s:
      # the machine key as root's SSH key, and on servers each CA file k3s has not got yet
      # (k3s uses CA files it finds instead of generating them; existing ones are never
      # replaced). k3s reads the token through tokenFile, a path string outside the store.
      systemd.services.nico-secrets = {
        wantedBy = [ "multi-user.target" ];
        before = [ "k3s.service" ];
        serviceConfig = { Type = "oneshot"; RemainAfterExit = true; };
        script = ''
          set -eu
          umask 077
          install -d -m 0700 -o root -g root ${secrets.dir}
          ${installInjected nicoSecrets.injectedJoinToken secrets.joinToken}
          ${installInjected nicoSecrets.injectedPrivateKey secrets.machineKey}
          if [ ! -s ${secrets.joinToken} ]; then
            echo "nico-secrets: ${secrets.joinToken} is missing or empty; k3s cannot join without it. The deploy step puts it there (under NICO: join-token next to flake.nix)." >&2
            exit 1
          fi
          if [ -s ${secrets.machineKey} ]; then
            install -d -m 0700 -o root -g root /root/.ssh
            install -m 0600 -o root -g root ${secrets.machineKey} /root/.ssh/id_ed25519
          else
            echo "nico-secrets: ${secrets.machineKey} is missing; /root/.ssh/id_ed25519 left as it is" >&2
          fi
        '' + lib.optionalString isServer ''
          if [ -d ${secrets.tlsDir} ]; then
            cd ${secrets.tlsDir}
            find . -type f -print0 | while IFS= read -r -d "" f; do
              if [ ! -e "${secrets.k3sTlsDir}/$f" ]; then
                install -D -m 0600 -o root -g root "$f" "${secrets.k3sTlsDir}/$f"
              fi
            done
          fi
        '';
      };

      systemd.services.k3s = {
        after = [ "nico-secrets.service" ] ++ lib.optional nodeData.waitForVip "nico-wait-for-vip.service";
        requires = [ "nico-secrets.service" ] ++ lib.optional nodeData.waitForVip "nico-wait-for-vip.service";
        # The deployment's readyTimeoutSeconds decides how long a start may take (then it rolls
        # back). The k3s module's own limit differs by release (90 s on 24.11/25.05, none on the
        # newest): a joiner syncing etcd for longer would be killed and restarted over and over.
        serviceConfig.TimeoutStartSec = lib.mkForce 0;
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
