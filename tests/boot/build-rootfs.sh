#!/usr/bin/env bash
# Builds the boot test's Debian 12 root filesystem (tests/boot.rs) into target/tools/boot-rootfs,
# or leaves it alone when it was built by this very script (a stamp holds the script's hash; a
# changed script rebuilds it). The tree is built in a temporary folder beside it and renamed into
# place only once complete, so a half-built root filesystem is never used.
#
# What is in it: Debian 12 (bookworm) from Debian's own mirror, with systemd as init and the tools
# the baked helpers call (curl, awk, timeout, env, nft, ip), python3 for the stand-ins, the real
# AWS CLI pinned as on the host (awscli 1.46.3 from PyPI, in a virtualenv at /opt/aws-cli, on PATH
# as /usr/local/bin/aws), and the gitlab-runner user the runner unit runs jobs as (the
# gitlab-runner package creates it on EC2). No runnergen file is in it: each scenario installs the
# freshly rendered units and helpers into its own copy.
#
# Measured on the 2-core test machine (busy with other builds): 183 s to build (debootstrap from
# deb.debian.org, then pip from PyPI); later runs only compare the stamp and return at once.
set -euo pipefail
cd "$(dirname "$0")/../.."

final=target/tools/boot-rootfs
mirror=http://deb.debian.org/debian
stamp_file=.runnergen-boot-rootfs
stamp=$(sha256sum tests/boot/build-rootfs.sh | cut -d' ' -f1)

if [[ -f $final/$stamp_file && $(cat "$final/$stamp_file") == "$stamp" ]]; then
  exit 0
fi

for tool in debootstrap chroot; do
  command -v "$tool" >/dev/null || { echo "build-rootfs: $tool is not installed" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "build-rootfs: debootstrap and the boot test need root" >&2; exit 1; }

mkdir -p target/tools
tmp=$(mktemp -d target/tools/boot-rootfs.tmp.XXXXXX)
trap 'rm -rf --one-file-system "$tmp"' EXIT
start=$SECONDS

debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,curl,python3,python3-venv,ca-certificates,nftables,iproute2,gawk,procps \
  bookworm "$tmp" "$mirror" >"$tmp.log" 2>&1 || { tail -n 50 "$tmp.log" >&2; rm -f "$tmp.log"; exit 1; }
rm -f "$tmp.log"

# pip inside the chroot reaches PyPI with the host's resolver configuration and trusts the host's
# certificate authorities (a machine behind a TLS-inspecting proxy has its own CA there).
cp -L /etc/resolv.conf "$tmp/etc/resolv.conf"
cp -L /etc/ssl/certs/ca-certificates.crt "$tmp/tmp/host-ca-certificates.crt"
chroot "$tmp" python3 -m venv /opt/aws-cli
ca=/tmp/host-ca-certificates.crt
chroot "$tmp" env -u PIP_FIND_LINKS -u SSL_CERT_DIR PIP_CERT=$ca REQUESTS_CA_BUNDLE=$ca SSL_CERT_FILE=$ca \
  /opt/aws-cli/bin/pip install -q --disable-pip-version-check --no-cache-dir awscli==1.46.3
rm -f "$tmp/tmp/host-ca-certificates.crt"
ln -sf /opt/aws-cli/bin/aws "$tmp/usr/local/bin/aws"
version=$(chroot "$tmp" /usr/local/bin/aws --version 2>&1)
[[ $version == aws-cli/1.46.3\ * ]] || { echo "build-rootfs: the AWS CLI reports $version" >&2; exit 1; }

# The user the gitlab-runner package creates; the runner unit runs jobs as it.
chroot "$tmp" useradd --system --create-home --home-dir /home/gitlab-runner --shell /bin/bash gitlab-runner
# A persistent journal, which the host reads after each boot (journalctl -D).
mkdir -p "$tmp/var/log/journal"
# As the baked image: no machine identity, so each boot of a fresh copy is a first boot.
: >"$tmp/etc/machine-id"
chroot "$tmp" apt-get clean
rm -rf "$tmp/var/lib/apt/lists/"*

echo "$stamp" >"$tmp/$stamp_file"
if [[ -e $final ]]; then
  rm -rf --one-file-system "$final"
fi
mv "$tmp" "$final"
trap - EXIT
echo "build-rootfs: built $final in $((SECONDS - start)) s" >&2
