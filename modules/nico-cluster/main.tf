# Generated from constructs/ by `npm run modules`. Do not edit: change the constructs and regenerate.

locals {
  cluster = {
    agent_extra_flags     = var.agent_extra_flags
    control_plane         = [for n in var.control_plane : { name = n.name, ip = n.ip, disk = n.disk, ssh_host = coalesce(n.ssh_host, n.ip), ssh_port = n.ssh_port, host_key = n.host_key, labels = n.labels, taints = n.taints }]
    disable_components    = var.disable_components
    gateway               = var.gateway
    interface             = var.interface
    name                  = var.name
    nameservers           = var.nameservers
    nixpkgs               = var.nixpkgs
    prefix_length         = var.prefix_length
    ready_timeout_seconds = var.ready_timeout_seconds
    remote_flake_dir      = var.remote_flake_dir
    server_extra_flags    = var.server_extra_flags
    ssh_user              = var.ssh_user
    vip                   = var.vip
    vrrp_router_id        = var.vrrp_router_id
    workers               = [for n in var.workers : { name = n.name, ip = n.ip, disk = n.disk, ssh_host = coalesce(n.ssh_host, n.ip), ssh_port = n.ssh_port, host_key = n.host_key, labels = n.labels, taints = n.taints }]
  }
  deploy               = var.deploy
  deploy_control_plane = local.deploy ? { for i, n in local.cluster.control_plane : n.name => merge(n, { index = i }) } : {}
  deploy_worker_names  = { for name, n in local.deploy_workers : name => name }
  deploy_workers       = local.deploy ? { for n in local.cluster.workers : n.name => n } : {}
  flake_dir            = "${local.output_dir}/nix"
  flake_hash           = sha256(jsonencode([local.static_flake_files, local.flake_lock, local.ssh_public_key, local.user_module_files]))
  flake_lock           = var.flake_lock
  init_master          = { for name, n in local.deploy_control_plane : name => name if n.index == 0 }
  join_token           = random_password.join_token.result
  nix_templates_dir    = "${path.module}/nix-templates"
  node_settings = {
    control_plane = { vip = local.cluster.vip, prefix_length = local.cluster.prefix_length, gateway = local.cluster.gateway, nameservers = local.cluster.nameservers, interface = local.cluster.interface, name = local.cluster.name, vrrp_router_id = local.cluster.vrrp_router_id }
    worker        = { vip = local.cluster.vip, prefix_length = local.cluster.prefix_length, gateway = local.cluster.gateway, nameservers = local.cluster.nameservers, interface = local.cluster.interface }
  }
  output_dir            = coalesce(var.output_dir, "${path.root}/out/${var.name}")
  ssh_private_key       = coalesce(local.ssh_private_key_input, one(tls_private_key.machine[*].private_key_openssh))
  ssh_private_key_input = var.ssh_private_key
  ssh_public_key        = coalesce(one(tls_private_key.machine[*].public_key_openssh), one(data.tls_public_key.given[*].public_key_openssh))
  static_flake_files = {
    "README.md"               = file("${local.nix_templates_dir}/README.md")
    "flake.nix"               = replace(file("${local.nix_templates_dir}/flake.nix"), "github:NixOS/nixpkgs/nixos-26.05", local.cluster.nixpkgs)
    "nodes/common.nix"        = file("${local.nix_templates_dir}/nodes/common.nix")
    "nodes/control-plane.nix" = file("${local.nix_templates_dir}/nodes/control-plane.nix")
    "nodes/disko-config.nix"  = file("${local.nix_templates_dir}/nodes/disko-config.nix")
    "nodes/generator.nix"     = file("${local.nix_templates_dir}/nodes/generator.nix")
    "nodes/minimal.nix"       = file("${local.nix_templates_dir}/nodes/minimal.nix")
    "nodes/worker.nix"        = file("${local.nix_templates_dir}/nodes/worker.nix")
  }
  templates_dir     = "${path.module}/templates"
  user_module_files = merge(flatten([for set, dir in { all = "extra-modules/all", control_plane = "extra-modules/control-plane", worker = "extra-modules/worker" } : [for i, m in local.user_modules[set] : { for f in(endswith(m.path, ".nix") ? [""] : sort(fileset(m.path, "**"))) : "${dir}/${format("%02d", i)}-${m.name}${f == "" ? "" : "/${f}"}" => file(f == "" ? m.path : "${m.path}/${f}") }]])...)
  user_modules = {
    all           = [for p in var.nixos_modules : { name = basename(p), path = p }]
    control_plane = [for p in var.control_plane_modules : { name = basename(p), path = p }]
    worker        = [for p in var.worker_modules : { name = basename(p), path = p }]
  }
}

resource "tls_private_key" "machine" {
  count     = nonsensitive(sensitive(local.ssh_private_key_input != null)) ? 0 : 1
  algorithm = "ED25519"

  lifecycle {
    ignore_changes = all
  }
}

resource "random_password" "join_token" {
  length  = 48
  special = false

  lifecycle {
    ignore_changes = all
  }
}

resource "local_file" "cluster_nix" {
  content              = templatefile("${local.templates_dir}/cluster.nix.tftpl", { cluster = local.cluster })
  directory_permission = "0700"
  file_permission      = "0644"
  filename             = "${local.flake_dir}/cluster.nix"
}

resource "local_file" "flake_lock" {
  count                = local.flake_lock == null ? 0 : 1
  content              = local.flake_lock == null ? "" : local.flake_lock
  directory_permission = "0700"
  file_permission      = "0644"
  filename             = "${local.flake_dir}/flake.lock"
}

resource "local_file" "machine_ssh_public_key" {
  content              = local.ssh_public_key
  directory_permission = "0700"
  file_permission      = "0644"
  filename             = "${local.flake_dir}/machine-ssh-public-key"
}

resource "local_file" "static" {
  for_each             = local.static_flake_files
  content              = each.value
  directory_permission = "0700"
  file_permission      = "0644"
  filename             = "${local.flake_dir}/${each.key}"
}

resource "local_file" "user_modules" {
  for_each             = local.user_module_files
  content              = each.value
  directory_permission = "0700"
  file_permission      = "0644"
  filename             = "${local.flake_dir}/${each.key}"
}

resource "local_sensitive_file" "join_token" {
  content              = local.join_token
  directory_permission = "0700"
  file_permission      = "0600"
  filename             = "${local.flake_dir}/join-token"
}

resource "local_sensitive_file" "machine_ssh_private_key" {
  content              = local.ssh_private_key
  directory_permission = "0700"
  file_permission      = "0600"
  filename             = "${local.flake_dir}/machine-ssh-private-key"
}

resource "terraform_data" "init_master" {
  for_each = local.init_master
  input = {
    host_key              = local.deploy_control_plane[each.key].host_key
    ready_timeout_seconds = local.cluster.ready_timeout_seconds
    remote_flake_dir      = local.cluster.remote_flake_dir
    ssh_host              = local.deploy_control_plane[each.key].ssh_host
    ssh_port              = local.deploy_control_plane[each.key].ssh_port
    ssh_private_key       = local.ssh_private_key
    ssh_user              = local.cluster.ssh_user
  }
  triggers_replace = sha256(jsonencode([local.flake_hash, { settings = local.node_settings.control_plane, node = local.deploy_control_plane[each.key] }]))
  depends_on       = [local_file.static, local_file.user_modules, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock]

  connection {
    host        = self.input.ssh_host
    host_key    = self.input.host_key
    port        = self.input.ssh_port
    private_key = self.input.ssh_private_key
    timeout     = "2m"
    type        = "ssh"
    user        = self.input.ssh_user
  }

  lifecycle {
    create_before_destroy = true
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "umask 077",
      "echo \"nico: ${each.key}: uploading the flake tree to ${self.input.remote_flake_dir}\"",
      "rm -rf ${self.input.remote_flake_dir}",
      "mkdir -p -m 0700 ${self.input.remote_flake_dir}",
      "chmod 0700 ${self.input.remote_flake_dir}",
    ]
  }

  provisioner "file" {
    destination = self.input.remote_flake_dir
    source      = "${local.flake_dir}/"
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "chmod -R go-rwx ${self.input.remote_flake_dir}",
      "chmod 0600 ${self.input.remote_flake_dir}/machine-ssh-private-key ${self.input.remote_flake_dir}/join-token",
      "echo \"nico: ${each.key}: nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}\"",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}",
      "echo \"nico: ${each.key}: waiting until it is ready\"",
      "deadline=$(( $(date +%s) + ${self.input.ready_timeout_seconds} ))",
      "until k3s kubectl get --raw /readyz 2>/dev/null | grep -qx ok; do",
      "  if [ \"$(date +%s)\" -ge \"$deadline\" ]; then echo \"nico: ${each.key}: the Kubernetes API did not answer /readyz within ${self.input.ready_timeout_seconds} s; see journalctl -u k3s on the node\" >&2; exit 1; fi",
      "  sleep 2",
      "done",
      "echo \"nico: ${each.key}: ready\"",
    ]
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "echo \"nico: ${each.key}: cleaning with #minimal\"",
      "printf '%s\\n' ${each.key} > ${self.input.remote_flake_dir}/minimal-node",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#minimal",
    ]
    when = destroy
  }
}

resource "terraform_data" "input_checks" {
  lifecycle {
    precondition {
      condition     = length(toset([for n in concat(var.control_plane, var.workers) : n.name])) == length(concat(var.control_plane, var.workers))
      error_message = "Every node name must be unique across control_plane and workers."
    }

    precondition {
      condition     = length(toset([for n in concat(var.control_plane, var.workers) : n.ip])) == length(concat(var.control_plane, var.workers))
      error_message = "Every node ip must be unique across control_plane and workers."
    }

    precondition {
      condition     = alltrue([for n in concat(var.control_plane, var.workers) : try(cidrhost("${n.ip}/${var.prefix_length}", 0) == cidrhost("${var.control_plane[0].ip}/${var.prefix_length}", 0), true) && try(n.ip != cidrhost("${n.ip}/${var.prefix_length}", 0) && n.ip != cidrhost("${n.ip}/${var.prefix_length}", -1), true)])
      error_message = "Every node ip must lie in the subnet of the first control_plane node (prefix_length) and must not be its network or broadcast address."
    }

    precondition {
      condition     = try(cidrhost("${var.vip}/${var.prefix_length}", 0) == cidrhost("${var.control_plane[0].ip}/${var.prefix_length}", 0), true) && try(var.vip != cidrhost("${var.vip}/${var.prefix_length}", 0) && var.vip != cidrhost("${var.vip}/${var.prefix_length}", -1), true)
      error_message = "The vip must lie in the subnet of the first control_plane node (prefix_length) and must not be its network or broadcast address."
    }

    precondition {
      condition     = !contains([for n in concat(var.control_plane, var.workers) : n.ip], var.vip)
      error_message = "The vip must not be the ip of any node: keepalived moves it between control-plane nodes."
    }

    precondition {
      condition     = try(cidrhost("${var.gateway}/${var.prefix_length}", 0) == cidrhost("${var.control_plane[0].ip}/${var.prefix_length}", 0), true)
      error_message = "The gateway must lie in the subnet of the first control_plane node (prefix_length)."
    }
  }
}

resource "terraform_data" "joiner_1" {
  for_each = { for name, n in local.deploy_control_plane : name => name if n.index == 1 }
  input = {
    host_key              = local.deploy_control_plane[each.key].host_key
    ready_timeout_seconds = local.cluster.ready_timeout_seconds
    remote_flake_dir      = local.cluster.remote_flake_dir
    ssh_host              = local.deploy_control_plane[each.key].ssh_host
    ssh_port              = local.deploy_control_plane[each.key].ssh_port
    ssh_private_key       = local.ssh_private_key
    ssh_user              = local.cluster.ssh_user
  }
  triggers_replace = sha256(jsonencode([local.flake_hash, { settings = local.node_settings.control_plane, node = local.deploy_control_plane[each.key] }]))
  depends_on       = [local_file.static, local_file.user_modules, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.init_master]

  connection {
    host        = self.input.ssh_host
    host_key    = self.input.host_key
    port        = self.input.ssh_port
    private_key = self.input.ssh_private_key
    timeout     = "2m"
    type        = "ssh"
    user        = self.input.ssh_user
  }

  lifecycle {
    create_before_destroy = true
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "umask 077",
      "echo \"nico: ${each.key}: uploading the flake tree to ${self.input.remote_flake_dir}\"",
      "rm -rf ${self.input.remote_flake_dir}",
      "mkdir -p -m 0700 ${self.input.remote_flake_dir}",
      "chmod 0700 ${self.input.remote_flake_dir}",
    ]
  }

  provisioner "file" {
    destination = self.input.remote_flake_dir
    source      = "${local.flake_dir}/"
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "chmod -R go-rwx ${self.input.remote_flake_dir}",
      "chmod 0600 ${self.input.remote_flake_dir}/machine-ssh-private-key ${self.input.remote_flake_dir}/join-token",
      "echo \"nico: ${each.key}: nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}\"",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}",
      "echo \"nico: ${each.key}: waiting until it is ready\"",
      "deadline=$(( $(date +%s) + ${self.input.ready_timeout_seconds} ))",
      "until [ \"$(k3s kubectl get node ${each.key} -o 'jsonpath={.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null)\" = True ]; do",
      "  if [ \"$(date +%s)\" -ge \"$deadline\" ]; then echo \"nico: ${each.key}: the node did not become a Ready member within ${self.input.ready_timeout_seconds} s; see journalctl -u k3s on the node\" >&2; exit 1; fi",
      "  sleep 2",
      "done",
      "echo \"nico: ${each.key}: ready\"",
    ]
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "echo \"nico: ${each.key}: cleaning with #minimal\"",
      "printf '%s\\n' ${each.key} > ${self.input.remote_flake_dir}/minimal-node",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#minimal",
    ]
    when = destroy
  }
}

resource "terraform_data" "joiner_2" {
  for_each = { for name, n in local.deploy_control_plane : name => name if n.index == 2 }
  input = {
    host_key              = local.deploy_control_plane[each.key].host_key
    ready_timeout_seconds = local.cluster.ready_timeout_seconds
    remote_flake_dir      = local.cluster.remote_flake_dir
    ssh_host              = local.deploy_control_plane[each.key].ssh_host
    ssh_port              = local.deploy_control_plane[each.key].ssh_port
    ssh_private_key       = local.ssh_private_key
    ssh_user              = local.cluster.ssh_user
  }
  triggers_replace = sha256(jsonencode([local.flake_hash, { settings = local.node_settings.control_plane, node = local.deploy_control_plane[each.key] }]))
  depends_on       = [local_file.static, local_file.user_modules, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.joiner_1]

  connection {
    host        = self.input.ssh_host
    host_key    = self.input.host_key
    port        = self.input.ssh_port
    private_key = self.input.ssh_private_key
    timeout     = "2m"
    type        = "ssh"
    user        = self.input.ssh_user
  }

  lifecycle {
    create_before_destroy = true
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "umask 077",
      "echo \"nico: ${each.key}: uploading the flake tree to ${self.input.remote_flake_dir}\"",
      "rm -rf ${self.input.remote_flake_dir}",
      "mkdir -p -m 0700 ${self.input.remote_flake_dir}",
      "chmod 0700 ${self.input.remote_flake_dir}",
    ]
  }

  provisioner "file" {
    destination = self.input.remote_flake_dir
    source      = "${local.flake_dir}/"
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "chmod -R go-rwx ${self.input.remote_flake_dir}",
      "chmod 0600 ${self.input.remote_flake_dir}/machine-ssh-private-key ${self.input.remote_flake_dir}/join-token",
      "echo \"nico: ${each.key}: nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}\"",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}",
      "echo \"nico: ${each.key}: waiting until it is ready\"",
      "deadline=$(( $(date +%s) + ${self.input.ready_timeout_seconds} ))",
      "until [ \"$(k3s kubectl get node ${each.key} -o 'jsonpath={.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null)\" = True ]; do",
      "  if [ \"$(date +%s)\" -ge \"$deadline\" ]; then echo \"nico: ${each.key}: the node did not become a Ready member within ${self.input.ready_timeout_seconds} s; see journalctl -u k3s on the node\" >&2; exit 1; fi",
      "  sleep 2",
      "done",
      "echo \"nico: ${each.key}: ready\"",
    ]
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "echo \"nico: ${each.key}: cleaning with #minimal\"",
      "printf '%s\\n' ${each.key} > ${self.input.remote_flake_dir}/minimal-node",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#minimal",
    ]
    when = destroy
  }
}

resource "terraform_data" "joiner_3" {
  for_each = { for name, n in local.deploy_control_plane : name => name if n.index == 3 }
  input = {
    host_key              = local.deploy_control_plane[each.key].host_key
    ready_timeout_seconds = local.cluster.ready_timeout_seconds
    remote_flake_dir      = local.cluster.remote_flake_dir
    ssh_host              = local.deploy_control_plane[each.key].ssh_host
    ssh_port              = local.deploy_control_plane[each.key].ssh_port
    ssh_private_key       = local.ssh_private_key
    ssh_user              = local.cluster.ssh_user
  }
  triggers_replace = sha256(jsonencode([local.flake_hash, { settings = local.node_settings.control_plane, node = local.deploy_control_plane[each.key] }]))
  depends_on       = [local_file.static, local_file.user_modules, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.joiner_2]

  connection {
    host        = self.input.ssh_host
    host_key    = self.input.host_key
    port        = self.input.ssh_port
    private_key = self.input.ssh_private_key
    timeout     = "2m"
    type        = "ssh"
    user        = self.input.ssh_user
  }

  lifecycle {
    create_before_destroy = true
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "umask 077",
      "echo \"nico: ${each.key}: uploading the flake tree to ${self.input.remote_flake_dir}\"",
      "rm -rf ${self.input.remote_flake_dir}",
      "mkdir -p -m 0700 ${self.input.remote_flake_dir}",
      "chmod 0700 ${self.input.remote_flake_dir}",
    ]
  }

  provisioner "file" {
    destination = self.input.remote_flake_dir
    source      = "${local.flake_dir}/"
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "chmod -R go-rwx ${self.input.remote_flake_dir}",
      "chmod 0600 ${self.input.remote_flake_dir}/machine-ssh-private-key ${self.input.remote_flake_dir}/join-token",
      "echo \"nico: ${each.key}: nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}\"",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}",
      "echo \"nico: ${each.key}: waiting until it is ready\"",
      "deadline=$(( $(date +%s) + ${self.input.ready_timeout_seconds} ))",
      "until [ \"$(k3s kubectl get node ${each.key} -o 'jsonpath={.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null)\" = True ]; do",
      "  if [ \"$(date +%s)\" -ge \"$deadline\" ]; then echo \"nico: ${each.key}: the node did not become a Ready member within ${self.input.ready_timeout_seconds} s; see journalctl -u k3s on the node\" >&2; exit 1; fi",
      "  sleep 2",
      "done",
      "echo \"nico: ${each.key}: ready\"",
    ]
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "echo \"nico: ${each.key}: cleaning with #minimal\"",
      "printf '%s\\n' ${each.key} > ${self.input.remote_flake_dir}/minimal-node",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#minimal",
    ]
    when = destroy
  }
}

resource "terraform_data" "joiner_4" {
  for_each = { for name, n in local.deploy_control_plane : name => name if n.index == 4 }
  input = {
    host_key              = local.deploy_control_plane[each.key].host_key
    ready_timeout_seconds = local.cluster.ready_timeout_seconds
    remote_flake_dir      = local.cluster.remote_flake_dir
    ssh_host              = local.deploy_control_plane[each.key].ssh_host
    ssh_port              = local.deploy_control_plane[each.key].ssh_port
    ssh_private_key       = local.ssh_private_key
    ssh_user              = local.cluster.ssh_user
  }
  triggers_replace = sha256(jsonencode([local.flake_hash, { settings = local.node_settings.control_plane, node = local.deploy_control_plane[each.key] }]))
  depends_on       = [local_file.static, local_file.user_modules, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.joiner_3]

  connection {
    host        = self.input.ssh_host
    host_key    = self.input.host_key
    port        = self.input.ssh_port
    private_key = self.input.ssh_private_key
    timeout     = "2m"
    type        = "ssh"
    user        = self.input.ssh_user
  }

  lifecycle {
    create_before_destroy = true
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "umask 077",
      "echo \"nico: ${each.key}: uploading the flake tree to ${self.input.remote_flake_dir}\"",
      "rm -rf ${self.input.remote_flake_dir}",
      "mkdir -p -m 0700 ${self.input.remote_flake_dir}",
      "chmod 0700 ${self.input.remote_flake_dir}",
    ]
  }

  provisioner "file" {
    destination = self.input.remote_flake_dir
    source      = "${local.flake_dir}/"
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "chmod -R go-rwx ${self.input.remote_flake_dir}",
      "chmod 0600 ${self.input.remote_flake_dir}/machine-ssh-private-key ${self.input.remote_flake_dir}/join-token",
      "echo \"nico: ${each.key}: nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}\"",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}",
      "echo \"nico: ${each.key}: waiting until it is ready\"",
      "deadline=$(( $(date +%s) + ${self.input.ready_timeout_seconds} ))",
      "until [ \"$(k3s kubectl get node ${each.key} -o 'jsonpath={.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null)\" = True ]; do",
      "  if [ \"$(date +%s)\" -ge \"$deadline\" ]; then echo \"nico: ${each.key}: the node did not become a Ready member within ${self.input.ready_timeout_seconds} s; see journalctl -u k3s on the node\" >&2; exit 1; fi",
      "  sleep 2",
      "done",
      "echo \"nico: ${each.key}: ready\"",
    ]
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "echo \"nico: ${each.key}: cleaning with #minimal\"",
      "printf '%s\\n' ${each.key} > ${self.input.remote_flake_dir}/minimal-node",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#minimal",
    ]
    when = destroy
  }
}

resource "terraform_data" "joiner_5" {
  for_each = { for name, n in local.deploy_control_plane : name => name if n.index == 5 }
  input = {
    host_key              = local.deploy_control_plane[each.key].host_key
    ready_timeout_seconds = local.cluster.ready_timeout_seconds
    remote_flake_dir      = local.cluster.remote_flake_dir
    ssh_host              = local.deploy_control_plane[each.key].ssh_host
    ssh_port              = local.deploy_control_plane[each.key].ssh_port
    ssh_private_key       = local.ssh_private_key
    ssh_user              = local.cluster.ssh_user
  }
  triggers_replace = sha256(jsonencode([local.flake_hash, { settings = local.node_settings.control_plane, node = local.deploy_control_plane[each.key] }]))
  depends_on       = [local_file.static, local_file.user_modules, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.joiner_4]

  connection {
    host        = self.input.ssh_host
    host_key    = self.input.host_key
    port        = self.input.ssh_port
    private_key = self.input.ssh_private_key
    timeout     = "2m"
    type        = "ssh"
    user        = self.input.ssh_user
  }

  lifecycle {
    create_before_destroy = true
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "umask 077",
      "echo \"nico: ${each.key}: uploading the flake tree to ${self.input.remote_flake_dir}\"",
      "rm -rf ${self.input.remote_flake_dir}",
      "mkdir -p -m 0700 ${self.input.remote_flake_dir}",
      "chmod 0700 ${self.input.remote_flake_dir}",
    ]
  }

  provisioner "file" {
    destination = self.input.remote_flake_dir
    source      = "${local.flake_dir}/"
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "chmod -R go-rwx ${self.input.remote_flake_dir}",
      "chmod 0600 ${self.input.remote_flake_dir}/machine-ssh-private-key ${self.input.remote_flake_dir}/join-token",
      "echo \"nico: ${each.key}: nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}\"",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}",
      "echo \"nico: ${each.key}: waiting until it is ready\"",
      "deadline=$(( $(date +%s) + ${self.input.ready_timeout_seconds} ))",
      "until [ \"$(k3s kubectl get node ${each.key} -o 'jsonpath={.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null)\" = True ]; do",
      "  if [ \"$(date +%s)\" -ge \"$deadline\" ]; then echo \"nico: ${each.key}: the node did not become a Ready member within ${self.input.ready_timeout_seconds} s; see journalctl -u k3s on the node\" >&2; exit 1; fi",
      "  sleep 2",
      "done",
      "echo \"nico: ${each.key}: ready\"",
    ]
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "echo \"nico: ${each.key}: cleaning with #minimal\"",
      "printf '%s\\n' ${each.key} > ${self.input.remote_flake_dir}/minimal-node",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#minimal",
    ]
    when = destroy
  }
}

resource "terraform_data" "joiner_6" {
  for_each = { for name, n in local.deploy_control_plane : name => name if n.index == 6 }
  input = {
    host_key              = local.deploy_control_plane[each.key].host_key
    ready_timeout_seconds = local.cluster.ready_timeout_seconds
    remote_flake_dir      = local.cluster.remote_flake_dir
    ssh_host              = local.deploy_control_plane[each.key].ssh_host
    ssh_port              = local.deploy_control_plane[each.key].ssh_port
    ssh_private_key       = local.ssh_private_key
    ssh_user              = local.cluster.ssh_user
  }
  triggers_replace = sha256(jsonencode([local.flake_hash, { settings = local.node_settings.control_plane, node = local.deploy_control_plane[each.key] }]))
  depends_on       = [local_file.static, local_file.user_modules, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.joiner_5]

  connection {
    host        = self.input.ssh_host
    host_key    = self.input.host_key
    port        = self.input.ssh_port
    private_key = self.input.ssh_private_key
    timeout     = "2m"
    type        = "ssh"
    user        = self.input.ssh_user
  }

  lifecycle {
    create_before_destroy = true
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "umask 077",
      "echo \"nico: ${each.key}: uploading the flake tree to ${self.input.remote_flake_dir}\"",
      "rm -rf ${self.input.remote_flake_dir}",
      "mkdir -p -m 0700 ${self.input.remote_flake_dir}",
      "chmod 0700 ${self.input.remote_flake_dir}",
    ]
  }

  provisioner "file" {
    destination = self.input.remote_flake_dir
    source      = "${local.flake_dir}/"
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "chmod -R go-rwx ${self.input.remote_flake_dir}",
      "chmod 0600 ${self.input.remote_flake_dir}/machine-ssh-private-key ${self.input.remote_flake_dir}/join-token",
      "echo \"nico: ${each.key}: nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}\"",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}",
      "echo \"nico: ${each.key}: waiting until it is ready\"",
      "deadline=$(( $(date +%s) + ${self.input.ready_timeout_seconds} ))",
      "until [ \"$(k3s kubectl get node ${each.key} -o 'jsonpath={.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null)\" = True ]; do",
      "  if [ \"$(date +%s)\" -ge \"$deadline\" ]; then echo \"nico: ${each.key}: the node did not become a Ready member within ${self.input.ready_timeout_seconds} s; see journalctl -u k3s on the node\" >&2; exit 1; fi",
      "  sleep 2",
      "done",
      "echo \"nico: ${each.key}: ready\"",
    ]
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "echo \"nico: ${each.key}: cleaning with #minimal\"",
      "printf '%s\\n' ${each.key} > ${self.input.remote_flake_dir}/minimal-node",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#minimal",
    ]
    when = destroy
  }
}

resource "terraform_data" "kubeconfig" {
  for_each         = local.init_master
  triggers_replace = terraform_data.init_master[each.key].id

  provisioner "local-exec" {
    command = file("${local.templates_dir}/fetch-kubeconfig.sh")
    environment = {
      HOST_KEY = local.deploy_control_plane[each.key].host_key == null ? "" : local.deploy_control_plane[each.key].host_key
      KEY_FILE = "${abspath(local.flake_dir)}/machine-ssh-private-key"
      OUT      = "${abspath(local.output_dir)}/kubeconfig"
      SSH_HOST = local.deploy_control_plane[each.key].ssh_host
      SSH_PORT = local.deploy_control_plane[each.key].ssh_port
      SSH_USER = local.cluster.ssh_user
      VIP      = local.cluster.vip
    }
    interpreter = ["/bin/sh", "-c"]
  }
}

resource "terraform_data" "workers" {
  for_each = local.deploy_worker_names
  input = {
    host_key              = local.deploy_workers[each.key].host_key
    ready_timeout_seconds = local.cluster.ready_timeout_seconds
    remote_flake_dir      = local.cluster.remote_flake_dir
    ssh_host              = local.deploy_workers[each.key].ssh_host
    ssh_port              = local.deploy_workers[each.key].ssh_port
    ssh_private_key       = local.ssh_private_key
    ssh_user              = local.cluster.ssh_user
  }
  triggers_replace = sha256(jsonencode([local.flake_hash, { settings = local.node_settings.worker, node = local.deploy_workers[each.key] }]))
  depends_on       = [local_file.static, local_file.user_modules, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.init_master, terraform_data.joiner_1, terraform_data.joiner_2, terraform_data.joiner_3, terraform_data.joiner_4, terraform_data.joiner_5, terraform_data.joiner_6]

  connection {
    host        = self.input.ssh_host
    host_key    = self.input.host_key
    port        = self.input.ssh_port
    private_key = self.input.ssh_private_key
    timeout     = "2m"
    type        = "ssh"
    user        = self.input.ssh_user
  }

  lifecycle {
    create_before_destroy = true
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "umask 077",
      "echo \"nico: ${each.key}: uploading the flake tree to ${self.input.remote_flake_dir}\"",
      "rm -rf ${self.input.remote_flake_dir}",
      "mkdir -p -m 0700 ${self.input.remote_flake_dir}",
      "chmod 0700 ${self.input.remote_flake_dir}",
    ]
  }

  provisioner "file" {
    destination = self.input.remote_flake_dir
    source      = "${local.flake_dir}/"
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "chmod -R go-rwx ${self.input.remote_flake_dir}",
      "chmod 0600 ${self.input.remote_flake_dir}/machine-ssh-private-key ${self.input.remote_flake_dir}/join-token",
      "echo \"nico: ${each.key}: nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}\"",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#${each.key}",
      "echo \"nico: ${each.key}: waiting until it is ready\"",
      "deadline=$(( $(date +%s) + ${self.input.ready_timeout_seconds} ))",
      "until systemctl is-active --quiet k3s; do",
      "  if [ \"$(date +%s)\" -ge \"$deadline\" ]; then echo \"nico: ${each.key}: the k3s agent did not become active within ${self.input.ready_timeout_seconds} s; see journalctl -u k3s on the node\" >&2; exit 1; fi",
      "  sleep 2",
      "done",
      "echo \"nico: ${each.key}: ready\"",
    ]
  }

  provisioner "remote-exec" {
    inline = [
      "set -eu",
      "echo \"nico: ${each.key}: cleaning with #minimal\"",
      "printf '%s\\n' ${each.key} > ${self.input.remote_flake_dir}/minimal-node",
      "nixos-rebuild switch --flake path:${self.input.remote_flake_dir}#minimal",
    ]
    when = destroy
  }
}

data "local_sensitive_file" "kubeconfig" {
  for_each   = local.init_master
  filename   = "${local.output_dir}/kubeconfig"
  depends_on = [terraform_data.kubeconfig]
}

data "tls_public_key" "given" {
  count               = nonsensitive(sensitive(local.ssh_private_key_input != null)) ? 1 : 0
  private_key_openssh = try(!startswith(local.ssh_private_key_input, "-----BEGIN OPENSSH"), false) ? null : (local.ssh_private_key_input == null ? "" : local.ssh_private_key_input)
  private_key_pem     = try(!startswith(local.ssh_private_key_input, "-----BEGIN OPENSSH"), false) ? local.ssh_private_key_input : null
}
