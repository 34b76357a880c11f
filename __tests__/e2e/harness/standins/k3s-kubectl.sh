# shellcheck shell=sh
# `k3s kubectl ...` against the lab's cluster model (k3s-model.sh), for what a deployment asks:
# get --raw /readyz, get node(s) (-l, -o jsonpath|name), wait, cordon, uncordon, drain, delete,
# label, taint, annotate. Output and refusals follow kubectl's (k8s.io/kubectl/pkg/cmd/...); a
# question it does not model fails loudly instead of answering something made up.
# Sourced by the k3s stand-in after lib/standin.sh and lib/k3s-model.sh.

k3s_kubectl() {
  shift # kubectl
  raw="" output="" selector="" fields="" request_timeout=0 timeout="" overwrite=false ignore_nf=false force=false
  set -f # node names and selectors are words, never patterns
  words=""
  while [ $# -gt 0 ]; do
    case $1 in
    --*=*) f=${1%%=*} v=${1#*=} has=1 ;;
    *) f=$1 v=${2:-} has=0 ;;
    esac
    case $f in
    --raw) raw=$v ;;
    -o | --output) output=$v ;;
    -l | --selector) selector=$v ;;
    --field-selector) fields=$v ;;
    --request-timeout) request_timeout=$v ;;
    --timeout) timeout=$v ;;
    --overwrite | --ignore-not-found | --force)
      [ "$has" = 1 ] || v=true
      has=1
      case $f in --overwrite) overwrite=$v ;; --ignore-not-found) ignore_nf=$v ;; *) force=$v ;; esac ;;
    -n | --namespace | --kubeconfig | --context | --for | --grace-period) ;;
    -*) has=1 ;; # boolean flags (--ignore-daemonsets, --delete-emptydir-data, --no-headers, ...)
    *) words="$words
$1"; has=1 ;;
    esac
    [ "$has" = 1 ] || shift
    shift
  done
  IFS='
'
  # shellcheck disable=SC2086
  set -- $words
  unset IFS

  me=$NICO_TEST_NODE
  # The API answers on a server whose k3s runs and is registered; an agent has no admin kubeconfig.
  if [ ! -f /etc/rancher/k3s/k3s.yaml ]; then finish 1 "The connection to the server localhost:8080 was refused - did you specify the right host or port?"; fi
  registered "$me" || finish 1 "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?"
  id=$(proc_field "$me" 2)
  C=$K3S_MODEL/$id

  if [ -n "$raw" ]; then
    case $raw in
    /readyz*) if has_quorum "$id"; then echo ok; finish 0; fi
      echo '[-]etcd failed: reason withheld'; finish 1 "readyz check failed" ;;
    esac
    finish 1 "error: stand-in kubectl: --raw $raw is not modelled"
  fi
  # Every API request goes through etcd: without quorum it hangs (kubernetes/kubernetes "etcdserver:
  # request timed out"; k3s#2669 for a Node delete whose member removal cannot finish), until the
  # client's --request-timeout, or for ever (the caller's `timeout` kills it).
  if ! has_quorum "$id"; then
    secs=$(duration_seconds "$request_timeout")
    if [ "$secs" = 0 ]; then sleep 3600; else sleep "$secs"; fi
    finish 1 "Unable to connect to the server: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
  fi

  verb=${1:-}
  [ $# -gt 0 ] && shift
  case $verb in
  get | wait | cordon | uncordon | drain | delete | label | taint | annotate) ;;
  *) finish 1 "error: stand-in kubectl: '$verb' is not modelled" ;;
  esac
  if [ "$verb" = wait ]; then kubectl_wait "$@"; fi
  kind=${1:-}
  case $verb in cordon | uncordon | drain) ;; *) [ $# -gt 0 ] && shift ;; esac
  case $verb in
  cordon | uncordon | drain) ;;
  *) case $kind in node | nodes | no) ;; *) finish 1 "error: stand-in kubectl: only nodes are modelled (got '$kind')" ;; esac ;;
  esac
  "kubectl_$verb" "$@"
}

# duration_seconds <10s|5|2m|0>: a kubectl duration in whole seconds (at least 1 unless 0).
duration_seconds() {
  case $1 in
  *ms) echo 1 ;;
  *s) echo "${1%s}" ;;
  *m) echo $((${1%m} * 60)) ;;
  *h) echo $((${1%h} * 3600)) ;;
  *) echo "${1:-0}" ;;
  esac
}

not_found() { finish 1 "Error from server (NotFound): nodes \"$1\" not found"; }

# selector_matches <node dir> <selector>: kubectl's equality-based selector (k=v, k==v, k!=v, k, !k).
selector_matches() {
  [ -n "$2" ] || return 0
  for term in $(printf '%s' "$2" | tr ',' ' '); do
    case $term in
    *!=*) k=${term%%!=*} val=${term#*!=}; ! grep -qxF "$k=$val" "$1/labels" || return 1 ;;
    *==*) k=${term%%==*} val=${term#*==}; grep -qxF "$k=$val" "$1/labels" || return 1 ;;
    *=*) k=${term%%=*} val=${term#*=}; grep -qxF "$k=$val" "$1/labels" || return 1 ;;
    !*) ! grep -q "^${term#!}=" "$1/labels" || return 1 ;;
    *) grep -q "^$term=" "$1/labels" || return 1 ;;
    esac
  done
}

# fields_match <node> <field selector>: of a Node's selectable fields (kubernetes
# pkg/registry/core/node/strategy.go NodeToSelectableFields: metadata.name, spec.unschedulable),
# equality only; any other field is refused loudly.
fields_match() {
  case $2 in
  '') return 0 ;;
  spec.unschedulable=true | spec.unschedulable==true) [ "$(cat "$C/nodes/$1/unschedulable")" = true ] ;;
  spec.unschedulable=false | spec.unschedulable==false) [ "$(cat "$C/nodes/$1/unschedulable")" != true ] ;;
  metadata.name=* ) [ "$1" = "${2#*=}" ] ;;
  *) finish 1 "error: stand-in kubectl: --field-selector $2 is not modelled" ;;
  esac
}

# field <node> <template>: one jsonpath template of a Node, of those modelled.
field() {
  case $2 in
  '{.status.conditions[?(@.type=="Ready")].status}')
    if node_ready "$id" "$1"; then printf True; elif [ "$(proc_field "$1" 2)" = "$id" ]; then printf False; else printf Unknown; fi ;;
  '{.spec.unschedulable}') [ "$(cat "$C/nodes/$1/unschedulable")" = true ] && printf true ;;
  '{.metadata.name}') printf '%s' "$1" ;;
  '{.metadata.labels.'*'}' | '{.metadata.annotations.'*'}')
    path=${2#'{.metadata.'}
    path=${path%'}'}
    file=${path%%.*}
    key=$(printf '%s' "${path#*.}" | sed 's/\\\././g')
    sed -n "s|^$key=||p" "$C/nodes/$1/$file" | head -n 1 | tr -d '\n' ;;
  *) finish 1 "error: stand-in kubectl: jsonpath $2 is not modelled" ;;
  esac
}

kubectl_get() {
  names=""
  if [ $# -gt 0 ]; then
    for n in "$@"; do [ -d "$C/nodes/$n" ] || { [ "$ignore_nf" = true ] && continue; not_found "$n"; }; names="$names $n"; done
  else
    names=$(ls "$C/nodes")
  fi
  matched=""
  for n in $names; do selector_matches "$C/nodes/$n" "$selector" && fields_match "$n" "$fields" && matched="$matched $n"; done
  single=false
  [ $# -eq 1 ] && single=true
  case $output in
  name) for n in $matched; do echo "node/$n"; done ;;
  jsonpath=*)
    tpl=${output#jsonpath=}
    case $tpl in
    '{range .items[*]}{.metadata.name}{"\n"}{end}') for n in $matched; do echo "$n"; done ;;
    '{.items[*].metadata.name}') printf '%s' "$(echo $matched)" ;;
    *) $single || finish 1 "error: stand-in kubectl: jsonpath $tpl over a list is not modelled"
      for n in $matched; do field "$n" "$tpl"; done ;;
    esac ;;
  '' | wide)
    [ -n "$matched" ] || { echo "No resources found" >&2; finish 0; }
    echo "NAME STATUS ROLES"
    for n in $matched; do
      st=$(field "$n" '{.status.conditions[?(@.type=="Ready")].status}')
      [ "$st" = True ] && st=Ready || st=NotReady
      [ "$(cat "$C/nodes/$n/unschedulable")" = true ] && st="$st,SchedulingDisabled"
      echo "$n $st $(cat "$C/nodes/$n/role")"
    done ;;
  *) finish 1 "error: stand-in kubectl: -o $output is not modelled" ;;
  esac
  finish 0
}

kubectl_wait() {
  node=${1#node/}
  node=${node#nodes/}
  [ -d "$C/nodes/$node" ] || not_found "$node"
  node_ready "$id" "$node" && { echo "node/$node condition met"; finish 0; }
  secs=$(duration_seconds "${timeout:-30s}")
  sleep "$secs"
  node_ready "$id" "$node" && { echo "node/$node condition met"; finish 0; }
  finish 1 "error: timed out waiting for the condition on nodes/$node"
}

set_unschedulable() {
  [ -d "$C/nodes/$1" ] || not_found "$1"
  model_lock
  if [ "$(cat "$C/nodes/$1/unschedulable")" = "$2" ]; then echo "node/$1 already $3"; else echo "$2" >"$C/nodes/$1/unschedulable"; echo "node/$1 $3"; fi
  model_unlock
}
kubectl_cordon() { set_unschedulable "$1" true cordoned; finish 0; }
kubectl_uncordon() { set_unschedulable "$1" false uncordoned; finish 0; }

# kubectl drain (k8s.io/kubectl/pkg/drain/filters.go unreplicatedFilter): pods no controller owns
# block the drain unless --force, and kubectl names them.
kubectl_drain() {
  set_unschedulable "$1" true cordoned
  pods="$C/pods/$1"
  if [ -s "$pods" ] && [ "$force" != true ]; then
    bare=$(awk '$2 == "none" { printf "%s%s", (n++ ? ", " : ""), $1 }' "$pods")
    [ -z "$bare" ] || finish 1 "error: unable to drain node \"$1\" due to error: cannot delete Pods that declare no controller (use --force to override): $bare, continuing command...
There are pending nodes to be drained:
 $1
cannot delete Pods that declare no controller (use --force to override): $bare"
  fi
  model_lock
  rm -f "$pods"
  model_unlock
  echo "node/$1 drained"
  finish 0
}

# kubectl delete node: the Node goes, and with it (k3s's controllers) its node-password secret
# (pkg/node/controller.go onRemove -> nodepassword.Delete) and, for a server, its etcd member
# (pkg/etcd/member_controller.go onRemove -> RemovePeer by the node-name/node-address annotations).
kubectl_delete() {
  for n in "$@"; do
    if [ ! -d "$C/nodes/$n" ]; then [ "$ignore_nf" = true ] && continue; not_found "$n"; fi
    model_lock
    member=$(sed -n 's/^etcd\.k3s\.cattle\.io\/node-name=//p' "$C/nodes/$n/annotations")
    if [ -n "$member" ]; then sed -i "/^$member /d" "$C/members"; fi
    rm -rf "$C/nodes/$n" "$C/secrets/$n.node-password.k3s" "$C/pods/$n"
    # Its kubelet, if it still runs, is no longer registered: the Node does not come back in the model.
    [ "$(proc_field "$n" 2)" = "$id" ] && [ "$(proc_field "$n" 1)" = running ] &&
      sed -i 's/^running /unregistered /' "$K3S_MODEL/proc/$n"
    model_unlock
    echo "node \"$n\" deleted"
  done
  finish 0
}

# kubectl label / annotate (k8s.io/kubectl/pkg/cmd/label/label.go validateNoOverwrites, and
# annotate.go): a new value for an existing key needs --overwrite; "key-" removes.
kubectl_label() { set_pairs labels labeled "$@"; }
kubectl_annotate() { set_pairs annotations annotated "$@"; }
set_pairs() {
  what=$1 done_word=$2 n=$3
  shift 3
  [ -d "$C/nodes/$n" ] || not_found "$n"
  model_lock
  f="$C/nodes/$n/$what"
  for pair in "$@"; do
    case $pair in
    *=*) k=${pair%%=*} val=${pair#*=}
      old=$(sed -n "s|^$k=||p" "$f" | head -n 1)
      if grep -q "^$k=" "$f" && [ "$old" != "$val" ] && [ "$overwrite" != true ]; then
        model_unlock
        finish 1 "error: '$k' already has a value ($old), and --overwrite is false"
      fi
      grep -v "^$k=" "$f" >"$f.new" || true
      printf '%s=%s\n' "$k" "$val" >>"$f.new"
      mv "$f.new" "$f" ;;
    *-) k=${pair%-}
      if grep -q "^$k=" "$f"; then grep -v "^$k=" "$f" >"$f.new" || true; mv "$f.new" "$f"; else echo "label \"$k\" not found." >&2; fi ;;
    *) model_unlock; finish 1 "error: invalid $what format: $pair" ;;
    esac
  done
  model_unlock
  echo "node/$n $done_word"
  finish 0
}

# kubectl taint (k8s.io/kubectl/pkg/cmd/taint/taint.go): key[=value]:Effect adds (an existing
# key+effect needs --overwrite), key:Effect- and key- remove (removing what is not there fails).
kubectl_taint() {
  n=$1
  shift
  [ -d "$C/nodes/$n" ] || not_found "$n"
  model_lock
  f="$C/nodes/$n/taints"
  for t in "$@"; do
    case $t in
    *-) spec=${t%-}
      case $spec in *:*) pat="^${spec%%:*}\(=[^:]*\)\?:${spec#*:}\$" ;; *) pat="^$spec\(=[^:]*\)\?:" ;; esac
      if ! grep -q "$pat" "$f"; then model_unlock; finish 1 "error: taint \"$spec\" not found"; fi
      grep -v "$pat" "$f" >"$f.new" || true
      mv "$f.new" "$f" ;;
    *:NoSchedule | *:PreferNoSchedule | *:NoExecute)
      key=${t%%:*}
      key=${key%%=*}
      effect=${t##*:}
      pat="^$key\(=[^:]*\)\?:$effect\$"
      if grep -q "$pat" "$f" && [ "$overwrite" != true ]; then
        model_unlock
        finish 1 "error: node $n already has $key taint(s) with same effect(s) and --overwrite is false"
      fi
      grep -v "$pat" "$f" >"$f.new" || true
      printf '%s\n' "$t" >>"$f.new"
      mv "$f.new" "$f" ;;
    *) model_unlock; finish 1 "error: invalid taint spec: $t, unknown taint effect" ;;
    esac
  done
  model_unlock
  echo "node/$n tainted"
  finish 0
}
