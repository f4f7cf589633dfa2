#!/bin/sh
# Entrypoint of the sdk-ap container image (POSIX sh; tested natively by access-point/tests/docker_entrypoint.rs).
#
#   docker-entrypoint.sh [serve] [SERVE-ARGS...]   first start: `sdk-ap init` when no configuration is mounted;
#                                                  then applies SDK_AP_* overrides and execs `sdk-ap serve`
#   docker-entrypoint.sh effective-config          prints the configuration `serve` would run (init + overrides)
#   docker-entrypoint.sh healthcheck               GET /readyz on this node's AS4 listener (mutual TLS)
#   docker-entrypoint.sh setup-federation OUT HOME...
#                                                  compose one-shot: init each HOME (once), link them all as peers,
#                                                  write OUT/federation.toml for sdk-federation-sim
#   docker-entrypoint.sh ANY-OTHER-SDK-AP-COMMAND  runs `sdk-ap ...` unchanged (status, send, lookup, ...)
#
# Settings (environment; docker/README.md has the full table):
#   SDK_AP_HOME        folder of sdk-ap.toml and keys/               (default /etc/sdk-ap)
#   SDK_AP_CONFIG      the configuration file                        (default $SDK_AP_HOME/sdk-ap.toml)
#   SDK_AP_INIT_DEV_PKI  1: create a development config + PKI when the file is missing; 0: refuse to start
#   SDK_AP_PARTY_ID    party id for that first-start init            (default AP0001-DEV)
# Overrides (each replaces one setting of the file in an effective copy next to it, or in SDK_AP_RUNTIME_DIR when
# the configuration folder is read-only; unset or empty = the file decides):
#   SDK_AP_LISTEN -> server.listen            SDK_AP_PUBLIC_ENDPOINT -> server.public_endpoint
#   SDK_AP_API_LISTEN -> api.listen           SDK_AP_API_ALLOW_NON_LOOPBACK -> api.allow_non_loopback
#   SDK_AP_DATA_DIR -> node.data_dir          SDK_AP_MAX_PAYLOAD_BYTES -> limits.max_payload_bytes
#   SDK_AP_SML_ZONE -> discovery.sml_zone     SDK_AP_DNS_SERVERS -> discovery.dns_servers (comma list)
#   SDK_AP_SMP_ANCHORS -> trust.smp_anchors (comma list)
#   SDK_AP_LOG_FORMAT text|json (serve --log-format), SDK_AP_LOG (log filter, read by sdk-ap itself)
set -eu

SDK_AP_BIN=${SDK_AP_BIN:-sdk-ap}
SDK_AP_HOME=${SDK_AP_HOME:-/etc/sdk-ap}
SDK_AP_CONFIG=${SDK_AP_CONFIG:-$SDK_AP_HOME/sdk-ap.toml}
EFFECTIVE_NAME=sdk-ap.effective.toml

log() { printf 'sdk-ap-entrypoint: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

# The port of an IP:PORT or [IPv6]:PORT address.
port_of() { printf '%s\n' "${1##*:}"; }

# A TOML basic string for $1; refuses control characters (a newline would end the value and inject settings).
toml_string() {
  case $1 in *[[:cntrl:]]*) die "$2: control characters are not allowed" ;; esac
  printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

toml_bool() {
  case $1 in true | false) printf '%s' "$1" ;; *) die "$2 must be true or false, not '$1'" ;; esac
}

toml_integer() {
  case $1 in '' | *[!0-9]*) die "$2 must be a non-negative integer, not '$1'" ;; *) printf '%s' "$1" ;; esac
}

# A TOML array of strings from a comma-separated list.
toml_string_list() {
  list=$1 name=$2 out='' rest=$1
  while [ -n "$rest" ]; do
    item=${rest%%,*}
    if [ "$item" = "$rest" ]; then rest=''; else rest=${rest#*,}; fi
    [ -n "$item" ] || die "$name has an empty item: '$list'"
    out="$out${out:+, }$(toml_string "$item" "$name")"
  done
  printf '[%s]' "$out"
}

# set_setting FILE SECTION KEY VALUE: sets KEY = VALUE (a TOML literal) in [SECTION] of FILE, replacing the key's
# line (and the following lines of a multi-line array), else adding it at the end of the section, else appending the
# section. Other lines, comments and tables ([keys.tls], [[peers]]) are left as they are.
set_setting() {
  file=$1
  # Passed through the environment: awk -v would interpret the backslash escapes of the TOML literal.
  SET_SECTION=$2 SET_KEY=$3 SET_VALUE=$4 awk '
    function header_name(line) {
      sub(/#.*/, "", line); gsub(/[ \t]/, "", line)
      if (line ~ /^\[\[.*\]\]$/) return "[[" substr(line, 3, length(line) - 4) "]]"
      if (line ~ /^\[.*\]$/) return substr(line, 2, length(line) - 2)
      return ""
    }
    BEGIN {
      section = ENVIRON["SET_SECTION"]; key = ENVIRON["SET_KEY"]; value = ENVIRON["SET_VALUE"]
      current = ""; done = 0; seen = 0; skipping = 0
    }
    skipping { if ($0 ~ /\]/) skipping = 0; next }
    {
      name = header_name($0)
      if (name != "") {
        if (current == section && !done) { print key " = " value; done = 1 }
        current = name
        if (name == section) seen = 1
        print; next
      }
      if (current == section && !done && $0 ~ "^[ \t]*" key "[ \t]*=") {
        print key " = " value; done = 1
        rest = $0; sub(/^[^=]*=[ \t]*/, "", rest)
        if (rest ~ /^\[/ && rest !~ /\]/) skipping = 1
        next
      }
      print
    }
    END {
      if (!done && current == section) { print key " = " value; done = 1 }
      if (!done && !seen) { print ""; print "[" section "]"; print key " = " value }
    }
  ' "$file" >"$file.tmp" && mv "$file.tmp" "$file"
}

# The overrides: environment variable, section, key, encoder of the value.
OVERRIDES='SDK_AP_LISTEN server listen toml_string
SDK_AP_PUBLIC_ENDPOINT server public_endpoint toml_string
SDK_AP_API_LISTEN api listen toml_string
SDK_AP_API_ALLOW_NON_LOOPBACK api allow_non_loopback toml_bool
SDK_AP_DATA_DIR node data_dir toml_string
SDK_AP_MAX_PAYLOAD_BYTES limits max_payload_bytes toml_integer
SDK_AP_SML_ZONE discovery sml_zone toml_string
SDK_AP_DNS_SERVERS discovery dns_servers toml_string_list
SDK_AP_SMP_ANCHORS trust smp_anchors toml_string_list'

# Writes the effective configuration (the file plus every override that is set) next to the file, so relative
# paths in it still resolve; prints the path to serve. Without overrides the file itself is served.
effective_config() {
  set_names=''
  while read -r name section key encoder; do
    eval "is_set=\${$name:+x}"
    [ -z "$is_set" ] || set_names="$set_names $name"
  done <<EOF
$OVERRIDES
EOF
  if [ -z "$set_names" ]; then
    printf '%s\n' "$SDK_AP_CONFIG"
    return 0
  fi
  dir=$(dirname "$SDK_AP_CONFIG")
  if [ -w "$dir" ]; then
    target=$dir/$EFFECTIVE_NAME
  else
    # A read-only configuration folder: the copy goes to a writable folder in which every entry of the
    # configuration folder is linked, so the file's relative paths (keys/..., trust/...) still resolve.
    runtime=${SDK_AP_RUNTIME_DIR:-/var/lib/sdk-ap/effective-config}
    mkdir -p "$runtime" || die "$dir is read-only and $runtime cannot be created for the overrides:$set_names"
    for entry in "$dir"/*; do
      [ ! -e "$entry" ] || ln -sfn "$entry" "$runtime/$(basename "$entry")"
    done
    target=$runtime/$EFFECTIVE_NAME
  fi
  {
    printf '# Written by the sdk-ap container entrypoint on every start: %s plus%s.\n' "$SDK_AP_CONFIG" "$set_names"
    printf '# Edit %s or the environment, not this file.\n' "$SDK_AP_CONFIG"
    cat "$SDK_AP_CONFIG"
  } >"$target.new"
  while read -r name section key encoder; do
    eval "is_set=\${$name:+x}"
    [ -n "$is_set" ] || continue
    raw=""
    eval "raw=\$$name"
    literal=$("$encoder" "$raw" "$name") || exit 2
    set_setting "$target.new" "$section" "$key" "$literal" || exit 2
  done <<EOF
$OVERRIDES
EOF
  mv "$target.new" "$target"
  printf '%s\n' "$target"
}

# First start: a development configuration and PKI when none is mounted (unless SDK_AP_INIT_DEV_PKI=0).
ensure_config() {
  [ ! -e "$SDK_AP_CONFIG" ] || return 0
  [ "${SDK_AP_INIT_DEV_PKI:-1}" = 1 ] ||
    die "$SDK_AP_CONFIG is missing; mount a configuration (SDK_AP_INIT_DEV_PKI=0 forbids generating one)"
  [ "$(basename "$SDK_AP_CONFIG")" = sdk-ap.toml ] ||
    die "$SDK_AP_CONFIG is missing and is not named sdk-ap.toml, so sdk-ap init cannot create it"
  home=$(dirname "$SDK_AP_CONFIG")
  as4_port=$(port_of "${SDK_AP_LISTEN:-127.0.0.1:8443}")
  api_port=$(port_of "${SDK_AP_API_LISTEN:-127.0.0.1:8080}")
  log "no configuration at $SDK_AP_CONFIG: creating a development access point ${SDK_AP_PARTY_ID:-AP0001-DEV}" \
    "(development PKI: never use it in production)"
  "$SDK_AP_BIN" init --dir "$home" --party "${SDK_AP_PARTY_ID:-AP0001-DEV}" --port "$as4_port" \
    --api-port "$api_port" >&2
}

healthcheck() {
  config=$SDK_AP_CONFIG
  [ ! -e "$(dirname "$config")/$EFFECTIVE_NAME" ] || config=$(dirname "$config")/$EFFECTIVE_NAME
  listen=${SDK_AP_LISTEN:-$(sed -n '/^\[server\]/,/^\[/s/^listen *= *"\(.*\)".*/\1/p' "$config" | head -n 1)}
  port=$(port_of "${listen:-127.0.0.1:8443}")
  keys=$(dirname "$SDK_AP_CONFIG")/keys
  # The probe checks readiness of our own listener over loopback, so it does not check the server's name (-k);
  # the listener still requires our client certificate.
  exec curl --silent --show-error --fail --max-time 5 -k \
    --cert "${SDK_AP_HEALTH_CERT:-$keys/tls.pem}" --key "${SDK_AP_HEALTH_KEY:-$keys/tls.key.pem}" \
    "https://127.0.0.1:$port/readyz"
}

# setup-federation OUT HOME...: every HOME gets a development AP (party id from its folder name, AS4:API ports from
# SDK_AP_SETUP_PORTS in order, default 8443:8080 9443:9080 10443:10080 11443:11080), each is linked to every other
# once, and OUT/federation.toml is (re)written from their configurations.
setup_federation() {
  [ $# -ge 2 ] || die "usage: setup-federation OUT HOME..."
  out=$1
  shift
  ports=${SDK_AP_SETUP_PORTS:-8443:8080 9443:9080 10443:10080 11443:11080}
  for home in "$@"; do
    pair=${ports%% *}
    [ -n "$pair" ] || die "SDK_AP_SETUP_PORTS has fewer AS4:API port pairs than there are access points"
    if [ "$pair" = "$ports" ]; then ports=''; else ports=${ports#* }; fi
    party=$(basename "$home" | tr '[:lower:]' '[:upper:]')
    if [ ! -e "$home/sdk-ap.toml" ]; then
      "$SDK_AP_BIN" init --dir "$home" --party "$party" --port "${pair%%:*}" --api-port "${pair#*:}" >&2
    fi
  done
  for home in "$@"; do
    for other in "$@"; do
      [ "$home" != "$other" ] || continue
      marker=$home/.linked-$(basename "$other")
      [ ! -e "$marker" ] || continue
      "$SDK_AP_BIN" peers add --config "$home/sdk-ap.toml" --from "$other/sdk-ap.toml" >&2
      : >"$marker"
    done
  done
  for home do
    set -- "$@" "$home/sdk-ap.toml"
    shift
  done
  "$SDK_AP_BIN" init-federation --force --out "$out" "$@" >&2
}

command=${1:-serve}
case $command in
  serve)
    [ $# -eq 0 ] || shift
    ensure_config
    config=$(effective_config) || exit 2
    log "serving $config"
    exec "$SDK_AP_BIN" serve --config "$config" --log-format "${SDK_AP_LOG_FORMAT:-text}" "$@"
    ;;
  effective-config)
    ensure_config
    config=$(effective_config) || exit 2
    cat "$config"
    ;;
  healthcheck) healthcheck ;;
  setup-federation)
    shift
    setup_federation "$@"
    ;;
  *) exec "$SDK_AP_BIN" "$@" ;;
esac
