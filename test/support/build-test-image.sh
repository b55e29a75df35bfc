#!/usr/bin/env bash
# Builds the sandbox test image `omni-busybox:latest` without any registry: a rootfs holding only
# Debian's static busybox (one symlink per applet), /tmp, and a passwd/group with root and nobody,
# imported with `docker import`.
#
# Usage: build-test-image.sh [--force]
#   --force   rebuild even if the image already exists (default: skip when present)
# Environment: OMNI_TEST_IMAGE overrides the image reference; OMNI_TEST_IMAGE_TMP_MODE (default 1777)
#              is the mode of the image's /tmp (0755 builds an image whose /tmp only root may write).
# Exit codes: 0 built or already present; 1 a prerequisite (docker, busybox-static) is missing;
#             2 bad usage; anything else: a failed build step.
set -euo pipefail

image="${OMNI_TEST_IMAGE:-omni-busybox:latest}"
tmp_mode="${OMNI_TEST_IMAGE_TMP_MODE:-1777}"
[[ "$tmp_mode" =~ ^[0-7]{3,4}$ ]] || { echo "build-test-image: OMNI_TEST_IMAGE_TMP_MODE must be an octal mode" >&2; exit 2; }
force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    *) echo "build-test-image: unknown argument '$arg' (usage: $0 [--force])" >&2; exit 2 ;;
  esac
done

fail() {
  echo "build-test-image: $*" >&2
  exit 1
}

command -v docker >/dev/null 2>&1 || fail "docker CLI not found; install docker.io (apt-get install -y docker.io)"
docker info >/dev/null 2>&1 || fail "Docker engine not reachable (is dockerd running? DOCKER_HOST=${DOCKER_HOST:-unset})"

if [[ "$force" -eq 0 ]] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "build-test-image: $image already present (use --force to rebuild)"
  exit 0
fi

# Locate the static busybox from the Debian package; a dynamically linked one would not run in an
# otherwise empty rootfs.
busybox=""
if command -v dpkg >/dev/null 2>&1 && dpkg -s busybox-static >/dev/null 2>&1; then
  while IFS= read -r path; do
    if [[ "$path" == */busybox && -f "$path" && -x "$path" ]]; then
      busybox="$path"
      break
    fi
  done < <(dpkg -L busybox-static)
fi
[[ -n "$busybox" ]] || fail "busybox-static is not installed (apt-get install -y busybox-static)"
if command -v file >/dev/null 2>&1 && file -L "$busybox" | grep -q 'dynamically linked'; then
  fail "$busybox is dynamically linked; the busybox-static package is required"
fi

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT

mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
chmod "$tmp_mode" "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
chmod 0755 "$rootfs/bin/busybox"
while IFS= read -r applet; do
  [[ -n "$applet" && "$applet" != "busybox" ]] || continue
  ln -sf busybox "$rootfs/bin/$applet"
done < <("$busybox" --list)

cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF

tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf - . |
  docker import \
    --change 'ENV PATH=/bin' \
    --change 'CMD ["/bin/sh"]' \
    --message "omni sandbox test image (busybox from $busybox)" \
    - "$image" >/dev/null

echo "build-test-image: built $image ($(docker image inspect --format '{{.Id}}' "$image"))"
