#!/usr/bin/env bash
# Installs what lab needs on a Debian bookworm host, and nothing it already
# has: QEMU (amd64 and arm64 guests), the kernel's compilers (native and
# the arm64 cross compiler) and what out-of-tree module builds need,
# and Go's modules. Uses the host's own apt sources; never changes them.
set -euo pipefail

packages=(
	qemu-system-x86     # qemu-system-x86_64, TCG when there is no KVM
	qemu-system-arm     # qemu-system-aarch64: the arm64 images' virt machine (TCG)
	gcc-12-aarch64-linux-gnu libc6-dev-arm64-cross  # arm64 modules and the guest's static programs, cross-built
	gcc gcc-12 make     # module builds (Debian 6.1 was built with gcc-12)
	libc6-dev           # static libc for the guest's holder program
	libelf-dev bc flex bison dwarves  # kbuild's host tools; pahole for 6.12+
	dpkg debian-archive-keyring apt   # fetching and unpacking kernel packages
	debootstrap         # build roots for kernels the host cannot build modules for (7.2)
	xz-utils            # unpacking linux-source for the kernel-tree test
	gnupg               # the signed loopback archives of the image tests
	gdb                 # the --gdb test attaches a scripted gdb
	git ca-certificates
	chromium            # the HTML report test renders it headless
)

missing=()
for p in "${packages[@]}"; do
	[[ $p == \#* ]] && continue
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if ((${#missing[@]})); then
	sudo=""
	if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
	echo "setup: installing ${missing[*]}" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if ! command -v go >/dev/null; then
	echo "setup: Go is not installed (lab needs Go 1.26 or newer: it builds the guest agent and u-root)" >&2
	exit 1
fi
go mod download
