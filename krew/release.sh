#!/usr/bin/env bash
# Build the krew release archives of kubectl-promfix and write their sha256 into the krew manifest.
#
#   krew/release.sh [--out DIR] [--platforms "linux-amd64 darwin-arm64 ..."] [--prebuilt DIR] [--in-place]
#
# For every platform of krew/promfix.yaml (linux-amd64, linux-arm64, darwin-amd64, darwin-arm64,
# windows-amd64) it builds (cargo, release profile) or takes a prebuilt binary, packs it with LICENSE at the
# top level of the archive (krew refuses plugins without a licence file; the manifest has no `files:`, so krew
# installs every top-level file), computes the sha256 and writes it into the manifest:
#   - into DIR/promfix.yaml (default), or into krew/promfix.yaml itself with --in-place.
# Archives: DIR/kubectl-promfix-<os>-<arch>.tar.gz (.zip for windows), as the manifest's uri names them.
#
# A platform is built when its Rust target is the host's, or installed (`rustup target list --installed`) —
# cross targets also need a linker. Otherwise it is SKIPPED, with a message saying so, unless a prebuilt binary
# is given: --prebuilt DIR takes DIR/kubectl-promfix-<os>-<arch>[.exe] or DIR/<os>-<arch>/kubectl-promfix[.exe].
# Skipped platforms keep the sha256 the manifest had. Exit status: 0 when every requested platform has an
# archive, 3 when some were skipped (the archives that were built are there), 1 on errors.
# The cargo target directory is $CARGO_TARGET_DIR when set (so an existing release build is reused).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/dist"
PREBUILT=""
IN_PLACE=0
PLATFORMS="linux-amd64 linux-arm64 darwin-amd64 darwin-arm64 windows-amd64"

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --out=*) OUT="${1#*=}"; shift ;;
    --platforms) PLATFORMS="$2"; shift 2 ;;
    --platforms=*) PLATFORMS="${1#*=}"; shift ;;
    --prebuilt) PREBUILT="$2"; shift 2 ;;
    --prebuilt=*) PREBUILT="${1#*=}"; shift ;;
    --in-place) IN_PLACE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

NAME=kubectl-promfix
MANIFEST="$ROOT/krew/promfix.yaml"
VERSION="v$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -1)"
[ "$VERSION" != "v" ] || { echo "error: no version in Cargo.toml" >&2; exit 1; }
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
HOST="$(rustc -vV | sed -n 's/^host: //p')"
INSTALLED="$(rustup target list --installed 2>/dev/null || true)"

triple() {
  case "$1" in
    linux-amd64) echo x86_64-unknown-linux-gnu ;;
    linux-arm64) echo aarch64-unknown-linux-gnu ;;
    darwin-amd64) echo x86_64-apple-darwin ;;
    darwin-arm64) echo aarch64-apple-darwin ;;
    windows-amd64) echo x86_64-pc-windows-gnu ;;
    *) return 1 ;;
  esac
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

# The manifest to write: a copy (default) or the committed one (--in-place).
if [ "$IN_PLACE" = 1 ]; then DEST="$MANIFEST"; else DEST="$OUT/promfix.yaml"; cp "$MANIFEST" "$DEST"; fi
# The version and the release URLs follow Cargo.toml.
sed -i.bak -e "s#^\(  version: \).*#\1$VERSION#" \
  -e "s#/releases/download/v[^/]*/#/releases/download/$VERSION/#" "$DEST" && rm -f "$DEST.bak"

set_sha() { # archive-file-name sha
  awk -v file="$1" -v sum="$2" '
    /^[ -]*uri:/ { hit = ($0 ~ ("/" file "$")) }
    /^[ ]*sha256:/ && hit { sub(/sha256:.*/, "sha256: " sum); hit = 0 }
    { print }' "$DEST" > "$DEST.tmp" && mv "$DEST.tmp" "$DEST"
  grep -q "sha256: $2" "$DEST" || { echo "error: no platform with uri .../$1 in the manifest" >&2; exit 1; }
}

built=() skipped=()
for p in $PLATFORMS; do
  t="$(triple "$p")" || { echo "error: unknown platform $p" >&2; exit 2; }
  exe=""; case "$p" in windows-*) exe=".exe" ;; esac
  bin=""
  if [ -n "$PREBUILT" ]; then
    for c in "$PREBUILT/$NAME-$p$exe" "$PREBUILT/$p/$NAME$exe"; do
      [ -f "$c" ] && { bin="$c"; echo "$p: using the prebuilt $c" >&2; break; }
    done
  fi
  if [ -z "$bin" ]; then
    if [ "$t" = "$HOST" ]; then
      echo "$p: cargo build --release (host target $t)" >&2
      cargo build --release --locked --bin "$NAME" --manifest-path "$ROOT/Cargo.toml" >&2
      bin="$TARGET_DIR/release/$NAME$exe"
    elif printf '%s\n' "$INSTALLED" | grep -qx "$t"; then
      echo "$p: cargo build --release --target $t" >&2
      if cargo build --release --locked --bin "$NAME" --target "$t" --manifest-path "$ROOT/Cargo.toml" >&2; then
        bin="$TARGET_DIR/$t/release/$NAME$exe"
      else
        echo "SKIPPED $p: cross build for $t failed (a linker for $t is needed); pass --prebuilt DIR" >&2
        skipped+=("$p"); continue
      fi
    else
      echo "SKIPPED $p: cannot build here: Rust target $t is not installed (rustup target add $t, plus a" \
        "linker for it), and no prebuilt binary was given (--prebuilt DIR with $NAME-$p$exe)" >&2
      skipped+=("$p"); continue
    fi
  fi
  [ -f "$bin" ] || { echo "error: $p: $bin does not exist" >&2; exit 1; }

  stage="$(mktemp -d)"
  cp "$bin" "$stage/$NAME$exe"
  chmod 0755 "$stage/$NAME$exe"
  cp "$ROOT/LICENSE" "$stage/LICENSE"
  case "$p" in
    windows-*)
      command -v zip >/dev/null 2>&1 || { echo "error: zip is needed for $p (Debian package: zip)" >&2; exit 1; }
      archive="$NAME-$p.zip"
      rm -f "$OUT/$archive"
      (cd "$stage" && touch -d @0 "$NAME$exe" LICENSE && zip -qX "$OUT/$archive" "$NAME$exe" LICENSE) ;;
    *)
      archive="$NAME-$p.tar.gz"
      tar -C "$stage" --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name \
        -cf - "$NAME" LICENSE | gzip -n -9 > "$OUT/$archive" ;;
  esac
  rm -rf "$stage"
  sum="$(sha256 "$OUT/$archive")"
  set_sha "$archive" "$sum"
  printf '%s  %s\n' "$sum" "$archive"
  built+=("$p")
done

echo "manifest: $DEST" >&2
echo "built: ${built[*]:-none}" >&2
if [ ${#skipped[@]} -gt 0 ]; then
  echo "SKIPPED (their sha256 in the manifest is unchanged and NOT valid for this build): ${skipped[*]}" >&2
  exit 3
fi
