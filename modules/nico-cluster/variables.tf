# Generated from constructs/ by `npm run modules`. Do not edit: change the constructs and regenerate.

variable "agent_extra_flags" {
  description = "Extra k3s flags for workers, after the flake's own (--node-ip); each starts with \"--\"."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for f in var.agent_extra_flags : can(regex("^--[^\\r\\n]+$", f))])
    error_message = "Every agent_extra_flags entry must be a k3s flag starting with \"--\" (value included, e.g. \"--cluster-cidr=10.42.0.0/16\"), on one line."
  }

  validation {
    condition     = alltrue([for f in var.agent_extra_flags : !can(regex("^(--data-dir|-d)([= ]|$)", f))])
    error_message = "No agent_extra_flags entry may set --data-dir (or -d): nico-cluster delivers the cluster's CAs to k3s's default data dir, /var/lib/rancher/k3s."
  }
}

variable "control_plane" {
  description = "Control-plane nodes, 1 to 7; the first initialises the cluster and the others join one at a time. Each node: `name` (RFC 1123 label, unique, not \"minimal\"), `ip` (IPv4 in the node subnet), optional `ssh_host` and `ssh_port` (where Terraform connects; default: ip and 22), `disk` (disko target; default /dev/sda), `host_key` (pins the node's SSH host key), `labels` (Kubernetes labels, `--node-label`), `taints` (\"key=value:Effect\", `--node-taint`) `gone` (the machine is gone for good: remove it from the cluster without SSH), `install` (install NixOS on it first, wiping its disk; default: var.install) and `install_generation` (raise it to reinstall that node)."
  type        = any

  validation {
    condition     = try([for ns in [concat(var.control_plane, [])] : (alltrue([for n in ns : n.name != null && n.ip != null]) && (length(ns) == 0 || can(regex("^(name|ip|ssh_host|ssh_port|disk|host_key|labels|taints|gone|install|install_generation)(\n(name|ip|ssh_host|ssh_port|disk|host_key|labels|taints|gone|install|install_generation))*$", join("\n", flatten([for n in ns : keys(n)])))))) && (length(ns) == 0 || can(regex("^(?:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\n(?:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?))*$", join("\n", [for n in ns : n.name])))) && (!contains([for n in ns : n.name], "minimal")) && (length(ns) == 0 || can(regex("^(?:((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))(\n(?:((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])))*$", join("\n", [for n in ns : n.ip])))) && alltrue([for n in ns : (try(n.ssh_host, null) == null || try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false)) && (try(n.ssh_host, null) == null || try(!can(regex("^(0[xX][0-9A-Fa-f]*|[0-9]+)([.](0[xX][0-9A-Fa-f]*|[0-9]+)){0,3}$", n.ssh_host)) || can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ssh_host)), false)) && (try(n.ssh_port, null) == null || try(can(regex("^[1-9][0-9]{0,4}$", tostring(n.ssh_port))) && tonumber(n.ssh_port) <= 65535, false)) && (try(n.disk, null) == null || try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false)) && (try(n.host_key, null) == null || try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false)) && (try(n.labels, null) == null || try(alltrue([for k, v in n.labels : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))]), false)) && (try(n.labels, null) == null || try(alltrue([for k, v in n.labels : !can(regex("^([^/]*\\.)?(kubernetes|k8s)\\.io/", k)) || can(regex("^([^/]*\\.)?(kubelet|node)\\.kubernetes\\.io/", k)) || contains(["kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/region", "topology.kubernetes.io/zone"], k)]), false)) && (try(n.taints, null) == null || try(alltrue([for t in n.taints : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?(=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)?:(NoSchedule|PreferNoSchedule|NoExecute)$", t))]), false)) && (try(n.install, null) == null || try(n.install == true || n.install == false, false)) && (try(n.install_generation, null) == null || try(tonumber(n.install_generation) >= 1 && floor(tonumber(n.install_generation)) == tonumber(n.install_generation), false)) && (try(n.gone, null) == null || try(n.gone == true || n.gone == false, false)) if length(n) > 2])][0], false)
    error_message = try([for ns in [concat(var.control_plane, [])] : join("", [for x in(try((alltrue([for n in ns : n.name != null && n.ip != null]) && (length(ns) == 0 || can(regex("^(name|ip|ssh_host|ssh_port|disk|host_key|labels|taints|gone|install|install_generation)(\n(name|ip|ssh_host|ssh_port|disk|host_key|labels|taints|gone|install|install_generation))*$", join("\n", flatten([for n in ns : keys(n)])))))) && (length(ns) == 0 || can(regex("^(?:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\n(?:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?))*$", join("\n", [for n in ns : n.name])))) && (!contains([for n in ns : n.name], "minimal")) && (length(ns) == 0 || can(regex("^(?:((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))(\n(?:((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])))*$", join("\n", [for n in ns : n.ip])))) && alltrue([for n in ns : (try(n.ssh_host, null) == null || try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false)) && (try(n.ssh_host, null) == null || try(!can(regex("^(0[xX][0-9A-Fa-f]*|[0-9]+)([.](0[xX][0-9A-Fa-f]*|[0-9]+)){0,3}$", n.ssh_host)) || can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ssh_host)), false)) && (try(n.ssh_port, null) == null || try(can(regex("^[1-9][0-9]{0,4}$", tostring(n.ssh_port))) && tonumber(n.ssh_port) <= 65535, false)) && (try(n.disk, null) == null || try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false)) && (try(n.host_key, null) == null || try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false)) && (try(n.labels, null) == null || try(alltrue([for k, v in n.labels : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))]), false)) && (try(n.labels, null) == null || try(alltrue([for k, v in n.labels : !can(regex("^([^/]*\\.)?(kubernetes|k8s)\\.io/", k)) || can(regex("^([^/]*\\.)?(kubelet|node)\\.kubernetes\\.io/", k)) || contains(["kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/region", "topology.kubernetes.io/zone"], k)]), false)) && (try(n.taints, null) == null || try(alltrue([for t in n.taints : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?(=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)?:(NoSchedule|PreferNoSchedule|NoExecute)$", t))]), false)) && (try(n.install, null) == null || try(n.install == true || n.install == false, false)) && (try(n.install_generation, null) == null || try(tonumber(n.install_generation) >= 1 && floor(tonumber(n.install_generation)) == tonumber(n.install_generation), false)) && (try(n.gone, null) == null || try(n.gone == true || n.gone == false, false)) if length(n) > 2]), false) ? [] : [1]) : [for bad in [[for i, n in ns : { n = n, name = "control_plane[${i}]" } if !(try(can(keys(n)) && length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"])) == 0 && n.name != null && n.ip != null, false) && (try(n.name, null) == null || try(can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", n.name)), false)) && (try(n.name, null) == null || try(n.name != "minimal", false)) && (try(n.ip, null) == null || try(can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ip)), false)) && (try(n.ssh_host, null) == null || try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false)) && (try(n.ssh_host, null) == null || try(!can(regex("^(0[xX][0-9A-Fa-f]*|[0-9]+)([.](0[xX][0-9A-Fa-f]*|[0-9]+)){0,3}$", n.ssh_host)) || can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ssh_host)), false)) && (try(n.ssh_port, null) == null || try(can(regex("^[1-9][0-9]{0,4}$", tostring(n.ssh_port))) && tonumber(n.ssh_port) <= 65535, false)) && (try(n.disk, null) == null || try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false)) && (try(n.host_key, null) == null || try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false)) && (try(n.labels, null) == null || try(alltrue([for k, v in n.labels : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))]), false)) && (try(n.labels, null) == null || try(alltrue([for k, v in n.labels : !can(regex("^([^/]*\\.)?(kubernetes|k8s)\\.io/", k)) || can(regex("^([^/]*\\.)?(kubelet|node)\\.kubernetes\\.io/", k)) || contains(["kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/region", "topology.kubernetes.io/zone"], k)]), false)) && (try(n.taints, null) == null || try(alltrue([for t in n.taints : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?(=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)?:(NoSchedule|PreferNoSchedule|NoExecute)$", t))]), false)) && (try(n.install, null) == null || try(n.install == true || n.install == false, false)) && (try(n.install_generation, null) == null || try(tonumber(n.install_generation) >= 1 && floor(tonumber(n.install_generation)) == tonumber(n.install_generation), false)) && (try(n.gone, null) == null || try(n.gone == true || n.gone == false, false)))]] : join(" ", compact([[for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}${try(length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"])) > 0 ? " (unknown: ${join(", ", setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"]))})" : "", "")}" if !(try(can(keys(n)) && length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"])) == 0 && n.name != null && n.ip != null, false))]])] : length(wrong) > 0 ? "${"The control_plane list must hold node objects, each with name and ip and no attributes other than name, ip, ssh_host, ssh_port, disk, host_key, labels, taints, gone, install, install_generation."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.name, null) == null || try(can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", n.name)), false)))]])] : length(wrong) > 0 ? "${"Every control_plane node name must be an RFC 1123 label: 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.name, null) == null || try(n.name != "minimal", false)))]])] : length(wrong) > 0 ? "${"No control_plane node may be named \"minimal\": that name is reserved for the cleanup configuration."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.ip, null) == null || try(can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ip)), false)))]])] : length(wrong) > 0 ? "${"Every control_plane node ip must be an IPv4 address in dotted-quad form, such as 192.168.1.101."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.ssh_host, null) == null || try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false)))]])] : length(wrong) > 0 ? "${"Every control_plane node ssh_host must be a host name or address of at most 253 letters, digits, \".\", \"_\", \":\" or \"-\", not starting with \"-\" or \".\"."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.ssh_host, null) == null || try(!can(regex("^(0[xX][0-9A-Fa-f]*|[0-9]+)([.](0[xX][0-9A-Fa-f]*|[0-9]+)){0,3}$", n.ssh_host)) || can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ssh_host)), false)))]])] : length(wrong) > 0 ? "${"Every control_plane node ssh_host made only of numbers (which ssh reads as an IPv4 address, octal and hexadecimal parts included) must be an IPv4 address in dotted-quad form without leading zeros, such as 192.168.1.101."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.ssh_port, null) == null || try(can(regex("^[1-9][0-9]{0,4}$", tostring(n.ssh_port))) && tonumber(n.ssh_port) <= 65535, false)))]])] : length(wrong) > 0 ? "${"Every control_plane node ssh_port must be a whole number from 1 to 65535."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.disk, null) == null || try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false)))]])] : length(wrong) > 0 ? "${"Every control_plane node disk must be an absolute device path such as /dev/sda."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.host_key, null) == null || try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false)))]])] : length(wrong) > 0 ? "${"Every control_plane node host_key must be an SSH public key line such as \"ssh-ed25519 AAAA...\", with an optional comment without control characters."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.labels, null) == null || try(alltrue([for k, v in n.labels : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))]), false)))]])] : length(wrong) > 0 ? "${"Every control_plane node label must follow Kubernetes label syntax: a key of an optional DNS-subdomain prefix and \"/\" and a name of 1-63 letters, digits, \"-\", \"_\" or \".\", starting and ending with a letter or digit; a value of the same form as the name, or empty."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.labels, null) == null || try(alltrue([for k, v in n.labels : !can(regex("^([^/]*\\.)?(kubernetes|k8s)\\.io/", k)) || can(regex("^([^/]*\\.)?(kubelet|node)\\.kubernetes\\.io/", k)) || contains(["kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/region", "topology.kubernetes.io/zone"], k)]), false)))]])] : length(wrong) > 0 ? "${"No control_plane node label may use the kubernetes.io or k8s.io namespaces except node.kubernetes.io/..., kubelet.kubernetes.io/... and the well-known labels kubelet allows: kubelet refuses to start with them (label such nodes through the API instead)."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.taints, null) == null || try(alltrue([for t in n.taints : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?(=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)?:(NoSchedule|PreferNoSchedule|NoExecute)$", t))]), false)))]])] : length(wrong) > 0 ? "${"Every control_plane node taint must be \"key=value:Effect\" or \"key:Effect\", with a Kubernetes label key and value and Effect NoSchedule, PreferNoSchedule or NoExecute."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.install, null) == null || try(n.install == true || n.install == false, false)))]])] : length(wrong) > 0 ? "${"Every control_plane node install must be true or false."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.install_generation, null) == null || try(tonumber(n.install_generation) >= 1 && floor(tonumber(n.install_generation)) == tonumber(n.install_generation), false)))]])] : length(wrong) > 0 ? "${"Every control_plane node install_generation must be a whole number from 1 up."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.gone, null) == null || try(n.gone == true || n.gone == false, false)))]])] : length(wrong) > 0 ? "${"Every control_plane node gone must be true or false."} Wrong: ${join(", ", wrong)}." : ""][0]]))][0]])][0], "The control_plane list must hold node objects, each with name and ip and no attributes other than name, ip, ssh_host, ssh_port, disk, host_key, labels, taints, gone, install, install_generation. Wrong: control_plane is not a list.")
  }

  validation {
    condition     = !can(concat(var.control_plane, [])) || (length(var.control_plane) >= 1 && length(var.control_plane) <= 7)
    error_message = "The control_plane list must hold 1 to 7 nodes (etcd advises at most 7 members)."
  }

  validation {
    condition     = try(length([for n in var.control_plane : n if !try(n.gone, false)]) >= floor(length(var.control_plane) / 2) + 1, true)
    error_message = "At most a minority of the control_plane nodes may be marked gone at once: etcd needs a quorum of the others to remove them."
  }
}

variable "control_plane_modules" {
  description = "Like nixos_modules, for control-plane nodes only (extra-modules/control-plane/)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.control_plane_modules : can(regex("^[A-Za-z0-9._+-]+$", basename(p))) && try(endswith(p, ".nix") ? fileexists(p) : fileexists("${p}/default.nix"), false)])
    error_message = "Every control_plane_modules entry must be the path of an existing .nix file or of a directory holding a default.nix, its last name made of letters, digits, \".\", \"_\", \"+\" or \"-\"."
  }
}

variable "deploy" {
  description = "Deploy the nodes over SSH. When false, only keys, token and flake tree are produced."
  type        = bool
  default     = false
  nullable    = false
}

variable "disable_components" {
  description = "Packaged k3s components the control-plane nodes do not deploy (--disable): any of coredns, servicelb, traefik, local-storage, metrics-server, runtimes."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for c in var.disable_components : contains(["coredns", "servicelb", "traefik", "local-storage", "metrics-server", "runtimes"], c)])
    error_message = "Every disable_components entry must be a packaged k3s component: coredns, servicelb, traefik, local-storage, metrics-server, runtimes."
  }
}

variable "drain_timeout_seconds" {
  description = "Seconds draining a node that leaves the cluster may take; after it the node is deleted anyway."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.drain_timeout_seconds >= 1 && var.drain_timeout_seconds <= 86400 && floor(var.drain_timeout_seconds) == var.drain_timeout_seconds
    error_message = "The drain_timeout_seconds must be a whole number of seconds from 1 to 86400."
  }
}

variable "etcd_s3_secret_access_key" {
  description = "Secret access key for etcd_snapshots.s3, e.g. `file(\"etcd-s3-secret\")`. It reaches the servers only through the secrets channel, as AWS_SECRET_ACCESS_KEY in a root-only environment file of the k3s unit: never a flag or the Nix store. Set it together with etcd_snapshots.s3.access_key_id."
  type        = string
  default     = null
  nullable    = true
  sensitive   = true

  validation {
    condition     = var.etcd_s3_secret_access_key == null || can(regex("^[!#%&(-\\[\\]-_a-~]{1,256}$", trimspace(var.etcd_s3_secret_access_key)))
    error_message = "The etcd_s3_secret_access_key must be the secret access key alone: 1 to 256 printable ASCII characters without spaces, quotes, backslashes, \"$\" or \"`\"."
  }
}

variable "etcd_snapshots" {
  description = "etcd snapshots of the control plane. Unset settings keep k3s's defaults and add no flag: `schedule_cron` (--etcd-snapshot-schedule-cron, default \"0 */12 * * *\"), `retention` (--etcd-snapshot-retention, default 5), `dir` (--etcd-snapshot-dir, default /var/lib/rancher/k3s/server/db/snapshots; created root-only). `before_changes` (default true): one `k3s etcd-snapshot save` on a healthy server before an apply changes a running control-plane node; a failed snapshot stops the apply. `s3` copies every snapshot to a bucket: `bucket`, `endpoint` (host[:port], default s3.amazonaws.com), `region` (default us-east-1), `folder`, `endpoint_ca` (PEM text, e.g. file(\"s3-ca.pem\")) and `access_key_id` (with etcd_s3_secret_access_key)."
  type        = any
  default     = {}
  nullable    = false

  validation {
    condition     = try(length(setsubtract(keys(var.etcd_snapshots), ["schedule_cron", "retention", "dir", "before_changes", "s3"])) == 0 && can(tobool(try(var.etcd_snapshots.before_changes, true))) && length(setsubtract(try(keys(var.etcd_snapshots.s3), []), ["bucket", "endpoint", "region", "folder", "endpoint_ca", "access_key_id"])) == 0 && (try(var.etcd_snapshots.s3, null) == null || try(var.etcd_snapshots.s3.bucket, null) != null), false)
    error_message = "The etcd_snapshots must be an object of schedule_cron, retention, dir, before_changes (true or false) and s3 = { bucket (required), endpoint, region, folder, endpoint_ca, access_key_id }, with no other attribute.${try(length(concat(sort(setsubtract(keys(var.etcd_snapshots), ["schedule_cron", "retention", "dir", "before_changes", "s3"])), [for k in try(sort(setsubtract(keys(var.etcd_snapshots.s3), ["bucket", "endpoint", "region", "folder", "endpoint_ca", "access_key_id"])), []) : "s3.${k}"])) > 0 ? " Unknown: ${join(", ", concat(sort(setsubtract(keys(var.etcd_snapshots), ["schedule_cron", "retention", "dir", "before_changes", "s3"])), [for k in try(sort(setsubtract(keys(var.etcd_snapshots.s3), ["bucket", "endpoint", "region", "folder", "endpoint_ca", "access_key_id"])), []) : "s3.${k}"]))}." : "", "")}"
  }

  validation {
    condition     = try(var.etcd_snapshots.schedule_cron == null, true) || try(can(regex("^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every ([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+|[0-9A-Za-z*/,?-]+( [0-9A-Za-z*/,?-]+){4})$", var.etcd_snapshots.schedule_cron)), false)
    error_message = "The etcd_snapshots.schedule_cron must be a cron spec of five fields (such as \"0 */12 * * *\") or a descriptor such as \"@daily\" or \"@every 6h\", without quotes, \"$\" or \"%\"."
  }

  validation {
    condition     = try(var.etcd_snapshots.retention == null, true) || try(var.etcd_snapshots.retention >= 1 && var.etcd_snapshots.retention <= 1000 && floor(var.etcd_snapshots.retention) == var.etcd_snapshots.retention, false)
    error_message = "The etcd_snapshots.retention must be a whole number of snapshots from 1 to 1000."
  }

  validation {
    condition     = try(var.etcd_snapshots.dir == null, true) || try(can(regex("^(/([A-Za-z0-9_+:-][A-Za-z0-9._+:-]*|\\.[A-Za-z0-9_+:-][A-Za-z0-9._+:-]*|\\.\\.[A-Za-z0-9._+:-]+)){2,}$", var.etcd_snapshots.dir)), false)
    error_message = "The etcd_snapshots.dir must be an absolute directory of at least two components of letters, digits and \". _ + : -\", without \".\" or \"..\" components or a trailing \"/\", such as /var/lib/etcd-snapshots."
  }

  validation {
    condition     = try(var.etcd_snapshots.s3.bucket == null, true) || try(can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.etcd_snapshots.s3.bucket)), false)
    error_message = "The etcd_snapshots.s3.bucket must be an S3 bucket name: 3 to 63 lowercase letters, digits, \".\" or \"-\", starting and ending with a letter or digit."
  }

  validation {
    condition     = try(var.etcd_snapshots.s3.endpoint == null, true) || try(can(regex("^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?$", var.etcd_snapshots.s3.endpoint)), false)
    error_message = "The etcd_snapshots.s3.endpoint must be a host name or address with an optional \":port\", without a scheme or path, such as s3.eu-central-1.amazonaws.com or minio.example.com:9000."
  }

  validation {
    condition     = try(var.etcd_snapshots.s3.region == null, true) || try(can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", var.etcd_snapshots.s3.region)), false)
    error_message = "The etcd_snapshots.s3.region must be a region name of 1 to 64 letters, digits, \"_\" or \"-\", such as eu-central-1."
  }

  validation {
    condition     = try(var.etcd_snapshots.s3.folder == null, true) || try(can(regex("^([A-Za-z0-9_-][A-Za-z0-9_.-]*|\\.[A-Za-z0-9_-][A-Za-z0-9_.-]*|\\.\\.[A-Za-z0-9_.-]+)(/([A-Za-z0-9_-][A-Za-z0-9_.-]*|\\.[A-Za-z0-9_-][A-Za-z0-9_.-]*|\\.\\.[A-Za-z0-9_.-]+)){0,31}$", var.etcd_snapshots.s3.folder)), false)
    error_message = "The etcd_snapshots.s3.folder must be a key prefix such as prod/etcd: up to 32 \"/\"-separated names of letters, digits, \"_\", \".\" or \"-\", without a leading or trailing \"/\" and without \".\" or \"..\" names."
  }

  validation {
    condition     = try(var.etcd_snapshots.s3.endpoint_ca == null, true) || try(can(regex("^\\s*-----BEGIN CERTIFICATE-----[\\s\\S]+-----END CERTIFICATE-----\\s*$", var.etcd_snapshots.s3.endpoint_ca)), false)
    error_message = "The etcd_snapshots.s3.endpoint_ca must be the text of a PEM certificate (-----BEGIN CERTIFICATE----- ...), e.g. file(\"s3-ca.pem\")."
  }

  validation {
    condition     = try(var.etcd_snapshots.s3.access_key_id == null, true) || try(can(regex("^[A-Za-z0-9+/=._~-]{1,128}$", var.etcd_snapshots.s3.access_key_id)), false)
    error_message = "The etcd_snapshots.s3.access_key_id must be an access key id of 1 to 128 letters, digits or \"+ / = . _ ~ -\"."
  }
}

variable "flake_lock" {
  description = "Contents of a flake.lock to copy into the tree, e.g. `file(\"flake.lock\")`, so every node builds from the same inputs. Null writes none."
  type        = string
  default     = null
  nullable    = true
}

variable "gateway" {
  description = "Default gateway of the nodes, inside the node subnet."
  type        = string
  default     = "192.168.1.1"
  nullable    = false

  validation {
    condition     = can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", var.gateway))
    error_message = "The gateway must be an IPv4 address in dotted-quad form, such as 192.168.1.1."
  }
}

variable "install" {
  description = "Install NixOS with nixos-anywhere, WIPING THE DISK, on every node before its first deploy (a node's own `install` overrides it). Needs Nix with flakes where Terraform runs. Each installed node gets an SSH host key made by Terraform, pinned on every later connection."
  type        = bool
  default     = false
  nullable    = false
}

variable "interface" {
  description = "Network interface that carries the static address and the VIP."
  type        = string
  default     = "eth0"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,15}$", var.interface)) && !contains([".", ".."], var.interface)
    error_message = "The interface must be a Linux interface name of 1 to 15 letters, digits, \".\", \"_\" or \"-\", such as eth0, other than \".\" and \"..\"."
  }
}

variable "kexec_url" {
  description = "Where installs get the NixOS kexec installer tarball: an http(s) URL the machine downloads (a mirror), or an absolute path on the machine that runs Terraform, uploaded over SSH (air-gapped sites); ending in .tar, .tar.gz, .tar.xz or .tar.zst. Null: nixos-anywhere's default (GitHub)."
  type        = string
  default     = null
  nullable    = true

  validation {
    condition     = var.kexec_url == null || can(regex("^(https?://[^ \"'\\\\$${}`\\x00-\\x1f\\x7f]+|/[A-Za-z0-9._/+:-]+)\\.tar(\\.gz|\\.xz|\\.zst)?$", var.kexec_url))
    error_message = "The kexec_url must be an http(s) URL or an absolute path ending in .tar, .tar.gz, .tar.xz or .tar.zst, without spaces, quotes, backslashes, \"$\" or braces."
  }
}

variable "max_unavailable" {
  description = "How many workers a redeploy may take out of service at once (each is cordoned, drained, switched, seen ready, uncordoned). Control-plane nodes always go one at a time; new workers all together."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.max_unavailable >= 1 && var.max_unavailable <= 1000 && floor(var.max_unavailable) == var.max_unavailable
    error_message = "The max_unavailable must be a whole number of workers from 1 to 1000."
  }
}

variable "minimal_modules" {
  description = "Like nixos_modules, for #minimal only (extra-modules/minimal/): what a machine needs to boot and be reached; installs put #minimal on machines."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.minimal_modules : can(regex("^[A-Za-z0-9._+-]+$", basename(p))) && try(endswith(p, ".nix") ? fileexists(p) : fileexists("${p}/default.nix"), false)])
    error_message = "Every minimal_modules entry must be the path of an existing .nix file or of a directory holding a default.nix, its last name made of letters, digits, \".\", \"_\", \"+\" or \"-\"."
  }
}

variable "module_address" {
  description = "Address of this module call as Terraform names it (e.g. `module.cluster`), only for the commands error messages name (`terraform apply -replace=...`). Null: they say `module.<name>`."
  type        = string
  default     = null
  nullable    = true
}

variable "name" {
  description = "Cluster name: an RFC 1123 label of 1-63 characters. Also seeds the keepalived VRRP password."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.name))
    error_message = "The cluster name must be an RFC 1123 label: 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit."
  }
}

variable "nameservers" {
  description = "DNS servers of the nodes."
  type        = list(string)
  default     = ["8.8.8.8"]
  nullable    = false

  validation {
    condition     = length(var.nameservers) >= 1 && alltrue([for s in var.nameservers : can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", s))])
    error_message = "The nameservers list must hold at least one IPv4 address, each in dotted-quad form."
  }
}

variable "nixos_modules" {
  description = "Paths of your own NixOS modules for every k3s node (not for minimal): .nix files or directories holding a default.nix, e.g. \"nix/monitoring.nix\" (relative to the directory Terraform runs in). Copied into the tree (extra-modules/all/) and imported."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.nixos_modules : can(regex("^[A-Za-z0-9._+-]+$", basename(p))) && try(endswith(p, ".nix") ? fileexists(p) : fileexists("${p}/default.nix"), false)])
    error_message = "Every nixos_modules entry must be the path of an existing .nix file or of a directory holding a default.nix, its last name made of letters, digits, \".\", \"_\", \"+\" or \"-\"."
  }
}

variable "nixpkgs" {
  description = "nixpkgs flake reference all nodes build from; pin a revision so that nodes added later run the same system. NixOS 24.11 through 26.05 and unstable; 24.05 and older are refused."
  type        = string
  default     = "github:NixOS/nixpkgs/nixos-26.05"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9+.-]*:[^ \"'\\\\$${}`\\x00-\\x1f\\x7f]+$", var.nixpkgs))
    error_message = "The nixpkgs value must be a flake reference such as github:NixOS/nixpkgs/nixos-26.05, without spaces, quotes, backslashes, \"$\" or braces."
  }

  validation {
    condition     = !can(regex("(^|[^A-Za-z0-9])(nixos|nixpkgs|release)-((0[0-9]|1[0-9]|2[0-3])\\.[0-9]{2}|24\\.0[0-5])([^0-9]|$)", var.nixpkgs))
    error_message = "The nixpkgs value names NixOS 24.05 or older, which the flake cannot build: the disko it pins needs the nixpkgs lib of 24.11 or newer. Use nixos-24.11 through nixos-26.05 or nixos-unstable."
  }
}

variable "output_dir" {
  description = "Local directory for the flake tree (`<output_dir>/nix`) and the kubeconfig. Null means `<root module>/out/<name>`."
  type        = string
  default     = null
  nullable    = true
}

variable "prefix_length" {
  description = "Prefix length of the node subnet; node IPs, the VIP and the gateway lie in it."
  type        = number
  default     = 24
  nullable    = false

  validation {
    condition     = var.prefix_length >= 1 && var.prefix_length <= 30 && floor(var.prefix_length) == var.prefix_length
    error_message = "The prefix_length must be a whole number from 1 to 30, so that the subnet has room for nodes and a VIP."
  }
}

variable "ready_timeout_seconds" {
  description = "Seconds a node may take to become ready after nixos-rebuild switch before the apply fails."
  type        = number
  default     = 900
  nullable    = false

  validation {
    condition     = var.ready_timeout_seconds >= 1 && var.ready_timeout_seconds <= 86400 && floor(var.ready_timeout_seconds) == var.ready_timeout_seconds
    error_message = "The ready_timeout_seconds must be a whole number of seconds from 1 to 86400."
  }
}

variable "remote_flake_dir" {
  description = "Root-only directory on each node that receives the flake tree."
  type        = string
  default     = "/etc/nico/flake"
  nullable    = false

  validation {
    condition     = can(regex("^(/([A-Za-z0-9_+:-][A-Za-z0-9._+:-]*|\\.[A-Za-z0-9_+:-][A-Za-z0-9._+:-]*|\\.\\.[A-Za-z0-9._+:-]+)){2,}$", var.remote_flake_dir)) && !can(regex("^/((nix|usr|bin|sbin|lib|lib32|lib64|libx32|boot|dev|proc|sys|run|tmp|var/tmp|var/run|var/lock|etc/ssh|etc/nixos|etc/nix|etc/static|etc/ssl|etc/pam\\.d|etc/systemd|etc/rancher|var/lib/rancher|var/lib/nixos|var/lib/systemd)(/.*)?|(var/lib|var/log|var/cache|var/db|var/empty|var/spool|var/mail|home/[^/]+|root/\\.[^/]+))$", var.remote_flake_dir))
    error_message = "The remote_flake_dir must be a dedicated directory such as /etc/nico/flake: an absolute path of at least two components of letters, digits and \". _ + : -\", without \".\" or \"..\" components or a trailing \"/\", and not a system directory (/nix, /usr, /boot, /etc/ssh, /var/lib, a home directory and the like)."
  }
}

variable "restore" {
  description = "Restore the cluster from an etcd snapshot: `{ snapshot = \"<name as k3s etcd-snapshot ls prints it>\", generation = <whole number> }`. Raising the generation restores the snapshot once: k3s resets the cluster from it on the init node (from the snapshot directory of a control-plane node, else from etcd_snapshots.s3), then every other control-plane node rejoins with empty etcd data and the workers reconnect. EVERYTHING WRITTEN TO THE CLUSTER AFTER THE SNAPSHOT IS LOST. Lowering the generation, removing it, or setting it on the apply that creates the cluster restores nothing. Null: no restore."
  type        = any
  default     = null
  nullable    = true

  validation {
    condition     = var.restore == null || try(length(setsubtract(keys(var.restore), ["snapshot", "generation"])) == 0 && length(setintersection(keys(var.restore), ["snapshot", "generation"])) == 2 && alltrue([for k, v in var.restore : v != null]), false)
    error_message = "The restore must be an object { snapshot = \"<snapshot name>\", generation = <whole number> }, both set, with no other attribute.${try(length(setsubtract(keys(var.restore), ["snapshot", "generation"])) > 0 ? " Unknown: ${join(", ", sort(setsubtract(keys(var.restore), ["snapshot", "generation"])))}." : "", "")}"
  }

  validation {
    condition     = try(var.restore.snapshot == null, true) || try(can(regex("^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$", var.restore.snapshot)), false)
    error_message = "The restore.snapshot must be the name of an etcd snapshot as `k3s etcd-snapshot ls` prints it (such as pre-apply-20261206-041502-cp-01-1796530502): 1 to 255 letters, digits, \".\", \"_\", \"+\" or \"-\", starting with a letter or digit.${try(" Got: \"${try(substr(tostring(var.restore.snapshot), 0, 40), "(not a string)")}\".", "")}"
  }

  validation {
    condition     = try(var.restore.generation == null, true) || try(var.restore.generation >= 1 && var.restore.generation <= 1000000000 && floor(var.restore.generation) == var.restore.generation, false)
    error_message = "The restore.generation must be a whole number from 1 to 1000000000: raise it to restore the snapshot."
  }
}

variable "rollback" {
  description = "Roll a node back to its previous system generation when it is not ready in time after a switch, or when the new system cuts SSH off (a timer on the node)."
  type        = bool
  default     = true
  nullable    = false
}

variable "server_extra_flags" {
  description = "Extra k3s flags for control-plane nodes, after the flake's own (--node-ip, --tls-san); each starts with \"--\"."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for f in var.server_extra_flags : can(regex("^--[^\\r\\n]+$", f))])
    error_message = "Every server_extra_flags entry must be a k3s flag starting with \"--\" (value included, e.g. \"--cluster-cidr=10.42.0.0/16\"), on one line."
  }

  validation {
    condition     = alltrue([for f in var.server_extra_flags : !can(regex("^(--data-dir|-d)([= ]|$)", f))])
    error_message = "No server_extra_flags entry may set --data-dir (or -d): nico-cluster delivers the cluster's CAs to k3s's default data dir, /var/lib/rancher/k3s."
  }
}

variable "ssh_connect_timeout_seconds" {
  description = "Seconds one SSH connection to a node may take to be established; an unreachable node fails the apply after this."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.ssh_connect_timeout_seconds >= 1 && var.ssh_connect_timeout_seconds <= 600 && floor(var.ssh_connect_timeout_seconds) == var.ssh_connect_timeout_seconds
    error_message = "The ssh_connect_timeout_seconds must be a whole number of seconds from 1 to 600."
  }
}

variable "ssh_private_key" {
  description = "Existing ED25519 private key (OpenSSH or PEM, no passphrase) to use as the machine key, e.g. `file(\"machine-key\")`. Null generates one."
  type        = string
  default     = null
  nullable    = true
  sensitive   = true

  validation {
    condition     = var.ssh_private_key == null || can(regex("^-----BEGINOPENSSHPRIVATEKEY-----b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQAA[A-Za-z0-9+/]+={0,2}-----ENDOPENSSHPRIVATEKEY-----$", replace(var.ssh_private_key, "/\\s/", ""))) || can(regex("^-----BEGINPRIVATEKEY-----MC4CAQAwBQYDK2VwBCIE[A-Za-z0-9+/]{44}-----ENDPRIVATEKEY-----$", replace(var.ssh_private_key, "/\\s/", "")))
    error_message = "The ssh_private_key must be an ED25519 private key without a passphrase, in OpenSSH form (\"-----BEGIN OPENSSH PRIVATE KEY-----\") or PEM (PKCS #8, \"-----BEGIN PRIVATE KEY-----\"), e.g. file(\"machine-key\"); null generates one."
  }
}

variable "ssh_user" {
  description = "User Terraform connects as over SSH; it must be able to run nixos-rebuild."
  type        = string
  default     = "root"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.ssh_user))
    error_message = "The ssh_user must be a Unix user name such as root."
  }
}

variable "vip" {
  description = "Virtual IPv4 address of the Kubernetes API, held by one control-plane node at a time through keepalived."
  type        = string

  validation {
    condition     = can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", var.vip))
    error_message = "The vip must be an IPv4 address in dotted-quad form, such as 192.168.1.100."
  }
}

variable "vrrp_router_id" {
  description = "keepalived virtual router id (VRID), 1-255; unique on the L2 segment."
  type        = number
  default     = 51
  nullable    = false

  validation {
    condition     = var.vrrp_router_id >= 1 && var.vrrp_router_id <= 255 && floor(var.vrrp_router_id) == var.vrrp_router_id
    error_message = "The vrrp_router_id must be a whole number from 1 to 255."
  }
}

variable "worker_modules" {
  description = "Like nixos_modules, for workers only (extra-modules/worker/)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.worker_modules : can(regex("^[A-Za-z0-9._+-]+$", basename(p))) && try(endswith(p, ".nix") ? fileexists(p) : fileexists("${p}/default.nix"), false)])
    error_message = "Every worker_modules entry must be the path of an existing .nix file or of a directory holding a default.nix, its last name made of letters, digits, \".\", \"_\", \"+\" or \"-\"."
  }
}

variable "workers" {
  description = "Worker (agent) nodes; they join in parallel after the control plane. Each node: `name` (RFC 1123 label, unique, not \"minimal\"), `ip` (IPv4 in the node subnet), optional `ssh_host` and `ssh_port` (where Terraform connects; default: ip and 22), `disk` (disko target; default /dev/sda), `host_key` (pins the node's SSH host key), `labels` (Kubernetes labels, `--node-label`), `taints` (\"key=value:Effect\", `--node-taint`) `gone` (the machine is gone for good: remove it from the cluster without SSH), `install` (install NixOS on it first, wiping its disk; default: var.install) and `install_generation` (raise it to reinstall that node)."
  type        = any
  default     = []
  nullable    = false

  validation {
    condition     = try([for ns in [concat(var.workers, [])] : (alltrue([for n in ns : n.name != null && n.ip != null]) && (length(ns) == 0 || can(regex("^(name|ip|ssh_host|ssh_port|disk|host_key|labels|taints|gone|install|install_generation)(\n(name|ip|ssh_host|ssh_port|disk|host_key|labels|taints|gone|install|install_generation))*$", join("\n", flatten([for n in ns : keys(n)])))))) && (length(ns) == 0 || can(regex("^(?:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\n(?:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?))*$", join("\n", [for n in ns : n.name])))) && (!contains([for n in ns : n.name], "minimal")) && (length(ns) == 0 || can(regex("^(?:((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))(\n(?:((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])))*$", join("\n", [for n in ns : n.ip])))) && alltrue([for n in ns : (try(n.ssh_host, null) == null || try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false)) && (try(n.ssh_host, null) == null || try(!can(regex("^(0[xX][0-9A-Fa-f]*|[0-9]+)([.](0[xX][0-9A-Fa-f]*|[0-9]+)){0,3}$", n.ssh_host)) || can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ssh_host)), false)) && (try(n.ssh_port, null) == null || try(can(regex("^[1-9][0-9]{0,4}$", tostring(n.ssh_port))) && tonumber(n.ssh_port) <= 65535, false)) && (try(n.disk, null) == null || try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false)) && (try(n.host_key, null) == null || try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false)) && (try(n.labels, null) == null || try(alltrue([for k, v in n.labels : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))]), false)) && (try(n.labels, null) == null || try(alltrue([for k, v in n.labels : !can(regex("^([^/]*\\.)?(kubernetes|k8s)\\.io/", k)) || can(regex("^([^/]*\\.)?(kubelet|node)\\.kubernetes\\.io/", k)) || contains(["kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/region", "topology.kubernetes.io/zone"], k)]), false)) && (try(n.taints, null) == null || try(alltrue([for t in n.taints : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?(=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)?:(NoSchedule|PreferNoSchedule|NoExecute)$", t))]), false)) && (try(n.install, null) == null || try(n.install == true || n.install == false, false)) && (try(n.install_generation, null) == null || try(tonumber(n.install_generation) >= 1 && floor(tonumber(n.install_generation)) == tonumber(n.install_generation), false)) && (try(n.gone, null) == null || try(n.gone == true || n.gone == false, false)) if length(n) > 2])][0], false)
    error_message = try([for ns in [concat(var.workers, [])] : join("", [for x in(try((alltrue([for n in ns : n.name != null && n.ip != null]) && (length(ns) == 0 || can(regex("^(name|ip|ssh_host|ssh_port|disk|host_key|labels|taints|gone|install|install_generation)(\n(name|ip|ssh_host|ssh_port|disk|host_key|labels|taints|gone|install|install_generation))*$", join("\n", flatten([for n in ns : keys(n)])))))) && (length(ns) == 0 || can(regex("^(?:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\n(?:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?))*$", join("\n", [for n in ns : n.name])))) && (!contains([for n in ns : n.name], "minimal")) && (length(ns) == 0 || can(regex("^(?:((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))(\n(?:((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])))*$", join("\n", [for n in ns : n.ip])))) && alltrue([for n in ns : (try(n.ssh_host, null) == null || try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false)) && (try(n.ssh_host, null) == null || try(!can(regex("^(0[xX][0-9A-Fa-f]*|[0-9]+)([.](0[xX][0-9A-Fa-f]*|[0-9]+)){0,3}$", n.ssh_host)) || can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ssh_host)), false)) && (try(n.ssh_port, null) == null || try(can(regex("^[1-9][0-9]{0,4}$", tostring(n.ssh_port))) && tonumber(n.ssh_port) <= 65535, false)) && (try(n.disk, null) == null || try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false)) && (try(n.host_key, null) == null || try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false)) && (try(n.labels, null) == null || try(alltrue([for k, v in n.labels : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))]), false)) && (try(n.labels, null) == null || try(alltrue([for k, v in n.labels : !can(regex("^([^/]*\\.)?(kubernetes|k8s)\\.io/", k)) || can(regex("^([^/]*\\.)?(kubelet|node)\\.kubernetes\\.io/", k)) || contains(["kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/region", "topology.kubernetes.io/zone"], k)]), false)) && (try(n.taints, null) == null || try(alltrue([for t in n.taints : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?(=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)?:(NoSchedule|PreferNoSchedule|NoExecute)$", t))]), false)) && (try(n.install, null) == null || try(n.install == true || n.install == false, false)) && (try(n.install_generation, null) == null || try(tonumber(n.install_generation) >= 1 && floor(tonumber(n.install_generation)) == tonumber(n.install_generation), false)) && (try(n.gone, null) == null || try(n.gone == true || n.gone == false, false)) if length(n) > 2]), false) ? [] : [1]) : [for bad in [[for i, n in ns : { n = n, name = "workers[${i}]" } if !(try(can(keys(n)) && length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"])) == 0 && n.name != null && n.ip != null, false) && (try(n.name, null) == null || try(can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", n.name)), false)) && (try(n.name, null) == null || try(n.name != "minimal", false)) && (try(n.ip, null) == null || try(can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ip)), false)) && (try(n.ssh_host, null) == null || try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false)) && (try(n.ssh_host, null) == null || try(!can(regex("^(0[xX][0-9A-Fa-f]*|[0-9]+)([.](0[xX][0-9A-Fa-f]*|[0-9]+)){0,3}$", n.ssh_host)) || can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ssh_host)), false)) && (try(n.ssh_port, null) == null || try(can(regex("^[1-9][0-9]{0,4}$", tostring(n.ssh_port))) && tonumber(n.ssh_port) <= 65535, false)) && (try(n.disk, null) == null || try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false)) && (try(n.host_key, null) == null || try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false)) && (try(n.labels, null) == null || try(alltrue([for k, v in n.labels : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))]), false)) && (try(n.labels, null) == null || try(alltrue([for k, v in n.labels : !can(regex("^([^/]*\\.)?(kubernetes|k8s)\\.io/", k)) || can(regex("^([^/]*\\.)?(kubelet|node)\\.kubernetes\\.io/", k)) || contains(["kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/region", "topology.kubernetes.io/zone"], k)]), false)) && (try(n.taints, null) == null || try(alltrue([for t in n.taints : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?(=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)?:(NoSchedule|PreferNoSchedule|NoExecute)$", t))]), false)) && (try(n.install, null) == null || try(n.install == true || n.install == false, false)) && (try(n.install_generation, null) == null || try(tonumber(n.install_generation) >= 1 && floor(tonumber(n.install_generation)) == tonumber(n.install_generation), false)) && (try(n.gone, null) == null || try(n.gone == true || n.gone == false, false)))]] : join(" ", compact([[for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}${try(length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"])) > 0 ? " (unknown: ${join(", ", setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"]))})" : "", "")}" if !(try(can(keys(n)) && length(setsubtract(keys(n), ["name", "ip", "ssh_host", "ssh_port", "disk", "host_key", "labels", "taints", "gone", "install", "install_generation"])) == 0 && n.name != null && n.ip != null, false))]])] : length(wrong) > 0 ? "${"The workers list must hold node objects, each with name and ip and no attributes other than name, ip, ssh_host, ssh_port, disk, host_key, labels, taints, gone, install, install_generation."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.name, null) == null || try(can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", n.name)), false)))]])] : length(wrong) > 0 ? "${"Every workers node name must be an RFC 1123 label: 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.name, null) == null || try(n.name != "minimal", false)))]])] : length(wrong) > 0 ? "${"No workers node may be named \"minimal\": that name is reserved for the cleanup configuration."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.ip, null) == null || try(can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ip)), false)))]])] : length(wrong) > 0 ? "${"Every workers node ip must be an IPv4 address in dotted-quad form, such as 192.168.1.101."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.ssh_host, null) == null || try(can(regex("^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,252}$", n.ssh_host)), false)))]])] : length(wrong) > 0 ? "${"Every workers node ssh_host must be a host name or address of at most 253 letters, digits, \".\", \"_\", \":\" or \"-\", not starting with \"-\" or \".\"."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.ssh_host, null) == null || try(!can(regex("^(0[xX][0-9A-Fa-f]*|[0-9]+)([.](0[xX][0-9A-Fa-f]*|[0-9]+)){0,3}$", n.ssh_host)) || can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", n.ssh_host)), false)))]])] : length(wrong) > 0 ? "${"Every workers node ssh_host made only of numbers (which ssh reads as an IPv4 address, octal and hexadecimal parts included) must be an IPv4 address in dotted-quad form without leading zeros, such as 192.168.1.101."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.ssh_port, null) == null || try(can(regex("^[1-9][0-9]{0,4}$", tostring(n.ssh_port))) && tonumber(n.ssh_port) <= 65535, false)))]])] : length(wrong) > 0 ? "${"Every workers node ssh_port must be a whole number from 1 to 65535."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.disk, null) == null || try(can(regex("^/[A-Za-z0-9._/+:-]+$", n.disk)), false)))]])] : length(wrong) > 0 ? "${"Every workers node disk must be an absolute device path such as /dev/sda."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.host_key, null) == null || try(can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\\x00-\\x1f\\x7f]*)?$", n.host_key)), false)))]])] : length(wrong) > 0 ? "${"Every workers node host_key must be an SSH public key line such as \"ssh-ed25519 AAAA...\", with an optional comment without control characters."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.labels, null) == null || try(alltrue([for k, v in n.labels : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))]), false)))]])] : length(wrong) > 0 ? "${"Every workers node label must follow Kubernetes label syntax: a key of an optional DNS-subdomain prefix and \"/\" and a name of 1-63 letters, digits, \"-\", \"_\" or \".\", starting and ending with a letter or digit; a value of the same form as the name, or empty."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.labels, null) == null || try(alltrue([for k, v in n.labels : !can(regex("^([^/]*\\.)?(kubernetes|k8s)\\.io/", k)) || can(regex("^([^/]*\\.)?(kubelet|node)\\.kubernetes\\.io/", k)) || contains(["kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/region", "topology.kubernetes.io/zone"], k)]), false)))]])] : length(wrong) > 0 ? "${"No workers node label may use the kubernetes.io or k8s.io namespaces except node.kubernetes.io/..., kubelet.kubernetes.io/... and the well-known labels kubelet allows: kubelet refuses to start with them (label such nodes through the API instead)."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.taints, null) == null || try(alltrue([for t in n.taints : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?(=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)?:(NoSchedule|PreferNoSchedule|NoExecute)$", t))]), false)))]])] : length(wrong) > 0 ? "${"Every workers node taint must be \"key=value:Effect\" or \"key:Effect\", with a Kubernetes label key and value and Effect NoSchedule, PreferNoSchedule or NoExecute."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.install, null) == null || try(n.install == true || n.install == false, false)))]])] : length(wrong) > 0 ? "${"Every workers node install must be true or false."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.install_generation, null) == null || try(tonumber(n.install_generation) >= 1 && floor(tonumber(n.install_generation)) == tonumber(n.install_generation), false)))]])] : length(wrong) > 0 ? "${"Every workers node install_generation must be a whole number from 1 up."} Wrong: ${join(", ", wrong)}." : ""][0], [for wrong in [flatten([for b in bad : [for n in [b.n] : "${b.name}" if !((try(n.gone, null) == null || try(n.gone == true || n.gone == false, false)))]])] : length(wrong) > 0 ? "${"Every workers node gone must be true or false."} Wrong: ${join(", ", wrong)}." : ""][0]]))][0]])][0], "The workers list must hold node objects, each with name and ip and no attributes other than name, ip, ssh_host, ssh_port, disk, host_key, labels, taints, gone, install, install_generation. Wrong: workers is not a list.")
  }
}

variable "write_local_tree" {
  description = "Write the flake tree and its secrets to `<output_dir>/nix`. Turn it off on ephemeral runners (HCP Terraform, CI): deployment does not need it, and a fresh runner then plans no change."
  type        = bool
  default     = true
  nullable    = false
}
