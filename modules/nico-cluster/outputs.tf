# Generated from constructs/ by `npm run modules`. Do not edit: change the constructs and regenerate.

output "flake_dir" {
  description = "Directory holding the NICO flake tree of the cluster (\"\" when write_local_tree is off)."
  value       = local.cluster.write_local_tree ? local.flake_dir : ""
}

output "kubeconfig" {
  description = "Admin kubeconfig of the cluster (group system:masters), pointing at https://<vip>:6443; made by Terraform, known before any node exists."
  sensitive   = true
  value       = local.kubeconfig
}

output "kubernetes" {
  description = "Admin credentials for the kubernetes and helm providers: host (https://<vip>:6443) and PEM cluster_ca_certificate, client_certificate, client_key."
  sensitive   = true
  value       = local.kubernetes_credentials
}

output "nodes" {
  description = "Every node with its IP and role, in deployment order."
  value       = concat([for n in local.cluster.control_plane : { name = n.name, ip = n.ip, role = n.name == local.init_node ? "init-master" : "control-plane" }], [for n in local.cluster.workers : { name = n.name, ip = n.ip, role = "worker" }])
}

output "pre_change_snapshot" {
  description = "Name of the etcd snapshot the last control-plane change took first (k3s appends \"-<node>-<unix time>\"; the apply prints the full name, `k3s etcd-snapshot ls` lists it). Null when etcd_snapshots.before_changes is off or deploy is false."
  value       = one(terraform_data.pre_change_snapshot[*].input.name)
}

output "ssh_public_key" {
  description = "Public half of the machine SSH key, authorised for root on every node."
  value       = local.ssh_public_key
}
