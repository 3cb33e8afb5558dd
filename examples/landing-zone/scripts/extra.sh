#!/usr/bin/env bash
# The organisation's own bake step: runs as root after runnergen's provisioning, before the image
# is sealed, with `set -euo pipefail`. It must not undo what runnergen set up (see
# docs/landing-zones.md, "Your own bake step").
install -d -m 0755 /etc/corp
printf '%s\n' 'Managed by the platform team. Report problems in #ci-platform.' >/etc/corp/motd-ci
