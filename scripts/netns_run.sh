#!/usr/bin/env bash
# Run a command inside a private network namespace that has only loopback.
#
# DDS discovery multicasts on every interface it finds. Inside this namespace the only interface
# is `lo` (multicast enabled, 224.0.0.0/4 routed to it), so ROS 2 nodes started by the command can
# talk to each other and to nothing else. A random ROS_DOMAIN_ID and a localhost discovery range
# are a second guard. Usage: scripts/netns_run.sh COMMAND [ARGS...]
set -euo pipefail

if [[ "${SPIKEVIM_IN_NETNS:-}" != "1" ]]; then
  if ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
    echo "netns_run: 'unshare' (util-linux) and 'ip' (iproute2) are required to isolate DDS traffic" >&2
    exit 3
  fi
  if [[ $(id -u) -eq 0 ]]; then ns_flags=(--net); else ns_flags=(--user --map-root-user --net); fi
  if ! unshare "${ns_flags[@]}" true 2>/dev/null; then
    cat >&2 <<'MSG'
netns_run: cannot create a private network namespace (unshare --net was refused).
ROS 2 tests start DDS participants, which must never discover over a real network interface.
Run as root, or enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 /
user.max_user_namespaces > 0), then retry. No test was started.
MSG
    exit 3
  fi
  export SPIKEVIM_IN_NETNS=1
  exec unshare "${ns_flags[@]}" "$0" "$@"
fi

ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo 2>/dev/null || true
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 1 ))}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
# Fast DDS profile that carries camera-sized images (large shared-memory segment); see docs/node.md
export FASTRTPS_DEFAULT_PROFILES_FILE="${FASTRTPS_DEFAULT_PROFILES_FILE:-$(cd "$(dirname "$0")/.." && pwd)/config/fastdds_large_images.xml}"
exec "$@"
