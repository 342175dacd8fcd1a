#!/usr/bin/env bash
# Installs what the client compatibility tests need:
#   - kcat (Debian package)
#   - a Python venv at test/compat/.venv with confluent-kafka and its schema
#     registry serializers' dependencies (requirements.txt)
#   - the Java check program, test/compat/java/target/compat-check.jar
#     (kafka-clients from Maven Central, built with Maven into ~/.m2)
#   - kafkajs and @kafkajs/confluent-schema-registry for the Node check
#     programs, test/compat/node/node_modules
#     (npm ci from node/package-lock.json)
# Idempotent and quick when everything is already in place. Never reads stdin.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

log() { printf 'compat install: %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        echo "compat install: need root (or sudo) to run: $*" >&2
        return 1
    fi
}

# --- kcat -------------------------------------------------------------------
if command -v kcat >/dev/null 2>&1; then
    log "kcat present: $(kcat -V 2>&1 | sed -n 's/^Version /Version /p' | head -n1)"
else
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only when apt does not know kcat yet.
    if ! apt-cache show kcat >/dev/null 2>&1; then
        log "apt-get update"
        as_root apt-get update -q </dev/null
    fi
    log "apt-get install kcat"
    as_root apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends kcat </dev/null
fi

# --- Python venv with confluent-kafka --------------------------------------
python="${PYTHON:-python3}"
venv="$here/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && "$venv/bin/python" -c 'import confluent_kafka.schema_registry.avro, confluent_kafka.schema_registry.json_schema, confluent_kafka.schema_registry.protobuf' >/dev/null 2>&1; then
    log "python venv up to date: confluent-kafka $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("confluent-kafka"))')"
else
    log "creating python venv with $(grep -v '^#' requirements.txt | tr '\n' ' ')"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-input -r requirements.txt </dev/null
    echo "$want" >"$stamp"
fi

# --- Java check program ------------------------------------------------------
jar="$here/java/target/compat-check.jar"
newest_src="$(find java/pom.xml java/src -type f -newer "$jar" 2>/dev/null | head -n1 || true)"
if [ -f "$jar" ] && [ -z "$newest_src" ]; then
    log "java check program up to date: $jar"
else
    log "building java check program (mvn package)"
    mvn -q -B -Dstyle.color=never -f java/pom.xml package </dev/null
    touch "$jar"
fi

# --- Node check program with kafkajs -----------------------------------------
node_stamp="$here/node/node_modules/.package-lock.sha256"
node_want="$(sha256sum node/package-lock.json | cut -d' ' -f1)"
if [ -f "$node_stamp" ] && [ "$(cat "$node_stamp")" = "$node_want" ] && [ -d node/node_modules/kafkajs ] \
    && [ -d node/node_modules/@kafkajs/confluent-schema-registry ]; then
    log "node packages up to date: kafkajs $(node -p 'require("./node/node_modules/kafkajs/package.json").version'), @kafkajs/confluent-schema-registry $(node -p 'require("./node/node_modules/@kafkajs/confluent-schema-registry/package.json").version')"
else
    log "npm ci in node/"
    (cd node && npm ci --no-audit --no-fund --loglevel=error </dev/null)
    echo "$node_want" >"$node_stamp"
fi

log "done"
