#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Start and stop the real servers the scale-out tests talk to, on 127.0.0.1,
# with every byte of state under one folder:
#
#   services.sh start DIR BASE [pg] [redis] [amqp] [s3]   start (all four by default)
#   services.sh stop DIR [pg|redis|amqp|s3 ...]            stop (all by default)
#   services.sh up DIR pg|redis|amqp|s3                    start one again (same data)
#   services.sh down DIR pg|redis|amqp|s3                  stop one (chaos tests)
#   services.sh kill DIR pg|redis|amqp|s3                  kill -9 one
#
# Ports: PostgreSQL BASE, Redis BASE+1, AMQP BASE+2, Erlang distribution
# BASE+3, epmd BASE+4, s3rver BASE+5 (bucket tgh-test, key and secret
# S3RVER). DIR/env gets the URLs as shell assignments:
#   TGH_TEST_PG_URL  TGH_TEST_REDIS_URL  TGH_TEST_AMQP_URL  TGH_TEST_S3_URL
# A server that does not come up is an error naming its log: nothing here
# ever skips.
set -euo pipefail

die() { echo "services.sh: $*" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
pgbin=/usr/lib/postgresql/15/bin
rmqbin=/usr/lib/rabbitmq/bin
s3rver=$root/.deps/npm/node_modules/s3rver/bin/s3rver.js

wait_port() { # port seconds what log
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "services.sh: $3 did not open port $1 in $2 s; its log:" >&2
    tail -n 30 "$4" >&2 || true
    return 1
}

wait_closed() { # port seconds
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

base_of() { cat "$1/base" 2>/dev/null || die "$1 has no services (start it first)"; }

# PostgreSQL refuses to run as root: its folder belongs to postgres.
pg_up() {
    local d=$1 port=$2
    [ -x $pgbin/initdb ] || die "PostgreSQL 15 is not installed (apt-get install postgresql-15)"
    mkdir -p "$d/pg"
    chown postgres "$d/pg"
    if [ ! -f "$d/pg/data/PG_VERSION" ]; then
        runuser -u postgres -- $pgbin/initdb -D "$d/pg/data" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 >"$d/pg/initdb.log" 2>&1 || { cat "$d/pg/initdb.log" >&2; die "initdb failed"; }
    fi
    runuser -u postgres -- $pgbin/pg_ctl -D "$d/pg/data" -l "$d/pg/log" \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $d/pg -c fsync=on -c max_connections=200" \
        -w -t 60 start >/dev/null || { tail -n 30 "$d/pg/log" >&2; die "PostgreSQL did not start"; }
    if [ ! -f "$d/pg/created" ]; then
        runuser -u postgres -- psql -h 127.0.0.1 -p "$port" -U postgres -qAt \
            -c "CREATE DATABASE tgharvest" >/dev/null
        touch "$d/pg/created"
    fi
}

pg_down() { # mode: fast or immediate
    local d=$1
    [ -f "$d/pg/data/postmaster.pid" ] || return 0
    runuser -u postgres -- $pgbin/pg_ctl -D "$d/pg/data" -m "${2:-fast}" -w -t 60 stop >/dev/null 2>&1 || true
}

redis_up() {
    local d=$1 port=$2
    command -v redis-server >/dev/null || die "redis-server is not installed"
    mkdir -p "$d/redis"
    redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --dir "$d/redis" \
        --pidfile "$d/redis/pid" --logfile "$d/redis/log" --save "" --appendonly no >/dev/null
    wait_port "$port" 20 Redis "$d/redis/log"
}

redis_down() {
    local d=$1 sig=${2:-TERM} pid
    pid=$(cat "$d/redis/pid" 2>/dev/null) || return 0
    kill -"$sig" "$pid" 2>/dev/null || true
    wait_closed "$(($(base_of "$d") + 1))" 20 || true
    rm -f "$d/redis/pid"
}

amqp_env() {
    local d=$1 base=$2
    export HOME="$d/amqp" RABBITMQ_NODENAME="rabbit@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT=$((base + 2)) RABBITMQ_DIST_PORT=$((base + 3)) \
        ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=$((base + 4)) \
        RABBITMQ_MNESIA_BASE="$d/amqp/mnesia" RABBITMQ_LOG_BASE="$d/amqp/log" \
        RABBITMQ_CONFIG_FILE="$d/amqp/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$d/amqp/enabled_plugins" \
        RABBITMQ_CONF_ENV_FILE="$d/amqp/rabbitmq-env.conf" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

amqp_up() {
    local d=$1 base=$2
    [ -x $rmqbin/rabbitmq-server ] || die "RabbitMQ is not installed (apt-get install rabbitmq-server)"
    mkdir -p "$d/amqp/mnesia" "$d/amqp/log"
    [ -f "$d/amqp/rabbitmq.conf" ] || printf 'loopback_users = none\nlog.console = false\n' >"$d/amqp/rabbitmq.conf"
    [ -f "$d/amqp/enabled_plugins" ] || echo '[].' >"$d/amqp/enabled_plugins"
    touch "$d/amqp/rabbitmq-env.conf"
    (
        amqp_env "$d" "$base"
        setsid $rmqbin/rabbitmq-server >>"$d/amqp/server.out" 2>&1 </dev/null &
        echo $! >"$d/amqp/pid"
    )
    wait_port $((base + 2)) 90 RabbitMQ "$d/amqp/server.out"
}

amqp_down() {
    local d=$1 base=$2 sig=${3:-TERM} pid
    pid=$(cat "$d/amqp/pid" 2>/dev/null) || return 0
    if [ "$sig" = KILL ]; then
        pkill -KILL -f "beam.*-sname rabbit@localhost.*$d/amqp" 2>/dev/null || true
        pkill -KILL -f "$d/amqp/mnesia" 2>/dev/null || true
        kill -KILL -- -"$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    else
        (amqp_env "$d" "$base"; timeout 60 $rmqbin/rabbitmqctl stop >/dev/null 2>&1) || true
        pkill -TERM -f "$d/amqp/mnesia" 2>/dev/null || true
    fi
    wait_closed $((base + 2)) 30 || true
    rm -f "$d/amqp/pid"
}

epmd_down() {
    local base=$1
    epmd -port $((base + 4)) -kill >/dev/null 2>&1 || true
}

s3_up() {
    local d=$1 port=$2
    [ -f "$s3rver" ] || die "s3rver is not installed (bash scripts/deps.sh)"
    command -v node >/dev/null || die "node is not installed"
    mkdir -p "$d/s3/data"
    setsid node "$s3rver" -d "$d/s3/data" -a 127.0.0.1 -p "$port" --configure-bucket tgh-test \
        >>"$d/s3/log" 2>&1 </dev/null &
    echo $! >"$d/s3/pid"
    wait_port "$port" 20 s3rver "$d/s3/log"
}

s3_down() {
    local d=$1 sig=${2:-TERM} pid
    pid=$(cat "$d/s3/pid" 2>/dev/null) || return 0
    kill -"$sig" "$pid" 2>/dev/null || true
    wait_closed "$(($(base_of "$d") + 5))" 20 || true
    rm -f "$d/s3/pid"
}

write_env() {
    local d=$1 base=$2
    cat >"$d/env" <<EOF
TGH_TEST_PG_URL=postgresql://postgres@127.0.0.1:$base/tgharvest
TGH_TEST_REDIS_URL=redis://127.0.0.1:$((base + 1))
TGH_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:$((base + 2))/%2f
TGH_TEST_S3_URL='s3://tgh-test?endpoint=http://127.0.0.1:$((base + 5))&region=us-east-1'
TGH_TEST_SERVICES_DIR=$d
EOF
}

one() { # action dir name
    local act=$1 d=$2 name=$3 base
    base=$(base_of "$d")
    case "$act:$name" in
    up:pg) pg_up "$d" "$base" ;;
    up:redis) redis_up "$d" $((base + 1)) ;;
    up:amqp) amqp_up "$d" "$base" ;;
    up:s3) s3_up "$d" $((base + 5)) ;;
    down:pg) pg_down "$d" fast ;;
    down:redis) redis_down "$d" ;;
    down:amqp) amqp_down "$d" "$base" ;;
    down:s3) s3_down "$d" ;;
    kill:pg) pg_down "$d" immediate ;;
    kill:redis) redis_down "$d" KILL ;;
    kill:amqp) amqp_down "$d" "$base" KILL ;;
    kill:s3) s3_down "$d" KILL ;;
    *) die "unknown service or action: $act $name" ;;
    esac
}

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: services.sh start|stop|up|down|kill DIR ..."
case "$cmd" in
start)
    base=${3:?services.sh start DIR BASE}
    shift 3
    names=("$@")
    [ ${#names[@]} -gt 0 ] || names=(pg redis amqp s3)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ ! -f "$dir/base" ] || "$0" stop "$dir" >/dev/null 2>&1 || true
    echo "$base" >"$dir/base"
    write_env "$dir" "$base"
    for n in "${names[@]}"; do
        case $n in
        pg) pg_up "$dir" "$base" & ;;
        redis) redis_up "$dir" $((base + 1)) & ;;
        amqp) amqp_up "$dir" "$base" & ;;
        s3) s3_up "$dir" $((base + 5)) & ;;
        *) die "unknown service $n" ;;
        esac
    done
    fail=0
    for job in $(jobs -p); do wait "$job" || fail=1; done
    [ $fail -eq 0 ] || { "$0" stop "$dir" || true; die "a service did not start"; }
    ;;
stop)
    dir=$(cd "$dir" 2>/dev/null && pwd) || exit 0
    [ -f "$dir/base" ] || exit 0
    base=$(base_of "$dir")
    shift 2
    names=("$@")
    [ ${#names[@]} -gt 0 ] || names=(pg redis amqp s3)
    for n in "${names[@]}"; do
        case $n in
        pg) pg_down "$dir" fast ;;
        redis) redis_down "$dir" ;;
        amqp) amqp_down "$dir" "$base"; epmd_down "$base" ;;
        s3) s3_down "$dir" ;;
        esac
    done
    ;;
up | down | kill)
    dir=$(cd "$dir" && pwd)
    one "$cmd" "$dir" "${3:?which service}"
    ;;
*) die "unknown command $cmd" ;;
esac
