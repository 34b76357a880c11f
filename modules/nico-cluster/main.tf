# Generated from constructs/ by `npm run modules`. Do not edit: change the constructs and regenerate.

locals {
  cluster = {
    control_plane         = [for n in var.control_plane : { name = n.name, ip = n.ip, disk = try(n.disk, null), ssh_host = coalesce(try(n.ssh_host, null), n.ip), ssh_port = coalesce(try(tonumber(n.ssh_port), null), 22), host_key = try(n.host_key, null) }]
    gateway               = var.gateway
    interface             = var.interface
    name                  = var.name
    nameservers           = var.nameservers
    nixpkgs               = var.nixpkgs
    prefix_length         = var.prefix_length
    ready_timeout_seconds = var.ready_timeout_seconds
    remote_flake_dir      = var.remote_flake_dir
    ssh_user              = var.ssh_user
    vip                   = var.vip
    vrrp_router_id        = var.vrrp_router_id
    workers               = [for n in var.workers : { name = n.name, ip = n.ip, disk = try(n.disk, null), ssh_host = coalesce(try(n.ssh_host, null), n.ip), ssh_port = coalesce(try(tonumber(n.ssh_port), null), 22), host_key = try(n.host_key, null) }]
  }
  deploy               = var.deploy
  deploy_control_plane = local.deploy ? { for i, n in local.cluster.control_plane : n.name => merge(n, { index = i }) } : {}
  deploy_worker_names  = { for name, n in local.deploy_workers : name => name }
  deploy_workers       = local.deploy ? { for n in local.cluster.workers : n.name => n } : {}
  flake_dir            = "${local.output_dir}/nix"
  flake_hash           = sha256(jsonencode([local.static_flake_files, local.flake_lock, local.ssh_public_key]))
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
    "flake.nix"               = replace(file("${local.nix_templates_dir}/flake.nix"), "github:NixOS/nixpkgs/nixos-24.05", local.cluster.nixpkgs)
    "nodes/common.nix"        = file("${local.nix_templates_dir}/nodes/common.nix")
    "nodes/control-plane.nix" = file("${local.nix_templates_dir}/nodes/control-plane.nix")
    "nodes/disko-config.nix"  = file("${local.nix_templates_dir}/nodes/disko-config.nix")
    "nodes/generator.nix"     = file("${local.nix_templates_dir}/nodes/generator.nix")
    "nodes/minimal.nix"       = file("${local.nix_templates_dir}/nodes/minimal.nix")
    "nodes/worker.nix"        = file("${local.nix_templates_dir}/nodes/worker.nix")
  }
  templates_dir = "${path.module}/templates"
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
  depends_on           = [terraform_data.input_checks]
}

resource "local_file" "flake_lock" {
  count                = local.flake_lock == null ? 0 : 1
  content              = local.flake_lock == null ? "" : local.flake_lock
  directory_permission = "0700"
  file_permission      = "0644"
  filename             = "${local.flake_dir}/flake.lock"
  depends_on           = [terraform_data.input_checks]
}

resource "local_file" "machine_ssh_public_key" {
  content              = local.ssh_public_key
  directory_permission = "0700"
  file_permission      = "0644"
  filename             = "${local.flake_dir}/machine-ssh-public-key"
  depends_on           = [terraform_data.input_checks]
}

resource "local_file" "static" {
  for_each             = local.static_flake_files
  content              = each.value
  directory_permission = "0700"
  file_permission      = "0644"
  filename             = "${local.flake_dir}/${each.key}"
  depends_on           = [terraform_data.input_checks]
}

resource "local_sensitive_file" "join_token" {
  content              = local.join_token
  directory_permission = "0700"
  file_permission      = "0600"
  filename             = "${local.flake_dir}/join-token"
  depends_on           = [terraform_data.input_checks]
}

resource "local_sensitive_file" "machine_ssh_private_key" {
  content              = local.ssh_private_key
  directory_permission = "0700"
  file_permission      = "0600"
  filename             = "${local.flake_dir}/machine-ssh-private-key"
  depends_on           = [terraform_data.input_checks]
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
  depends_on       = [local_file.static, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock]

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
      condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.name))
      error_message = "The cluster name must be an RFC 1123 label: 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit."
    }

    precondition {
      condition     = can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", var.vip))
      error_message = "The vip must be an IPv4 address in dotted-quad form, such as 192.168.1.100."
    }

    precondition {
      condition     = !can(concat(var.control_plane, [])) || (length(var.control_plane) >= 1 && length(var.control_plane) <= 7)
      error_message = "The control_plane list must hold 1 to 7 nodes (etcd advises at most 7 members)."
    }

    precondition {
      condition     = try(alltrue([for n in concat(var.control_plane, []) : try(can(keys(n)) && length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key"])) == 0 && n.name != null && n.ip != null, false)]), false)
      error_message = "The control_plane list must hold node objects, each with name and ip and no attributes other than name, ip, ssh_host, ssh_port, disk, host_key. Wrong: ${try(join(", ", [for i, n in concat(var.control_plane, []) : "control_plane[${i}]${try(length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key"])) > 0 ? " (unknown: ${join(", ", setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key"]))})" : "", "")}" if !try(can(keys(n)) && length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key"])) == 0 && n.name != null && n.ip != null, false)]), "control_plane is not a list")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", n.name)), false) if try(n.name, null) != null]), true)
      error_message = "Every control_plane node name must be an RFC 1123 label: 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit. Wrong: ${try(join(", ", [for i, n in var.control_plane : "control_plane[${i}]" if try(n.name, null) != null && !try(can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", n.name)), false)]), "control_plane")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(n.name != "minimal", false) if try(n.name, null) != null]), true)
      error_message = "No control_plane node may be named \"minimal\": that name is reserved for the cleanup configuration. Wrong: ${try(join(", ", [for i, n in var.control_plane : "control_plane[${i}]" if try(n.name, null) != null && !try(n.name != "minimal", false)]), "control_plane")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ip)), false) if try(n.ip, null) != null]), true)
      error_message = "Every control_plane node ip must be an IPv4 address in dotted-quad form, such as 192.168.1.101. Wrong: ${try(join(", ", [for i, n in var.control_plane : "control_plane[${i}]" if try(n.ip, null) != null && !try(can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ip)), false)]), "control_plane")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false) if try(n.ssh_host, null) != null]), true)
      error_message = "Every control_plane node ssh_host must be a host name or address of at most 253 letters, digits, \".\", \"_\", \":\" or \"-\", not starting with \"-\" or \".\". Wrong: ${try(join(", ", [for i, n in var.control_plane : "control_plane[${i}]" if try(n.ssh_host, null) != null && !try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false)]), "control_plane")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(tonumber(n.ssh_port) >= 1 && tonumber(n.ssh_port) <= 65535 && floor(tonumber(n.ssh_port)) == tonumber(n.ssh_port), false) if try(n.ssh_port, null) != null]), true)
      error_message = "Every control_plane node ssh_port must be a whole number from 1 to 65535. Wrong: ${try(join(", ", [for i, n in var.control_plane : "control_plane[${i}]" if try(n.ssh_port, null) != null && !try(tonumber(n.ssh_port) >= 1 && tonumber(n.ssh_port) <= 65535 && floor(tonumber(n.ssh_port)) == tonumber(n.ssh_port), false)]), "control_plane")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false) if try(n.disk, null) != null]), true)
      error_message = "Every control_plane node disk must be an absolute device path such as /dev/sda. Wrong: ${try(join(", ", [for i, n in var.control_plane : "control_plane[${i}]" if try(n.disk, null) != null && !try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false)]), "control_plane")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false) if try(n.host_key, null) != null]), true)
      error_message = "Every control_plane node host_key must be an SSH public key line such as \"ssh-ed25519 AAAA...\", with an optional comment without control characters. Wrong: ${try(join(", ", [for i, n in var.control_plane : "control_plane[${i}]" if try(n.host_key, null) != null && !try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false)]), "control_plane")}."
    }

    precondition {
      condition     = try(alltrue([for n in concat(var.workers, []) : try(can(keys(n)) && length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key"])) == 0 && n.name != null && n.ip != null, false)]), false)
      error_message = "The workers list must hold node objects, each with name and ip and no attributes other than name, ip, ssh_host, ssh_port, disk, host_key. Wrong: ${try(join(", ", [for i, n in concat(var.workers, []) : "workers[${i}]${try(length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key"])) > 0 ? " (unknown: ${join(", ", setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key"]))})" : "", "")}" if !try(can(keys(n)) && length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key"])) == 0 && n.name != null && n.ip != null, false)]), "workers is not a list")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", n.name)), false) if try(n.name, null) != null]), true)
      error_message = "Every workers node name must be an RFC 1123 label: 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit. Wrong: ${try(join(", ", [for i, n in var.workers : "workers[${i}]" if try(n.name, null) != null && !try(can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", n.name)), false)]), "workers")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(n.name != "minimal", false) if try(n.name, null) != null]), true)
      error_message = "No workers node may be named \"minimal\": that name is reserved for the cleanup configuration. Wrong: ${try(join(", ", [for i, n in var.workers : "workers[${i}]" if try(n.name, null) != null && !try(n.name != "minimal", false)]), "workers")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ip)), false) if try(n.ip, null) != null]), true)
      error_message = "Every workers node ip must be an IPv4 address in dotted-quad form, such as 192.168.1.101. Wrong: ${try(join(", ", [for i, n in var.workers : "workers[${i}]" if try(n.ip, null) != null && !try(can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ip)), false)]), "workers")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false) if try(n.ssh_host, null) != null]), true)
      error_message = "Every workers node ssh_host must be a host name or address of at most 253 letters, digits, \".\", \"_\", \":\" or \"-\", not starting with \"-\" or \".\". Wrong: ${try(join(", ", [for i, n in var.workers : "workers[${i}]" if try(n.ssh_host, null) != null && !try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false)]), "workers")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(tonumber(n.ssh_port) >= 1 && tonumber(n.ssh_port) <= 65535 && floor(tonumber(n.ssh_port)) == tonumber(n.ssh_port), false) if try(n.ssh_port, null) != null]), true)
      error_message = "Every workers node ssh_port must be a whole number from 1 to 65535. Wrong: ${try(join(", ", [for i, n in var.workers : "workers[${i}]" if try(n.ssh_port, null) != null && !try(tonumber(n.ssh_port) >= 1 && tonumber(n.ssh_port) <= 65535 && floor(tonumber(n.ssh_port)) == tonumber(n.ssh_port), false)]), "workers")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false) if try(n.disk, null) != null]), true)
      error_message = "Every workers node disk must be an absolute device path such as /dev/sda. Wrong: ${try(join(", ", [for i, n in var.workers : "workers[${i}]" if try(n.disk, null) != null && !try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false)]), "workers")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false) if try(n.host_key, null) != null]), true)
      error_message = "Every workers node host_key must be an SSH public key line such as \"ssh-ed25519 AAAA...\", with an optional comment without control characters. Wrong: ${try(join(", ", [for i, n in var.workers : "workers[${i}]" if try(n.host_key, null) != null && !try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false)]), "workers")}."
    }

    precondition {
      condition     = var.prefix_length >= 1 && var.prefix_length <= 30 && floor(var.prefix_length) == var.prefix_length
      error_message = "The prefix_length must be a whole number from 1 to 30, so that the subnet has room for nodes and a VIP."
    }

    precondition {
      condition     = can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", var.gateway))
      error_message = "The gateway must be an IPv4 address in dotted-quad form, such as 192.168.1.1."
    }

    precondition {
      condition     = length(var.nameservers) >= 1 && alltrue([for s in var.nameservers : can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", s))])
      error_message = "The nameservers list must hold at least one IPv4 address, each in dotted-quad form."
    }

    precondition {
      condition     = can(regex("^[A-Za-z0-9_.-]{1,15}$", var.interface)) && !contains([".", ".."], var.interface)
      error_message = "The interface must be a Linux interface name of 1 to 15 letters, digits, \".\", \"_\" or \"-\", such as eth0, other than \".\" and \"..\"."
    }

    precondition {
      condition     = var.vrrp_router_id >= 1 && var.vrrp_router_id <= 255 && floor(var.vrrp_router_id) == var.vrrp_router_id
      error_message = "The vrrp_router_id must be a whole number from 1 to 255."
    }

    precondition {
      condition     = can(regex("^[A-Za-z][A-Za-z0-9+.-]*:[^ \"'\\\\$${}`\\x00-\\x1f\\x7f]+$", var.nixpkgs))
      error_message = "The nixpkgs value must be a flake reference such as github:NixOS/nixpkgs/nixos-24.05, without spaces, quotes, backslashes, \"$\" or braces."
    }

    precondition {
      condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.ssh_user))
      error_message = "The ssh_user must be a Unix user name such as root."
    }

    precondition {
      condition     = can(regex("^(/([A-Za-z0-9_+:-][A-Za-z0-9._+:-]*|\\.[A-Za-z0-9_+:-][A-Za-z0-9._+:-]*|\\.\\.[A-Za-z0-9._+:-]+)){2,}$", var.remote_flake_dir)) && !can(regex("^/((nix|usr|bin|sbin|lib|lib32|lib64|libx32|boot|dev|proc|sys|run|tmp|var/tmp|var/run|var/lock|etc/ssh|etc/nixos|etc/nix|etc/static|etc/ssl|etc/pam\\.d|etc/systemd|etc/rancher|var/lib/rancher|var/lib/nixos|var/lib/systemd)(/.*)?|(var/lib|var/log|var/cache|var/db|var/empty|var/spool|var/mail|home/[^/]+|root/\\.[^/]+))$", var.remote_flake_dir))
      error_message = "The remote_flake_dir must be a dedicated directory such as /etc/nico/flake: an absolute path of at least two components of letters, digits and \". _ + : -\", without \".\" or \"..\" components or a trailing \"/\", and not a system directory (/nix, /usr, /boot, /etc/ssh, /var/lib, a home directory and the like)."
    }

    precondition {
      condition     = var.ready_timeout_seconds >= 1 && var.ready_timeout_seconds <= 86400 && floor(var.ready_timeout_seconds) == var.ready_timeout_seconds
      error_message = "The ready_timeout_seconds must be a whole number of seconds from 1 to 86400."
    }

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
      condition     = length(toset([for n in concat(var.control_plane, var.workers) : "${coalesce(try(n.ssh_host, null), n.ip)}:${coalesce(try(n.ssh_port, null), 22)}"])) == length(concat(var.control_plane, var.workers))
      error_message = "Every node must be reached at its own ssh_host:ssh_port (default: its ip and 22). Shared: ${join(", ", distinct([for n in concat(var.control_plane, var.workers) : "${coalesce(try(n.ssh_host, null), n.ip)}:${coalesce(try(n.ssh_port, null), 22)}" if length([for m in concat(var.control_plane, var.workers) : m if "${coalesce(try(m.ssh_host, null), m.ip)}:${coalesce(try(m.ssh_port, null), 22)}" == "${coalesce(try(n.ssh_host, null), n.ip)}:${coalesce(try(n.ssh_port, null), 22)}"]) > 1]))}."
    }

    precondition {
      condition     = var.gateway != var.vip && !contains([for n in concat(var.control_plane, var.workers) : n.ip], var.gateway) && try(var.gateway != cidrhost("${var.gateway}/${var.prefix_length}", 0) && var.gateway != cidrhost("${var.gateway}/${var.prefix_length}", -1), true)
      error_message = "The gateway must not be the vip, the ip of a node, or the network or broadcast address of the node subnet."
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
  depends_on       = [local_file.static, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.init_master]

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
  depends_on       = [local_file.static, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.joiner_1]

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
  depends_on       = [local_file.static, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.joiner_2]

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
  depends_on       = [local_file.static, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.joiner_3]

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
  depends_on       = [local_file.static, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.joiner_4]

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
  depends_on       = [local_file.static, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.joiner_5]

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
  depends_on       = [local_file.static, local_file.cluster_nix, local_file.machine_ssh_public_key, local_sensitive_file.machine_ssh_private_key, local_sensitive_file.join_token, local_file.flake_lock, terraform_data.init_master, terraform_data.joiner_1, terraform_data.joiner_2, terraform_data.joiner_3, terraform_data.joiner_4, terraform_data.joiner_5, terraform_data.joiner_6]

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
