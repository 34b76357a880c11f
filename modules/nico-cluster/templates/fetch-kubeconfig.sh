#!/bin/sh
# Reads the init master's kubeconfig over SSH and points it at the VIP, so that it keeps working
# whichever control-plane node holds the VIP. Run by Terraform (local-exec) with these variables:
# SSH_HOST SSH_PORT SSH_USER KEY_FILE HOST_KEY (may be empty) VIP OUT.
set -eu
umask 077

known_hosts=$(mktemp)
trap 'rm -f "$known_hosts" "$OUT.part"' EXIT
if [ -n "$HOST_KEY" ]; then
  # ssh names non-default ports as [host]:port in known_hosts.
  if [ "$SSH_PORT" = 22 ]; then entry=$SSH_HOST; else entry="[$SSH_HOST]:$SSH_PORT"; fi
  printf '%s %s\n' "$entry" "$HOST_KEY" >"$known_hosts"
  checking=yes
else
  checking=no
fi

ssh -i "$KEY_FILE" -p "$SSH_PORT" -o BatchMode=yes -o ConnectTimeout=30 -o IdentitiesOnly=yes \
  -o StrictHostKeyChecking="$checking" -o UserKnownHostsFile="$known_hosts" -o LogLevel=ERROR \
  "$SSH_USER@$SSH_HOST" cat /etc/rancher/k3s/k3s.yaml >"$OUT.part"
sed "s#https://127.0.0.1:6443#https://$VIP:6443#" "$OUT.part" >"$OUT"
echo "nico: kubeconfig for https://$VIP:6443 written to $OUT"
