# The reference cluster through the module: three control-plane nodes behind a keepalived VIP and two
# workers. With deploy off (the default) it writes the machine key, the join token and the NICO flake
# tree to ./out/production-cluster/nix and touches no machine.
module "k3s" {
  source = "../../modules/nico-cluster"

  name = "production-cluster"
  vip  = "192.168.1.100"

  control_plane = [
    { name = "cp-01", ip = "192.168.1.101" },
    { name = "cp-02", ip = "192.168.1.102" },
    { name = "cp-03", ip = "192.168.1.103" },
  ]

  workers = [
    { name = "worker-01", ip = "192.168.1.201" },
    { name = "worker-02", ip = "192.168.1.202" },
  ]

  # To deploy over SSH once the machines run NixOS with root SSH for the machine key:
  # deploy = true
}
