# The smallest cluster: one control-plane node that also runs workloads, no workers. The VIP still
# fronts the API, so more control-plane nodes can join later without new kubeconfigs.
module "k3s" {
  source = "../../modules/nico-cluster"

  name          = "lab"
  vip           = "10.0.0.10"
  prefix_length = 24
  gateway       = "10.0.0.1"
  nameservers   = ["10.0.0.1"]
  interface     = "ens18"

  control_plane = [
    { name = "lab-01", ip = "10.0.0.11", disk = "/dev/vda" },
  ]
}

output "flake_dir" {
  description = "Directory holding the NICO flake tree."
  value       = module.k3s.flake_dir
}

output "ssh_public_key" {
  description = "Public machine key to authorise for root on the node before deploying."
  value       = module.k3s.ssh_public_key
}
