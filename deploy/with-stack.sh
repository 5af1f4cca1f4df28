# Sourced by the Makefile before a command that needs the services: makes ES_URL and MONGO_URL point at
# running ones. When neither is set it starts the local stack, and stops it again when the recipe's shell
# exits unless KEEP_STACK=1 (the stack's cache makes the next start take seconds). The stack's exports also
# set MONGO_STREAM_URL (mongo-java-server, for change streams); when ES_URL and MONGO_URL are given instead,
# set it yourself or the tests that need it are skipped.
if [[ -z "${ES_URL:-}" || -z "${MONGO_URL:-}" ]]; then
  if ! stack_exports=$(deploy/local/stack up); then
    echo "could not start the local stack (deploy/local/stack up); see the line above" >&2
    exit 1
  fi
  eval "$stack_exports"
  if [[ "${KEEP_STACK:-0}" != 1 ]]; then
    trap 'deploy/local/stack down >&2' EXIT
  fi
fi
