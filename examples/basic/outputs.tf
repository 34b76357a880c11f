output "flake_dir" {
  description = "Directory holding the NICO flake tree."
  value       = module.k3s.flake_dir
}

output "ssh_public_key" {
  description = "Public machine key to authorise for root on every node before deploying."
  value       = module.k3s.ssh_public_key
}

output "nodes" {
  description = "Every node with its IP and role, in deployment order."
  value       = module.k3s.nodes
}

output "kubeconfig" {
  description = "Admin kubeconfig pointing at the VIP, from state (known before any node is deployed)."
  value       = module.k3s.kubeconfig
  sensitive   = true
}

output "kubernetes" {
  description = "host, cluster_ca_certificate, client_certificate and client_key for the kubernetes and helm providers."
  value       = module.k3s.kubernetes
  sensitive   = true
}
