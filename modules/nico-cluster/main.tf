# Generated from constructs/ by `npm run modules`. Do not edit: change the constructs and regenerate.

locals {
  bad_module_file_names = flatten([for set, field in { all = "nixosModules", control_plane = "controlPlaneModules", worker = "workerModules" } : [for m in local.user_modules[set] : [for f in(endswith(m.path, ".nix") ? [] : sort(fileset(m.path, "**"))) : "${field}: ${substr(jsonencode(f), 0, 42)} in ${m.path}" if !can(regex("^[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$", f))]]])
  cluster = {
    agent_extra_flags           = var.agent_extra_flags
    control_plane               = [for n in var.control_plane : { name = n.name, ip = n.ip, disk = try(n.disk, null), ssh_host = coalesce(try(n.ssh_host, null), n.ip), ssh_port = coalesce(try(tonumber(n.ssh_port), null), 22), host_key = try(n.host_key, null), labels = coalesce(try(n.labels, null), {}), taints = coalesce(try(n.taints, null), []), gone = coalesce(try(n.gone, null), false), install = try(n.install, null), install_generation = coalesce(try(n.install_generation, null), 1) }]
    disable_components          = var.disable_components
    drain_timeout_seconds       = var.drain_timeout_seconds
    gateway                     = var.gateway
    install                     = var.install
    interface                   = var.interface
    kexec_url                   = var.kexec_url
    max_unavailable             = var.max_unavailable
    name                        = var.name
    nameservers                 = var.nameservers
    nixpkgs                     = var.nixpkgs
    prefix_length               = var.prefix_length
    ready_timeout_seconds       = var.ready_timeout_seconds
    remote_flake_dir            = var.remote_flake_dir
    rollback                    = var.rollback
    server_extra_flags          = var.server_extra_flags
    ssh_connect_timeout_seconds = var.ssh_connect_timeout_seconds
    ssh_user                    = var.ssh_user
    vip                         = var.vip
    vrrp_router_id              = var.vrrp_router_id
    workers                     = [for n in var.workers : { name = n.name, ip = n.ip, disk = try(n.disk, null), ssh_host = coalesce(try(n.ssh_host, null), n.ip), ssh_port = coalesce(try(tonumber(n.ssh_port), null), 22), host_key = try(n.host_key, null), labels = coalesce(try(n.labels, null), {}), taints = coalesce(try(n.taints, null), []), gone = coalesce(try(n.gone, null), false), install = try(n.install, null), install_generation = coalesce(try(n.install_generation, null), 1) }]
    write_local_tree            = var.write_local_tree
  }
  cluster_id             = one(terraform_data.cluster[*].id)
  cluster_nix            = templatefile("${local.templates_dir}/cluster.nix.tftpl", { cluster = local.cluster, init_node = local.init_node })
  deploy                 = var.deploy
  deploy_names           = { for role in ["init", "joiner", "worker"] : role => { for name, n in local.deploy_nodes : name => name if n.role == role } }
  deploy_nodes           = local.deploy ? merge({ for i, n in local.cluster.control_plane : n.name => merge(n, { role = n.name == local.init_node ? "init" : "joiner", index = i, install = coalesce(n.install, local.cluster.install) }) }, { for n in local.cluster.workers : n.name => merge(n, { role = "worker", index = null, install = coalesce(n.install, local.cluster.install) }) }) : {}
  deploy_peers           = [for n in concat([for n in local.cluster.control_plane : n if n.name == local.init_node], [for n in local.cluster.control_plane : n if n.name != local.init_node]) : { name = n.name, line = join(" ", [n.name, n.ssh_host, n.ssh_port, local.node_host_keys[n.name] == null ? "" : local.node_host_keys[n.name]]) } if !n.gone]
  flake_dir              = "${local.output_dir}/nix"
  flake_files            = merge(local.static_flake_files, local.user_module_files, { "cluster.nix" = local.cluster_nix, "machine-ssh-public-key" = local.ssh_public_key }, local.flake_lock == null ? {} : { "flake.lock" = local.flake_lock })
  flake_hash             = sha256(jsonencode([local.static_flake_files, local.flake_lock, local.ssh_public_key, local.user_module_files]))
  flake_lock             = var.flake_lock
  flake_payload          = merge({ NICO_FILE_PATHS = join("\n", keys(local.flake_files)) }, merge({ NICO_FILE_COUNT = length([for p, c in local.flake_files : { path = p, content = c }]) }, { for i, f in [for p, c in local.flake_files : { path = p, content = c }] : "NICO_FILE_${i}" => "${base64encode(f.path)}\n${base64encode(f.content)}" }))
  gone_names             = { for name, n in local.deploy_nodes : name => name if n.gone }
  init_node              = try(terraform_data.cluster[0].input.init_node, local.cluster.control_plane[0].name)
  install_names          = { for name, n in local.deploy_nodes : name => name if n.install && !n.gone }
  join_token             = random_password.join_token.result
  k3s_ca_files           = sensitive(merge({ for path, cert in tls_self_signed_cert.k3s_ca : "${path}.crt" => cert.cert_pem }, { for path, key in tls_private_key.k3s_ca : "${path}.key" => key.private_key_pem }, { "service.key" = tls_private_key.k3s_service_account.private_key_pem }))
  k3s_token              = "K10${sha256(tls_self_signed_cert.k3s_ca["server-ca"].cert_pem)}::server:${local.join_token}"
  kubeconfig             = sensitive(templatefile("${local.templates_dir}/kubeconfig.yaml.tftpl", { name = local.cluster.name, server = "https://${local.cluster.vip}:6443", ca_certificate = tls_self_signed_cert.k3s_ca["server-ca"].cert_pem, client_certificate = tls_locally_signed_cert.k3s_admin.cert_pem, client_key = tls_private_key.k3s_admin.private_key_pem }))
  kubernetes_credentials = sensitive({ host = "https://${local.cluster.vip}:6443", cluster_ca_certificate = tls_self_signed_cert.k3s_ca["server-ca"].cert_pem, client_certificate = tls_locally_signed_cert.k3s_admin.cert_pem, client_key = tls_private_key.k3s_admin.private_key_pem })
  nix_templates_dir      = "${path.module}/nix-templates"
  node_host_keys         = { for n in concat(local.cluster.control_plane, local.cluster.workers) : n.name => contains(keys(local.install_names), n.name) ? trimspace(tls_private_key.host_key[n.name].public_key_openssh) : n.host_key }
  node_script            = join("", [for part in ["common.sh", "ssh.sh", "runner-state.sh", "peers.sh", "deploy.sh", "remove.sh", "install.sh", "main.sh"] : file("${local.templates_dir}/nico-node/${part}")])
  node_settings = {
    control_plane = { vip = local.cluster.vip, prefix_length = local.cluster.prefix_length, gateway = local.cluster.gateway, nameservers = local.cluster.nameservers, interface = local.cluster.interface, name = local.cluster.name, vrrp_router_id = local.cluster.vrrp_router_id }
    worker        = { vip = local.cluster.vip, prefix_length = local.cluster.prefix_length, gateway = local.cluster.gateway, nameservers = local.cluster.nameservers, interface = local.cluster.interface }
  }
  output_dir = coalesce(var.output_dir, "${path.root}/out/${var.name}")
  secrets_payload = {
    control_plane = merge({ NICO_SECRET_COUNT = length(concat([{ path = "join-token", content = local.k3s_token }, { path = "machine-ssh-private-key", content = local.ssh_private_key }], [for p in nonsensitive(keys(local.k3s_ca_files)) : { path = "tls/${p}", content = local.k3s_ca_files[p] }])) }, { for i, f in concat([{ path = "join-token", content = local.k3s_token }, { path = "machine-ssh-private-key", content = local.ssh_private_key }], [for p in nonsensitive(keys(local.k3s_ca_files)) : { path = "tls/${p}", content = local.k3s_ca_files[p] }]) : "NICO_SECRET_${i}" => nonsensitive(sensitive("${base64encode(f.path)}\n${base64encode(f.content)}")) })
    worker        = merge({ NICO_SECRET_COUNT = length([{ path = "join-token", content = local.k3s_token }, { path = "machine-ssh-private-key", content = local.ssh_private_key }]) }, { for i, f in [{ path = "join-token", content = local.k3s_token }, { path = "machine-ssh-private-key", content = local.ssh_private_key }] : "NICO_SECRET_${i}" => nonsensitive(sensitive("${base64encode(f.path)}\n${base64encode(f.content)}")) })
  }
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
  user_module_files = merge(flatten([for set, dir in { all = "extra-modules/all", control_plane = "extra-modules/control-plane", worker = "extra-modules/worker", minimal = "extra-modules/minimal" } : [for i, m in local.user_modules[set] : { for f in(endswith(m.path, ".nix") ? [""] : sort(fileset(m.path, "**"))) : "${dir}/${format("%02d", i)}-${m.name}${f == "" ? "" : "/${f}"}" => file(f == "" ? m.path : "${m.path}/${f}") }]])...)
  user_modules = {
    all           = [for p in var.nixos_modules : { name = basename(p), path = p }]
    control_plane = [for p in var.control_plane_modules : { name = basename(p), path = p }]
    minimal       = [for p in var.minimal_modules : { name = basename(p), path = p }]
    worker        = [for p in var.worker_modules : { name = basename(p), path = p }]
  }
}

resource "tls_private_key" "host_key" {
  for_each  = local.install_names
  algorithm = "ED25519"

  lifecycle {
    ignore_changes = all
  }
}

resource "tls_private_key" "k3s_admin" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_private_key" "k3s_ca" {
  for_each = {
    client-ca         = "k3s-client-ca"
    "etcd/peer-ca"    = "etcd-peer-ca"
    "etcd/server-ca"  = "etcd-server-ca"
    request-header-ca = "k3s-request-header-ca"
    server-ca         = "k3s-server-ca"
  }
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"

  lifecycle {
    ignore_changes = all
  }
}

resource "tls_private_key" "k3s_service_account" {
  algorithm = "RSA"
  rsa_bits  = 2048

  lifecycle {
    ignore_changes = all
  }
}

resource "tls_private_key" "machine" {
  count     = nonsensitive(sensitive(local.ssh_private_key_input != null)) ? 0 : 1
  algorithm = "ED25519"

  lifecycle {
    ignore_changes = all
  }
}

resource "tls_self_signed_cert" "k3s_ca" {
  for_each = {
    client-ca         = "k3s-client-ca"
    "etcd/peer-ca"    = "etcd-peer-ca"
    "etcd/server-ca"  = "etcd-server-ca"
    request-header-ca = "k3s-request-header-ca"
    server-ca         = "k3s-server-ca"
  }
  allowed_uses          = ["cert_signing", "digital_signature", "key_encipherment"]
  is_ca_certificate     = true
  private_key_pem       = tls_private_key.k3s_ca[each.key].private_key_pem
  set_subject_key_id    = true
  validity_period_hours = 87600

  lifecycle {
    ignore_changes = all
  }

  subject {
    common_name = "${each.value}@${local.cluster.name}"
  }
}

resource "tls_cert_request" "k3s_admin" {
  private_key_pem = tls_private_key.k3s_admin.private_key_pem

  subject {
    common_name  = "nico-cluster-admin"
    organization = "system:masters"
  }
}

resource "tls_locally_signed_cert" "k3s_admin" {
  allowed_uses          = ["digital_signature", "key_encipherment", "client_auth"]
  ca_cert_pem           = tls_self_signed_cert.k3s_ca["client-ca"].cert_pem
  ca_private_key_pem    = tls_private_key.k3s_ca["client-ca"].private_key_pem
  cert_request_pem      = tls_cert_request.k3s_admin.cert_request_pem
  early_renewal_hours   = 2880
  validity_period_hours = 8760
}

resource "random_password" "join_token" {
  length  = 48
  special = false

  lifecycle {
    ignore_changes = all
  }
}

resource "local_file" "cluster_nix" {
  count                = local.cluster.write_local_tree ? 1 : 0
  content              = local.cluster_nix
  directory_permission = "0700"
  file_permission      = "0644"
  filename             = "${local.flake_dir}/cluster.nix"
  depends_on           = [terraform_data.input_checks]
}

resource "local_file" "flake_lock" {
  count                = local.cluster.write_local_tree && local.flake_lock != null ? 1 : 0
  content              = local.flake_lock == null ? "" : local.flake_lock
  directory_permission = "0700"
  file_permission      = "0644"
  filename             = "${local.flake_dir}/flake.lock"
  depends_on           = [terraform_data.input_checks]
}

resource "local_file" "machine_ssh_public_key" {
  count                = local.cluster.write_local_tree ? 1 : 0
  content              = local.ssh_public_key
  directory_permission = "0700"
  file_permission      = "0644"
  filename             = "${local.flake_dir}/machine-ssh-public-key"
  depends_on           = [terraform_data.input_checks]
}

resource "local_file" "static" {
  for_each             = local.cluster.write_local_tree ? local.static_flake_files : {}
  content              = each.value
  directory_permission = "0700"
  file_permission      = "0644"
  filename             = "${local.flake_dir}/${each.key}"
  depends_on           = [terraform_data.input_checks]
}

resource "local_file" "user_modules" {
  for_each             = local.cluster.write_local_tree ? local.user_module_files : {}
  content              = each.value
  directory_permission = "0700"
  file_permission      = "0644"
  filename             = "${local.flake_dir}/${each.key}"
  depends_on           = [terraform_data.input_checks]

  lifecycle {
    precondition {
      condition     = local.deploy || can(regex("^[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$", each.key))
      error_message = "A file in a NixOS module directory must have a plain name (path components of letters, digits, \".\", \"_\", \"+\" or \"-\"; no spaces, quotes, \"$\", backslashes or control characters: the name travels to every node). Rename it; nothing was written or deployed. Wrong: ${substr(jsonencode(each.key), 0, 82)} in the tree."
    }
  }
}

resource "local_sensitive_file" "join_token" {
  count                = local.cluster.write_local_tree ? 1 : 0
  content              = local.join_token
  directory_permission = "0700"
  file_permission      = "0600"
  filename             = "${local.flake_dir}/join-token"
  depends_on           = [terraform_data.input_checks]
}

resource "local_sensitive_file" "machine_ssh_private_key" {
  count                = local.cluster.write_local_tree ? 1 : 0
  content              = local.ssh_private_key
  directory_permission = "0700"
  file_permission      = "0600"
  filename             = "${local.flake_dir}/machine-ssh-private-key"
  depends_on           = [terraform_data.input_checks]
}

resource "terraform_data" "cluster" {
  count = local.deploy ? 1 : 0
  input = {
    init_node = local.cluster.control_plane[0].name
  }

  lifecycle {
    ignore_changes = [input]

    precondition {
      condition     = length(local.bad_module_file_names) == 0
      error_message = "A file in a NixOS module directory must have a plain name (path components of letters, digits, \".\", \"_\", \"+\" or \"-\"; no spaces, quotes, \"$\", backslashes or control characters: the name travels to every node). Rename it; nothing was written or deployed. Wrong: ${join("; ", local.bad_module_file_names)}."
    }
  }
}

resource "terraform_data" "control_plane" {
  for_each = local.deploy_names.joiner
  input = {
    cluster_id       = local.cluster_id
    connect_timeout  = local.cluster.ssh_connect_timeout_seconds
    drain_timeout    = local.cluster.drain_timeout_seconds
    gone             = local.deploy_nodes[each.key].gone
    host_key         = local.node_host_keys[each.key]
    max_unavailable  = local.cluster.max_unavailable
    node             = each.key
    peers            = join("\n", [for p in local.deploy_peers : p.line if p.name != each.key])
    remote_flake_dir = local.cluster.remote_flake_dir
    role             = local.deploy_nodes[each.key].role
    script           = local.node_script
    ssh_host         = local.deploy_nodes[each.key].ssh_host
    ssh_port         = local.deploy_nodes[each.key].ssh_port
    ssh_user         = local.cluster.ssh_user
  }
  triggers_replace = {
    configuration   = sha256(jsonencode([local.flake_hash, local.node_settings[local.deploy_nodes[each.key].role == "worker" ? "worker" : "control_plane"], { for k, v in local.deploy_nodes[each.key] : k => v if !contains(["ssh_host", "ssh_port", "host_key", "gone"], k) }]))
    ssh_private_key = sensitive(local.ssh_private_key)
  }
  depends_on = [terraform_data.input_checks, terraform_data.install, terraform_data.init_node]

  lifecycle {
    create_before_destroy = true
  }

  provisioner "local-exec" {
    command     = "eval \"$NICO_SCRIPT\""
    environment = merge({ NICO_SCRIPT = self.input.script, NICO_NODE = self.input.node, NICO_ROLE = self.input.role, NICO_SSH_HOST = self.input.ssh_host, NICO_SSH_PORT = self.input.ssh_port, NICO_SSH_USER = self.input.ssh_user, NICO_HOST_KEY = self.input.host_key == null ? "" : self.input.host_key, NICO_SSH_KEY = nonsensitive(sensitive(self.triggers_replace.ssh_private_key)), NICO_CONNECT_TIMEOUT = self.input.connect_timeout, NICO_REMOTE_DIR = self.input.remote_flake_dir, NICO_PEERS = self.input.peers, NICO_MAX_UNAVAILABLE = self.input.max_unavailable, NICO_DRAIN_TIMEOUT = self.input.drain_timeout, NICO_GONE = self.input.gone, NICO_CLUSTER_ID = self.input.cluster_id, NICO_ACTION = "deploy", NICO_READY_TIMEOUT = local.cluster.ready_timeout_seconds, NICO_ROLLBACK = local.cluster.rollback }, local.flake_payload, local.secrets_payload[local.deploy_nodes[each.key].role == "worker" ? "worker" : "control_plane"])
    interpreter = ["/bin/sh", "-c"]
  }

  provisioner "local-exec" {
    command     = "eval \"$NICO_SCRIPT\""
    environment = { NICO_SCRIPT = self.input.script, NICO_NODE = self.input.node, NICO_ROLE = self.input.role, NICO_SSH_HOST = self.input.ssh_host, NICO_SSH_PORT = self.input.ssh_port, NICO_SSH_USER = self.input.ssh_user, NICO_HOST_KEY = self.input.host_key == null ? "" : self.input.host_key, NICO_SSH_KEY = nonsensitive(sensitive(self.triggers_replace.ssh_private_key)), NICO_CONNECT_TIMEOUT = self.input.connect_timeout, NICO_REMOTE_DIR = self.input.remote_flake_dir, NICO_PEERS = self.input.peers, NICO_MAX_UNAVAILABLE = self.input.max_unavailable, NICO_DRAIN_TIMEOUT = self.input.drain_timeout, NICO_GONE = self.input.gone, NICO_CLUSTER_ID = self.input.cluster_id, NICO_ACTION = "remove" }
    interpreter = ["/bin/sh", "-c"]
    when        = destroy
  }
}

resource "terraform_data" "forget" {
  for_each = local.gone_names
  input = {
    node = each.key
  }
  depends_on = [terraform_data.init_node, terraform_data.control_plane]

  provisioner "local-exec" {
    command = "eval \"$NICO_SCRIPT\""
    environment = {
      NICO_ACTION          = "forget"
      NICO_CLUSTER_ID      = local.cluster_id
      NICO_CONNECT_TIMEOUT = local.cluster.ssh_connect_timeout_seconds
      NICO_NODE            = each.key
      NICO_PEERS           = join("\n", [for p in local.deploy_peers : p.line if p.name != each.key])
      NICO_SCRIPT          = local.node_script
      NICO_SSH_KEY         = nonsensitive(sensitive(local.ssh_private_key))
      NICO_SSH_USER        = local.cluster.ssh_user
    }
    interpreter = ["/bin/sh", "-c"]
  }
}

resource "terraform_data" "init_node" {
  for_each = local.deploy_names.init
  input = {
    cluster_id       = local.cluster_id
    connect_timeout  = local.cluster.ssh_connect_timeout_seconds
    drain_timeout    = local.cluster.drain_timeout_seconds
    gone             = local.deploy_nodes[each.key].gone
    host_key         = local.node_host_keys[each.key]
    max_unavailable  = local.cluster.max_unavailable
    node             = each.key
    peers            = join("\n", [for p in local.deploy_peers : p.line if p.name != each.key])
    remote_flake_dir = local.cluster.remote_flake_dir
    role             = local.deploy_nodes[each.key].role
    script           = local.node_script
    ssh_host         = local.deploy_nodes[each.key].ssh_host
    ssh_port         = local.deploy_nodes[each.key].ssh_port
    ssh_user         = local.cluster.ssh_user
  }
  triggers_replace = {
    configuration   = sha256(jsonencode([local.flake_hash, local.node_settings[local.deploy_nodes[each.key].role == "worker" ? "worker" : "control_plane"], { for k, v in local.deploy_nodes[each.key] : k => v if !contains(["ssh_host", "ssh_port", "host_key", "gone"], k) }]))
    ssh_private_key = sensitive(local.ssh_private_key)
  }
  depends_on = [terraform_data.input_checks, terraform_data.install]

  lifecycle {
    create_before_destroy = true
  }

  provisioner "local-exec" {
    command     = "eval \"$NICO_SCRIPT\""
    environment = merge({ NICO_SCRIPT = self.input.script, NICO_NODE = self.input.node, NICO_ROLE = self.input.role, NICO_SSH_HOST = self.input.ssh_host, NICO_SSH_PORT = self.input.ssh_port, NICO_SSH_USER = self.input.ssh_user, NICO_HOST_KEY = self.input.host_key == null ? "" : self.input.host_key, NICO_SSH_KEY = nonsensitive(sensitive(self.triggers_replace.ssh_private_key)), NICO_CONNECT_TIMEOUT = self.input.connect_timeout, NICO_REMOTE_DIR = self.input.remote_flake_dir, NICO_PEERS = self.input.peers, NICO_MAX_UNAVAILABLE = self.input.max_unavailable, NICO_DRAIN_TIMEOUT = self.input.drain_timeout, NICO_GONE = self.input.gone, NICO_CLUSTER_ID = self.input.cluster_id, NICO_ACTION = "deploy", NICO_READY_TIMEOUT = local.cluster.ready_timeout_seconds, NICO_ROLLBACK = local.cluster.rollback }, local.flake_payload, local.secrets_payload[local.deploy_nodes[each.key].role == "worker" ? "worker" : "control_plane"])
    interpreter = ["/bin/sh", "-c"]
  }

  provisioner "local-exec" {
    command     = "eval \"$NICO_SCRIPT\""
    environment = { NICO_SCRIPT = self.input.script, NICO_NODE = self.input.node, NICO_ROLE = self.input.role, NICO_SSH_HOST = self.input.ssh_host, NICO_SSH_PORT = self.input.ssh_port, NICO_SSH_USER = self.input.ssh_user, NICO_HOST_KEY = self.input.host_key == null ? "" : self.input.host_key, NICO_SSH_KEY = nonsensitive(sensitive(self.triggers_replace.ssh_private_key)), NICO_CONNECT_TIMEOUT = self.input.connect_timeout, NICO_REMOTE_DIR = self.input.remote_flake_dir, NICO_PEERS = self.input.peers, NICO_MAX_UNAVAILABLE = self.input.max_unavailable, NICO_DRAIN_TIMEOUT = self.input.drain_timeout, NICO_GONE = self.input.gone, NICO_CLUSTER_ID = self.input.cluster_id, NICO_ACTION = "remove" }
    interpreter = ["/bin/sh", "-c"]
    when        = destroy
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
      condition     = try(alltrue([for n in concat(var.control_plane, []) : try(can(keys(n)) && length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"])) == 0 && n.name != null && n.ip != null, false)]), false)
      error_message = "The control_plane list must hold node objects, each with name and ip and no attributes other than name, ip, ssh_host, ssh_port, disk, host_key, labels, taints, gone, install, install_generation. Wrong: ${try(join(", ", [for i, n in concat(var.control_plane, []) : "control_plane[${i}]${try(length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"])) > 0 ? " (unknown: ${join(", ", setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"]))})" : "", "")}" if !try(can(keys(n)) && length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"])) == 0 && n.name != null && n.ip != null, false)]), "control_plane is not a list")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", n.name)), false) if try(n.name, null) != null]), true)
      error_message = "Every control_plane node name must be an RFC 1123 label: 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(n.name != "minimal", false) if try(n.name, null) != null]), true)
      error_message = "No control_plane node may be named \"minimal\": that name is reserved for the cleanup configuration."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ip)), false) if try(n.ip, null) != null]), true)
      error_message = "Every control_plane node ip must be an IPv4 address in dotted-quad form, such as 192.168.1.101."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false) if try(n.ssh_host, null) != null]), true)
      error_message = "Every control_plane node ssh_host must be a host name or address of at most 253 letters, digits, \".\", \"_\", \":\" or \"-\", not starting with \"-\" or \".\"."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(tonumber(n.ssh_port) >= 1 && tonumber(n.ssh_port) <= 65535 && floor(tonumber(n.ssh_port)) == tonumber(n.ssh_port), false) if try(n.ssh_port, null) != null]), true)
      error_message = "Every control_plane node ssh_port must be a whole number from 1 to 65535."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false) if try(n.disk, null) != null]), true)
      error_message = "Every control_plane node disk must be an absolute device path such as /dev/sda."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false) if try(n.host_key, null) != null]), true)
      error_message = "Every control_plane node host_key must be an SSH public key line such as \"ssh-ed25519 AAAA...\", with an optional comment without control characters."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(alltrue([for k, v in n.labels : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))]), false) if try(n.labels, null) != null]), true)
      error_message = "Every control_plane node label must follow Kubernetes label syntax: a key of an optional DNS-subdomain prefix and \"/\" and a name of 1-63 letters, digits, \"-\", \"_\" or \".\", starting and ending with a letter or digit; a value of the same form as the name, or empty."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(alltrue([for k, v in n.labels : !can(regex("^([^/]*\\.)?(kubernetes|k8s)\\.io/", k)) || can(regex("^([^/]*\\.)?(kubelet|node)\\.kubernetes\\.io/", k)) || contains(["kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/region", "topology.kubernetes.io/zone"], k)]), false) if try(n.labels, null) != null]), true)
      error_message = "No control_plane node label may use the kubernetes.io or k8s.io namespaces except node.kubernetes.io/..., kubelet.kubernetes.io/... and the well-known labels kubelet allows: kubelet refuses to start with them (label such nodes through the API instead)."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(alltrue([for t in n.taints : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?(=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)?:(NoSchedule|PreferNoSchedule|NoExecute)$", t))]), false) if try(n.taints, null) != null]), true)
      error_message = "Every control_plane node taint must be \"key=value:Effect\" or \"key:Effect\", with a Kubernetes label key and value and Effect NoSchedule, PreferNoSchedule or NoExecute."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(n.install == true || n.install == false, false) if try(n.install, null) != null]), true)
      error_message = "Every control_plane node install must be true or false."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(tonumber(n.install_generation) >= 1 && floor(tonumber(n.install_generation)) == tonumber(n.install_generation), false) if try(n.install_generation, null) != null]), true)
      error_message = "Every control_plane node install_generation must be a whole number from 1 up."
    }

    precondition {
      condition     = try(alltrue([for n in var.control_plane : try(n.gone == true || n.gone == false, false) if try(n.gone, null) != null]), true)
      error_message = "Every control_plane node gone must be true or false."
    }

    precondition {
      condition     = try(alltrue([for n in concat(var.workers, []) : try(can(keys(n)) && length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"])) == 0 && n.name != null && n.ip != null, false)]), false)
      error_message = "The workers list must hold node objects, each with name and ip and no attributes other than name, ip, ssh_host, ssh_port, disk, host_key, labels, taints, gone, install, install_generation. Wrong: ${try(join(", ", [for i, n in concat(var.workers, []) : "workers[${i}]${try(length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"])) > 0 ? " (unknown: ${join(", ", setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"]))})" : "", "")}" if !try(can(keys(n)) && length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"])) == 0 && n.name != null && n.ip != null, false)]), "workers is not a list")}."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", n.name)), false) if try(n.name, null) != null]), true)
      error_message = "Every workers node name must be an RFC 1123 label: 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(n.name != "minimal", false) if try(n.name, null) != null]), true)
      error_message = "No workers node may be named \"minimal\": that name is reserved for the cleanup configuration."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ip)), false) if try(n.ip, null) != null]), true)
      error_message = "Every workers node ip must be an IPv4 address in dotted-quad form, such as 192.168.1.101."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false) if try(n.ssh_host, null) != null]), true)
      error_message = "Every workers node ssh_host must be a host name or address of at most 253 letters, digits, \".\", \"_\", \":\" or \"-\", not starting with \"-\" or \".\"."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(tonumber(n.ssh_port) >= 1 && tonumber(n.ssh_port) <= 65535 && floor(tonumber(n.ssh_port)) == tonumber(n.ssh_port), false) if try(n.ssh_port, null) != null]), true)
      error_message = "Every workers node ssh_port must be a whole number from 1 to 65535."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false) if try(n.disk, null) != null]), true)
      error_message = "Every workers node disk must be an absolute device path such as /dev/sda."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false) if try(n.host_key, null) != null]), true)
      error_message = "Every workers node host_key must be an SSH public key line such as \"ssh-ed25519 AAAA...\", with an optional comment without control characters."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(alltrue([for k, v in n.labels : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))]), false) if try(n.labels, null) != null]), true)
      error_message = "Every workers node label must follow Kubernetes label syntax: a key of an optional DNS-subdomain prefix and \"/\" and a name of 1-63 letters, digits, \"-\", \"_\" or \".\", starting and ending with a letter or digit; a value of the same form as the name, or empty."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(alltrue([for k, v in n.labels : !can(regex("^([^/]*\\.)?(kubernetes|k8s)\\.io/", k)) || can(regex("^([^/]*\\.)?(kubelet|node)\\.kubernetes\\.io/", k)) || contains(["kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/region", "topology.kubernetes.io/zone"], k)]), false) if try(n.labels, null) != null]), true)
      error_message = "No workers node label may use the kubernetes.io or k8s.io namespaces except node.kubernetes.io/..., kubelet.kubernetes.io/... and the well-known labels kubelet allows: kubelet refuses to start with them (label such nodes through the API instead)."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(alltrue([for t in n.taints : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?(=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)?:(NoSchedule|PreferNoSchedule|NoExecute)$", t))]), false) if try(n.taints, null) != null]), true)
      error_message = "Every workers node taint must be \"key=value:Effect\" or \"key:Effect\", with a Kubernetes label key and value and Effect NoSchedule, PreferNoSchedule or NoExecute."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(n.install == true || n.install == false, false) if try(n.install, null) != null]), true)
      error_message = "Every workers node install must be true or false."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(tonumber(n.install_generation) >= 1 && floor(tonumber(n.install_generation)) == tonumber(n.install_generation), false) if try(n.install_generation, null) != null]), true)
      error_message = "Every workers node install_generation must be a whole number from 1 up."
    }

    precondition {
      condition     = try(alltrue([for n in var.workers : try(n.gone == true || n.gone == false, false) if try(n.gone, null) != null]), true)
      error_message = "Every workers node gone must be true or false."
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
      error_message = "The nixpkgs value must be a flake reference such as github:NixOS/nixpkgs/nixos-26.05, without spaces, quotes, backslashes, \"$\" or braces."
    }

    precondition {
      condition     = !can(regex("(^|[^A-Za-z0-9])(nixos|nixpkgs|release)-((0[0-9]|1[0-9]|2[0-3])\\.[0-9]{2}|24\\.0[0-5])([^0-9]|$)", var.nixpkgs))
      error_message = "The nixpkgs value names NixOS 24.05 or older, which the flake cannot build: the disko it pins needs the nixpkgs lib of 24.11 or newer. Use nixos-24.11 through nixos-26.05 or nixos-unstable."
    }

    precondition {
      condition     = var.kexec_url == null || can(regex("^(https?://[^ \"'\\\\$${}`\\x00-\\x1f\\x7f]+|/[A-Za-z0-9._/+:-]+)\\.tar(\\.gz|\\.xz|\\.zst)?$", var.kexec_url))
      error_message = "The kexec_url must be an http(s) URL or an absolute path ending in .tar, .tar.gz, .tar.xz or .tar.zst, without spaces, quotes, backslashes, \"$\" or braces."
    }

    precondition {
      condition     = alltrue([for f in var.server_extra_flags : can(regex("^--[^\\r\\n]+$", f))])
      error_message = "Every server_extra_flags entry must be a k3s flag starting with \"--\" (value included, e.g. \"--cluster-cidr=10.42.0.0/16\"), on one line."
    }

    precondition {
      condition     = alltrue([for f in var.agent_extra_flags : can(regex("^--[^\\r\\n]+$", f))])
      error_message = "Every agent_extra_flags entry must be a k3s flag starting with \"--\" (value included, e.g. \"--cluster-cidr=10.42.0.0/16\"), on one line."
    }

    precondition {
      condition     = alltrue([for c in var.disable_components : contains(["coredns", "servicelb", "traefik", "local-storage", "metrics-server", "runtimes"], c)])
      error_message = "Every disable_components entry must be a packaged k3s component: coredns, servicelb, traefik, local-storage, metrics-server, runtimes."
    }

    precondition {
      condition     = alltrue([for p in var.nixos_modules : can(regex("^[A-Za-z0-9._+-]+$", basename(p))) && try(endswith(p, ".nix") ? fileexists(p) : fileexists("${p}/default.nix"), false)])
      error_message = "Every nixos_modules entry must be the path of an existing .nix file or of a directory holding a default.nix, its last name made of letters, digits, \".\", \"_\", \"+\" or \"-\"."
    }

    precondition {
      condition     = alltrue([for p in var.control_plane_modules : can(regex("^[A-Za-z0-9._+-]+$", basename(p))) && try(endswith(p, ".nix") ? fileexists(p) : fileexists("${p}/default.nix"), false)])
      error_message = "Every control_plane_modules entry must be the path of an existing .nix file or of a directory holding a default.nix, its last name made of letters, digits, \".\", \"_\", \"+\" or \"-\"."
    }

    precondition {
      condition     = alltrue([for p in var.worker_modules : can(regex("^[A-Za-z0-9._+-]+$", basename(p))) && try(endswith(p, ".nix") ? fileexists(p) : fileexists("${p}/default.nix"), false)])
      error_message = "Every worker_modules entry must be the path of an existing .nix file or of a directory holding a default.nix, its last name made of letters, digits, \".\", \"_\", \"+\" or \"-\"."
    }

    precondition {
      condition     = alltrue([for p in var.minimal_modules : can(regex("^[A-Za-z0-9._+-]+$", basename(p))) && try(endswith(p, ".nix") ? fileexists(p) : fileexists("${p}/default.nix"), false)])
      error_message = "Every minimal_modules entry must be the path of an existing .nix file or of a directory holding a default.nix, its last name made of letters, digits, \".\", \"_\", \"+\" or \"-\"."
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
      condition     = var.ssh_connect_timeout_seconds >= 1 && var.ssh_connect_timeout_seconds <= 600 && floor(var.ssh_connect_timeout_seconds) == var.ssh_connect_timeout_seconds
      error_message = "The ssh_connect_timeout_seconds must be a whole number of seconds from 1 to 600."
    }

    precondition {
      condition     = var.max_unavailable >= 1 && var.max_unavailable <= 1000 && floor(var.max_unavailable) == var.max_unavailable
      error_message = "The max_unavailable must be a whole number of workers from 1 to 1000."
    }

    precondition {
      condition     = var.drain_timeout_seconds >= 1 && var.drain_timeout_seconds <= 86400 && floor(var.drain_timeout_seconds) == var.drain_timeout_seconds
      error_message = "The drain_timeout_seconds must be a whole number of seconds from 1 to 86400."
    }

    precondition {
      condition     = try(length([for n in var.control_plane : n if !try(n.gone, false)]) >= floor(length(var.control_plane) / 2) + 1, true)
      error_message = "At most a minority of the control_plane nodes may be marked gone at once: etcd needs a quorum of the others to remove them."
    }

    precondition {
      condition     = var.ssh_user == "root" || alltrue([for n in concat(var.control_plane, var.workers) : !coalesce(try(n.install, null), var.install)])
      error_message = "The ssh_user must be root while any node is installed (install): the installed system authorizes the machine key for root only, so a deploy as another user could not log in."
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
      error_message = "Every node must be reached at its own ssh_host:ssh_port (default: its ip and 22). Shared: ${join(", ", [for endpoint, names in { for n in concat(var.control_plane, var.workers) : "${coalesce(try(n.ssh_host, null), n.ip)}:${coalesce(try(n.ssh_port, null), 22)}" => n.name... } : endpoint if length(names) > 1])}."
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

resource "terraform_data" "install" {
  for_each = local.install_names
  input = {
    cluster_id       = local.cluster_id
    connect_timeout  = local.cluster.ssh_connect_timeout_seconds
    drain_timeout    = local.cluster.drain_timeout_seconds
    generation       = local.deploy_nodes[each.key].install_generation
    gone             = local.deploy_nodes[each.key].gone
    host_key         = local.deploy_nodes[each.key].host_key
    max_unavailable  = local.cluster.max_unavailable
    node             = each.key
    peers            = join("\n", [for p in local.deploy_peers : p.line if p.name != each.key])
    remote_flake_dir = local.cluster.remote_flake_dir
    role             = local.deploy_nodes[each.key].role
    script           = local.node_script
    ssh_host         = local.deploy_nodes[each.key].ssh_host
    ssh_port         = local.deploy_nodes[each.key].ssh_port
    ssh_user         = local.cluster.ssh_user
  }
  triggers_replace = local.deploy_nodes[each.key].install_generation
  depends_on       = [terraform_data.input_checks]

  provisioner "local-exec" {
    command     = "eval \"$NICO_SCRIPT\""
    environment = merge({ NICO_SCRIPT = self.input.script, NICO_NODE = self.input.node, NICO_ROLE = self.input.role, NICO_SSH_HOST = self.input.ssh_host, NICO_SSH_PORT = self.input.ssh_port, NICO_SSH_USER = self.input.ssh_user, NICO_HOST_KEY = self.input.host_key == null ? "" : self.input.host_key, NICO_SSH_KEY = nonsensitive(sensitive(local.ssh_private_key)), NICO_CONNECT_TIMEOUT = self.input.connect_timeout, NICO_REMOTE_DIR = self.input.remote_flake_dir, NICO_PEERS = self.input.peers, NICO_MAX_UNAVAILABLE = self.input.max_unavailable, NICO_DRAIN_TIMEOUT = self.input.drain_timeout, NICO_GONE = self.input.gone, NICO_CLUSTER_ID = self.input.cluster_id, NICO_ACTION = "install", NICO_READY_TIMEOUT = local.cluster.ready_timeout_seconds, NICO_NIXOS_ANYWHERE = "github:nix-community/nixos-anywhere/1.13.0", NICO_KEXEC_URL = local.cluster.kexec_url == null ? "" : local.cluster.kexec_url, NICO_HOST_PRIVATE_KEY = nonsensitive(sensitive(tls_private_key.host_key[each.key].private_key_openssh)), NICO_HOST_PUBLIC_KEY = trimspace(tls_private_key.host_key[each.key].public_key_openssh) }, local.flake_payload, local.secrets_payload[local.deploy_nodes[each.key].role == "worker" ? "worker" : "control_plane"])
    interpreter = ["/bin/sh", "-c"]
  }
}

resource "terraform_data" "teardown" {
  count = local.deploy ? 1 : 0
  input = {
    cluster_id = local.cluster_id
    script     = local.node_script
  }
  depends_on = [terraform_data.init_node, terraform_data.control_plane, terraform_data.worker]

  provisioner "local-exec" {
    command = "eval \"$NICO_SCRIPT\""
    environment = {
      NICO_ACTION     = "teardown"
      NICO_CLUSTER_ID = self.input.cluster_id
      NICO_NODE       = "cluster"
      NICO_SCRIPT     = self.input.script
    }
    interpreter = ["/bin/sh", "-c"]
    when        = destroy
  }
}

resource "terraform_data" "worker" {
  for_each = local.deploy_names.worker
  input = {
    cluster_id       = local.cluster_id
    connect_timeout  = local.cluster.ssh_connect_timeout_seconds
    drain_timeout    = local.cluster.drain_timeout_seconds
    gone             = local.deploy_nodes[each.key].gone
    host_key         = local.node_host_keys[each.key]
    max_unavailable  = local.cluster.max_unavailable
    node             = each.key
    peers            = join("\n", [for p in local.deploy_peers : p.line if p.name != each.key])
    remote_flake_dir = local.cluster.remote_flake_dir
    role             = local.deploy_nodes[each.key].role
    script           = local.node_script
    ssh_host         = local.deploy_nodes[each.key].ssh_host
    ssh_port         = local.deploy_nodes[each.key].ssh_port
    ssh_user         = local.cluster.ssh_user
  }
  triggers_replace = {
    configuration   = sha256(jsonencode([local.flake_hash, local.node_settings[local.deploy_nodes[each.key].role == "worker" ? "worker" : "control_plane"], { for k, v in local.deploy_nodes[each.key] : k => v if !contains(["ssh_host", "ssh_port", "host_key", "gone"], k) }]))
    ssh_private_key = sensitive(local.ssh_private_key)
  }
  depends_on = [terraform_data.input_checks, terraform_data.install, terraform_data.init_node, terraform_data.control_plane]

  lifecycle {
    create_before_destroy = true
  }

  provisioner "local-exec" {
    command     = "eval \"$NICO_SCRIPT\""
    environment = merge({ NICO_SCRIPT = self.input.script, NICO_NODE = self.input.node, NICO_ROLE = self.input.role, NICO_SSH_HOST = self.input.ssh_host, NICO_SSH_PORT = self.input.ssh_port, NICO_SSH_USER = self.input.ssh_user, NICO_HOST_KEY = self.input.host_key == null ? "" : self.input.host_key, NICO_SSH_KEY = nonsensitive(sensitive(self.triggers_replace.ssh_private_key)), NICO_CONNECT_TIMEOUT = self.input.connect_timeout, NICO_REMOTE_DIR = self.input.remote_flake_dir, NICO_PEERS = self.input.peers, NICO_MAX_UNAVAILABLE = self.input.max_unavailable, NICO_DRAIN_TIMEOUT = self.input.drain_timeout, NICO_GONE = self.input.gone, NICO_CLUSTER_ID = self.input.cluster_id, NICO_ACTION = "deploy", NICO_READY_TIMEOUT = local.cluster.ready_timeout_seconds, NICO_ROLLBACK = local.cluster.rollback }, local.flake_payload, local.secrets_payload[local.deploy_nodes[each.key].role == "worker" ? "worker" : "control_plane"])
    interpreter = ["/bin/sh", "-c"]
  }

  provisioner "local-exec" {
    command     = "eval \"$NICO_SCRIPT\""
    environment = { NICO_SCRIPT = self.input.script, NICO_NODE = self.input.node, NICO_ROLE = self.input.role, NICO_SSH_HOST = self.input.ssh_host, NICO_SSH_PORT = self.input.ssh_port, NICO_SSH_USER = self.input.ssh_user, NICO_HOST_KEY = self.input.host_key == null ? "" : self.input.host_key, NICO_SSH_KEY = nonsensitive(sensitive(self.triggers_replace.ssh_private_key)), NICO_CONNECT_TIMEOUT = self.input.connect_timeout, NICO_REMOTE_DIR = self.input.remote_flake_dir, NICO_PEERS = self.input.peers, NICO_MAX_UNAVAILABLE = self.input.max_unavailable, NICO_DRAIN_TIMEOUT = self.input.drain_timeout, NICO_GONE = self.input.gone, NICO_CLUSTER_ID = self.input.cluster_id, NICO_ACTION = "remove" }
    interpreter = ["/bin/sh", "-c"]
    when        = destroy
  }
}

data "tls_public_key" "given" {
  count               = nonsensitive(sensitive(local.ssh_private_key_input != null)) ? 1 : 0
  private_key_openssh = try(!startswith(local.ssh_private_key_input, "-----BEGIN OPENSSH"), false) ? null : (local.ssh_private_key_input == null ? "" : local.ssh_private_key_input)
  private_key_pem     = try(!startswith(local.ssh_private_key_input, "-----BEGIN OPENSSH"), false) ? local.ssh_private_key_input : null
}

check "host_keys_pinned" {
  assert {
    condition     = !local.deploy || alltrue([for name, key in local.node_host_keys : key != null || contains(keys(local.gone_names), name)])
    error_message = "Trust on first use: node(s) ${join(", ", sort([for name, key in local.node_host_keys : name if key == null && !contains(keys(local.gone_names), name)]))} have no host_key and are not installed by Terraform: every connection to them accepts whatever host key answers at their address, and sends them the secrets. Pin each with host_key (its /etc/ssh/ssh_host_ed25519_key.pub, compared out of band), or let Terraform install it (install)."
  }
}
