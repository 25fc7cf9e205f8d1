#!/usr/bin/env bash
# Installs ferrogate as a systemd service. Run as root; idempotent: a second run changes
# nothing and says so.
#
#   scripts/install.sh                    build (cargo build --release) and install
#   scripts/install.sh --binary PATH      install PATH instead of building
#   scripts/install.sh --prefix DIR       install under DIR (DIR/usr/local/bin, DIR/etc/...)
#                                         instead of /: no user, no systemctl (for tests and
#                                         packaging)
#   scripts/install.sh --dry-run          print what would change, change nothing
#   scripts/install.sh --uninstall        stop and remove the service and the binary; keep
#                                         /etc/ferrogate (it holds keys) and the user
#
# What it installs:
#   /usr/local/bin/ferrogate                 the binary (0755)
#   /etc/systemd/system/ferrogate.service    the unit (0644), from scripts/systemd/
#   /etc/ferrogate/                          0750
#   /etc/ferrogate/ferrogate.toml            only if absent: dpdk-config/appliance-lab.toml
#                                            with file_prefix "ferrogate", mode 0600 (it holds
#                                            keys); an existing config is never touched
#   /etc/ferrogate/lab-traffic.pcap          only if absent: the traffic the lab config replays
#   user and group ferrogate                 a system user without login, if missing
# and runs `systemctl daemon-reload` when the unit changed and systemd is running. It does
# not enable or start the service: `systemctl enable --now ferrogate` does.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICE_USER=ferrogate

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

prefix=""
binary=""
dry_run=0
uninstall=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || usage; prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --binary) [ $# -ge 2 ] || usage; binary="$2"; shift 2 ;;
        --binary=*) binary="${1#--binary=}"; shift ;;
        --dry-run) dry_run=1; shift ;;
        --uninstall) uninstall=1; shift ;;
        -h | --help) usage ;;
        *) echo "install: unknown argument: $1" >&2; usage ;;
    esac
done

if [ -n "$prefix" ]; then
    [ -d "$prefix" ] || { echo "install: --prefix $prefix is not a directory" >&2; exit 1; }
    prefix=$(cd "$prefix" && pwd)
    [ "$prefix" != / ] || prefix=""
fi
if [ -z "$prefix" ] && [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    echo "install: run as root (sudo $0), or use --prefix DIR or --dry-run" >&2
    exit 1
fi

BIN="$prefix/usr/local/bin/ferrogate"
UNIT="$prefix/etc/systemd/system/ferrogate.service"
CONF_DIR="$prefix/etc/ferrogate"
CONF="$CONF_DIR/ferrogate.toml"
PCAP="$CONF_DIR/lab-traffic.pcap"
UNIT_SRC="$REPO/scripts/systemd/ferrogate.service"
CONF_SRC="$REPO/dpdk-config/appliance-lab.toml"
PCAP_SRC="$REPO/dpdk-config/lab-traffic.pcap"

changes=0
unit_changed=0

# change DESCRIPTION COMMAND...: runs COMMAND (or only prints DESCRIPTION with --dry-run) and
# counts the change.
change() {
    local what="$1"
    shift
    changes=$((changes + 1))
    if [ "$dry_run" -eq 1 ]; then
        printf 'install: would %s\n' "$what"
    else
        printf 'install: %s\n' "$what"
        "$@"
    fi
}

mode_of() { stat -c '%a' "$1"; }

# install_file SRC DST MODE: copies SRC to DST with MODE unless DST already is that.
install_file() {
    local src="$1" dst="$2" mode="$3"
    if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
        if [ "$(mode_of "$dst")" != "${mode#0}" ]; then
            change "chmod $mode $dst" chmod "$mode" "$dst"
        fi
        return 1
    fi
    change "install $dst (mode $mode)" install -D -m "$mode" "$src" "$dst"
}

systemd_running() { [ -z "$prefix" ] && [ -d /run/systemd/system ]; }

daemon_reload() {
    if [ -n "$prefix" ]; then
        echo "install: not reloading systemd (installing under --prefix $prefix)"
    elif ! systemd_running; then
        echo "install: systemd is not running here: not reloading it"
    else
        change "run systemctl daemon-reload" systemctl daemon-reload
    fi
}

summary() {
    if [ "$changes" -eq 0 ]; then
        echo "install: nothing to change"
    elif [ "$dry_run" -eq 1 ]; then
        echo "install: $changes change(s) would be made (dry run: nothing changed)"
    else
        echo "install: $changes change(s) made"
    fi
}

if [ "$uninstall" -eq 1 ]; then
    if [ -f "$UNIT" ] && systemd_running; then
        change "stop and disable ferrogate.service" systemctl disable --now ferrogate.service
    fi
    for f in "$UNIT" "$BIN"; do
        if [ -e "$f" ] || [ -L "$f" ]; then
            [ "$f" != "$UNIT" ] || unit_changed=1
            change "remove $f" rm -f "$f"
        fi
    done
    [ "$unit_changed" -eq 0 ] || daemon_reload
    if [ -d "$CONF_DIR" ]; then
        echo "install: kept $CONF_DIR (it holds keys): remove it by hand if it is no longer needed"
    fi
    if [ -z "$prefix" ] && getent passwd "$SERVICE_USER" >/dev/null 2>&1; then
        echo "install: kept user $SERVICE_USER (files may still belong to it): userdel $SERVICE_USER"
    fi
    summary
    exit 0
fi

for f in "$UNIT_SRC" "$CONF_SRC" "$PCAP_SRC"; do
    [ -f "$f" ] || { echo "install: $f is missing" >&2; exit 1; }
done

# The binary: given, or built.
if [ -z "$binary" ]; then
    if [ "$dry_run" -eq 1 ]; then
        echo "install: would run cargo build --release -p ferrogate in $REPO"
        binary=""
    else
        echo "install: cargo build --release -p ferrogate"
        (cd "$REPO" && cargo build --release -p ferrogate)
        binary="${CARGO_TARGET_DIR:-$REPO/target}/release/ferrogate"
        case "$binary" in /*) ;; *) binary="$REPO/$binary" ;; esac
    fi
fi
if [ -n "$binary" ]; then
    if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
        echo "install: $binary is not an executable file" >&2
        exit 1
    fi
    install_file "$binary" "$BIN" 0755 || true
else
    changes=$((changes + 1))
    echo "install: would install $BIN (mode 0755) from the build"
fi

if install_file "$UNIT_SRC" "$UNIT" 0644; then
    unit_changed=1
fi

# The config directory: only root reads the config (it holds keys).
if [ ! -d "$CONF_DIR" ]; then
    change "create $CONF_DIR (mode 0750)" install -d -m 0750 "$CONF_DIR"
elif [ "$(mode_of "$CONF_DIR")" != 750 ]; then
    change "chmod 0750 $CONF_DIR" chmod 0750 "$CONF_DIR"
fi

# The config: the lab example, as the default instance `ferrogate` (so that `ferrogate show`
# and `ferrogate reload` find its socket without --instance). Never overwritten.
write_config() {
    local tmp
    tmp=$(mktemp "$CONF_DIR/.ferrogate.toml.XXXXXX")
    {
        echo "# Installed by scripts/install.sh from dpdk-config/appliance-lab.toml (a lab:"
        echo "# replace the ports, addresses and keys). Mode 0600: it holds keys."
        sed 's/^file_prefix = "[^"]*"/file_prefix = "ferrogate"/' "$CONF_SRC"
    } >"$tmp"
    chmod 0600 "$tmp"
    mv "$tmp" "$CONF"
}
if [ ! -e "$CONF" ]; then
    change "create $CONF (mode 0600) from dpdk-config/appliance-lab.toml" write_config
else
    echo "install: kept the existing $CONF"
    mode=$(mode_of "$CONF")
    if [ $((8#$mode & 8#077)) -ne 0 ]; then
        echo "install: warning: $CONF has mode $mode: others may read its keys; chmod 600 $CONF" >&2
    fi
fi
if [ ! -e "$PCAP" ]; then
    change "install $PCAP (mode 0644) for the lab config" install -m 0644 "$PCAP_SRC" "$PCAP"
fi

# The unprivileged user the appliance switches to after start-up ([management] user).
if [ -n "$prefix" ]; then
    echo "install: not creating user $SERVICE_USER (installing under --prefix $prefix)"
elif ! getent passwd "$SERVICE_USER" >/dev/null 2>&1; then
    change "create system user $SERVICE_USER" useradd --system --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin \
        --comment "ferrogate IPsec appliance" "$SERVICE_USER"
fi

[ "$unit_changed" -eq 0 ] || daemon_reload
summary
if [ "$changes" -gt 0 ] && [ "$dry_run" -eq 0 ] && [ -z "$prefix" ]; then
    echo "install: start it with: systemctl enable --now ferrogate"
fi
