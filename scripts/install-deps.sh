#!/bin/sh
# Installs the Debian packages dynvol needs to build, run and test.
# Idempotent and silent when everything is present; runs `apt-get update`
# only when something must be installed. Debian packages only.
set -eu

PACKAGES="
build-essential pkg-config meson ninja-build clang libclang-rt-14-dev
libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
protobuf-compiler libprotobuf-dev
libsqlite3-dev libjansson-dev libyaml-dev libcurl4-openssl-dev
libmicrohttpd-dev libmount-dev libblkid-dev libcmocka-dev
python3 python3-pytest python3-grpcio python3-protobuf python3-matplotlib python3-yaml
golang-go golang-google-grpc-dev golang-google-protobuf-dev
protoc-gen-go-grpc golang-goprotobuf-dev
e2fsprogs xfsprogs btrfs-progs util-linux mount fio
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root (or: sudo $0)" >&2
	exit 1
fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
