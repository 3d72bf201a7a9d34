# Sourced by the .ci/ scripts: logs inside the clone, progress while something long runs, apt that
# waits for another apt and never asks for a password.

CI_LOG_DIR="${CI_LOG_DIR:-.ci/logs}"  # relative to the clone (the scripts cd there first); git-ignored
mkdir -p "$CI_LOG_DIR"

# with_progress LABEL LOG COMMAND...: runs COMMAND with its output in LOG, printing one status line
# every 10 s (elapsed time and the last thing it said) so a long install is never silent.
with_progress() {
  local label="$1" log="$2"; shift 2
  local start=$SECONDS status=0
  echo "$label... (log: $log)"
  "$@" >"$log" 2>&1 &
  local pid=$! last_said=$SECONDS every="${CI_PROGRESS_EVERY:-10}"
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if kill -0 "$pid" 2>/dev/null && (( SECONDS - last_said >= every )); then
      local last
      # `|| true`: no matching line yet must not end a `set -euo pipefail` caller (and orphan the job).
      last="$({ grep -E '^ *(Collecting|Downloading|Installing|Building|Processing|Get:|Unpacking|Setting up|added|npm)' "$log" || true; } | tail -1 | cut -c1-90)"
      echo "  ${label}: $((SECONDS - start))s${last:+  ($last)}"
      last_said=$SECONDS
    fi
  done
  wait "$pid" || status=$?
  if [ "$status" -eq 0 ]; then
    echo "  ${label}: done in $((SECONDS - start))s"
  else
    echo "  ${label}: FAILED after $((SECONDS - start))s; last lines of $log:" >&2
    grep -v "^WARNING: Location" "$log" | tail -8 >&2
  fi
  return "$status"
}

# can_apt: apt-get is there and we are root. Never sudo: a password prompt would stop an unattended
# job; a non-root user gets a warning and the tests that need the package skip with the reason.
can_apt() {
  command -v apt-get >/dev/null || { echo "WARNING: $1: no apt-get here; $2" >&2; return 1; }
  if [ "$(id -u)" -ne 0 ]; then
    echo "WARNING: $1: apt-get needs root and this is not root (no sudo: it could stop at a password prompt); $2" >&2
    return 1
  fi
}

# apt_install LOG PACKAGE...: waits up to 10 min for another apt/dpkg's lock (DPkg::Lock::Timeout)
# instead of failing with "Could not get lock /var/lib/dpkg/lock-frontend"; updates the lists only
# when the install cannot find the package.
apt_get_install() {
  local opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
  export DEBIAN_FRONTEND=noninteractive
  apt-get "${opts[@]}" install -y -q "$@" ||
    { apt-get "${opts[@]}" update -q && apt-get "${opts[@]}" install -y -q "$@"; }
}
apt_install() {
  local log="$1"; shift
  with_progress "apt-get install $*" "$log" apt_get_install "$@"
}
