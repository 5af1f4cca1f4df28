# Sourced by the Makefile before a command that needs the services: makes ES_URL and MONGO_URL point at
# running ones. When neither is set it starts the local stack (the same ES_PORT, MONGO_PORT and
# CONTACT_SEARCH_STACK_DIR as `deploy/local/stack` itself), and when the recipe's shell exits it stops the
# services this command started, unless KEEP_STACK=1 (the stack's cache makes the next start take seconds).
# A service that was already running before it belongs to someone else and is left running. The stack's
# exports also set MONGO_STREAM_URL (mongo-java-server, for change streams); when ES_URL and MONGO_URL are
# given instead, set it yourself or the tests that need it are skipped.
if [[ -z "${ES_URL:-}" || -z "${MONGO_URL:-}" ]]; then
  # One line per service, "<name>: running, ..." or "<name>: not running"; exits 1 unless all run.
  stack_before=$(deploy/local/stack status 2>/dev/null) || true
  if ! stack_exports=$(deploy/local/stack up); then
    echo "could not start the local stack (deploy/local/stack up); see the line above" >&2
    exit 1
  fi
  eval "$stack_exports"
  stack_started=()
  while IFS=: read -r stack_service stack_state; do
    [[ -n $stack_service && $stack_state != " running,"* ]] && stack_started+=("$stack_service")
  done <<<"$stack_before"
  if [[ "${KEEP_STACK:-0}" != 1 ]]; then
    if [[ -z $stack_before ]]; then
      trap 'deploy/local/stack down >&2' EXIT # status said nothing: stop everything, as before
    elif ((${#stack_started[@]} > 0)); then
      # shellcheck disable=SC2064 # the names are fixed now, on purpose
      trap "deploy/local/stack down ${stack_started[*]} >&2" EXIT
    fi
  fi
fi
