#!/bin/sh
# Pin the Python base image by digest: tools/image/pin-base-image.sh [IMAGE]   (default: the lock's image)
#
# Asks the registry for the tag's multi-platform index digest (docker buildx imagetools inspect), then
# writes it into tools/image/base-image.lock and the Dockerfile's `ARG PYTHON_IMAGE=`. Review `git diff`.
set -eu
here="$(dirname "$0")"
lock="${here}/base-image.lock"
dockerfile="${here}/../../Dockerfile"
image="${1:-$(sed -n 's/^image=//p' "$lock")}"
digest="$(docker buildx imagetools inspect "$image" --format '{{json .Manifest.Digest}}' | tr -d '"')"
case "$digest" in
  sha256:????????????????????????????????????????????????????????????????) ;;
  *) echo "no digest for ${image}: got '${digest}'" >&2; exit 1 ;;
esac
sed -i -e "s|^image=.*|image=${image}|" -e "s|^digest=.*|digest=${digest}|" -e "s|^verified=.*|verified=yes|" "$lock"
sed -i "s|^ARG PYTHON_IMAGE=.*|ARG PYTHON_IMAGE=${image}@${digest}|" "$dockerfile"
echo "pinned ${image}@${digest}"
