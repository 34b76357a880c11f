# Generated from constructs/ by `npm run modules`. Do not edit: change the constructs and regenerate.

output "flake_dir" {
  description = "Directory holding the NICO flake tree of the cluster."
  value       = local.flake_dir
}

output "kubeconfig" {
  description = "Admin kubeconfig of the cluster, pointing at https://<vip>:6443 (empty unless deploy is on)."
  sensitive   = true
  value       = join("", [for f in data.local_sensitive_file.kubeconfig : f.content])
}

output "nodes" {
  description = "Every node with its IP and role, in deployment order."
  value       = concat([for i, n in local.cluster.control_plane : { name = n.name, ip = n.ip, role = i == 0 ? "init-master" : "control-plane" }], [for n in local.cluster.workers : { name = n.name, ip = n.ip, role = "worker" }])
}

output "ssh_public_key" {
  description = "Public half of the machine SSH key, authorised for root on every node."
  value       = local.ssh_public_key
}
