# Generated from constructs/ by `npm run modules`. Do not edit: change the constructs and regenerate.

locals {
  bad_module_file_names = flatten([for set, field in { all = "nixosModules", control_plane = "controlPlaneModules", worker = "workerModules" } : [for m in local.user_modules[set] : [for f in(endswith(m.path, ".nix") ? [] : sort(fileset(m.path, "**"))) : "${field}: ${substr(jsonencode(f), 0, 42)} in ${m.path}" if !can(regex("^[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$", f))]]])
  cluster = {
    agent_extra_flags           = var.agent_extra_flags
    control_plane               = [for n in var.control_plane : { name = n.name, ip = n.ip, disk = try(n.disk, null), ssh_host = coalesce(try(n.ssh_host, null), n.ip), ssh_port = coalesce(try(tonumber(n.ssh_port), null), 22), host_key = try(n.host_key, null), labels = coalesce(try(n.labels, null), {}), taints = coalesce(try(n.taints, null), []), gone = coalesce(try(n.gone, null), false), install = try(n.install, null), install_generation = coalesce(try(n.install_generation, null), 1) }]
    disable_components          = var.disable_components
    drain_timeout_seconds       = var.drain_timeout_seconds
    etcd_snapshots              = { schedule_cron = try(tostring(var.etcd_snapshots.schedule_cron), null), retention = try(tonumber(var.etcd_snapshots.retention), null), dir = try(tostring(var.etcd_snapshots.dir), null), before_changes = try(tobool(var.etcd_snapshots.before_changes), null) == null ? true : tobool(var.etcd_snapshots.before_changes), s3 = try(var.etcd_snapshots.s3, null) == null ? null : { bucket = tostring(var.etcd_snapshots.s3.bucket), endpoint = try(tostring(var.etcd_snapshots.s3.endpoint), null), region = try(tostring(var.etcd_snapshots.s3.region), null), folder = try(tostring(var.etcd_snapshots.s3.folder), null), endpoint_ca = try(var.etcd_snapshots.s3.endpoint_ca, null) != null, credentials = try(var.etcd_snapshots.s3.access_key_id, null) != null } }
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
  etcd_s3_endpoint_ca    = try(var.etcd_snapshots.s3.endpoint_ca, null)
  etcd_s3_env            = var.etcd_s3_secret_access_key == null ? null : sensitive("AWS_ACCESS_KEY_ID='${try(var.etcd_snapshots.s3.access_key_id, "")}'\nAWS_SECRET_ACCESS_KEY='${trimspace(var.etcd_s3_secret_access_key)}'\n")
  etcd_s3_files          = concat(local.etcd_s3_endpoint_ca == null ? [] : [{ path = "etcd-s3-endpoint-ca.pem", content = local.etcd_s3_endpoint_ca }], nonsensitive(local.etcd_s3_env == null) ? [] : [{ path = "etcd-s3.env", content = local.etcd_s3_env }])
  flake_dir              = "${local.output_dir}/nix"
  flake_files            = merge(local.static_flake_files, local.user_module_files, { "cluster.nix" = local.cluster_nix, "machine-ssh-public-key" = local.ssh_public_key }, local.flake_lock == null ? {} : { "flake.lock" = local.flake_lock })
  flake_hash             = sha256(jsonencode([local.static_flake_files, local.flake_lock, local.ssh_public_key, local.user_module_files]))
  flake_lock             = var.flake_lock
  flake_payload          = merge({ NICO_FILE_PATHS = join("\n", keys(local.flake_files)) }, merge({ NICO_FILE_COUNT = length([for p, c in local.flake_files : { path = p, content = c }]) }, { for i, f in [for p, c in local.flake_files : { path = p, content = c }] : "NICO_FILE_${i}" => "${base64encode(f.path)}\n${base64encode(f.content)}" }))
  gone_names             = { for name, n in local.deploy_nodes : name => name if n.gone }
  init_node              = try(terraform_data.cluster[0].input.init_node, local.cluster.control_plane[0].name)
  installed_names        = { for name, r in terraform_data.install_record : name => name if try(r.input.installed, false) }
  join_token             = random_password.join_token.result
  k3s_ca_files           = sensitive(merge({ for path, cert in tls_self_signed_cert.k3s_ca : "${path}.crt" => cert.cert_pem }, { for path, key in tls_private_key.k3s_ca : "${path}.key" => key.private_key_pem }, { "service.key" = tls_private_key.k3s_service_account.private_key_pem }))
  k3s_token              = "K10${sha256(tls_self_signed_cert.k3s_ca["server-ca"].cert_pem)}::server:${local.join_token}"
  kubeconfig             = sensitive(templatefile("${local.templates_dir}/kubeconfig.yaml.tftpl", { name = local.cluster.name, server = "https://${local.cluster.vip}:6443", ca_certificate = tls_self_signed_cert.k3s_ca["server-ca"].cert_pem, client_certificate = tls_locally_signed_cert.k3s_admin.cert_pem, client_key = tls_private_key.k3s_admin.private_key_pem }))
  kubernetes_credentials = sensitive({ host = "https://${local.cluster.vip}:6443", cluster_ca_certificate = tls_self_signed_cert.k3s_ca["server-ca"].cert_pem, client_certificate = tls_locally_signed_cert.k3s_admin.cert_pem, client_key = tls_private_key.k3s_admin.private_key_pem })
  module_address         = var.module_address == null ? "module.<name>." : "${var.module_address}."
  nix_templates_dir      = "${path.module}/nix-templates"
  node_config_hash       = { for name, n in local.deploy_nodes : name => sha256(jsonencode([local.flake_hash, local.node_settings[merge(n, { install = n.gone ? n.install : lookup(local.installed_names, name, null) != null }).role == "worker" ? "worker" : "control_plane"], { for k, v in merge(n, { install = n.gone ? n.install : lookup(local.installed_names, name, null) != null }) : k => v if !contains(["ssh_host", "ssh_port", "host_key", "gone"], k) }])) }
  node_host_keys         = { for n in concat(local.cluster.control_plane, local.cluster.workers) : n.name => lookup(local.installed_names, n.name, null) != null ? trimspace(tls_private_key.host_key[n.name].public_key_openssh) : n.host_key }
  node_script            = join("", [for part in ["common.sh", "ssh.sh", "runner-state.sh", "peers.sh", "deploy.sh", "remove.sh", "install.sh", "snapshot.sh", "restore.sh", "main.sh"] : file("${local.templates_dir}/nico-node/${part}")])
  node_settings = {
    control_plane = merge({ vip = local.cluster.vip, prefix_length = local.cluster.prefix_length, gateway = local.cluster.gateway, nameservers = local.cluster.nameservers, interface = local.cluster.interface, name = local.cluster.name, vrrp_router_id = local.cluster.vrrp_router_id }, merge(anytrue([for k, v in local.cluster.etcd_snapshots : v != null if k != "before_changes"]) ? { etcd_snapshots = { for k, v in local.cluster.etcd_snapshots : k => v if k != "before_changes" } } : {}, nonsensitive(local.etcd_s3_env == null) ? {} : { etcd_s3_credentials = nonsensitive(sha256(local.etcd_s3_env)) }, local.etcd_s3_endpoint_ca == null ? {} : { etcd_s3_endpoint_ca = sha256(local.etcd_s3_endpoint_ca) }))
    worker        = { vip = local.cluster.vip, prefix_length = local.cluster.prefix_length, gateway = local.cluster.gateway, nameservers = local.cluster.nameservers, interface = local.cluster.interface }
  }
  output_dir          = coalesce(var.output_dir, "${path.root}/out/${var.name}")
  present_names       = { for name, n in local.deploy_nodes : name => name if !n.gone }
  restore             = var.restore == null ? null : { snapshot = tostring(var.restore.snapshot), generation = tonumber(var.restore.generation) }
  rule_network        = try(cidrhost("${var.control_plane[0].ip}/${var.prefix_length}", 0), null)
  rule_node_endpoints = [for n in local.rule_nodes : n.endpoint if n.endpoint != null]
  rule_node_ips       = [for n in local.rule_nodes : n.ip if n.ip != null]
  rule_nodes          = try([for n in concat(var.control_plane, var.workers) : { name = try(n.name, null), ip = try(n.ip, null), endpoint = try("${lower(coalesce(try(n.ssh_host, null), n.ip))}:${coalesce(try(tonumber(n.ssh_port), null), 22)}", null) }], [])
  secrets_payload = {
    control_plane = merge({ NICO_SECRET_COUNT = length(concat([{ path = "join-token", content = local.k3s_token }, { path = "machine-ssh-private-key", content = local.ssh_private_key }], [for p in nonsensitive(keys(local.k3s_ca_files)) : { path = "tls/${p}", content = local.k3s_ca_files[p] }], local.etcd_s3_files)) }, { for i, f in concat([{ path = "join-token", content = local.k3s_token }, { path = "machine-ssh-private-key", content = local.ssh_private_key }], [for p in nonsensitive(keys(local.k3s_ca_files)) : { path = "tls/${p}", content = local.k3s_ca_files[p] }], local.etcd_s3_files) : "NICO_SECRET_${i}" => nonsensitive(sensitive("${base64encode(f.path)}\n${base64encode(f.content)}")) })
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
  for_each  = local.installed_names
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
    created   = plantimestamp()
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
    configuration   = local.node_config_hash[each.key]
    ssh_private_key = sensitive(local.ssh_private_key)
  }
  depends_on = [terraform_data.input_checks, terraform_data.install, terraform_data.pre_change_snapshot, terraform_data.init_node]

  lifecycle {
    create_before_destroy = true
  }

  provisioner "local-exec" {
    command     = "eval \"$NICO_SCRIPT\""
    environment = merge({ NICO_SCRIPT = self.input.script, NICO_NODE = self.input.node, NICO_ROLE = self.input.role, NICO_SSH_HOST = self.input.ssh_host, NICO_SSH_PORT = self.input.ssh_port, NICO_SSH_USER = self.input.ssh_user, NICO_HOST_KEY = self.input.host_key == null ? "" : self.input.host_key, NICO_SSH_KEY = nonsensitive(sensitive(self.triggers_replace.ssh_private_key)), NICO_CONNECT_TIMEOUT = self.input.connect_timeout, NICO_REMOTE_DIR = self.input.remote_flake_dir, NICO_PEERS = self.input.peers, NICO_MAX_UNAVAILABLE = self.input.max_unavailable, NICO_DRAIN_TIMEOUT = self.input.drain_timeout, NICO_GONE = self.input.gone, NICO_CLUSTER_ID = self.input.cluster_id, NICO_ACTION = "deploy", NICO_READY_TIMEOUT = local.cluster.ready_timeout_seconds, NICO_ROLLBACK = local.cluster.rollback, NICO_LABELS = join("\n", [for k, v in local.deploy_nodes[each.key].labels : "${k}=${v}"]), NICO_TAINTS = join("\n", local.deploy_nodes[each.key].taints), NICO_INSTALL_ID = try(terraform_data.install[each.key].input.installs, false) == true ? try(terraform_data.install[each.key].id, "") : "", NICO_INSTALL_GENERATION = local.deploy_nodes[each.key].install_generation, NICO_PRE_INSTALL_KEY = local.deploy_nodes[each.key].host_key == null ? "" : local.deploy_nodes[each.key].host_key, NICO_MODULE_ADDRESS = local.module_address }, local.flake_payload, local.secrets_payload[local.deploy_nodes[each.key].role == "worker" ? "worker" : "control_plane"])
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
    configuration   = local.node_config_hash[each.key]
    ssh_private_key = sensitive(local.ssh_private_key)
  }
  depends_on = [terraform_data.input_checks, terraform_data.install, terraform_data.pre_change_snapshot]

  lifecycle {
    create_before_destroy = true
  }

  provisioner "local-exec" {
    command     = "eval \"$NICO_SCRIPT\""
    environment = merge({ NICO_SCRIPT = self.input.script, NICO_NODE = self.input.node, NICO_ROLE = self.input.role, NICO_SSH_HOST = self.input.ssh_host, NICO_SSH_PORT = self.input.ssh_port, NICO_SSH_USER = self.input.ssh_user, NICO_HOST_KEY = self.input.host_key == null ? "" : self.input.host_key, NICO_SSH_KEY = nonsensitive(sensitive(self.triggers_replace.ssh_private_key)), NICO_CONNECT_TIMEOUT = self.input.connect_timeout, NICO_REMOTE_DIR = self.input.remote_flake_dir, NICO_PEERS = self.input.peers, NICO_MAX_UNAVAILABLE = self.input.max_unavailable, NICO_DRAIN_TIMEOUT = self.input.drain_timeout, NICO_GONE = self.input.gone, NICO_CLUSTER_ID = self.input.cluster_id, NICO_ACTION = "deploy", NICO_READY_TIMEOUT = local.cluster.ready_timeout_seconds, NICO_ROLLBACK = local.cluster.rollback, NICO_LABELS = join("\n", [for k, v in local.deploy_nodes[each.key].labels : "${k}=${v}"]), NICO_TAINTS = join("\n", local.deploy_nodes[each.key].taints), NICO_INSTALL_ID = try(terraform_data.install[each.key].input.installs, false) == true ? try(terraform_data.install[each.key].id, "") : "", NICO_INSTALL_GENERATION = local.deploy_nodes[each.key].install_generation, NICO_PRE_INSTALL_KEY = local.deploy_nodes[each.key].host_key == null ? "" : local.deploy_nodes[each.key].host_key, NICO_MODULE_ADDRESS = local.module_address }, local.flake_payload, local.secrets_payload[local.deploy_nodes[each.key].role == "worker" ? "worker" : "control_plane"])
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
      condition     = var.ssh_user == "root" || alltrue([for n in concat(var.control_plane, var.workers) : !coalesce(try(n.install, null), var.install)])
      error_message = "The ssh_user must be root while any node is installed (install): the installed system authorizes the machine key for root only, so a deploy as another user could not log in."
    }

    precondition {
      condition     = length(toset([for n in local.rule_nodes : n.name])) == length(local.rule_nodes)
      error_message = "Every node name must be unique across control_plane and workers."
    }

    precondition {
      condition     = length(toset(local.rule_node_ips)) == length(local.rule_node_ips)
      error_message = "Every node ip must be unique across control_plane and workers."
    }

    precondition {
      condition     = alltrue([for ip in local.rule_node_ips : (local.rule_network == null || try(cidrhost("${ip}/${var.prefix_length}", 0) == local.rule_network, true)) && try(ip != cidrhost("${ip}/${var.prefix_length}", 0) && ip != cidrhost("${ip}/${var.prefix_length}", -1), true)])
      error_message = "Every node ip must lie in the subnet of the first control_plane node (prefix_length) and must not be its network or broadcast address."
    }

    precondition {
      condition     = (local.rule_network == null || try(cidrhost("${var.vip}/${var.prefix_length}", 0) == local.rule_network, true)) && try(var.vip != cidrhost("${var.vip}/${var.prefix_length}", 0) && var.vip != cidrhost("${var.vip}/${var.prefix_length}", -1), true)
      error_message = "The vip must lie in the subnet of the first control_plane node (prefix_length) and must not be its network or broadcast address."
    }

    precondition {
      condition     = !contains(local.rule_node_ips, var.vip)
      error_message = "The vip must not be the ip of any node: keepalived moves it between control-plane nodes."
    }

    precondition {
      condition     = length(toset(local.rule_node_endpoints)) == length(local.rule_node_endpoints)
      error_message = "Every node must be reached at its own ssh_host:ssh_port (default: its ip and 22). Shared: ${join(", ", [for endpoint, names in { for e in local.rule_node_endpoints : e => e... } : endpoint if length(names) > 1])}."
    }

    precondition {
      condition     = var.gateway != var.vip && !contains(local.rule_node_ips, var.gateway) && try(var.gateway != cidrhost("${var.gateway}/${var.prefix_length}", 0) && var.gateway != cidrhost("${var.gateway}/${var.prefix_length}", -1), true)
      error_message = "The gateway must not be the vip, the ip of a node, or the network or broadcast address of the node subnet."
    }

    precondition {
      condition     = local.rule_network == null || try(cidrhost("${var.gateway}/${var.prefix_length}", 0) == local.rule_network, true)
      error_message = "The gateway must lie in the subnet of the first control_plane node (prefix_length)."
    }

    precondition {
      condition     = (try(var.etcd_snapshots.s3.access_key_id, null) == null) == (var.etcd_s3_secret_access_key == null)
      error_message = "The etcd_snapshots.s3.access_key_id and etcd_s3_secret_access_key go together: set both (static credentials) or neither (the machines' own credentials)."
    }
  }
}

resource "terraform_data" "install" {
  for_each = local.installed_names
  input = {
    cluster_id       = local.cluster_id
    connect_timeout  = local.cluster.ssh_connect_timeout_seconds
    drain_timeout    = local.cluster.drain_timeout_seconds
    generation       = local.deploy_nodes[each.key].install_generation
    gone             = local.deploy_nodes[each.key].gone
    host_key         = local.deploy_nodes[each.key].host_key
    installs         = local.deploy_nodes[each.key].install
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
  depends_on       = [terraform_data.input_checks, terraform_data.install_guard]

  lifecycle {
    ignore_changes = [input]
  }

  provisioner "local-exec" {
    command     = "eval \"$NICO_SCRIPT\""
    environment = merge({ NICO_SCRIPT = self.input.script, NICO_NODE = self.input.node, NICO_ROLE = self.input.role, NICO_SSH_HOST = self.input.ssh_host, NICO_SSH_PORT = self.input.ssh_port, NICO_SSH_USER = self.input.ssh_user, NICO_HOST_KEY = self.input.host_key == null ? "" : self.input.host_key, NICO_SSH_KEY = nonsensitive(sensitive(local.ssh_private_key)), NICO_CONNECT_TIMEOUT = self.input.connect_timeout, NICO_REMOTE_DIR = self.input.remote_flake_dir, NICO_PEERS = self.input.peers, NICO_MAX_UNAVAILABLE = self.input.max_unavailable, NICO_DRAIN_TIMEOUT = self.input.drain_timeout, NICO_GONE = self.input.gone, NICO_CLUSTER_ID = self.input.cluster_id, NICO_ACTION = "install", NICO_INSTALLS = self.input.installs ? "true" : "false", NICO_INSTALL_ID = self.id, NICO_INSTALL_GENERATION = self.input.generation, NICO_READY_TIMEOUT = local.cluster.ready_timeout_seconds, NICO_NIXOS_ANYWHERE = "github:nix-community/nixos-anywhere/1.13.0", NICO_KEXEC_URL = local.cluster.kexec_url == null ? "" : local.cluster.kexec_url, NICO_HOST_PRIVATE_KEY = nonsensitive(sensitive(tls_private_key.host_key[each.key].private_key_openssh)), NICO_HOST_PUBLIC_KEY = trimspace(tls_private_key.host_key[each.key].public_key_openssh) }, local.flake_payload, local.secrets_payload[local.deploy_nodes[each.key].role == "worker" ? "worker" : "control_plane"])
    interpreter = ["/bin/sh", "-c"]
  }
}

resource "terraform_data" "install_guard" {
  count = local.deploy ? 1 : 0
  input = {}

  lifecycle {
    precondition {
      condition     = alltrue([for name, r in terraform_data.install_record : !local.deploy_nodes[name].install || r.input.installed])
      error_message = join(" ", [for name, r in terraform_data.install_record : "${name} runs a system nico-cluster did not install (install was off when it joined), and install is now on for it: an install WIPES ITS DISK, so nothing is installed by turning install on. To install it, run: terraform apply -replace='${local.module_address}terraform_data.install_record[\"${name}\"]'. Otherwise set install = false on that node." if !(!local.deploy_nodes[name].install || r.input.installed)])
    }
  }
}

resource "terraform_data" "install_record" {
  for_each = local.present_names
  input = {
    installed = local.deploy_nodes[each.key].install
  }

  lifecycle {
    ignore_changes = [input]
  }
}

resource "terraform_data" "pre_change_snapshot" {
  count = local.deploy && local.cluster.etcd_snapshots.before_changes ? 1 : 0
  input = {
    name = "pre-apply-${formatdate("YYYYMMDD-hhmmss", timestamp())}"
  }
  triggers_replace = { for name, n in local.deploy_nodes : name => local.node_config_hash[name] if n.role != "worker" }
  depends_on       = [terraform_data.input_checks, terraform_data.install]

  lifecycle {
    ignore_changes = [input]
  }

  provisioner "local-exec" {
    command     = "eval \"$NICO_SCRIPT\""
    environment = { NICO_SCRIPT = local.node_script, NICO_ACTION = "snapshot", NICO_NODE = "etcd-snapshot", NICO_SSH_USER = local.cluster.ssh_user, NICO_SSH_KEY = nonsensitive(sensitive(local.ssh_private_key)), NICO_CONNECT_TIMEOUT = local.cluster.ssh_connect_timeout_seconds, NICO_PEERS = join("\n", [for p in local.deploy_peers : p.line]), NICO_CLUSTER_ID = local.cluster_id, NICO_SNAPSHOT_NAME = self.input.name, NICO_SNAPSHOT_ARGS = join(" ", concat(local.cluster.etcd_snapshots.dir == null ? [] : ["--etcd-snapshot-dir", local.cluster.etcd_snapshots.dir], local.cluster.etcd_snapshots.s3 == null ? [] : concat(["--etcd-s3", "--etcd-s3-bucket", local.cluster.etcd_snapshots.s3.bucket], [for k in ["endpoint", "region", "folder"] : "--etcd-s3-${k} ${local.cluster.etcd_snapshots.s3[k]}" if local.cluster.etcd_snapshots.s3[k] != null]))), NICO_SNAPSHOT_S3_ENV = nonsensitive(sensitive(local.etcd_s3_env == null ? "" : local.etcd_s3_env)), NICO_SNAPSHOT_S3_CA = local.etcd_s3_endpoint_ca == null ? "" : local.etcd_s3_endpoint_ca }
    interpreter = ["/bin/sh", "-c"]
  }
}

resource "terraform_data" "restore" {
  count = local.deploy && local.restore != null ? 1 : 0
  input = {
    generation = try(local.restore.generation, 0)
    snapshot   = try(local.restore.snapshot, "")
  }
  triggers_replace = { generation = try(local.restore.generation, 0) }
  depends_on       = [terraform_data.init_node, terraform_data.control_plane, terraform_data.worker, terraform_data.forget]

  lifecycle {
    ignore_changes = [input]
  }

  provisioner "local-exec" {
    command     = "eval \"$NICO_SCRIPT\""
    environment = { NICO_SCRIPT = local.node_script, NICO_ACTION = "restore", NICO_NODE = "restore", NICO_SSH_USER = local.cluster.ssh_user, NICO_SSH_KEY = nonsensitive(sensitive(local.ssh_private_key)), NICO_CONNECT_TIMEOUT = local.cluster.ssh_connect_timeout_seconds, NICO_READY_TIMEOUT = local.cluster.ready_timeout_seconds, NICO_PEERS = join("\n", [for p in local.deploy_peers : p.line]), NICO_WORKERS = join("\n", [for n in local.cluster.workers : join(" ", [n.name, n.ssh_host, n.ssh_port, local.node_host_keys[n.name] == null ? "" : local.node_host_keys[n.name]]) if !n.gone]), NICO_CLUSTER_ID = local.cluster_id, NICO_RESTORE_SNAPSHOT = self.input.snapshot, NICO_RESTORE_GENERATION = self.input.generation, NICO_RESTORE_NEW_CLUSTER = try(terraform_data.cluster[0].input.created, "") == plantimestamp() }
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
    configuration   = local.node_config_hash[each.key]
    ssh_private_key = sensitive(local.ssh_private_key)
  }
  depends_on = [terraform_data.input_checks, terraform_data.install, terraform_data.init_node, terraform_data.control_plane]

  lifecycle {
    create_before_destroy = true
  }

  provisioner "local-exec" {
    command     = "eval \"$NICO_SCRIPT\""
    environment = merge({ NICO_SCRIPT = self.input.script, NICO_NODE = self.input.node, NICO_ROLE = self.input.role, NICO_SSH_HOST = self.input.ssh_host, NICO_SSH_PORT = self.input.ssh_port, NICO_SSH_USER = self.input.ssh_user, NICO_HOST_KEY = self.input.host_key == null ? "" : self.input.host_key, NICO_SSH_KEY = nonsensitive(sensitive(self.triggers_replace.ssh_private_key)), NICO_CONNECT_TIMEOUT = self.input.connect_timeout, NICO_REMOTE_DIR = self.input.remote_flake_dir, NICO_PEERS = self.input.peers, NICO_MAX_UNAVAILABLE = self.input.max_unavailable, NICO_DRAIN_TIMEOUT = self.input.drain_timeout, NICO_GONE = self.input.gone, NICO_CLUSTER_ID = self.input.cluster_id, NICO_ACTION = "deploy", NICO_READY_TIMEOUT = local.cluster.ready_timeout_seconds, NICO_ROLLBACK = local.cluster.rollback, NICO_LABELS = join("\n", [for k, v in local.deploy_nodes[each.key].labels : "${k}=${v}"]), NICO_TAINTS = join("\n", local.deploy_nodes[each.key].taints), NICO_INSTALL_ID = try(terraform_data.install[each.key].input.installs, false) == true ? try(terraform_data.install[each.key].id, "") : "", NICO_INSTALL_GENERATION = local.deploy_nodes[each.key].install_generation, NICO_PRE_INSTALL_KEY = local.deploy_nodes[each.key].host_key == null ? "" : local.deploy_nodes[each.key].host_key, NICO_MODULE_ADDRESS = local.module_address }, local.flake_payload, local.secrets_payload[local.deploy_nodes[each.key].role == "worker" ? "worker" : "control_plane"])
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
    condition     = !local.deploy || alltrue([for name, key in local.node_host_keys : key != null || lookup(local.gone_names, name, null) != null])
    error_message = "Trust on first use: node(s) ${join(", ", sort([for name, key in local.node_host_keys : name if key == null && lookup(local.gone_names, name, null) == null]))} have no host_key and are not installed by Terraform: every connection to them accepts whatever host key answers at their address, and sends them the secrets. Pin each with host_key (its /etc/ssh/ssh_host_ed25519_key.pub, compared out of band), or let Terraform install it (install)."
  }
}
