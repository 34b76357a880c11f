{
  description = "HA k3s cluster on NixOS with a keepalived API VIP (NICO flake layout)";

  inputs = {
    # nico-cluster replaces this reference with the cluster's `nixpkgs` setting.
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";
    disko = {
      url = "github:nix-community/disko";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs = { self, nixpkgs, disko, ... }:
    let
      # Files NICO (or nico-cluster) puts next to this flake.
      injected = file:
        if builtins.pathExists (./. + "/${file}") then ./. + "/${file}"
        else throw "${file} is missing next to flake.nix: it is injected by NICO / nico-cluster.";

      generated = import ./nodes/generator.nix (import (injected "cluster.nix"));

      # The first line of a text file next to this flake, without surrounding blanks.
      firstLine = file:
        let
          line = builtins.match "[[:space:]]*([^\n]*[^[:space:]]).*" (builtins.readFile (./. + "/${file}"));
        in
        if line == null then throw "${file} is empty" else builtins.head line;

      nicoSecrets = {
        # Paths into this flake's source; the modules copy them to root-only runtime paths.
        privateKey = injected "machine-ssh-private-key";
        joinToken = injected "join-token";
        # First line of machine-ssh-public-key when present; otherwise common.nix derives
        # the public key from the private key at build time.
        publicKey = if builtins.pathExists ./machine-ssh-public-key then firstLine "machine-ssh-public-key" else null;
      };

      # nico-cluster's destroy step names the node in `minimal-node` before switching it to
      # minimal, which then keeps that node's address; without the file (as under NICO)
      # minimal takes its address by DHCP.
      minimalData =
        if builtins.pathExists ./minimal-node then generated.minimalOn (firstLine "minimal-node") else generated.minimal;

      roleModules = {
        server = ./nodes/control-plane.nix;
        agent = ./nodes/worker.nix;
      };

      mkSystem = nodeData: modules:
        nixpkgs.lib.nixosSystem {
          inherit (generated) system;
          specialArgs = { inherit nodeData nicoSecrets; };
          modules = [
            disko.nixosModules.disko
            ./nodes/disko-config.nix
            ./nodes/common.nix
          ] ++ modules;
        };
    in
    {
      nixosConfigurations =
        builtins.mapAttrs (_: node: mkSystem node [ roleModules.${node.role} ]) generated.nodes
        // { minimal = mkSystem minimalData [ ./nodes/minimal.nix ]; };
    };
}
