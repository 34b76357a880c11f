# Cleanup configuration, applied to every node (any role) when the cluster is deleted.
# It keeps what the machine needs to boot and to be reached (disk layout from
# disko-config.nix, root SSH with the machine key from common.nix, and the node's static
# address when the tree names the node in `minimal-node`, see flake.nix), and removes
# every trace of k3s.
{ config, lib, pkgs, nodeData, ... }:
let
  stateDirs = [ "/var/lib/rancher" "/etc/rancher" "/var/lib/cni" "/var/lib/kubelet" "/run/k3s" "/run/flannel" ];
  virtualLinks = [ "cni0" "flannel.1" "flannel-v6.1" "flannel-wg" "flannel-wg-v6" "kube-ipvs0" ];
  # Shipped with the k3s package in recent nixpkgs; may be missing in older ones.
  killall = "${pkgs.k3s}/bin/k3s-killall.sh";
in
{
  # Without a known node there is no address to keep: ask DHCP.
  networking.useDHCP = lib.mkIf (!(nodeData ? ip)) (lib.mkDefault true);

  systemd.services.nico-cleanup = {
    wantedBy = [ "multi-user.target" ];
    path = [ pkgs.coreutils pkgs.gawk pkgs.gnugrep pkgs.iproute2 pkgs.iptables pkgs.procps pkgs.systemd pkgs.util-linux ];
    serviceConfig = { Type = "oneshot"; RemainAfterExit = true; };
    # Best effort throughout: cleanup must finish and must never cut the machine off, so
    # only k3s's own processes, mounts, links and firewall chains are touched.
    script = ''
      set +e
      # Switching to this configuration already stops them; a manual start must not survive.
      systemctl stop k3s.service keepalived.service 2>/dev/null

      if [ -x ${killall} ]; then
        ${killall}
      else
        # What k3s-killall.sh does: containers are children of containerd-shim (k3s leaves
        # them running when it stops), killing a container's init ends its PID namespace.
        for shim in $(pgrep -f containerd-shim); do
          pkill -9 -P "$shim"
          kill -9 "$shim"
        done
        ip netns list | awk '/^cni-/ { print $1 }' | xargs -r -n1 ip netns delete
        for t in iptables ip6tables; do
          $t-save | grep -viE 'KUBE-|CNI-|flannel' | $t-restore
        done
      fi

      # Unmount what is left below the state directories, deepest first, then remove them.
      awk '{ print $2 }' /proc/self/mounts \
        | grep -E '^(${lib.concatStringsSep "|" stateDirs})(/|$)' \
        | sort -r | xargs -r -n1 umount -l
      for link in ${toString virtualLinks}; do
        ip link delete "$link" 2>/dev/null
      done
      rm -rf ${toString stateDirs}
      exit 0
    '';
  };
}
