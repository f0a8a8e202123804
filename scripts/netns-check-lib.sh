# Shared by scripts/consumer-check.sh and scripts/runtime-matrix.sh (sourced): a work
# directory and a network namespace that go away on exit with the processes started into
# $pids, and waiting for a line of output. The sourcing script sets $work and $ns first.
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# Foreground only: a backgrounded function would be a subshell, and signals would miss node.
in_ns() { ip netns exec "$ns" "$@"; }
# Waits up to $2 seconds for file $1 to contain a line matching $3; else shows the file
# and returns 1.
wait_for_line() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    grep -qE "$3" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "--- $1:" >&2
  cat "$1" >&2 || true
  echo "no line matching /$3/ in $1 within $2 s" >&2
  return 1
}
