#!/usr/bin/env bash
# Runs `.ci/run` as on a fresh Debian machine without disturbing this one: a minimal bookworm
# rootfs (debootstrap, so no Node, Postgres, Redis or Docker in it), in a network namespace of its
# own (so its Postgres and Redis take 127.0.0.1:5432 and :6379 beside the machine's own, and its
# dockerd has its own socket inside the rootfs), with a fresh clone of this repository's HEAD.
# Everything it starts is stopped afterwards, even on failure or Ctrl-C; the rootfs stays for reuse.
#
# Usage (as root): .ci/fresh-machine.sh [--fresh] [--cleanup] [-- TEST_FILE...]
#   --fresh     delete the rootfs and debootstrap a new one (default: reuse it if present, which
#               reruns .ci/run over what the last run installed: the idempotent path)
#   --cleanup   only stop what a previous (interrupted) run left: processes, mounts, netns, NAT rule
#   -- FILE...  passed to .ci/run, which then runs those test files instead of `npm test`
# Environment: FRESH_ROOTFS (default /var/tmp/fresh-rootfs), FRESH_LOG (default /tmp/fresh-ci.log),
#              FRESH_MIRROR (default http://deb.debian.org/debian).
# Exit code: that of .ci/run inside (0 when the type check and every test passed), 2 bad usage.
set -euo pipefail

rootfs="${FRESH_ROOTFS:-/var/tmp/fresh-rootfs}"
log="${FRESH_LOG:-/tmp/fresh-ci.log}"
mirror="${FRESH_MIRROR:-http://deb.debian.org/debian}"
netns=omni-fresh
host_if=omni-fresh0
inner_if=omni-fresh1
subnet=10.231.0.0/24
host_ip=10.231.0.1
inner_ip=10.231.0.2
repo="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"

fresh=0
cleanup_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --fresh) fresh=1 ;;
    --cleanup) cleanup_only=1 ;;
    --)
      shift
      break
      ;;
    *)
      echo "fresh-machine: unknown argument '$1' (usage: $0 [--fresh] [--cleanup] [-- TEST_FILE...])" >&2
      exit 2
      ;;
  esac
  shift
done
ci_args=("$@")
[[ "$(id -u)" -eq 0 ]] || {
  echo "fresh-machine: must run as root (debootstrap, mounts, network namespace)" >&2
  exit 2
}

say() { printf 'fresh-machine: %s\n' "$*" >&2; }

# The processes this run started: everything in the namespace's network (the chroot's dockerd,
# containerd, Postgres, Redis, the tests) and anything rooted in the rootfs (its containers). The
# machine's own daemons are in neither, so they are never signalled.
rootfs_pids() {
  local pid root
  {
    ip netns pids "$netns" 2>/dev/null || true
    for pid in /proc/[0-9]*; do
      root="$(readlink "$pid/root" 2>/dev/null)" || continue
      if [[ "$root" == "$rootfs" || "$root" == "$rootfs"/* ]]; then echo "${pid#/proc/}"; fi
    done
  } | sort -un
}

stop_processes() {
  local pids dockerd_pids socket="$rootfs/run/docker.sock" containers
  # The rootfs's containers, through its own engine's socket (seen from here under the rootfs).
  if [[ -S "$socket" ]] && containers="$(docker -H "unix://$socket" ps -aq 2>/dev/null)" && [[ -n "$containers" ]]; then
    say "removing $(wc -w <<<"$containers") container(s) of the rootfs's engine"
    docker -H "unix://$socket" rm -f $containers >/dev/null 2>&1 || true
  fi
  # dockerd first, on its own: on SIGTERM it stops its containers, which a plain kill would orphan.
  dockerd_pids="$(for pid in $(rootfs_pids); do
    if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]]; then echo "$pid"; fi
  done)"
  if [[ -n "$dockerd_pids" ]]; then
    say "stopping the rootfs's dockerd ($dockerd_pids)"
    kill -TERM $dockerd_pids 2>/dev/null || true
    for _ in $(seq 60); do
      kill -0 $dockerd_pids 2>/dev/null || break
      sleep 1
    done
  fi
  pids="$(rootfs_pids)"
  [[ -z "$pids" ]] && return 0
  say "stopping $(wc -w <<<"$pids") remaining process(es) of the rootfs"
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 20); do
    pids="$(rootfs_pids)"
    [[ -z "$pids" ]] && return 0
    sleep 1
  done
  say "killing $(wc -w <<<"$pids") process(es) that ignored SIGTERM"
  kill -KILL $pids 2>/dev/null || true
  sleep 1
}

unmount_all() {
  local target
  # Deepest first; only mounts under the rootfs, as this host's mount table lists them.
  while read -r target; do
    umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || say "could not unmount $target"
  done < <(awk -v root="$rootfs" '$5 == root || index($5, root "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
}

teardown_network() {
  iptables -t nat -D POSTROUTING -s "$subnet" -j MASQUERADE 2>/dev/null || true
  ip link del "$host_if" 2>/dev/null || true
  ip netns del "$netns" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # Every step of the clean-up runs, whatever the one before it did.
  set +e
  stop_processes
  unmount_all
  teardown_network
  say "cleaned up (rootfs kept at $rootfs)"
  exit "$status"
}

if [[ "$cleanup_only" -eq 1 ]]; then
  cleanup
fi
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$SECONDS
phase_started=$SECONDS
phase() {
  say "$1 took $((SECONDS - phase_started)) s"
  phase_started=$SECONDS
}

# 1. A minimal Debian rootfs holding none of this machine's packages.
if [[ "$fresh" -eq 1 && -d "$rootfs" ]]; then
  unmount_all
  say "deleting $rootfs"
  rm -rf --one-file-system "$rootfs"
fi
if [[ ! -x "$rootfs/usr/bin/apt-get" ]]; then
  command -v debootstrap >/dev/null 2>&1 || apt-get install -y debootstrap
  say "debootstrap --variant=minbase bookworm $rootfs"
  rm -rf --one-file-system "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$log.debootstrap" 2>&1 || {
    tail -n 20 "$log.debootstrap" >&2
    exit 1
  }
  # What a Debian installation has and debootstrap leaves out: the updates and security suites,
  # and an /etc/hosts naming localhost.
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
  for tool in node npm postgres pg_ctlcluster redis-server dockerd; do
    if chroot "$rootfs" sh -c "command -v $tool" >/dev/null 2>&1; then
      say "the new rootfs already has $tool"
      exit 1
    fi
  done
  phase "debootstrap"
fi
# This machine's way to the package archives (DNS, apt and npm settings), nothing else of it.
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
[[ -f /etc/apt/apt.conf.d/99artifact-registry ]] && cp /etc/apt/apt.conf.d/99artifact-registry "$rootfs/etc/apt/apt.conf.d/"
[[ -f /root/.npmrc ]] && install -m 0600 /root/.npmrc "$rootfs/root/.npmrc"
# A machine behind a TLS-inspecting proxy trusts its CA locally; without it npm cannot reach the
# registry from the rootfs (SELF_SIGNED_CERT_IN_CHAIN). Node reads it through NODE_EXTRA_CA_CERTS.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  mkdir -p "$rootfs/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  if [[ -x "$rootfs/usr/sbin/update-ca-certificates" ]]; then
    chroot "$rootfs" update-ca-certificates >/dev/null
  fi
  # npm's own setting too: a test that runs npm with a bare environment (PATH and HOME) loses
  # NODE_EXTRA_CA_CERTS, but npm still reads ~/.npmrc.
  grep -q '^cafile=' "$rootfs/root/.npmrc" 2>/dev/null ||
    echo 'cafile=/etc/ssl/certs/ca-certificates.crt' >>"$rootfs/root/.npmrc"
fi
extra_ca=()
[[ -n "${NODE_EXTRA_CA_CERTS:-}" ]] && extra_ca=("NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS")

# 2. A network namespace: its own loopback, and a veth pair routed and masqueraded to the outside.
teardown_network
ip netns add "$netns"
ip link add "$host_if" type veth peer name "$inner_if"
ip link set "$inner_if" netns "$netns"
ip addr add "$host_ip/24" dev "$host_if"
ip link set "$host_if" up
ip netns exec "$netns" ip link set lo up
ip netns exec "$netns" ip addr add "$inner_ip/24" dev "$inner_if"
ip netns exec "$netns" ip link set "$inner_if" up
ip netns exec "$netns" ip route add default via "$host_ip"
[[ "$(sysctl -n net.ipv4.ip_forward)" -eq 1 ]] || say "net.ipv4.ip_forward is 0: the rootfs will not reach the archives"
iptables -t nat -A POSTROUTING -s "$subnet" -j MASQUERADE

# The kernel's file systems. rslave: an unmount in the rootfs never propagates back to this machine.
unmount_all
# The rootfs bound onto itself, so that its / is a mount point as a machine's is: dockerd makes /
# a slave mount before it unpacks an image (docker import) and fails with EINVAL on a plain directory.
mount --bind "$rootfs" "$rootfs"
mount --make-private "$rootfs"
mount -t proc proc "$rootfs/proc"
mount --rbind /sys "$rootfs/sys"
mount --make-rslave "$rootfs/sys"
mount --rbind /dev "$rootfs/dev"
mount --make-rslave "$rootfs/dev"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$rootfs/run"

# 3. A fresh clone of this repository's HEAD (what is committed, not the working tree).
rm -rf --one-file-system "$rootfs/repo"
git clone -q "$repo" "$rootfs/repo"
say "cloned $(git -C "$rootfs/repo" log -1 --format='%h %s' | cut -c1-80)"
phase "set-up"

say "running .ci/run ${ci_args[*]} inside (log: $log)"
# pivot_root, not chroot: a chrooted process may not create a user namespace (clone(2): EPERM),
# and gVisor's runsc makes one for every sandbox. In the namespace's own mount table (ip netns exec
# gives it one) the rootfs becomes / and this machine's / is detached from it.
set +e
ip netns exec "$netns" bash -c '
  cd "$1" && mkdir -p .old-root && pivot_root . .old-root || exit 1
  shift
  exec /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"' \
  pivot "$rootfs" "${extra_ca[@]}" bash -c 'umount -l /.old-root && rmdir /.old-root && cd /repo && exec bash .ci/run "$@"' \
  ci "${ci_args[@]}" >"$log" 2>&1
status=$?
set -e
phase ".ci/run"
say ".ci/run exited $status; total $((SECONDS - started)) s"
grep -E '^ +(Test Files|Tests) ' "$log" >&2 || tail -n 20 "$log" >&2
exit "$status"
