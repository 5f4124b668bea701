#!/bin/sh
# Pin the Ankra CLI release the executor image installs: tools/image/pin-ankra-cli.sh VERSION
#
# Downloads ankra-cli-linux-amd64 and -arm64 of release VERSION, checks each against the release's own
# .sha256 file, and writes their SHA-256 into tools/image/ankra-cli.lock (the Dockerfile then refuses any
# other bytes). Needs curl, sha256sum and access to github.com. Review `git diff` before committing.
set -eu
version="${1:?usage: $0 VERSION (a tag of github.com/ankraio/ankra-cli, e.g. v0.13.0-rc0)}"
lock="$(dirname "$0")/ankra-cli.lock"
base="https://github.com/ankraio/ankra-cli/releases/download/${version}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
{
  sed -n '/^#/p' "$lock"
  echo "version=${version}"
  for arch in amd64 arm64; do
    asset="ankra-cli-linux-${arch}"
    curl -fsSL --proto '=https' --tlsv1.2 "${base}/${asset}" -o "${work}/${asset}"
    curl -fsSL --proto '=https' --tlsv1.2 "${base}/${asset}.sha256" -o "${work}/${asset}.sha256"
    sum="$(sha256sum "${work}/${asset}" | cut -d' ' -f1)"
    published="$(cut -d' ' -f1 "${work}/${asset}.sha256")"
    if [ "$sum" != "$published" ]; then
      echo "${asset}: SHA-256 ${sum} differs from the release's ${published}: not pinned" >&2
      exit 1
    fi
    echo "url_${arch}=${base}/${asset}"
    echo "sha256_${arch}=${sum}"
  done
} > "${work}/lock"
mv "${work}/lock" "$lock"
echo "pinned ankra-cli ${version} in ${lock}"
