# Sourced by scripts/integration.sh and scripts/bench-engines.sh: the scale-out servers on
# loopback — PostgreSQL (scripts/postgres.sh) and one Garage per site (scripts/garage.sh).
#
#   servers_up      build Garage if needed, start fresh servers, export their variables,
#                   and stop them when the calling script exits
#   servers_down    stop them

servers_down() {
  scripts/garage.sh stop a || true
  scripts/garage.sh stop b || true
  scripts/postgres.sh stop || true
}

servers_up() {
  scripts/garage.sh install
  trap servers_down EXIT
  scripts/postgres.sh setup
  scripts/garage.sh setup a
  scripts/garage.sh setup b
  eval "$(scripts/postgres.sh env)"
  eval "$(scripts/garage.sh env)"
}
