#!/bin/busybox sh
# /init of the kernel matrix's initramfs (busybox only). Loads virtio, 9p and overlayfs,
# mounts the host's root read-only (9p) under a tmpfs overlay at /newroot and the writable
# results share, then runs the guest runner chrooted there (the host's Node, tools and
# checkout at the same paths) and powers off. The guest kernel's own modules are
# bind-mounted where the host's modprobe looks, so iptables, nft and ctnetlink autoload
# what they need.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "kernel-matrix-guest: $*" > /dev/console; }
while read -r m; do
  [ -n "$m" ] && insmod "/modules/$m" || say "insmod $m failed"
done < /modules/order
mkdir -p /hostroot /rw /newroot
# The host's root, read-only, under a tmpfs overlay: the guest may write anywhere (module
# directory, /run/netns, caches) while the host's files stay untouched.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /hostroot || { say "cannot mount the host root"; poweroff -f; }
mount -t tmpfs tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/hostroot,upperdir=/rw/upper,workdir=/rw/work /newroot || { say "cannot mount the overlay"; poweroff -f; }
for d in tmp run var/tmp; do mount -t tmpfs tmpfs "/newroot/$d"; done
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
KVER=$(uname -r)
. /matrix.env
# The checkout may live under one of the directories just covered by a tmpfs (CI clones into
# /tmp): lay it over again from the host's root, with a writable layer of its own.
mkdir -p /rw/checkout-upper /rw/checkout-work "/newroot$MATRIX_CHECKOUT"
mount -t overlay overlay -o "lowerdir=/hostroot$MATRIX_CHECKOUT,upperdir=/rw/checkout-upper,workdir=/rw/checkout-work" "/newroot$MATRIX_CHECKOUT" || say "cannot mount the checkout $MATRIX_CHECKOUT"
mkdir -p "/newroot/usr/lib/modules/$KVER" /newroot/tmp/kernel-matrix
mount --bind "/hostroot$MATRIX_MODULES" "/newroot/usr/lib/modules/$KVER"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results /newroot/tmp/kernel-matrix || say "cannot mount the results share"
# The kernel's module loader may resolve its helper in the initramfs or in the new root:
# the same path works in both.
printf '#!/bin/sh\nexec /usr/sbin/modprobe "$@"\n' > /newroot/usr/sbin/modprobe-guest
chmod 755 /newroot/usr/sbin/modprobe-guest
echo /usr/sbin/modprobe-guest > /proc/sys/kernel/modprobe
chroot /newroot /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp CI=true NO_COLOR=1 \
  NFQ_KERNEL_MATRIX="$MATRIX_KERNEL" NFQ_KERNEL_EXPECT="$MATRIX_EXPECT" MATRIX_RUN="$MATRIX_RUN" /bin/sh "$MATRIX_CHECKOUT/scripts/kernel-matrix/guest-run.sh" "$MATRIX_CHECKOUT" > /dev/console 2>&1
say "guest runner exited with $?"
sync
umount /newroot/tmp/kernel-matrix
poweroff -f
