#!/usr/bin/env bash
# Build k6 at a pinned version into .tools/bin/k6 (git-ignored); nothing when it is there.
#
# k6 is a Go program and the Go module proxy is the registry we reach, so it is built from
# source (`go install go.k6.io/k6@VERSION`, ~2-4 min on 2 cores the first time, then the
# module and build caches make a rebuild quick). k6 v1.8 needs Go >= 1.25:
#   - a Go >= 1.25 on PATH or in /usr/local/go is used as it is;
#   - a Go 1.21-1.24 fetches the pinned toolchain itself (GOTOOLCHAIN=$GO_TOOLCHAIN);
#   - no Go, or an older one (Debian 12's golang-go is 1.19, which predates GOTOOLCHAIN):
#     the toolchain's module zip (golang.org/toolchain) is taken from the module proxy
#     into .tools/go and used from there.
set -euo pipefail

K6_VERSION="${K6_VERSION:-v1.8.1}"
GO_TOOLCHAIN="${GO_TOOLCHAIN:-go1.25.12}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="$ROOT/.tools"
K6="$TOOLS/bin/k6"
PROXY="${GOPROXY:-https://proxy.golang.org}"
PROXY="${PROXY%%,*}"

if [[ -x "$K6" ]] && "$K6" version 2>/dev/null | grep -q "k6 ${K6_VERSION}"; then
    exit 0
fi

# minor version of a `go` binary (1.NN), 0 when it cannot tell
go_minor() {
    "$1" env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p' | grep . || echo 0
}

GO=""
for candidate in "$(command -v go || true)" /usr/local/go/bin/go "$TOOLS/go/bin/go"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then
        GO="$candidate"
        break
    fi
done

export GOTOOLCHAIN=local
minor=0
[[ -n "$GO" ]] && minor="$(GOTOOLCHAIN=local go_minor "$GO")"
if ((minor >= 25)); then
    :
elif ((minor >= 21)); then
    export GOTOOLCHAIN="$GO_TOOLCHAIN"
else
    arch="$(uname -m)"
    case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
    mod="v0.0.1-${GO_TOOLCHAIN}.linux-${arch}"
    echo "k6: no Go >= 1.21 here; fetching ${GO_TOOLCHAIN} (golang.org/toolchain@${mod}) from ${PROXY}"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    curl -fsSL --retry 3 -o "$tmp/go.zip" "${PROXY}/golang.org/toolchain/@v/${mod}.zip"
    (cd "$tmp" && python3 -m zipfile -e go.zip x)
    rm -rf "$TOOLS/go"
    mkdir -p "$TOOLS"
    mv "$tmp/x/golang.org/toolchain@${mod}" "$TOOLS/go"
    chmod +x "$TOOLS"/go/bin/* "$TOOLS"/go/pkg/tool/*/* 2>/dev/null || true
    GO="$TOOLS/go/bin/go"
fi

echo "k6: building go.k6.io/k6@${K6_VERSION} with $("$GO" version) (GOTOOLCHAIN=$GOTOOLCHAIN)"
mkdir -p "$TOOLS/bin"
CGO_ENABLED=0 GOBIN="$TOOLS/bin" GOFLAGS=-trimpath "$GO" install "go.k6.io/k6@${K6_VERSION}"
"$K6" version
