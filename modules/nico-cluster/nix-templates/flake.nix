{
  description = "HA k3s cluster on NixOS with a keepalived API VIP (NICO flake layout)";

  inputs = {
    # nico-cluster replaces this reference with the cluster's `nixpkgs` setting. Supported:
    # nixos-24.11 through nixos-26.05 and nixos-unstable (README "Compatibility").
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    disko = {
      # A release tag, not the branch: disko's newest revision may need a newer nixpkgs lib
      # than the cluster's (v1.9.0 started calling lib.match, which lib exports from 24.11 on).
      url = "github:nix-community/disko/v1.13.0";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs = { self, nixpkgs, disko, ... }:
    let
      # Files NICO (or nico-cluster) puts next to this flake.
      file = name: ./. + "/${name}";
      injected = name:
        if builtins.pathExists (file name) then file name
        else throw "${name} is missing next to flake.nix: it is injected by NICO / nico-cluster.";
      # Present only under NICO, which injects secrets into the flake directory.
      optionalFile = name: if builtins.pathExists (file name) then file name else null;

      generated = import ./nodes/generator.nix (import (injected "cluster.nix"));

      # The first line of a text file next to this flake, without surrounding blanks.
      firstLine = name:
        let
          line = builtins.match "[[:space:]]*([^\n]*[^[:space:]]).*" (builtins.readFile (file name));
        in
        if line == null then throw "${name} is empty" else builtins.head line;

      nicoSecrets = {
        # nico-cluster's deploy step puts every secret into `generated.secrets.dir` on the node
        # and nothing in this flake refers to it as a Nix path. NICO injects the join token and
        # the machine key into the flake directory instead: then these are those files (Nix
        # paths, so they are in the store, which is NICO's exposure) and nico-secrets installs
        # them to the runtime paths. null when absent.
        injectedPrivateKey = optionalFile "machine-ssh-private-key";
        injectedJoinToken = optionalFile "join-token";
        # First line of machine-ssh-public-key when present; otherwise common.nix derives
        # the public key from the injected private key at build time (NICO only).
        publicKey = if builtins.pathExists (file "machine-ssh-public-key") then firstLine "machine-ssh-public-key" else null;
      };

      # nico-cluster's destroy step names the node in `minimal-node` before switching it to
      # minimal, which then keeps that node's address; without the file (as under NICO)
      # minimal takes its address by DHCP.
      minimalData =
        if builtins.pathExists (file "minimal-node") then generated.minimalOn (firstLine "minimal-node") else generated.minimal;

      # The user's own NixOS modules, copied into extra-modules/<set>/ by nico-cluster: every
      # `*.nix` file and every directory (its default.nix) there is imported. Nothing of the
      # user's is spliced into Nix code: files are found by listing the directory.
      userModules = set:
        let
          dir = file "extra-modules/${set}";
          entries = if builtins.pathExists dir then builtins.readDir dir else { };
          isModule = name: entries.${name} == "directory" || (entries.${name} == "regular" && builtins.match ".*\\.nix" name != null);
        in
        map (name: dir + "/${name}") (builtins.filter isModule (builtins.attrNames entries));

      roleModules = {
        server = [ ./nodes/control-plane.nix ] ++ userModules "all" ++ userModules "control-plane";
        agent = [ ./nodes/worker.nix ] ++ userModules "all" ++ userModules "worker";
      };

      # The machine's hardware report (`nixos-generate-config --show-hardware-config --no-filesystems`),
      # which nico-cluster's install writes next to this flake: the initrd modules of its disk and
      # network (virtio, NVMe, ...), its CPU's KVM module. Every configuration of the machine takes it,
      # minimal too: without it an installed KVM/virtio machine waits forever for its root at first boot.
      hardwareModules = let f = optionalFile "hardware-configuration.nix"; in if f == null then [ ] else [ f ];

      mkSystem = nodeData: modules:
        nixpkgs.lib.nixosSystem {
          inherit (generated) system;
          specialArgs = { inherit nodeData nicoSecrets; };
          modules = [
            disko.nixosModules.disko
            ./nodes/disko-config.nix
            ./nodes/common.nix
          ] ++ hardwareModules ++ modules;
        };
    in
    {
      nixosConfigurations =
        builtins.mapAttrs (_: node: mkSystem node roleModules.${node.role}) generated.nodes
        # Cleanup takes none of the modules of the nodes' sets: it must work whatever they do. Only
        # the set the user writes for it (extra-modules/minimal: drivers, a console, what the
        # machine needs to boot and be reached), also installed with it.
        // { minimal = mkSystem minimalData ([ ./nodes/minimal.nix ] ++ userModules "minimal"); };
    };
}
