#!/bin/sh
# Installs darkscope's default attribution data from the npm registry (ip-location-db):
#   @ip-location-db/geo-whois-asn-country-mmdb  -> geo-whois-asn-country.mmdb (IPv4 + IPv6)
#   @ip-location-db/asn                         -> asn-ipv4.csv, asn-ipv6.csv
# plus the upstream licence files and SOURCE.txt (package versions, dates, licences).
#
# Then it builds darkscope's compiled attribution image of the three files beside them
# (darkscope --geo-build-cache), so that darkscope maps it at start-up instead of building it.
#
# Usage: scripts/fetch-geo.sh [DATA_DIR]      (default /var/lib/darkscope/geo)
#   DARKSCOPE_OFFLINE=1   skip (exit 0)
#   FORCE=1               fetch even when the installed versions are the newest
#   DARKSCOPE=PATH        the darkscope binary that builds the image (default: darkscope on
#                         PATH, else build/app/darkscope/darkscope of this checkout)
# Without network or npm it warns and exits 0, so set-up goes on; darkscope then runs with
# attribution off until data is installed. Safe to run again: unchanged versions are skipped,
# and files are replaced atomically (darkscope can reload while this runs).
set -eu

DATA_DIR=${1:-/var/lib/darkscope/geo}
COUNTRY_PKG=@ip-location-db/geo-whois-asn-country-mmdb
ASN_PKG=@ip-location-db/asn

warn() { echo "fetch-geo: warning: $*" >&2; }
say() { echo "fetch-geo: $*"; }
die() { echo "fetch-geo: error: $*" >&2; exit 1; }

# The compiled image of the installed files; without a darkscope binary, darkscope builds it on
# its first start instead.
build_image() {
    binary=${DARKSCOPE:-$(command -v darkscope || true)}
    [ -n "$binary" ] || binary="$(dirname "$0")/../build/app/darkscope/darkscope"
    if [ ! -x "$binary" ]; then
        say "no darkscope binary yet: darkscope builds the attribution image on its first start"
        return 0
    fi
    [ -s "$DATA_DIR/geo-whois-asn-country.mmdb" ] || return 0
    "$binary" --geo-build-cache --geo-country "$DATA_DIR/geo-whois-asn-country.mmdb" \
        --geo-asn "$DATA_DIR/asn-ipv4.csv" --geo-asn "$DATA_DIR/asn-ipv6.csv" 2>&1 |
        sed 's/^/fetch-geo: /' || warn "attribution image not built (darkscope builds it on start)"
}

if [ "${DARKSCOPE_OFFLINE:-0}" = 1 ]; then
    say "DARKSCOPE_OFFLINE=1: not fetching geolocation data (attribution stays off until $DATA_DIR has data)"
    build_image
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    warn "npm not found: geolocation data not installed (apt-get install npm, then run $0 again)"
    exit 0
fi

# Latest versions; no answer means no registry: warn and carry on.
country_version=$(npm view --fetch-retries=1 "$COUNTRY_PKG" version 2>/dev/null || true)
asn_version=$(npm view --fetch-retries=1 "$ASN_PKG" version 2>/dev/null || true)
if [ -z "$country_version" ] || [ -z "$asn_version" ]; then
    warn "npm registry not reachable: geolocation data not installed or updated in $DATA_DIR"
    build_image
    exit 0
fi

installed() { # package -> installed version or ""
    [ -f "$DATA_DIR/SOURCE.txt" ] || return 0
    sed -n "s|^package: $1@\([^ ]*\).*|\1|p" "$DATA_DIR/SOURCE.txt" | head -n 1
}
if [ "${FORCE:-0}" != 1 ] &&
    [ "$(installed "$COUNTRY_PKG")" = "$country_version" ] &&
    [ "$(installed "$ASN_PKG")" = "$asn_version" ] &&
    [ -s "$DATA_DIR/geo-whois-asn-country.mmdb" ] &&
    [ -s "$DATA_DIR/asn-ipv4.csv" ] && [ -s "$DATA_DIR/asn-ipv6.csv" ]; then
    say "up to date in $DATA_DIR ($COUNTRY_PKG@$country_version, $ASN_PKG@$asn_version)"
    build_image
    exit 0
fi

mkdir -p "$DATA_DIR"
work=$(mktemp -d "$DATA_DIR/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

fetch() { # package version label -> directory with the unpacked package
    mkdir -p "$work/$3-pack" "$work/$3"
    if ! (cd "$work/$3-pack" && npm pack --silent "$1@$2" >/dev/null 2>"$work/npm.err"); then
        warn "npm pack $1@$2 failed: $(tail -n 1 "$work/npm.err")"
        return 1
    fi
    for tarball in "$work/$3-pack"/*.tgz; do
        tar -xzf "$tarball" -C "$work/$3"
    done
    echo "$work/$3/package"
}
say "fetching $COUNTRY_PKG@$country_version and $ASN_PKG@$asn_version"
country_dir=$(fetch "$COUNTRY_PKG" "$country_version" country) || { warn "data not updated"; exit 0; }
asn_dir=$(fetch "$ASN_PKG" "$asn_version" asn) || { warn "data not updated"; exit 0; }

# --- checks: sizes, well-known addresses, CSV shape ---
min_size() { # file bytes
    [ -f "$1" ] || die "$(basename "$1") missing from the package"
    size=$(wc -c <"$1")
    [ "$size" -ge "$2" ] || die "$(basename "$1") is only $size bytes (expected at least $2)"
}
min_size "$country_dir/geo-whois-asn-country.mmdb" 1000000
min_size "$asn_dir/asn-ipv4.csv" 1000000
min_size "$asn_dir/asn-ipv6.csv" 100000

if command -v mmdblookup >/dev/null 2>&1; then
    lookup() { # address -> country code
        mmdblookup -f "$country_dir/geo-whois-asn-country.mmdb" -i "$1" country_code 2>/dev/null |
            sed -n 's/.*"\([A-Z][A-Z]\)".*/\1/p'
    }
    for address in 1.1.1.1 8.8.8.8 2001:4860:4860::8888; do
        code=$(lookup "$address")
        [ -n "$code" ] || die "geo-whois-asn-country.mmdb has no country for $address"
        say "check: $address -> $code"
    done
else
    warn "mmdblookup not found (apt-get install mmdb-bin): country database not spot-checked"
fi
for address in 8.8.8.8:15169 1.1.1.1:13335; do
    ip=${address%%:*}
    want=${address##*:}
    prefix=${ip%.*}
    grep -q "^$prefix\.[0-9]*,[0-9.]*,$want," "$asn_dir/asn-ipv4.csv" ||
        die "asn-ipv4.csv does not give AS$want around $ip"
done
grep -q '^2001:4860:' "$asn_dir/asn-ipv6.csv" || die "asn-ipv6.csv lacks 2001:4860::/32"
head -n 1 "$asn_dir/asn-ipv4.csv" | grep -Eq '^[0-9.]+,[0-9.]+,[0-9]+' ||
    die "asn-ipv4.csv is not start,end,asn[,organisation]"
say "check: asn CSVs (8.8.8.8 in AS15169, 1.1.1.1 in AS13335)"

# --- install: rename into place, one file at a time ---
install_file() { # source name
    cp "$1" "$DATA_DIR/.$2.new"
    mv -f "$DATA_DIR/.$2.new" "$DATA_DIR/$2"
}
install_file "$country_dir/geo-whois-asn-country.mmdb" geo-whois-asn-country.mmdb
install_file "$asn_dir/asn-ipv4.csv" asn-ipv4.csv
install_file "$asn_dir/asn-ipv6.csv" asn-ipv6.csv
mkdir -p "$DATA_DIR/licenses"
for file in "$country_dir"/*LICENSE* "$asn_dir"/*LICENSE* "$asn_dir/MODIFICATIONS"; do
    [ -f "$file" ] && cp "$file" "$DATA_DIR/licenses/"
done

build_date=unknown
if command -v mmdblookup >/dev/null 2>&1; then
    build_date=$(mmdblookup -f "$DATA_DIR/geo-whois-asn-country.mmdb" -v -i 1.1.1.1 2>/dev/null |
        sed -n 's/.*Build epoch:.*(\(.*\)).*/\1/p')
fi
license_of() { sed -n 's/.*"license": *"\([^"]*\)".*/\1/p' "$1/package.json"; }
cat >"$DATA_DIR/.SOURCE.txt.new" <<EOF
# darkscope default attribution data, installed by scripts/fetch-geo.sh
installed: $(date -u +%Y-%m-%dT%H:%M:%SZ)
package: $COUNTRY_PKG@$country_version (package.json licence: $(license_of "$country_dir"))
  file: geo-whois-asn-country.mmdb   built: $build_date
  data: GeoFeed + RIR whois + RIR ASN country, CC BY 4.0 by NRO (licenses/NRO_LICENSE)
package: $ASN_PKG@$asn_version (package.json licence: $(license_of "$asn_dir"))
  files: asn-ipv4.csv asn-ipv6.csv   (the version's last field is the build date and hour)
  data: RouteViews + RIR ASN + DB-IP IP to ASN Lite, CC BY 4.0 (licenses/*)
source: https://github.com/sapics/ip-location-db (npm registry)
EOF
mv -f "$DATA_DIR/.SOURCE.txt.new" "$DATA_DIR/SOURCE.txt"
say "installed in $DATA_DIR:"
sed 's/^/  /' "$DATA_DIR/SOURCE.txt"
build_image
