#!/bin/sh
# Build a minimal busybox rootfs from Debian's busybox-static into DIR.
# Usage: busybox-rootfs.sh DIR          (a directory tree)
#        busybox-rootfs.sh --tar FILE   (the same tree as a tarball, for `docker import`)
set -eu
BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "busybox-rootfs: $BUSYBOX not found (apt-get install busybox-static)" >&2; exit 1; }
if [ "${1:-}" = "--tar" ]; then
    out=$2
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "$0" "$tmp/rootfs"
    tar -C "$tmp/rootfs" --numeric-owner -cf "$out" .
    exit 0
fi
root=$1
mkdir -p "$root"/bin "$root"/sbin "$root"/usr/bin "$root"/usr/sbin "$root"/etc "$root"/tmp \
         "$root"/proc "$root"/sys "$root"/dev "$root"/root "$root"/home "$root"/var/log
chmod 1777 "$root"/tmp
cp "$BUSYBOX" "$root"/bin/busybox
for applet in $("$BUSYBOX" --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
done
cat > "$root"/etc/passwd <<'PW'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
PW
cat > "$root"/etc/group <<'GR'
root:x:0:
daemon:x:1:
users:x:100:app
app:x:1000:
nogroup:x:65534:
GR
echo "dockyard-test" > "$root"/etc/hostname
