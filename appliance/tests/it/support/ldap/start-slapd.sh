#!/bin/sh
# Start a throw-away OpenLDAP server for the integration tests.
#
#   start-slapd.sh DIR PORT TLS_PORT CERT KEY CA
#
# Builds a cn=config in DIR/slapd.d and an mdb database in DIR/data (suffix dc=outpost,dc=test,
# rootdn cn=admin,dc=outpost,dc=test / admin-secret), loads seed.ldif (next to this script, or
# $SLAPD_SEED), and starts slapd as the current user on ldap://127.0.0.1:PORT (StartTLS) and
# ldaps://127.0.0.1:TLS_PORT with the given PEM files. Nothing outside DIR is written; /etc/ldap is
# only read for the schema files.
#
# On success: slapd runs in the background, its pid is in DIR/slapd.pid, its log in
# DIR/slapd.log, and the script exits 0 once a search answers. Stop it with
# `kill "$(cat DIR/slapd.pid)"`. On failure: prints the log, kills slapd, exits non-zero.
#
# Environment: SLAPD_SEED (LDIF to load instead of seed.ldif), SLAPD_DEBUG (slapd -d level,
# default "stats"; "0" for a quiet log), SLAPD_TIMEOUT (seconds to wait, default 10).

set -eu

if [ "$#" -ne 6 ]; then
    echo "usage: $0 DIR PORT TLS_PORT CERT KEY CA" >&2
    exit 2
fi

SUFFIX="dc=outpost,dc=test"
ROOTDN="cn=admin,$SUFFIX"
ROOTPW="admin-secret"
BINDDN="cn=outpost-bind,$SUFFIX"
SCHEMA_DIR="${SLAPD_SCHEMA_DIR:-/etc/ldap/schema}"
MODULE_DIR="${SLAPD_MODULE_DIR:-/usr/lib/ldap}"
TIMEOUT="${SLAPD_TIMEOUT:-10}"
DEBUG="${SLAPD_DEBUG:-stats}"

die() {
    echo "start-slapd.sh: $*" >&2
    exit 1
}

# Absolute path of an existing file (slapd resolves relative paths against its own cwd).
abs_file() {
    [ -r "$1" ] || die "cannot read $1"
    (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd -P)" "$(basename "$1")")
}

for port in "$2" "$3"; do
    case "$port" in
        '' | *[!0-9]*) die "ports must be numbers: '$2' '$3'" ;;
    esac
done
PORT="$2"
TLS_PORT="$3"

mkdir -p "$1"
DIR="$(cd "$1" && pwd -P)"
CERT="$(abs_file "$4")"
KEY="$(abs_file "$5")"
CA="$(abs_file "$6")"
HERE="$(cd "$(dirname "$0")" && pwd -P)"
SEED="$(abs_file "${SLAPD_SEED:-$HERE/seed.ldif}")"

# slapd and the tools live in /usr/sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
export PATH
for tool in slapd slapadd slappasswd ldapsearch; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "$tool not found (apt-get install -y slapd ldap-utils)"
done
for schema in core cosine nis inetorgperson; do
    [ -r "$SCHEMA_DIR/$schema.ldif" ] || die "missing schema $SCHEMA_DIR/$schema.ldif"
done
[ ! -e "$DIR/slapd.d" ] && [ ! -e "$DIR/data" ] ||
    die "$DIR already holds slapd.d or data; use a fresh directory"

mkdir -m 700 "$DIR/slapd.d" "$DIR/data"

# Debian builds back_mdb as a module; other builds may have it compiled in.
MODULE_LDIF=""
if [ -e "$MODULE_DIR/back_mdb.so" ] || [ -e "$MODULE_DIR/back_mdb.la" ]; then
    MODULE_LDIF="dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: $MODULE_DIR
olcModuleLoad: back_mdb
"
fi

HASH="$(slappasswd -h '{SSHA}' -s "$ROOTPW")"

cat >"$DIR/config.ldif" <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcLogLevel: stats
olcToolThreads: 1
olcTLSCACertificateFile: $CA
olcTLSCertificateFile: $CERT
olcTLSCertificateKeyFile: $KEY
olcTLSVerifyClient: never

$MODULE_LDIF
dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://$SCHEMA_DIR/core.ldif

include: file://$SCHEMA_DIR/cosine.ldif

include: file://$SCHEMA_DIR/nis.ldif

include: file://$SCHEMA_DIR/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: 500
olcAccess: {0}to dn.exact="" by * read
olcAccess: {1}to dn.base="cn=Subschema" by * read

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcRootDN: cn=admin,cn=config
olcRootPW: $HASH
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $SUFFIX
olcDbDirectory: $DIR/data
olcDbMaxSize: 104857600
olcRootDN: $ROOTDN
olcRootPW: $HASH
olcLastMod: TRUE
olcDbIndex: objectClass eq
olcDbIndex: cn,uid,mail eq
olcDbIndex: member eq
olcAccess: {0}to attrs=userPassword
  by self write
  by anonymous auth
  by * none
olcAccess: {1}to *
  by dn.exact="$BINDDN" read
  by self read
  by users read
  by * none
EOF

LOG="$DIR/slapd.log"
: >"$LOG"

slapadd -n0 -F "$DIR/slapd.d" -l "$DIR/config.ldif" >>"$LOG" 2>&1 ||
    { cat "$LOG" >&2; die "slapadd of cn=config failed"; }
slapadd -F "$DIR/slapd.d" -b "$SUFFIX" -l "$SEED" >>"$LOG" 2>&1 ||
    { cat "$LOG" >&2; die "slapadd of $SEED failed"; }

# -d keeps slapd in the foreground (so $! is its pid) and sends its log to DIR/slapd.log. All
# three standard streams are redirected so a caller reading our stdout/stderr sees EOF when this
# script exits. slapd sizes tables by the open-file limit: huge container limits (2^30) make it
# slow and hungry, so lower the soft limit for slapd only.
(
    ulimit -n 1024 2>/dev/null || true
    exec slapd -F "$DIR/slapd.d" \
        -h "ldap://127.0.0.1:$PORT/ ldaps://127.0.0.1:$TLS_PORT/" \
        -d "$DEBUG" </dev/null >>"$LOG" 2>&1
) &
PID=$!
echo "$PID" >"$DIR/slapd.pid"

# A dead child stays a zombie until we exit, and kill -0 succeeds on zombies: look at its state.
alive() {
    kill -0 "$PID" 2>/dev/null || return 1
    if [ -r "/proc/$PID/stat" ]; then
        [ "$(cut -d' ' -f3 "/proc/$PID/stat" 2>/dev/null)" != Z ] || return 1
    fi
    return 0
}

fail() {
    kill "$PID" 2>/dev/null || true
    echo "----- $LOG -----" >&2
    cat "$LOG" >&2
    echo "-----" >&2
    die "$*"
}

# Is the server answering on PORT ours? Another slapd may already hold the port (then ours exits
# with "Address already in use", but a plain search would succeed against the stranger), so ask
# cn=config for the database directory, which only our instance has.
ours() {
    LDAPNOINIT=1 ldapsearch -x -LLL -o nettimeout=1 -o ldif-wrap=no \
        -H "ldap://127.0.0.1:$PORT" -D "cn=admin,cn=config" -w "$ROOTPW" \
        -b "olcDatabase={1}mdb,cn=config" -s base olcDbDirectory 2>/dev/null |
        grep -qxF "olcDbDirectory: $DIR/data"
}

# Wait (up to $TIMEOUT s, polling every 0.1 s) until our slapd answers an authenticated search of
# the suffix.
tries=$((TIMEOUT * 10))
while :; do
    alive || fail "slapd exited during startup"
    if LDAPNOINIT=1 ldapsearch -x -LLL -o nettimeout=1 -H "ldap://127.0.0.1:$PORT" \
        -D "$ROOTDN" -w "$ROOTPW" -b "$SUFFIX" -s base dn >/dev/null 2>&1 && ours; then
        break
    fi
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || fail "slapd did not answer on port $PORT within ${TIMEOUT}s"
    sleep 0.1
done

echo "slapd running: pid $PID, ldap://127.0.0.1:$PORT ldaps://127.0.0.1:$TLS_PORT, dir $DIR"
