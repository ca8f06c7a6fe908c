# Sourced by scripts that need a tool built from crates.io: builds it once with
# `cargo install --locked` into $CALLVAULT_TOOL_CACHE (default ~/.cache/callvault-tools),
# one directory per version, and prints the binary's path.
#
#   cached_tool <crate> <version> [binary]

cached_tool() {
  local crate=$1 version=$2 bin=${3:-$1}
  local cache="${CALLVAULT_TOOL_CACHE:-$HOME/.cache/callvault-tools}"
  local root="$cache/$crate-$version"
  if [ ! -x "$root/bin/$bin" ]; then
    echo "building $crate $version into $root (once; cached for later runs)" >&2
    cargo install --locked --quiet "$crate@$version" --root "$root" >&2
  fi
  echo "$root/bin/$bin"
}
