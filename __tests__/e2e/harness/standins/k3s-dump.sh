# shellcheck shell=sh
# Prints the cluster model as one JSON object, for the tests (harness/cluster.ts):
# { "ids": [...], "clusters": { "<id>": { "members": [...], "secrets": [...], "pods": [...], "nodes": { "<name>":
#   { "ready", "unschedulable", "role", "labels", "taints", "annotations" } } } },
#   "processes": { "<node>": { "state", "cluster", "alive", "message" } } }
# Run as: NICO_TEST_LAB=<lab dir> sh <lab dir>/lib/k3s-dump.sh
set -u
NICO_TEST_NODE=${NICO_TEST_NODE:-test} NICO_TEST_CONTROL=${NICO_TEST_CONTROL:-/dev/null}
. "$NICO_TEST_LAB/lib/standin.sh"
. "$NICO_TEST_LAB/lib/k3s-model.sh"
# JSON string of a value (awk escaping from lib/standin.sh); pairs "k=v" lines -> a JSON object.
js() { json_strs "$1"; }
pairs() {
  sep=""
  printf '{'
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    printf '%s%s:%s' "$sep" "$(js "${line%%=*}")" "$(js "${line#*=}")"
    sep=,
  done <"$1"
  printf '}'
}
list() {
  sep=""
  printf '['
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    printf '%s%s' "$sep" "$(js "$line")"
    sep=,
  done
  printf ']'
}
printf '{"ids":'
if [ -f "$K3S_MODEL/ids" ]; then cut -d ' ' -f 1 "$K3S_MODEL/ids" | list; else printf '[]'; fi
printf ',"clusters":{'
csep=""
if [ -f "$K3S_MODEL/ids" ]; then
  for id in $(cut -d ' ' -f 1 "$K3S_MODEL/ids"); do
    printf '%s%s:{"members":' "$csep" "$(js "$id")"
    csep=,
    awk '{ print $2 }' "$K3S_MODEL/$id/members" | list
    printf ',"secrets":'
    ls "$K3S_MODEL/$id/secrets" | list
    printf ',"pods":'
    cat "$K3S_MODEL/$id/pods/"* 2>/dev/null | cut -d ' ' -f 1 | list
    printf ',"nodes":{'
    nsep=""
    for n in $(ls "$K3S_MODEL/$id/nodes"); do
      d="$K3S_MODEL/$id/nodes/$n"
      if node_ready "$id" "$n"; then ready=true; else ready=false; fi
      printf '%s%s:{"ready":%s,"unschedulable":%s,"role":%s,"labels":%s,"annotations":%s,"taints":' \
        "$nsep" "$(js "$n")" "$ready" "$(cat "$d/unschedulable")" "$(js "$(cat "$d/role")")" "$(pairs "$d/labels")" "$(pairs "$d/annotations")"
      list <"$d/taints"
      printf '}'
      nsep=,
    done
    printf '}}'
  done
fi
printf '},"processes":{'
psep=""
for n in $(ls "$K3S_MODEL/proc"); do
  if process_alive "$n"; then alive=true; else alive=false; fi
  printf '%s%s:{"state":%s,"cluster":%s,"alive":%s,"message":%s}' "$psep" "$(js "$n")" "$(js "$(proc_field "$n" 1)")" "$(js "$(proc_field "$n" 2)")" "$alive" "$(js "$(proc_field "$n" 4)")"
  psep=,
done
printf '}}\n'
