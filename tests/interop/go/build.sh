#!/bin/bash
# Builds the grpc-go interop client (tests/interop/go/*.go: main.go the
# checks, bench.go the load mode).
#
#   tests/interop/go/build.sh OUT_BINARY
#
# Offline, GOPATH mode, against Debian's Go packages (scripts/install-deps.sh
# installs them): golang-go, golang-google-grpc-dev (grpc-go 1.33),
# golang-goprotobuf-dev (github.com/golang/protobuf 1.3.5 and its
# protoc-gen-go), protobuf-compiler.
#
# The CSI code is generated from proto/csi.proto by the old protoc-gen-go
# 1.3.5 with plugins=grpc (messages and client/server stubs in one file).
# Its well-known types are mapped to github.com/golang/protobuf/ptypes/*
# (the 1.3.5 generated types): /usr/include's timestamp.proto and
# wrappers.proto name google.golang.org/protobuf/types/known/* as their
# go_package, APIv2 types that the 1.3.5 runtime cannot marshal.
# protoc-gen-go-grpc is not used: it only makes the stubs and needs
# message types from the APIv2 protoc-gen-go, which Debian does not ship
# as a binary.
#
# Everything happens in a temporary directory removed on exit: the GOPATH
# and, unless DYNVOL_GOCACHE names a directory to keep, the Go build cache.
# A cold build (grpc-go and protobuf compiled from source; the standard
# library comes prebuilt with Debian's golang-go) takes about 10 s on 2
# cores; with a warm DYNVOL_GOCACHE about 2 s.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUT_BINARY" >&2
	exit 2
fi
out=$1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
proto_dir=${DYNVOL_PROTO_DIR:-$repo/proto}
gocode=/usr/share/gocode

for tool in go protoc protoc-gen-go; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "build.sh: '$tool' not found: run scripts/install-deps.sh" >&2
		exit 1
	fi
done
for dir in "$gocode/src/google.golang.org/grpc" "$gocode/src/github.com/golang/protobuf/proto"; do
	if [ ! -d "$dir" ]; then
		echo "build.sh: $dir missing: run scripts/install-deps.sh" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dynvol-interop-go.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

gopath=$tmp/gopath
pkg=$gopath/src/dynvol.io/csipb
mkdir -p "$pkg" "$gopath/src/dynvol.io/interop"

wkt=Mgoogle/protobuf/timestamp.proto=github.com/golang/protobuf/ptypes/timestamp
wkt=$wkt,Mgoogle/protobuf/wrappers.proto=github.com/golang/protobuf/ptypes/wrappers
protoc -I"$proto_dir" -I/usr/include \
	--go_out="plugins=grpc,paths=source_relative,$wkt:$pkg" \
	"$proto_dir/csi.proto"

cp "$here"/*.go "$gopath/src/dynvol.io/interop/"

gocache=${DYNVOL_GOCACHE:-$tmp/gocache}
mkdir -p "$gocache"

case $out in
/*) ;;
*) out=$PWD/$out ;;
esac
mkdir -p "$(dirname "$out")"

# Build into the temp dir, then move into place, so OUT_BINARY is never
# left half written.
(
	cd "$gopath/src/dynvol.io/interop"
	env GO111MODULE=off GOFLAGS= GOPROXY=off GOPATH="$gopath:$gocode" \
		GOCACHE="$gocache" \
		go build -o "$tmp/interop" .
)
mv -f "$tmp/interop" "$out"
